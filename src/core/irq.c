#include "core/irq.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/trim.h"

int irq_kvm_set(void *ctx, unsigned int gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };
	int fd = *(int *)ctx;

	if (ioctl(fd, KVM_IRQ_LINE, &irq) < 0)
		return -errno;
	return 0;
}

#define PC_PINS 24u
#define PC_ENTRIES (2 * PC_PINS)

/*
 * A PC wires ISA IRQ0 (the PIT) to IOAPIC pin 2 and says so with an
 * interrupt source override in the MADT; KVM's default routing sends GSI 0
 * to pin 0, so replace it. Pin 2 takes no other GSI. Fills e (room for
 * PC_ENTRIES) and returns how many.
 */
static unsigned int pc_routes(struct kvm_irq_routing_entry *e)
{
	unsigned int n = 0;

	for (unsigned int gsi = 0; gsi < PC_PINS; gsi++) {
		if (gsi < 16 && gsi != 2) {
			e[n].gsi = gsi;
			e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			e[n].u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
							 : KVM_IRQCHIP_PIC_SLAVE;
			e[n].u.irqchip.pin = gsi % 8;
			n++;
		}
		if (gsi == 2)
			continue;
		e[n].gsi = gsi;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[n].u.irqchip.pin = gsi == 0 ? 2 : gsi;
		n++;
	}
	return n;
}

int irq_setup_routing(int vm_fd)
{
	struct kvm_irq_routing *rt;
	int ret = 0;

	rt = calloc(1, sizeof(*rt) + PC_ENTRIES * sizeof(rt->entries[0]));
	if (!rt)
		return -ENOMEM;
	rt->nr = pc_routes(rt->entries);
	if (ioctl(vm_fd, KVM_SET_GSI_ROUTING, rt) < 0)
		ret = -errno;
	free(rt);
	return ret;
}

void irq_routes_init(struct irq_routes *r, int vm_fd)
{
	trim_zero(r, sizeof(*r));   /* 16 KiB, mostly slots no guest asks for */
	r->vm_fd = vm_fd;
	pthread_mutex_init(&r->lock, NULL);
}

void irq_routes_destroy(struct irq_routes *r)
{
	pthread_mutex_destroy(&r->lock);
}

struct kvm_irq_routing *irq_routes_table(const struct irq_routes *r)
{
	unsigned int routed = 0;
	struct kvm_irq_routing *rt;

	for (unsigned int i = 0; i < IRQ_ROUTES_MSI_MAX; i++)
		routed += r->msi[i].routed;
	rt = calloc(1, sizeof(*rt) + (PC_ENTRIES + routed) * sizeof(rt->entries[0]));
	if (!rt)
		return NULL;
	rt->nr = pc_routes(rt->entries);
	for (unsigned int i = 0; i < IRQ_ROUTES_MSI_MAX; i++) {
		struct kvm_irq_routing_entry *e = &rt->entries[rt->nr];

		if (!r->msi[i].routed)
			continue;
		e->gsi = IRQ_ROUTES_FIRST_GSI + i;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = r->msi[i].addr_lo;
		e->u.msi.address_hi = r->msi[i].addr_hi;
		e->u.msi.data = r->msi[i].data;
		rt->nr++;
	}
	return rt;
}

/* r->lock held. */
static int commit(struct irq_routes *r)
{
	struct kvm_irq_routing *rt = irq_routes_table(r);
	int ret = 0;

	if (!rt)
		return -ENOMEM;
	if (r->vm_fd >= 0 && ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, rt) < 0)
		ret = -errno;
	free(rt);
	if (!ret)
		r->commits++;
	return ret;
}

int irq_routes_alloc(struct irq_routes *r, uint32_t *gsi)
{
	int ret = -ENOSPC;

	pthread_mutex_lock(&r->lock);
	for (unsigned int i = 0; i < IRQ_ROUTES_MSI_MAX; i++) {
		if (r->msi[i].taken)
			continue;
		r->msi[i] = (struct irq_msi_route){ .taken = true };
		*gsi = IRQ_ROUTES_FIRST_GSI + i;
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static struct irq_msi_route *route_of(struct irq_routes *r, uint32_t gsi)
{
	if (gsi < IRQ_ROUTES_FIRST_GSI || gsi - IRQ_ROUTES_FIRST_GSI >= IRQ_ROUTES_MSI_MAX)
		return NULL;
	return r->msi[gsi - IRQ_ROUTES_FIRST_GSI].taken ? &r->msi[gsi - IRQ_ROUTES_FIRST_GSI]
							 : NULL;
}

int irq_routes_set_msi(struct irq_routes *r, uint32_t gsi, uint64_t addr, uint32_t data)
{
	struct irq_msi_route *m, old;
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	m = route_of(r, gsi);
	if (!m) {
		ret = -EINVAL;
	} else if (!m->routed || m->addr_lo != (uint32_t)addr ||
		   m->addr_hi != (uint32_t)(addr >> 32) || m->data != data) {
		old = *m;
		m->addr_lo = (uint32_t)addr;
		m->addr_hi = (uint32_t)(addr >> 32);
		m->data = data;
		m->routed = true;
		ret = commit(r);
		if (ret)
			*m = old;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void irq_routes_free(struct irq_routes *r, uint32_t gsi)
{
	struct irq_msi_route *m;

	pthread_mutex_lock(&r->lock);
	m = route_of(r, gsi);
	if (m) {
		bool routed = m->routed;

		*m = (struct irq_msi_route){ 0 };
		/*
		 * A route left behind by a failed commit is harmless: only an
		 * irqfd fires it, and its owner has taken that away first.
		 */
		if (routed)
			(void)commit(r);
	}
	pthread_mutex_unlock(&r->lock);
}
