/*
 * virtio-pci's MSI-X vectors as irqfds (priv.h). Each vector has an
 * eventfd and a GSI whose MSI route carries the vector's message; the
 * irqfd joining them is assigned only while the vector is live. So a
 * write while the vector or the function is masked, or MSI-X is off,
 * stays counted in the eventfd, and KVM delivers it the moment the irqfd
 * is assigned again: the pending bit, kept by the eventfd. That is what
 * lets a vhost backend write the vector's eventfd itself (call_fd), with
 * no thread of Hearth's between it and the guest.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/pci/priv.h"

static struct ratelimit irqfd_rl = RATELIMIT_INIT(10);

int virtio_pci_irqfd_open(struct virtio_pci *t)
{
	int ret;

	for (unsigned int v = 0; v <= VIRTIO_MAX_QUEUES; v++)
		t->irqfd[v] = (struct vpci_irqfd){ .fd = -1 };
	if (!t->host.routes || t->host.vm_fd < 0)
		return 0;
	for (unsigned int v = 0; v < t->msix.nvec; v++) {
		struct vpci_irqfd *f = &t->irqfd[v];

		f->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (f->fd < 0) {
			ret = -errno;
			goto err_close;
		}
		ret = irq_routes_alloc(t->host.routes, &f->gsi);
		if (ret) {
			close(f->fd);
			f->fd = -1;
			goto err_close;
		}
	}
	return 0;

err_close:
	virtio_pci_irqfd_close(t);
	return ret;
}

static int irqfd_ioctl(struct virtio_pci *t, const struct vpci_irqfd *f, bool assign)
{
	struct kvm_irqfd req = { .fd = (uint32_t)f->fd, .gsi = f->gsi,
				 .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };

	return ioctl(t->host.vm_fd, KVM_IRQFD, &req) < 0 ? -errno : 0;
}

void virtio_pci_irqfd_close(struct virtio_pci *t)
{
	for (unsigned int v = 0; v <= VIRTIO_MAX_QUEUES; v++) {
		struct vpci_irqfd *f = &t->irqfd[v];

		if (f->fd < 0)
			continue;
		if (f->assigned)
			(void)irqfd_ioctl(t, f, false);
		irq_routes_free(t->host.routes, f->gsi);
		close(f->fd);
		*f = (struct vpci_irqfd){ .fd = -1 };
	}
}

/* The irqfd of vector v follows its liveness, its route its message. */
static int sync_vector(struct virtio_pci *t, unsigned int v)
{
	struct vpci_irqfd *f = &t->irqfd[v];
	uint64_t addr;
	uint32_t data;
	int ret = 0;

	if (f->fd < 0)
		return -ENOENT;
	if (msix_vector_live(&t->msix, v, &addr, &data)) {
		ret = irq_routes_set_msi(t->host.routes, f->gsi, addr, data);
		if (!ret && !f->assigned) {
			ret = irqfd_ioctl(t, f, true);
			f->assigned = !ret;
		}
	} else if (f->assigned) {
		ret = irqfd_ioctl(t, f, false);
		f->assigned = ret != 0;
	}
	return ret;
}

void virtio_pci_irqfd_changed(void *ctx)
{
	struct virtio_pci *t = ctx;

	for (unsigned int v = 0; v < t->msix.nvec; v++) {
		int ret = sync_vector(t, v);

		if (ret && ret != -ENOENT)
			log_ratelimited(&irqfd_rl, LOG_WARN, "%s: MSI-X vector %u: cannot route "
					"its irqfd: %s", t->dev->name, v, strerror(-ret));
	}
}

int virtio_pci_irqfd_deliver(struct virtio_pci *t, unsigned int v)
{
	uint64_t one = 1;
	int ret;

	if (v > VIRTIO_MAX_QUEUES)
		return -ENOENT;
	/* msix delivers live vectors only; a failed route falls back to KVM_SIGNAL_MSI. */
	ret = sync_vector(t, v);
	if (ret || !t->irqfd[v].assigned)
		return -ENOENT;
	/* EAGAIN: the counter is full, so a delivery is on its way already. */
	if (write(t->irqfd[v].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -ENOENT;
	return 0;
}

int virtio_pci_irqfd_for_queue(struct virtio_pci *t, unsigned int q)
{
	uint16_t v = q < VIRTIO_MAX_QUEUES ? t->queue_vector[q] : MSIX_NO_VECTOR;

	if (v == MSIX_NO_VECTOR || v >= t->msix.nvec || v > VIRTIO_MAX_QUEUES)
		return -1;
	return t->irqfd[v].fd;
}

uint64_t virtio_pci_irqfd_pending(struct virtio_pci *t)
{
	uint64_t bits = 0;

	for (unsigned int v = 0; v < t->msix.nvec && v <= VIRTIO_MAX_QUEUES; v++) {
		struct pollfd p = { .fd = t->irqfd[v].fd, .events = POLLIN };

		if (p.fd >= 0 && !t->irqfd[v].assigned && poll(&p, 1, 0) == 1 &&
		    (p.revents & POLLIN))
			bits |= 1ull << v;
	}
	return bits;
}
