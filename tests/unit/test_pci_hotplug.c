/*
 * PCI hotplug's two halves below the VM: the root taking a function in
 * and out while vCPUs access the bus (an access in flight finishes
 * before pci_root_detach returns, none starts after), and the register
 * block the DSDT's methods read (pci/hotplug.h): the bitmaps, read to
 * clear, the interrupt pulsed per request, the guest's eject waking the
 * api thread, hostile widths and offsets, the record.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/layout.h"
#include "pci/hotplug.h"
#include "pci/root.h"
#include "util/bytes.h"

struct fixture {
	struct bus bus;
	struct dev_env env;
	struct component root, hp;
	/* The fake function: what reached it. */
	unsigned int reads;
	int in_read;              /* atomic: a read is inside the function */
	unsigned int slow_us;
	/* The interrupt line's edges. */
	unsigned int rises, falls;
	int level;
};

static int line_set(void *ctx, unsigned int gsi, int level)
{
	struct fixture *f = ctx;

	assert_int_equal(gsi, LAYOUT_PCI_HOTPLUG_GSI);
	if (level && !f->level)
		f->rises++;
	if (!level && f->level)
		f->falls++;
	f->level = level;
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct dev_resources rr = { .pio_base = PORT_PCI_CONF1, .pio_size = PCI_CONF1_PORTS,
				    .mmio_base = LAYOUT_PCI_ECAM,
				    .mmio_size = LAYOUT_PCI_ECAM_SIZE, .gsi = -1 };
	struct dev_resources hr = { .pio_base = PORT_PCI_HOTPLUG, .pio_size = PCI_HOTPLUG_PORTS,
				    .gsi = LAYOUT_PCI_HOTPLUG_GSI };
	struct err err = ERR_INIT;

	assert_non_null(f);
	bus_init(&f->bus);
	f->env = (struct dev_env){ .bus = &f->bus, .irq = { line_set, f, 0 }, .console_fd = -1 };
	assert_int_equal(pci_root_create(&f->env, &rr, &f->root, &err), 0);
	assert_int_equal(pci_hotplug_create(&f->env, &hr, &f->hp, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	f->hp.ops->destroy(f->hp.obj);
	f->root.ops->destroy(f->root.obj);
	bus_destroy(&f->bus);
	free(f);
	return 0;
}

static uint32_t fake_read(void *opaque, unsigned int off, unsigned int len)
{
	struct fixture *f = opaque;

	__atomic_store_n(&f->in_read, 1, __ATOMIC_SEQ_CST);
	if (f->slow_us)
		usleep(f->slow_us);
	__atomic_add_fetch(&f->reads, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&f->in_read, 0, __ATOMIC_SEQ_CST);
	return 0x10421af4u;
}

static void fake_write(void *opaque, unsigned int off, uint32_t v, unsigned int len)
{
}

static int fake_claim(void *opaque, uint64_t addr, unsigned int len, uint64_t *off)
{
	return -1;
}

static void fake_bar_read(void *opaque, int bar, uint64_t off, uint8_t *data, unsigned int len)
{
}

static void fake_bar_write(void *opaque, int bar, uint64_t off, const uint8_t *data,
			   unsigned int len)
{
}

static const struct pci_function_ops fake_ops = {
	.cfg_read = fake_read, .cfg_write = fake_write, .bar_claim = fake_claim,
	.bar_read = fake_bar_read, .bar_write = fake_bar_write,
};

static struct pci_root *root(struct fixture *f)
{
	return pci_root_of(&f->root);
}

static struct pci_hotplug *hp(struct fixture *f)
{
	return pci_hotplug_of(&f->hp);
}

static uint32_t vendor(struct fixture *f, unsigned int slot)
{
	return pci_root_cfg_read(root(f), 0, slot * PCI_FUNCS, 0, 4);
}

/* In and out while the VM runs: the slot answers, then reads all ones, and takes another. */
static void test_attach_detach(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(pci_root_free_slot(root(f)), 1);
	assert_int_equal(pci_root_attach(root(f), 1, &fake_ops, f), 0);
	assert_int_equal(pci_root_attach(root(f), 1, &fake_ops, f), -EEXIST);
	assert_int_equal(pci_root_free_slot(root(f)), 2);
	assert_int_equal(vendor(f, 1), 0x10421af4u);
	assert_int_equal(pci_root_detach(root(f), 1), 0);
	assert_int_equal(vendor(f, 1), 0xffffffffu);
	assert_int_equal(pci_root_detach(root(f), 1), -ENOENT);
	assert_int_equal(pci_root_detach(root(f), 0), -EINVAL);   /* the host bridge stays */
	assert_int_equal(pci_root_detach(root(f), PCI_SLOTS), -EINVAL);
	assert_int_equal(pci_root_free_slot(root(f)), 1);
	assert_int_equal(pci_root_attach(root(f), 1, &fake_ops, f), 0);
	assert_int_equal(vendor(f, 1), 0x10421af4u);
}

struct reader {
	struct fixture *f;
	int stop;
	unsigned int ones;        /* reads that found nothing */
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST))
		if (vendor(r->f, 2) == 0xffffffffu)
			r->ones++;
	return NULL;
}

