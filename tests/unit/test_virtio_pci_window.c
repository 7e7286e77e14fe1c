/*
 * virtio-pci's configuration access window (VIRTIO 1.2 §4.1.4.9) against
 * accesses that straddle its data field, as only ECAM allows (mechanism
 * #1 never crosses a dword, and the field is dword-aligned): one that
 * starts in cap.length and ends in pci_cfg_data, one that starts inside
 * pci_cfg_data and runs past it, a byte in the middle. The rule: the
 * access's bytes land first, then a write sends the first cap.length
 * bytes pci_cfg_data now holds to the BAR (audit F3: the old code
 * shifted the value by the access's distance from the field, which
 * underflowed for a straddle from below, an undefined shift), and a read
 * refills the field before the driver's bytes are taken.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/layout.h"
#include "mem/guest_mem.h"
#include "pci/root.h"
#include "util/log.h"
#include "virtio/pci.h"
#include "virtio/rng.h"
#include "virtio/virtio.h"

#define RAM (1ull << 20)
#define DEVFN (1u << 3)
#define BAR 0xe8008000ull            /* slot 1's, as firmware would place it */

/* The common structure's plain registers, which read back what was written. */
#define CC_DF_SEL 0x00               /* 4 bytes */
#define CC_STATUS 0x14               /* 1 byte */
#define CC_QSEL 0x16                 /* 2 bytes */

/* virtio_pci_cap's fields and the data after them, from the capability. */
#define CAP_BAR 4
#define CAP_OFFSET 8
#define CAP_LENGTH 12
#define CAP_DATA 16

struct fx {
	struct bus bus;
	struct guest_mem mem;
	uint8_t *ram;
	struct component root;
	struct virtio_dev *dev;
	struct virtio_pci *t;
	unsigned int cap;            /* the PCI_CFG capability */
	unsigned int d;              /* its pci_cfg_data */
};

static uint32_t cfg_rd(struct fx *f, unsigned int off, unsigned int len)
{
	uint8_t b[4];

	assert_int_equal(bus_access(&f->bus, BUS_MMIO, LAYOUT_PCI_ECAM + (DEVFN << 12) + off, b,
				    len, false), 0);
	return (uint32_t)bus_data_get(b, len);
}

static void cfg_wr(struct fx *f, unsigned int off, uint32_t v, unsigned int len)
{
	uint8_t b[4];

	bus_data_put(b, len, v);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, LAYOUT_PCI_ECAM + (DEVFN << 12) + off, b,
				    len, true), 0);
}

static uint64_t bar_rd(struct fx *f, unsigned int off, unsigned int len)
{
	uint8_t b[8];

	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BAR + off, b, len, false), 0);
	return bus_data_get(b, len);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct dev_resources res = { .pio_base = PORT_PCI_CONF1, .pio_size = PCI_CONF1_PORTS,
				     .mmio_base = LAYOUT_PCI_ECAM,
				     .mmio_size = LAYOUT_PCI_ECAM_SIZE, .gsi = -1 };
	struct virtio_host host = { .vm_fd = -1, .bus = &f->bus };
	struct virtio_env env = { .mem = &f->mem };
	struct dev_env denv = { .bus = &f->bus, .console_fd = -1 };
	struct err err = ERR_INIT;
	unsigned int n = 0;

	assert_non_null(f);
	log_set_level(LOG_ERR);
	f->ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->ram != MAP_FAILED);
	f->mem.slots_fd = -1;
	f->mem.regions[0] = (struct guest_region){ 0, RAM, f->ram };
	f->mem.nregions = 1;
	f->mem.ram_bytes = RAM;
	bus_init(&f->bus);
	assert_int_equal(pci_root_create(&denv, &res, &f->root, &err), 0);
	assert_int_equal(virtio_rng_create(&env, &f->dev, &err), 0);
	assert_int_equal(virtio_pci_create(f->dev, &host, pci_root_of(&f->root), 1, &f->t), 0);
	/* The window found as a driver finds it: the vendor capability of cfg_type 5. */
	for (unsigned int c = cfg_rd(f, 0x34, 1); c; c = cfg_rd(f, c + 1, 1)) {
		assert_true(++n < 16);
		if (cfg_rd(f, c, 1) == 0x09 && cfg_rd(f, c + 3, 1) == 5)
			f->cap = c;
	}
	assert_true(f->cap >= 0x40);
	f->d = f->cap + CAP_DATA;
	/* Decoding, so the BAR itself can be read to check what the window did. */
	cfg_wr(f, 0x10, (uint32_t)BAR, 4);
	cfg_wr(f, 4, PCI_COMMAND_MEMORY, 2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	virtio_pci_component.destroy(f->t);
	f->root.ops->destroy(f->root.obj);
	bus_destroy(&f->bus);
	munmap(f->ram, RAM);
	free(f);
	return 0;
}

