/*
 * The PCI root complex and a function's configuration space: ECAM and
 * conf1 decoding, the host bridge, BAR sizing, capabilities, the masks,
 * hostile offsets and widths, reset control and the root's record.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/layout.h"
#include "pci/config.h"
#include "pci/root.h"

struct fixture {
	struct bus bus;
	struct dev_env env;
	struct component root;
	unsigned int resets;
	/* The fake function at slot 3: what reached it last. */
	unsigned int last_off, last_len, reads, writes;
	uint32_t last_v;
	bool bar_on;
	int last_bar;
	unsigned int bar_reads, bar_writes;
};

static void record(void *ctx, enum power_event ev)
{
	struct fixture *f = ctx;

	if (ev == POWER_RESET)
		f->resets++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct dev_resources res = { .pio_base = PORT_PCI_CONF1, .pio_size = PCI_CONF1_PORTS,
				     .mmio_base = LAYOUT_PCI_ECAM,
				     .mmio_size = LAYOUT_PCI_ECAM_SIZE, .gsi = -1 };
	struct err err = ERR_INIT;

	assert_non_null(f);
	bus_init(&f->bus);
	f->env = (struct dev_env){ .bus = &f->bus, .power = { record, f }, .console_fd = -1 };
	assert_int_equal(pci_root_create(&f->env, &res, &f->root, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	f->root.ops->destroy(f->root.obj);
	bus_destroy(&f->bus);
	free(f);
	return 0;
}

static uint32_t ecam_rd(struct fixture *f, unsigned int devfn, unsigned int reg, unsigned int len)
{
	uint8_t d[8];

	assert_int_equal(bus_access(&f->bus, BUS_MMIO, LAYOUT_PCI_ECAM + (devfn << 12) + reg, d,
				    len, false), 0);
	return (uint32_t)bus_data_get(d, len > 4 ? 4 : len);
}

static void ecam_wr(struct fixture *f, unsigned int devfn, unsigned int reg, uint32_t v,
		    unsigned int len)
{
	uint8_t d[8];

	bus_data_put(d, len, v);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, LAYOUT_PCI_ECAM + (devfn << 12) + reg, d,
				    len, true), 0);
}

static void pio_wr(struct fixture *f, uint16_t port, uint32_t v, unsigned int len)
{
	uint8_t d[4];

	bus_data_put(d, len, v);
	assert_int_equal(bus_access(&f->bus, BUS_PIO, port, d, len, true), 0);
}

static uint32_t pio_rd(struct fixture *f, uint16_t port, unsigned int len)
{
	uint8_t d[4];

	assert_int_equal(bus_access(&f->bus, BUS_PIO, port, d, len, false), 0);
	return (uint32_t)bus_data_get(d, len);
}

static uint32_t fake_read(void *opaque, unsigned int off, unsigned int len)
{
	struct fixture *f = opaque;

	f->reads++;
	f->last_off = off;
	f->last_len = len;
	return 0xa5a5a5a5u;
}

static void fake_write(void *opaque, unsigned int off, uint32_t v, unsigned int len)
{
	struct fixture *f = opaque;

	f->writes++;
	f->last_off = off;
	f->last_len = len;
	f->last_v = v;
}

/* Its one BAR: 4 KiB at 0xe8003000 while f->bar_on. */
static int fake_claim(void *opaque, uint64_t addr, unsigned int len, uint64_t *off)
{
	struct fixture *f = opaque;

	if (!f->bar_on || addr < 0xe8003000u || addr + len > 0xe8004000u)
		return -1;
	*off = addr - 0xe8003000u;
	return 2;
}

static void fake_bar_read(void *opaque, int bar, uint64_t off, uint8_t *data, unsigned int len)
{
	struct fixture *f = opaque;

	f->bar_reads++;
	f->last_bar = bar;
	f->last_off = (unsigned int)off;
	bus_data_put(data, len, 0x5a5a5a5a5a5a5a5aull);
}

