/*
 * MSI routes (core/irq.h) and MSI-X's hook for their owner (pci/msix.h):
 * the table KVM_SET_GSI_ROUTING gets (the PC's pins, then each routed
 * GSI), allocation to exhaustion, a commit only on a change; and msix
 * telling its owner of every change before pending messages go out,
 * with the vector's index.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/irq.h"
#include "pci/config.h"
#include "pci/msix.h"

static const struct kvm_irq_routing_entry *find(const struct kvm_irq_routing *rt, uint32_t gsi,
						 uint32_t type, unsigned int nth)
{
	for (uint32_t i = 0; i < rt->nr; i++)
		if (rt->entries[i].gsi == gsi && rt->entries[i].type == type && nth-- == 0)
			return &rt->entries[i];
	return NULL;
}

/* The PC's pins as irq_setup_routing has them: ISA IRQ 0 on IOAPIC pin 2. */
static void test_pins(void **state)
{
	struct irq_routes r;
	struct kvm_irq_routing *rt;
	const struct kvm_irq_routing_entry *e;

	(void)state;
	irq_routes_init(&r, -1);
	rt = irq_routes_table(&r);
	assert_non_null(rt);
	assert_int_equal(rt->nr, 15 * 2 + 8);   /* 0-15 but 2: PIC and IOAPIC; 16-23: IOAPIC */
	e = find(rt, 0, KVM_IRQ_ROUTING_IRQCHIP, 1);
	assert_non_null(e);
	assert_int_equal(e->u.irqchip.irqchip, KVM_IRQCHIP_IOAPIC);
	assert_int_equal(e->u.irqchip.pin, 2);
	assert_null(find(rt, 2, KVM_IRQ_ROUTING_IRQCHIP, 0));
	e = find(rt, 9, KVM_IRQ_ROUTING_IRQCHIP, 0);
	assert_int_equal(e->u.irqchip.irqchip, KVM_IRQCHIP_PIC_SLAVE);
	assert_int_equal(e->u.irqchip.pin, 1);
	e = find(rt, 23, KVM_IRQ_ROUTING_IRQCHIP, 0);
	assert_int_equal(e->u.irqchip.irqchip, KVM_IRQCHIP_IOAPIC);
	assert_null(find(rt, 23, KVM_IRQ_ROUTING_IRQCHIP, 1));
	free(rt);
	irq_routes_destroy(&r);
}

static void test_msi_routes(void **state)
{
	struct irq_routes *r = calloc(1, sizeof(*r));
	struct kvm_irq_routing *rt;
	const struct kvm_irq_routing_entry *e;
	uint32_t a, b, c;
	unsigned long commits;

	(void)state;
	irq_routes_init(r, -1);
	assert_int_equal(irq_routes_alloc(r, &a), 0);
	assert_int_equal(irq_routes_alloc(r, &b), 0);
	assert_int_equal(a, IRQ_ROUTES_FIRST_GSI);
	assert_int_equal(b, IRQ_ROUTES_FIRST_GSI + 1);
	/* Allocated but unrouted: not in the table. */
	rt = irq_routes_table(r);
	assert_null(find(rt, a, KVM_IRQ_ROUTING_MSI, 0));
	free(rt);
	assert_int_equal(irq_routes_set_msi(r, b, 0x1fee01000ull, 0x4021), 0);
	commits = r->commits;
	assert_int_equal(commits, 1);
	/* The same message again commits nothing; a new one does. */
	assert_int_equal(irq_routes_set_msi(r, b, 0x1fee01000ull, 0x4021), 0);
	assert_int_equal(r->commits, commits);
	assert_int_equal(irq_routes_set_msi(r, b, 0xfee02000ull, 0x4022), 0);
	assert_int_equal(r->commits, commits + 1);
	rt = irq_routes_table(r);
	e = find(rt, b, KVM_IRQ_ROUTING_MSI, 0);
	assert_non_null(e);
	assert_int_equal(e->u.msi.address_lo, 0xfee02000u);
	assert_int_equal(e->u.msi.address_hi, 0);
	assert_int_equal(e->u.msi.data, 0x4022);
	assert_int_equal(rt->nr, 38 + 1);
	free(rt);
	/* GSIs not handed out, or below the pins' end, route nothing. */
	assert_int_equal(irq_routes_set_msi(r, b + 1, 0xfee00000ull, 1), -EINVAL);
	assert_int_equal(irq_routes_set_msi(r, 5, 0xfee00000ull, 1), -EINVAL);
	assert_int_equal(irq_routes_set_msi(r, IRQ_ROUTES_FIRST_GSI + IRQ_ROUTES_MSI_MAX,
					    0xfee00000ull, 1), -EINVAL);
	/* Freed: gone from the table, and the GSI is the next one handed out. */
	irq_routes_free(r, b);
	rt = irq_routes_table(r);
	assert_null(find(rt, b, KVM_IRQ_ROUTING_MSI, 0));
	assert_int_equal(rt->nr, 38);
	free(rt);
	assert_int_equal(irq_routes_alloc(r, &c), 0);
	assert_int_equal(c, b);
	/* Exhaustion. */
	for (unsigned int i = 2; i < IRQ_ROUTES_MSI_MAX; i++)
		assert_int_equal(irq_routes_alloc(r, &c), 0);
	assert_int_equal(irq_routes_alloc(r, &c), -ENOSPC);
	irq_routes_destroy(r);
	free(r);
}