/*
 * A vCPU inside the function when it is taken away: detach returns only
 * after that access is over, and no access reaches the function after.
 */
static void test_detach_waits_for_accesses(void **state)
{
	struct fixture *f = *state;
	struct reader r = { .f = f };
	pthread_t t;
	unsigned int reads;

	f->slow_us = 2000;
	assert_int_equal(pci_root_attach(root(f), 2, &fake_ops, f), 0);
	assert_int_equal(pthread_create(&t, NULL, read_loop, &r), 0);
	while (__atomic_load_n(&f->reads, __ATOMIC_SEQ_CST) < 3)
		usleep(100);
	assert_int_equal(pci_root_detach(root(f), 2), 0);
	assert_int_equal(__atomic_load_n(&f->in_read, __ATOMIC_SEQ_CST), 0);
	reads = __atomic_load_n(&f->reads, __ATOMIC_SEQ_CST);
	usleep(20000);
	assert_int_equal(__atomic_load_n(&f->reads, __ATOMIC_SEQ_CST), reads);
	__atomic_store_n(&r.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
	assert_true(r.ones > 0);
}

static uint32_t reg_rd(struct fixture *f, unsigned int off, unsigned int len)
{
	uint8_t d[4];

	assert_int_equal(bus_access(&f->bus, BUS_PIO, PORT_PCI_HOTPLUG + off, d, len, false), 0);
	return (uint32_t)bus_data_get(d, len);
}

static void reg_wr(struct fixture *f, unsigned int off, uint32_t v, unsigned int len)
{
	uint8_t d[4];

	bus_data_put(d, len, v);
	assert_int_equal(bus_access(&f->bus, BUS_PIO, PORT_PCI_HOTPLUG + off, d, len, true), 0);
}

/* The DSDT's PCNT reads UP and DOWN once per interrupt; each read clears what it saw. */
static void test_registers(void **state)
{
	struct fixture *f = *state;

	pci_hotplug_request(hp(f), 3, true);
	assert_int_equal(f->rises, 1);
	assert_int_equal(f->falls, 1);           /* an edge: up and down again */
	pci_hotplug_request(hp(f), 5, true);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_UP, 4), (1u << 3) | (1u << 5));
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_UP, 4), 0);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_DOWN, 4), 0);
	pci_hotplug_request(hp(f), 3, false);
	assert_int_equal(f->rises, 3);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_DOWN, 4), 1u << 3);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_DOWN, 4), 0);
	/* A plug takes back a pending unplug of its slot, and the other way round. */
	pci_hotplug_request(hp(f), 7, false);
	pci_hotplug_request(hp(f), 7, true);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_DOWN, 4), 0);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_UP, 4), 1u << 7);
	/* The host bridge's slot and slots past 31 are no one's. */
	pci_hotplug_request(hp(f), 0, true);
	pci_hotplug_request(hp(f), PCI_SLOTS, true);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_UP, 4), 0);
	assert_int_equal(f->rises, 5);
	/* Other widths and offsets: all ones, nothing cleared; writes elsewhere do nothing. */
	pci_hotplug_request(hp(f), 9, true);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_UP, 2), 0xffff);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_UP + 1, 1), 0xff);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_EJECT, 4), 0xffffffffu);
	reg_wr(f, PCI_HOTPLUG_UP, 0, 4);
	reg_wr(f, PCI_HOTPLUG_EJECT, 1u << 9, 2);
	assert_int_equal(pci_hotplug_wait_eject(hp(f), 9, 1), -ETIMEDOUT);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_UP, 4), 1u << 9);
}

