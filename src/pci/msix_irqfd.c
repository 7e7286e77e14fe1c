/*
 * MSI-X vectors as irqfds on MSI routes (pci/msix_irqfd.h).
 */
#include "pci/msix_irqfd.h"

#include <errno.h>
#include <linux/kvm.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"

static struct ratelimit irqfd_rl = RATELIMIT_INIT(10);

int msix_irqfds_open(struct msix_irqfds *s, int vm_fd, struct irq_routes *routes,
		     unsigned int n)
{
	int ret;

	*s = (struct msix_irqfds){ .vm_fd = vm_fd, .routes = routes };
	for (unsigned int v = 0; v < MSIX_MAX_VECTORS; v++)
		s->v[v].fd = -1;
	if (!routes || vm_fd < 0)
		return 0;
	if (n > MSIX_MAX_VECTORS)
		return -EINVAL;
	for (unsigned int v = 0; v < n; v++, s->n++) {
		struct msix_irqfd *f = &s->v[v];

		f->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (f->fd < 0) {
			ret = -errno;
			goto err_close;
		}
		ret = irq_routes_alloc(routes, &f->gsi);
		if (ret) {
			close(f->fd);
			f->fd = -1;
			goto err_close;
		}
	}
	return 0;

err_close:
	msix_irqfds_close(s);
	return ret;
}

static int irqfd_ioctl(const struct msix_irqfds *s, const struct msix_irqfd *f, bool assign)
{
	struct kvm_irqfd req = { .fd = (uint32_t)f->fd, .gsi = f->gsi,
				 .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };

	return ioctl(s->vm_fd, KVM_IRQFD, &req) < 0 ? -errno : 0;
}

void msix_irqfds_close(struct msix_irqfds *s)
{
	for (unsigned int v = 0; v < s->n; v++) {
		struct msix_irqfd *f = &s->v[v];

		if (f->fd < 0)
			continue;
		if (f->assigned)
			(void)irqfd_ioctl(s, f, false);
		irq_routes_free(s->routes, f->gsi);
		close(f->fd);
		*f = (struct msix_irqfd){ .fd = -1 };
	}
	s->n = 0;
}

static int sync_vector(struct msix_irqfds *s, const struct msix *m, unsigned int v)
{
	struct msix_irqfd *f = &s->v[v];
	uint64_t addr;
	uint32_t data;
	int ret = 0;

	if (v >= s->n || f->fd < 0)
		return -ENOENT;
	if (msix_vector_live(m, v, &addr, &data)) {
		ret = irq_routes_set_msi(s->routes, f->gsi, addr, data);
		if (!ret && !f->assigned) {
			ret = irqfd_ioctl(s, f, true);
			f->assigned = !ret;
		}
	} else if (f->assigned) {
		ret = irqfd_ioctl(s, f, false);
		f->assigned = ret != 0;
	}
	return ret;
}

void msix_irqfds_sync(struct msix_irqfds *s, const struct msix *m, const char *name)
{
	for (unsigned int v = 0; v < s->n; v++) {
		int ret = sync_vector(s, m, v);

		if (ret && ret != -ENOENT)
			log_ratelimited(&irqfd_rl, LOG_WARN, "%s: MSI-X vector %u: cannot route "
					"its irqfd: %s", name, v, strerror(-ret));
	}
}

int msix_irqfds_deliver(struct msix_irqfds *s, const struct msix *m, unsigned int v)
{
	uint64_t one = 1;

	/* msix delivers live vectors only; a failed route falls back to the caller's way. */
	if (sync_vector(s, m, v) || !s->v[v].assigned)
		return -ENOENT;
	/* EAGAIN: the counter is full, so a delivery is on its way already. */
	if (write(s->v[v].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -ENOENT;
	return 0;
}

int msix_irqfds_fd(const struct msix_irqfds *s, unsigned int v)
{
	return v < s->n ? s->v[v].fd : -1;
}

uint64_t msix_irqfds_pending(const struct msix_irqfds *s)
{
	uint64_t bits = 0;

	for (unsigned int v = 0; v < s->n; v++) {
		struct pollfd p = { .fd = s->v[v].fd, .events = POLLIN };

		if (p.fd >= 0 && !s->v[v].assigned && poll(&p, 1, 0) == 1 &&
		    (p.revents & POLLIN))
			bits |= 1ull << v;
	}
	return bits;
}