/* The window at BAR 0's off, length bytes wide. */
static void aim(struct fx *f, uint32_t off, uint32_t length)
{
	cfg_wr(f, f->cap + CAP_BAR, 0, 1);
	cfg_wr(f, f->cap + CAP_OFFSET, off, 4);
	cfg_wr(f, f->cap + CAP_LENGTH, length, 4);
}

/*
 * F3's trigger: a dword write starting 2 bytes below pci_cfg_data, its low
 * half cap.length's upper bytes (0, so the length stays valid), its high
 * half the field's first two bytes. The BAR gets exactly those two.
 */
static void test_straddle_from_length(void **state)
{
	struct fx *f = *state;

	aim(f, CC_QSEL, 2);
	cfg_wr(f, f->d - 2, 0xbbaa0000u, 4);
	assert_int_equal(cfg_rd(f, f->cap + CAP_LENGTH, 4), 2);
	assert_int_equal(bar_rd(f, CC_QSEL, 2), 0xbbaa);
	/* The mirror read: cap.length's upper bytes, then the field refilled from the BAR. */
	cfg_wr(f, f->d, 0x0001, 2);
	assert_int_equal(cfg_rd(f, f->d - 2, 4), 0x00010000u);
	assert_int_equal(cfg_rd(f, f->d - 1, 2), 0x0100);
}

/*
 * cap.length 4: the BAR gets the field's first 4 bytes, the straddle's two
 * over the two the field already held (4.1.4.9.1: "using the first
 * cap.length bytes from pci_cfg_data").
 */
static void test_straddle_keeps_field(void **state)
{
	struct fx *f = *state;

	aim(f, CC_DF_SEL, 4);
	cfg_wr(f, f->d, 0x44332211u, 4);
	assert_int_equal(bar_rd(f, CC_DF_SEL, 4), 0x44332211u);
	cfg_wr(f, f->d - 2, 0xbbaa0000u, 4);
	assert_int_equal(bar_rd(f, CC_DF_SEL, 4), 0x4433bbaau);
	/* From 3 below: one byte in the field. */
	cfg_wr(f, f->d - 3, 0xcc000000u, 4);
	assert_int_equal(cfg_rd(f, f->cap + CAP_LENGTH, 4), 4);
	assert_int_equal(bar_rd(f, CC_DF_SEL, 4), 0x4433bbccu);
}

/* Starting inside the field and running past it, or a byte in its middle. */
static void test_straddle_from_inside(void **state)
{
	struct fx *f = *state;

	aim(f, CC_QSEL, 2);
	cfg_wr(f, f->d, 0x1234, 2);
	assert_int_equal(bar_rd(f, CC_QSEL, 2), 0x1234);
	/* Bytes 2 and 3 of the field and 2 past it: cap.length's 2 first bytes are unchanged. */
	cfg_wr(f, f->d + 2, 0x0000beefu, 4);
	assert_int_equal(bar_rd(f, CC_QSEL, 2), 0x1234);
	cfg_wr(f, f->d + 1, 0x56, 1);
	assert_int_equal(bar_rd(f, CC_QSEL, 2), 0x5634);
	cfg_wr(f, f->d + 3, 0x00ff, 2);
	assert_int_equal(bar_rd(f, CC_QSEL, 2), 0x5634);
}

/* A straddle that spoils cap.length reaches nothing; a status byte goes as status. */
static void test_straddle_length_and_status(void **state)
{
	struct fx *f = *state;

	aim(f, CC_QSEL, 2);
	cfg_wr(f, f->d, 0x0007, 2);
	cfg_wr(f, f->d - 2, 0xbbaa0001u, 4);                 /* cap.length 0x10002 */
	assert_int_equal(cfg_rd(f, f->cap + CAP_LENGTH, 4), 0x10002u);
	assert_int_equal(bar_rd(f, CC_QSEL, 2), 7);
	aim(f, CC_STATUS, 1);
	cfg_wr(f, f->d - 1, (uint32_t)VIRTIO_STATUS_ACKNOWLEDGE << 8, 2);
	assert_int_equal(bar_rd(f, CC_STATUS, 1), VIRTIO_STATUS_ACKNOWLEDGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_straddle_from_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_straddle_keeps_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_straddle_from_inside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_straddle_length_and_status, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