static void fake_bar_write(void *opaque, int bar, uint64_t off, const uint8_t *data,
			   unsigned int len)
{
	struct fixture *f = opaque;

	f->bar_writes++;
	f->last_bar = bar;
	f->last_off = (unsigned int)off;
	f->last_v = (uint32_t)bus_data_get(data, len);
}

static const struct pci_function_ops fake_ops = {
	.cfg_read = fake_read, .cfg_write = fake_write, .bar_claim = fake_claim,
	.bar_read = fake_bar_read, .bar_write = fake_bar_write,
};

/* 00:00.0 is Red Hat's PCIe host bridge, read-only; nothing else answers. */
static void test_host_bridge(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(ecam_rd(f, 0, PCI_CFG_VENDOR_ID, 4),
			 PCI_HOST_VENDOR | (uint32_t)PCI_HOST_DEVICE << 16);
	assert_int_equal(ecam_rd(f, 0, PCI_CFG_REVISION, 4) >> 8, PCI_CLASS_HOST_BRIDGE);
	assert_int_equal(ecam_rd(f, 0, PCI_CFG_HEADER_TYPE, 1), 0); /* one function */
	assert_int_equal(ecam_rd(f, 0, PCI_CFG_DEVICE_ID, 2), PCI_HOST_DEVICE);
	assert_int_equal(ecam_rd(f, 0, PCI_CFG_DEVICE_ID + 1, 1), PCI_HOST_DEVICE >> 8);
	/* Writes change nothing: no state to lose across a snapshot. */
	ecam_wr(f, 0, PCI_CFG_COMMAND, 0xffff, 2);
	ecam_wr(f, 0, PCI_CFG_VENDOR_ID, 0, 4);
	ecam_wr(f, 0, PCI_CFG_BAR0, 0xffffffffu, 4);
	assert_int_equal(ecam_rd(f, 0, PCI_CFG_COMMAND, 2), 0);
	assert_int_equal(ecam_rd(f, 0, PCI_CFG_VENDOR_ID, 2), PCI_HOST_VENDOR);
	assert_int_equal(ecam_rd(f, 0, PCI_CFG_BAR0, 4), 0);
	/* Empty slots, other functions of slot 0 and extended space of an empty slot: all ones. */
	assert_int_equal(ecam_rd(f, 1 << 3, 0, 4), 0xffffffffu);
	assert_int_equal(ecam_rd(f, 31 << 3, 0, 2), 0xffff);
	assert_int_equal(ecam_rd(f, 1, 0, 4), 0xffffffffu);
	assert_int_equal(ecam_rd(f, 7 << 3, 0x100, 1), 0xff);
}

/* The decoders reach the function at the register asked, and only in bounds. */
static void test_decode_and_bounds(void **state)
{
	struct fixture *f = *state;
	struct pci_root *r = pci_root_of(&f->root);
	uint8_t d[8];

	assert_non_null(r);
	assert_int_equal(pci_root_attach(r, 3, &fake_ops, f), 0);
	assert_int_equal(ecam_rd(f, 3 << 3, 0xffe, 2), 0xa5a5);
	assert_int_equal(f->last_off, 0xffe);
	assert_int_equal(f->last_len, 2);
	ecam_wr(f, 3 << 3, 0x44, 0x12345678u, 4);
	assert_int_equal(f->last_off, 0x44);
	assert_int_equal(f->last_v, 0x12345678u);
	/* Widths the spec has not: 3 bytes reach nothing; 8 read all ones. */
	f->reads = f->writes = 0;
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, LAYOUT_PCI_ECAM + (3 << 15) + 0x10, d, 3,
				    false), 0);
	assert_int_equal(bus_data_get(d, 3), 0xffffff);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, LAYOUT_PCI_ECAM + (3 << 15) + 0x10, d, 8,
				    false), 0);
	assert_true(bus_data_get(d, 8) == ~0ull);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, LAYOUT_PCI_ECAM + (3 << 15) + 0x10, d, 8,
				    true), 0);
	/* Past the function's 4 KiB (a straddle into the next function) reaches nothing. */
	assert_int_equal(pci_root_cfg_read(r, 0, 3 << 3, 0xfff, 2), 0xffff);
	assert_int_equal(pci_root_cfg_read(r, 0, 3 << 3, 0x1000, 1), 0xff);
	assert_int_equal(pci_root_cfg_read(r, 1, 3 << 3, 0, 4), 0xffffffffu);
	assert_int_equal(pci_root_cfg_read(r, 0, 256, 0, 4), 0xffffffffu);
	pci_root_cfg_write(r, 0, 3 << 3, 0xffd, 4, 4);
	assert_int_equal(f->reads, 0);
	assert_int_equal(f->writes, 0);

	/* Attaching: not the host bridge's slot, not past 31, not twice. */
	assert_int_equal(pci_root_attach(r, 0, &fake_ops, f), -EINVAL);
	assert_int_equal(pci_root_attach(r, 32, &fake_ops, f), -EINVAL);
	assert_int_equal(pci_root_attach(r, 3, &fake_ops, f), -EEXIST);
}