struct owner {
	struct pci_config cfg;
	struct msix m;
	unsigned int changed, sent;
	int last_v;
	uint32_t last_data;
	bool live_at_change[4];
};

static int deliver(void *ctx, unsigned int v, uint64_t addr, uint32_t data)
{
	struct owner *o = ctx;

	(void)addr;
	o->sent++;
	o->last_v = (int)v;
	o->last_data = data;
	return 0;
}

static void changed(void *ctx)
{
	struct owner *o = ctx;
	uint64_t addr;
	uint32_t data;

	o->changed++;
	/* The hook runs before pending messages go out: the owner routes first. */
	o->live_at_change[3] = o->sent == 0;
	for (unsigned int v = 0; v < 3; v++)
		o->live_at_change[v] = msix_vector_live(&o->m, v, &addr, &data);
}

static void entry(struct owner *o, unsigned int v, uint32_t data, uint32_t ctrl)
{
	uint8_t b[4];
	uint32_t words[4] = { 0xfee00000u, 0, data, ctrl };

	for (unsigned int i = 0; i < 4; i++) {
		for (unsigned int k = 0; k < 4; k++)
			b[k] = (uint8_t)(words[i] >> (8 * k));
		msix_table_write(&o->m, v * MSIX_ENTRY_SIZE + 4 * i, b, 4);
	}
}

static void test_changed_hook(void **state)
{
	struct owner *o = calloc(1, sizeof(*o));
	uint64_t addr;
	uint32_t data;

	(void)state;
	pci_config_init(&o->cfg, &(struct pci_ids){ .vendor = 0x1af4, .device = 0x1041 }, true);
	assert_int_equal(msix_init(&o->m, &o->cfg, 3, 0, 0x4000, 0x5000, deliver, o), 0);
	o->m.changed = changed;
	/* Off: nothing live, a notify is refused. */
	assert_false(msix_vector_live(&o->m, 0, &addr, &data));
	assert_false(msix_notify(&o->m, 1));
	entry(o, 1, 0x41, 0);
	assert_true(o->changed >= 1);
	assert_false(o->live_at_change[1]);
	/* Enabled through the capability: vector 1 is live, with its message. */
	pci_config_write(&o->cfg, (unsigned int)o->m.cap + 2, 0x8000, 2);
	o->changed = 0;
	msix_config_written(&o->m);
	assert_int_equal(o->changed, 1);
	assert_true(o->live_at_change[1]);
	assert_false(o->live_at_change[0]);     /* still masked */
	assert_true(msix_vector_live(&o->m, 1, &addr, &data));
	assert_true(addr == 0xfee00000ull);
	assert_int_equal(data, 0x41);
	/* A masked vector's notify waits; the unmask tells the owner, then sends it. */
	entry(o, 2, 0x42, 1);
	assert_true(msix_notify(&o->m, 2));
	assert_int_equal(o->sent, 0);
	o->changed = 0;
	entry(o, 2, 0x42, 0);
	assert_true(o->changed >= 1);
	assert_true(o->live_at_change[3]);
	assert_int_equal(o->sent, 1);
	assert_int_equal(o->last_v, 2);
	assert_int_equal(o->last_data, 0x42);
	/* The function mask: nothing live. */
	pci_config_write(&o->cfg, (unsigned int)o->m.cap + 2, 0xc000, 2);
	msix_config_written(&o->m);
	assert_false(o->live_at_change[1]);
	assert_false(o->live_at_change[2]);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_msi_routes),
		cmocka_unit_test(test_changed_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