struct ejector {
	struct fixture *f;
	unsigned int slot;
};

static void *eject_later(void *arg)
{
	struct ejector *e = arg;

	usleep(20000);
	reg_wr(e->f, PCI_HOTPLUG_EJECT, 1u << e->slot, 4);
	return NULL;
}

/* The guest's _EJ0 wakes the api thread that waits for it; a wait ends at its bound. */
static void test_eject(void **state)
{
	struct fixture *f = *state;
	struct ejector e = { f, 4 };
	pthread_t t;

	assert_int_equal(pci_hotplug_wait_eject(hp(f), 4, 10), -ETIMEDOUT);
	assert_int_equal(pthread_create(&t, NULL, eject_later, &e), 0);
	assert_int_equal(pci_hotplug_wait_eject(hp(f), 4, 10000), 0);
	pthread_join(t, NULL);
	/* Taken: a second wait does not see it again. */
	assert_int_equal(pci_hotplug_wait_eject(hp(f), 4, 1), -ETIMEDOUT);
	/* An eject the guest made before anyone waited is seen at once... */
	reg_wr(f, PCI_HOTPLUG_EJECT, (1u << 6) | 1u, 4);
	assert_int_equal(pci_hotplug_wait_eject(hp(f), 6, 1), 0);
	/* ...but the host bridge's bit is never taken, and a new plug forgets an old eject. */
	assert_int_equal(pci_hotplug_wait_eject(hp(f), 0, 1), -EINVAL);
	reg_wr(f, PCI_HOTPLUG_EJECT, 1u << 8, 4);
	pci_hotplug_request(hp(f), 8, true);
	assert_int_equal(pci_hotplug_wait_eject(hp(f), 8, 1), -ETIMEDOUT);
}

static void test_record(void **state)
{
	struct fixture *f = *state;
	struct bytes_out o = bytes_out_growing();
	struct err err = ERR_INIT;
	uint8_t bad[32];
	unsigned int rises;

	pci_hotplug_request(hp(f), 2, true);
	pci_hotplug_request(hp(f), 3, false);
	assert_int_equal(f->hp.ops->save(f->hp.obj, &o, &err), 0);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_UP, 4), 1u << 2);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_DOWN, 4), 1u << 3);
	/* Restored: what the guest had not read is there again, and it is told. */
	rises = f->rises;
	assert_int_equal(f->hp.ops->restore(f->hp.obj, o.buf, o.len, true, &err), 0);
	assert_int_equal(f->rises, rises + 1);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_UP, 4), 1u << 2);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_DOWN, 4), 1u << 3);
	/* Slot 0's bit, a short record, a record too long: refused, nothing taken. */
	assert_true(o.len <= sizeof(bad));
	memcpy(bad, o.buf, o.len);
	bad[o.len - 12] |= 1;
	assert_int_equal(f->hp.ops->restore(f->hp.obj, bad, o.len, false, &err), -EINVAL);
	assert_int_not_equal(f->hp.ops->restore(f->hp.obj, o.buf, o.len - 1, false, &err), 0);
	memcpy(bad, o.buf, o.len);
	bad[o.len] = 0;
	assert_int_not_equal(f->hp.ops->restore(f->hp.obj, bad, o.len + 1, false, &err), 0);
	assert_int_equal(reg_rd(f, PCI_HOTPLUG_UP, 4), 0);
	free(o.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_attach_detach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_waits_for_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