/* Mechanism #1: Linux's probe, data at each byte lane, the enable bit, straddles. */
static void test_conf1(void **state)
{
	struct fixture *f = *state;
	struct pci_root *r = pci_root_of(&f->root);

	assert_int_equal(pci_root_attach(r, 3, &fake_ops, f), 0);
	/* pci_check_type1: a byte to 0xcfb first, then the address must read back. */
	pio_wr(f, 0xcfb, 0x01, 1);
	pio_wr(f, 0xcf8, 0x80000000u, 4);
	assert_int_equal(pio_rd(f, 0xcf8, 4), 0x80000000u);
	assert_int_equal(pio_rd(f, 0xcfc, 4), PCI_HOST_VENDOR | (uint32_t)PCI_HOST_DEVICE << 16);
	assert_int_equal(pio_rd(f, 0xcfe, 2), PCI_HOST_DEVICE);
	/* Reserved low bits are not kept. */
	pio_wr(f, 0xcf8, 0x80001847u, 4);           /* 00:03.0, register 0x44 */
	assert_int_equal(pio_rd(f, 0xcf8, 4), 0x80001844u);
	pio_rd(f, 0xcfd, 1);
	assert_int_equal(f->last_off, 0x45);
	assert_int_equal(f->last_len, 1);
	pio_wr(f, 0xcfe, 0xbeef, 2);
	assert_int_equal(f->last_off, 0x46);
	assert_int_equal(f->last_v, 0xbeef);
	/* Across the address and data registers, or with the enable bit clear: nothing reached. */
	f->reads = f->writes = 0;
	assert_int_equal(pio_rd(f, 0xcfa, 4), 0xffffffffu);
	pio_wr(f, 0xcfa, 0, 4);
	assert_int_equal(pio_rd(f, 0xcf8, 4), 0x80001844u);
	pio_wr(f, 0xcf8, 0x00001844u, 4);
	assert_int_equal(pio_rd(f, 0xcfc, 4), 0xffffffffu);
	pio_wr(f, 0xcfc, 1, 4);
	assert_int_equal(f->reads + f->writes, 0);
	/* The address names bus 1: nothing there. */
	pio_wr(f, 0xcf8, 0x80010000u, 4);
	assert_int_equal(pio_rd(f, 0xcfc, 4), 0xffffffffu);
}

