#include "core/irq.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>

int irq_kvm_set(void *ctx, unsigned int gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };
	int fd = *(int *)ctx;

	if (ioctl(fd, KVM_IRQ_LINE, &irq) < 0)
		return -errno;
	return 0;
}

/*
 * A PC wires ISA IRQ0 (the PIT) to IOAPIC pin 2 and says so with an
 * interrupt source override in the MADT; KVM's default routing sends GSI 0
 * to pin 0, so replace it. Pin 2 takes no other GSI.
 */
int irq_setup_routing(int vm_fd)
{
	const unsigned int nr_pins = 24;
	struct kvm_irq_routing *rt;
	unsigned int n = 0;
	int ret = 0;

	rt = calloc(1, sizeof(*rt) + 2 * nr_pins * sizeof(rt->entries[0]));
	if (!rt)
		return -ENOMEM;
	for (unsigned int gsi = 0; gsi < nr_pins; gsi++) {
		if (gsi < 16 && gsi != 2) {
			rt->entries[n].gsi = gsi;
			rt->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			rt->entries[n].u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
								   : KVM_IRQCHIP_PIC_SLAVE;
			rt->entries[n].u.irqchip.pin = gsi % 8;
			n++;
		}
		if (gsi == 2)
			continue;
		rt->entries[n].gsi = gsi;
		rt->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		rt->entries[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		rt->entries[n].u.irqchip.pin = gsi == 0 ? 2 : gsi;
		n++;
	}
	rt->nr = n;
	if (ioctl(vm_fd, KVM_SET_GSI_ROUTING, rt) < 0)
		ret = -errno;
	free(rt);
	return ret;
}