/* The 32-bit window: an access reaches the function whose BAR is there, else all ones. */
static void test_window(void **state)
{
	struct fixture *f = *state;
	struct pci_root *r = pci_root_of(&f->root);
	uint8_t d[4];

	assert_int_equal(pci_root_attach(r, 3, &fake_ops, f), 0);
	assert_int_equal(pci_root_free_slot(r), 1);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, 0xe8003010u, d, 4, false), 0);
	assert_int_equal(bus_data_get(d, 4), 0xffffffffu);
	assert_int_equal(f->bar_reads, 0);
	f->bar_on = true;
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, 0xe8003010u, d, 4, false), 0);
	assert_int_equal(bus_data_get(d, 4), 0x5a5a5a5au);
	assert_int_equal(f->last_bar, 2);
	assert_int_equal(f->last_off, 0x10);
	bus_data_put(d, 2, 0x1234);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, 0xe8003ffeu, d, 2, true), 0);
	assert_int_equal(f->bar_writes, 1);
	assert_int_equal(f->last_off, 0xffe);
	assert_int_equal(f->last_v, 0x1234);
	/* Straddling the BAR's end: not the function's. */
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, 0xe8003ffeu, d, 4, true), 0);
	assert_int_equal(f->bar_writes, 1);
	/* Where firmware would put a slot's BARs, and nowhere past the window. */
	assert_true(pci_root_bar_base(1, 0x8000) == 0xe8008000ull);
	assert_true(pci_root_bar_base(31, 0x8000) == 0xe80f8000ull);
	assert_true(pci_root_bar_base(31, 1ull << 24) == 0);
	assert_true(pci_root_bar_base(32, 0x1000) == 0);
}

/* 0xcf9: Linux's reboot=pci (read, |2, then |6); a dword at 0xcf8 is no reset. */
static void test_reset_control(void **state)
{
	struct fixture *f = *state;
	uint8_t v = (uint8_t)pio_rd(f, 0xcf9, 1) & ~6;

	pio_wr(f, 0xcf8, 0x80000400u, 4);
	assert_int_equal(f->resets, 0);
	pio_wr(f, 0xcf9, v | 2, 1);
	assert_int_equal(f->resets, 0);
	pio_wr(f, 0xcf9, v | 6, 1);
	assert_int_equal(f->resets, 1);
}

/* The latch survives a snapshot; crafted records are refused and change nothing. */
static void test_record(void **state)
{
	struct fixture *f = *state;
	const struct component_ops *ops = f->root.ops;
	struct err err = ERR_INIT;
	uint8_t buf[64], bad[64];
	struct bytes_out o = bytes_out_init(buf, sizeof(buf));
	size_t len;

	pio_wr(f, 0xcf8, 0x80001810u, 4);
	assert_int_equal(ops->save(f->root.obj, &o, &err), 0);
	assert_int_equal(bytes_out_finish(&o, &len), 0);
	pio_wr(f, 0xcf8, 0, 4);
	assert_int_equal(ops->restore(f->root.obj, buf, len, false, &err), 0);
	assert_int_equal(pio_rd(f, 0xcf8, 4), 0);      /* a check changes nothing */
	assert_int_equal(ops->restore(f->root.obj, buf, len, true, &err), 0);
	assert_int_equal(pio_rd(f, 0xcf8, 4), 0x80001810u);

	assert_int_equal(ops->restore(f->root.obj, buf, len - 1, false, &err), -ENODATA);
	memcpy(bad, buf, len);
	bad[len] = 0;
	assert_int_equal(ops->restore(f->root.obj, bad, len + 1, false, &err), -EINVAL);
	memcpy(bad, buf, len);
	bad[len - 4] |= 0x03;                            /* bits no write keeps */
	assert_int_equal(ops->restore(f->root.obj, bad, len, true, &err), -EINVAL);
	memcpy(bad, buf, len);
	bad[0] = 'X';
	assert_int_equal(ops->restore(f->root.obj, bad, len, true, &err), -EINVAL);
	assert_int_equal(pio_rd(f, 0xcf8, 4), 0x80001810u);
}

static struct pci_config *new_cfg(void)
{
	struct pci_config *c = malloc(sizeof(*c));

	assert_non_null(c);
	pci_config_init(c, &(struct pci_ids){ .vendor = 0x1af4, .device = 0x1041,
		.class_code = 0x020000, .revision = 1, .subsys_vendor = 0x1af4,
		.subsys_id = 0x0041 }, true);
	return c;
}

/* Writing all ones reads back the size; the address bits hold what was programmed. */
static void test_bar_sizing(void **state)
{
	struct pci_config *c = new_cfg();

	(void)state;
	assert_int_equal(pci_config_add_bar(c, 0, PCI_BAR_MEM32, 0x1000, false), 0);
	assert_int_equal(pci_config_add_bar(c, 1, PCI_BAR_IO, 0x20, false), 0);
	assert_int_equal(pci_config_add_bar(c, 2, PCI_BAR_MEM64, 1ull << 33, true), 0);
	pci_config_write(c, 0x10, 0xffffffffu, 4);
	assert_int_equal(pci_config_read(c, 0x10, 4), 0xfffff000u);
	pci_config_write(c, 0x14, 0xffffffffu, 4);
	assert_int_equal(pci_config_read(c, 0x14, 4), 0xffffffe1u);
	pci_config_write(c, 0x18, 0xffffffffu, 4);
	pci_config_write(c, 0x1c, 0xffffffffu, 4);
	assert_int_equal(pci_config_read(c, 0x18, 4), 0x0000000cu); /* 64-bit, prefetchable */
	assert_int_equal(pci_config_read(c, 0x1c, 4), 0xfffffffeu);
	/* Programmed: the flag bits stay, bits below the size do not take. */
	pci_config_write(c, 0x10, 0xe8000fffu, 4);
	assert_true(pci_config_bar_addr(c, 0) == 0xe8000000ull);
	pci_config_write(c, 0x18, 0x00000000u, 4);
	pci_config_write(c, 0x1c, 0x00000004u, 4);
	assert_true(pci_config_bar_addr(c, 2) == 0x400000000ull);
	assert_true(pci_config_bar_addr(c, 3) == 0);
	/* Byte writes into a BAR keep the same rules. */
	pci_config_write(c, 0x11, 0xff, 1);
	assert_int_equal(pci_config_read(c, 0x10, 4), 0xe800f000u);

	/* Bad BARs: the slot after a 64-bit one, a 64-bit one at 5, odd sizes, taken slots. */
	assert_int_equal(pci_config_add_bar(c, 3, PCI_BAR_MEM32, 0x1000, false), -EEXIST);
	assert_int_equal(pci_config_add_bar(c, 5, PCI_BAR_MEM64, 0x1000, false), -EINVAL);
	assert_int_equal(pci_config_add_bar(c, 4, PCI_BAR_MEM32, 0x1800, false), -EINVAL);
	assert_int_equal(pci_config_add_bar(c, 4, PCI_BAR_MEM32, 8, false), -EINVAL);
	assert_int_equal(pci_config_add_bar(c, 4, PCI_BAR_IO, 0x20000, false), -EINVAL);
	assert_int_equal(pci_config_add_bar(c, 4, PCI_BAR_IO, 0x20, true), -EINVAL);
	assert_int_equal(pci_config_add_bar(c, 6, PCI_BAR_MEM32, 0x1000, false), -EINVAL);
	assert_int_equal(pci_config_add_bar(c, 0, PCI_BAR_MEM32, 0x1000, false), -EEXIST);
	assert_int_equal(pci_config_add_bar(c, 4, PCI_BAR_NONE, 0x1000, false), -EINVAL);
	free(c);
}

/* The command register's allowed bits, status' write-1-to-clear, ids read-only. */
static void test_masks(void **state)
{
	struct pci_config *c = new_cfg();

	(void)state;
	pci_config_write(c, PCI_CFG_COMMAND, 0xffff, 2);
	assert_int_equal(pci_config_read(c, PCI_CFG_COMMAND, 2), 0x0407);
	pci_config_set(c, PCI_CFG_STATUS, 0xf900 | PCI_STATUS_CAP_LIST, 2);
	pci_config_write(c, PCI_CFG_STATUS, 0x8000, 2);    /* clears only that bit */
	assert_int_equal(pci_config_read(c, PCI_CFG_STATUS, 2), 0x7900 | PCI_STATUS_CAP_LIST);
	pci_config_write(c, PCI_CFG_STATUS, 0xffff, 2);
	assert_int_equal(pci_config_read(c, PCI_CFG_STATUS, 2), PCI_STATUS_CAP_LIST);
	pci_config_write(c, PCI_CFG_VENDOR_ID, 0, 4);
	assert_int_equal(pci_config_read(c, PCI_CFG_VENDOR_ID, 4), 0x10411af4u);
	pci_config_write(c, PCI_CFG_INT_LINE, 0x0b, 1);
	assert_int_equal(pci_config_read(c, PCI_CFG_INT_LINE, 1), 0x0b);
	/* Hostile offsets and widths: all ones, and no write lands outside. */
	assert_int_equal(pci_config_read(c, PCI_CFG_SIZE - 1, 2), 0xffffffffu);
	assert_int_equal(pci_config_read(c, PCI_CFG_SIZE, 1), 0xffffffffu);
	assert_int_equal(pci_config_read(c, 0, 0), 0xffffffffu);
	assert_int_equal(pci_config_read(c, 0, 5), 0xffffffffu);
	assert_int_equal(pci_config_read(c, ~0u, 4), 0xffffffffu);
	pci_config_write(c, ~0u - 1, 0xffffffffu, 4);
	pci_config_write(c, PCI_CFG_SIZE - 2, 0xffffffffu, 4);
	free(c);
}

/* Capabilities chain from 0x34, dword aligned, read-only until opened, bounded. */
static void test_caps(void **state)
{
	struct pci_config *c = new_cfg();
	static const uint8_t open2[2] = { 0xff, 0xff };
	int a, b, n = 0;

	(void)state;
	assert_int_equal(pci_config_read(c, PCI_CFG_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	a = pci_config_add_cap(c, PCI_CAP_ID_VNDR, 5);
	b = pci_config_add_cap(c, PCI_CAP_ID_MSIX, 12);
	assert_int_equal(a, 0x40);
	assert_int_equal(b, 0x48);
	assert_int_equal(pci_config_read(c, PCI_CFG_CAP_PTR, 1), 0x40);
	assert_int_equal(pci_config_read(c, 0x41, 1), 0x48);
	assert_int_equal(pci_config_read(c, 0x49, 1), 0);
	assert_true(pci_config_read(c, PCI_CFG_STATUS, 2) & PCI_STATUS_CAP_LIST);
	pci_config_write(c, 0x4a, 0xffff, 2);
	assert_int_equal(pci_config_read(c, 0x4a, 2), 0);
	pci_config_set_wmask(c, 0x4a, open2, 2);
	pci_config_write(c, 0x4a, 0x8003, 2);
	assert_int_equal(pci_config_read(c, 0x4a, 2), 0x8003);
	/* The id and next pointer stay the device's. */
	pci_config_write(c, 0x48, 0, 2);
	assert_int_equal(pci_config_read(c, 0x48, 2), 0x0011);
	/* Fill the space: it ends with -ENOSPC, never past 0x100. */
	while ((a = pci_config_add_cap(c, PCI_CAP_ID_VNDR, 16)) > 0)
		n++;
	assert_int_equal(a, -ENOSPC);
	assert_true(n > 0 && n <= 11);
	while ((b = pci_config_add_cap(c, PCI_CAP_ID_VNDR, 4)) > 0)
		assert_true(b + 4 <= 0x100);
	assert_int_equal(b, -ENOSPC);
	assert_int_equal(pci_config_add_cap(c, PCI_CAP_ID_VNDR, 2), -ENOSPC);
	assert_int_equal(pci_config_read(c, 0xfd, 1), 0); /* the last one's next: the end */
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_host_bridge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decode_and_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_control, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record, setup, teardown),
		cmocka_unit_test(test_bar_sizing),
		cmocka_unit_test(test_masks),
		cmocka_unit_test(test_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
