/*
 * A passed-through function (pci/vfio.h) without VFIO: the "device" is a
 * memfd laid out as VFIO lays out a device fd (the configuration space
 * at one offset, each BAR at another), so everything the function does
 * through the fd is visible here. Checked: the configuration space the
 * guest sees (the device's ids, its BARs' sizes and kinds, only MSI-X in
 * the capability list), BAR sizing and placement, the command register
 * reaching the device, trapped BAR accesses going to the fd except the
 * MSI-X table and pending bits, hostile offsets and widths, a device
 * whose capability list loops or has no MSI-X, and the refused save.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/layout.h"
#include "pci/config.h"
#include "pci/root.h"
#include "pci/vfio.h"
#include "util/bytes.h"

#define CFG_OFF 0x0ull
#define BAR0_OFF 0x10000ull
#define BAR0_SIZE 0x4000ull
#define BAR2_OFF 0x20000ull
#define BAR2_SIZE 0x1000ull
#define BAR4_OFF 0x30000ull
#define SLOT 3u
#define DEVFN (SLOT << 3)
#define TABLE_OFF 0x2000u
#define PBA_OFF 0x3000u

struct fixture {
	struct bus bus;
	struct dev_env env;
	struct component root;
	int fd;
	struct vfio_pci *f;
	struct vfio_bar_space space;
};

static void put(int fd, uint64_t off, uint32_t v, unsigned int len)
{
	assert_int_equal(pwrite(fd, &v, len, (off_t)off), (ssize_t)len);
}

static uint32_t get(int fd, uint64_t off, unsigned int len)
{
	uint32_t v = 0;

	assert_int_equal(pread(fd, &v, len, (off_t)off), (ssize_t)len);
	return v;
}

/* An NVMe-like device: PM then MSI-X (8 vectors, table and PBA in BAR 0). */
static int make_device(bool msix, bool loop)
{
	int fd = memfd_create("fake-vfio", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 0x40000), 0);
	put(fd, CFG_OFF + PCI_CFG_VENDOR_ID, 0x1b36, 2);
	put(fd, CFG_OFF + PCI_CFG_DEVICE_ID, 0x0010, 2);
	put(fd, CFG_OFF + PCI_CFG_REVISION, 0x01080202, 4);   /* class 010802, rev 2 */
	put(fd, CFG_OFF + PCI_CFG_STATUS, PCI_STATUS_CAP_LIST, 2);
	put(fd, CFG_OFF + PCI_CFG_SUBSYS_VENDOR, 0x1af4, 2);
	put(fd, CFG_OFF + PCI_CFG_SUBSYS_ID, 0x1100, 2);
	put(fd, CFG_OFF + PCI_CFG_BAR0, 0x4, 4);              /* 64-bit memory */
	put(fd, CFG_OFF + PCI_CFG_BAR0 + 8, 0x0, 4);          /* BAR 2: 32-bit memory */
	put(fd, CFG_OFF + PCI_CFG_BAR0 + 16, 0x1, 4);         /* BAR 4: I/O */
	put(fd, CFG_OFF + PCI_CFG_CAP_PTR, 0x40, 1);
	put(fd, CFG_OFF + 0x40, 0x01, 1);                     /* power management */
	put(fd, CFG_OFF + 0x41, loop ? 0x40 : 0x50, 1);
	put(fd, CFG_OFF + 0x50, msix ? PCI_CAP_ID_MSIX : 0x05, 1);
	put(fd, CFG_OFF + 0x51, 0x00, 1);
	put(fd, CFG_OFF + 0x52, 7, 2);                        /* 8 vectors */
	put(fd, CFG_OFF + 0x54, TABLE_OFF | 0, 4);
	put(fd, CFG_OFF + 0x58, PBA_OFF | 0, 4);
	put(fd, CFG_OFF + PCI_CFG_COMMAND, 0, 2);
	return fd;
}

static void handles(int fd, struct vfio_handles *h)
{
	*h = (struct vfio_handles){ .container = -1, .group = -1, .device = fd };
	snprintf(h->name, sizeof(h->name), "0000:01:00.0");
	h->region[0] = (struct vfio_region){ .size = BAR0_SIZE, .offset = BAR0_OFF, .mmap = true };
	h->region[2] = (struct vfio_region){ .size = BAR2_SIZE, .offset = BAR2_OFF };
	h->region[4] = (struct vfio_region){ .size = 0x100, .offset = BAR4_OFF };
	h->region[VFIO_REGION_CONFIG] = (struct vfio_region){ .size = 4096, .offset = CFG_OFF };
}

static int setup_root(struct fixture *f)
{
	struct dev_resources rr = { .pio_base = PORT_PCI_CONF1, .pio_size = PCI_CONF1_PORTS,
				    .mmio_base = LAYOUT_PCI_ECAM,
				    .mmio_size = LAYOUT_PCI_ECAM_SIZE, .gsi = -1 };
	struct err err = ERR_INIT;

	bus_init(&f->bus);
	f->env = (struct dev_env){ .bus = &f->bus, .console_fd = -1 };
	return pci_root_create(&f->env, &rr, &f->root, &err);
}

static int setup_with(void **state, bool resettable)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vfio_env env = { .vm_fd = -1 };
	struct vfio_handles h;
	struct err err = ERR_INIT;

	assert_non_null(f);
	assert_int_equal(setup_root(f), 0);
	f->fd = make_device(true, false);
	handles(f->fd, &h);
	h.resettable = resettable;
	f->space = (struct vfio_bar_space){ LAYOUT_PCI_VFIO_BARS, LAYOUT_PCI_MMIO32_END, 0, 0 };
	assert_int_equal(vfio_pci_create(&h, &env, pci_root_of(&f->root), SLOT, &f->space,
					 &f->f, &err), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, false);
}

/* A device VFIO can reset: it gets the Express capability with FLR. */
static int setup_resettable(void **state)
{
	return setup_with(state, true);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* The function is the registry's in the VM; here the root goes first, then it. */
	f->root.ops->destroy(f->root.obj);
	if (f->f)
		vfio_pci_destroy(f->f);   /* closes f->fd */
	bus_destroy(&f->bus);
	free(f);
	return 0;
}

static uint32_t cfg_rd(struct fixture *f, unsigned int reg, unsigned int len)
{
	return pci_root_cfg_read(pci_root_of(&f->root), 0, DEVFN, reg, len);
}

static void cfg_wr(struct fixture *f, unsigned int reg, uint32_t v, unsigned int len)
{
	pci_root_cfg_write(pci_root_of(&f->root), 0, DEVFN, reg, v, len);
}

static uint64_t mem_rd(struct fixture *f, uint64_t addr, unsigned int len)
{
	uint8_t d[8] = { 0 };

	assert_int_equal(bus_access(&f->bus, BUS_MMIO, addr, d, len, false), 0);
	return bus_data_get(d, len);
}

static void mem_wr(struct fixture *f, uint64_t addr, uint64_t v, unsigned int len)
{
	uint8_t d[8];

	bus_data_put(d, len, v);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, addr, d, len, true), 0);
}

static void test_ids_and_caps(void **state)
{
	struct fixture *f = *state;
	unsigned int cap;

	assert_int_equal(cfg_rd(f, PCI_CFG_VENDOR_ID, 4), 0x00101b36);
	assert_int_equal(cfg_rd(f, PCI_CFG_REVISION, 4), 0x01080202);
	assert_int_equal(cfg_rd(f, PCI_CFG_SUBSYS_VENDOR, 4), 0x11001af4);
	assert_int_equal(cfg_rd(f, PCI_CFG_HEADER_TYPE, 1), 0);
	assert_int_equal(cfg_rd(f, PCI_CFG_INT_PIN, 1), 0);          /* no INTx */
	assert_true(cfg_rd(f, PCI_CFG_STATUS, 2) & PCI_STATUS_CAP_LIST);
	/* The device's PM capability is not offered: MSI-X is the only one. */
	cap = cfg_rd(f, PCI_CFG_CAP_PTR, 1);
	assert_int_equal(cfg_rd(f, cap, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(cfg_rd(f, cap + 1, 1), 0);
	assert_int_equal(cfg_rd(f, cap + 2, 2) & 0x7ff, 7);
	assert_int_equal(cfg_rd(f, cap + 4, 4), TABLE_OFF | 0);
	assert_int_equal(cfg_rd(f, cap + 8, 4), PBA_OFF | 0);
	/* Extended space and past it: zeros and all ones, never the device's. */
	assert_int_equal(cfg_rd(f, 0x100, 4), 0);
	assert_int_equal(cfg_rd(f, 4095, 1), 0);
}

static void test_bars(void **state)
{
	struct fixture *f = *state;
	uint32_t b0 = cfg_rd(f, PCI_CFG_BAR0, 4);
	uint64_t at0 = LAYOUT_PCI_VFIO_BARS;

	/* Placed where firmware would: BAR 0 (64-bit) first, naturally aligned, BAR 2 after. */
	assert_int_equal(b0 & 0xf, 0x4);
	assert_int_equal(b0 & ~0xfu, (uint32_t)at0);
	assert_int_equal(cfg_rd(f, PCI_CFG_BAR0 + 4, 4), 0);
	assert_int_equal(cfg_rd(f, PCI_CFG_BAR0 + 8, 4), (uint32_t)(at0 + BAR0_SIZE));
	assert_int_equal(cfg_rd(f, PCI_CFG_BAR0 + 16, 4), 0);        /* the I/O BAR: not offered */
	assert_int_equal(f->space.next32, at0 + BAR0_SIZE + BAR2_SIZE);
	/* Sizing: all ones reads back the size's mask with the kind bits. */
	cfg_wr(f, PCI_CFG_BAR0, 0xffffffff, 4);
	assert_int_equal(cfg_rd(f, PCI_CFG_BAR0, 4), (uint32_t)~(BAR0_SIZE - 1) | 0x4);
	cfg_wr(f, PCI_CFG_BAR0 + 8, 0xffffffff, 4);
	assert_int_equal(cfg_rd(f, PCI_CFG_BAR0 + 8, 4), (uint32_t)~(BAR2_SIZE - 1));
	cfg_wr(f, PCI_CFG_BAR0 + 16, 0xffffffff, 4);
	assert_int_equal(cfg_rd(f, PCI_CFG_BAR0 + 16, 4), 0);
	cfg_wr(f, PCI_CFG_BAR0, (uint32_t)at0, 4);
	cfg_wr(f, PCI_CFG_BAR0 + 8, (uint32_t)(at0 + BAR0_SIZE), 4);
	assert_int_equal(cfg_rd(f, PCI_CFG_BAR0, 4), (uint32_t)at0 | 0x4);
}

static void test_command_reaches_device(void **state)
{
	struct fixture *f = *state;

	cfg_wr(f, PCI_CFG_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_IO, 2);
	/* Memory and bus master go through, INTx stays off, I/O is never the device's. */
	assert_int_equal(get(f->fd, CFG_OFF + PCI_CFG_COMMAND, 2),
			 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	cfg_wr(f, PCI_CFG_COMMAND, 0, 2);
	assert_int_equal(get(f->fd, CFG_OFF + PCI_CFG_COMMAND, 2), PCI_COMMAND_INTX_DISABLE);
}

static void test_bar_access(void **state)
{
	struct fixture *f = *state;
	uint64_t bar0 = LAYOUT_PCI_VFIO_BARS, bar2 = bar0 + BAR0_SIZE;

	put(f->fd, BAR0_OFF + 0x100, 0xcafef00d, 4);
	put(f->fd, BAR0_OFF + TABLE_OFF, 0x11111111, 4);
	/* Decoding off: nothing of the device answers. */
	assert_int_equal(mem_rd(f, bar0 + 0x100, 4), 0xffffffffu);
	cfg_wr(f, PCI_CFG_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(mem_rd(f, bar0 + 0x100, 4), 0xcafef00d);
	mem_wr(f, bar0 + 0x1000, 0x12345678, 4);                      /* a doorbell */
	assert_int_equal(get(f->fd, BAR0_OFF + 0x1000, 4), 0x12345678);
	mem_wr(f, bar2 + 8, 0xabcd, 2);
	assert_int_equal(get(f->fd, BAR2_OFF + 8, 2), 0xabcd);
	/* The MSI-X table is Hearth's: its writes never reach the device. */
	mem_wr(f, bar0 + TABLE_OFF, 0xfee00000, 4);
	mem_wr(f, bar0 + TABLE_OFF + 8, 0x4041, 4);
	assert_int_equal(mem_rd(f, bar0 + TABLE_OFF, 4), 0xfee00000);
	assert_int_equal(mem_rd(f, bar0 + TABLE_OFF + 8, 4), 0x4041);
	assert_int_equal(mem_rd(f, bar0 + TABLE_OFF + 12, 4), 1);     /* still masked */
	assert_int_equal(get(f->fd, BAR0_OFF + TABLE_OFF, 4), 0x11111111);
	/* Nor do its pending bits (read-only). */
	mem_wr(f, bar0 + PBA_OFF, 0xff, 4);
	assert_int_equal(mem_rd(f, bar0 + PBA_OFF, 4), 0);
	assert_int_equal(get(f->fd, BAR0_OFF + PBA_OFF, 4), 0);
	/* Moved by the guest: found at the new address only. */
	cfg_wr(f, PCI_CFG_BAR0 + 8, (uint32_t)(bar2 + 0x100000), 4);
	assert_int_equal(mem_rd(f, bar2 + 0x100000 + 8, 2), 0xabcd);
	assert_int_equal(mem_rd(f, bar2 + 8, 2), 0xffff);
}

static void test_hostile(void **state)
{
	struct fixture *f = *state;
	uint64_t bar0 = LAYOUT_PCI_VFIO_BARS;

	cfg_wr(f, PCI_CFG_COMMAND, PCI_COMMAND_MEMORY, 2);
	/* Across a BAR's end: no function claims it. */
	assert_int_equal(mem_rd(f, bar0 + BAR0_SIZE - 2, 4), 0xffffffffu);
	/* Odd widths and offsets of configuration space are bounded by the root. */
	for (unsigned int off = 0; off < 4096; off += 61)
		for (unsigned int len = 1; len <= 4; len++)
			cfg_wr(f, off, 0xffffffff, len);
	assert_int_equal(cfg_rd(f, PCI_CFG_VENDOR_ID, 4), 0x00101b36);
	/* The read-only ids and the capability list survive every write. */
	assert_int_equal(cfg_rd(f, cfg_rd(f, PCI_CFG_CAP_PTR, 1), 1), PCI_CAP_ID_MSIX);
	/* A BAR put over another's address, or at 0: the first claimant only, no crash. */
	cfg_wr(f, PCI_CFG_BAR0 + 8, (uint32_t)bar0, 4);
	(void)mem_rd(f, bar0, 4);
	/* At 0: unclaimed (address 0 means "not placed"), the bus answers nobody's. */
	cfg_wr(f, PCI_CFG_BAR0, 0, 4);
	cfg_wr(f, PCI_CFG_BAR0 + 4, 0, 4);
	assert_int_equal(mem_rd(f, bar0 + BAR0_SIZE + 8, 4), 0xffffffffu);
}

static void test_save_refused(void **state)
{
	struct fixture *f = *state;
	struct bytes_out o = { 0 };
	struct err err = ERR_INIT;

	assert_int_equal(vfio_pci_component.save(f->f, &o, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "cannot be snapshotted"));
	assert_non_null(strstr(err.msg, "0000:01:00.0"));
	assert_int_equal(vfio_pci_component.restore(f->f, "", 0, false, &err), -EINVAL);
	free(o.buf);
}

/* A device the function refuses: named, and its fd closed. */
static void refused(bool msix, bool loop, uint64_t next32, const char *want)
{
	struct vfio_bar_space space = { next32, LAYOUT_PCI_MMIO32_END, 0, 0 };
	struct fixture f = { 0 };
	struct vfio_env env = { .vm_fd = -1 };
	struct vfio_handles h;
	struct vfio_pci *p = NULL;
	struct err err = ERR_INIT;
	int fd = make_device(msix, loop);

	assert_int_equal(setup_root(&f), 0);
	handles(fd, &h);
	assert_true(vfio_pci_create(&h, &env, pci_root_of(&f.root), SLOT, &space, &p, &err) < 0);
	assert_null(p);
	assert_non_null(strstr(err.msg, want));
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	/* Nothing was attached: the slot reads as empty. */
	assert_int_equal(pci_root_cfg_read(pci_root_of(&f.root), 0, DEVFN, 0, 4), 0xffffffffu);
	f.root.ops->destroy(f.root.obj);
	bus_destroy(&f.bus);
}

/*
 * A 64-bit BAR too large for the 32-bit window (a GPU's): placed in the
 * 64-bit one, both halves of the BAR programmed, its accesses reaching
 * the device there; a 32-bit BAR as large is refused, naming the windows.
 */
#define BIG (512ull << 20)
#define BIG_OFF (1ull << 30)
#define WIN64 (16ull << 30)

static void test_window64(void **state)
{
	struct fixture f = { 0 };
	struct vfio_env env = { .vm_fd = -1 };
	struct vfio_bar_space space = { LAYOUT_PCI_VFIO_BARS, LAYOUT_PCI_MMIO32_END, WIN64,
					WIN64 + (64ull << 30) };
	struct vfio_handles h;
	struct err err = ERR_INIT;
	int fd = make_device(true, false);
	uint64_t at;

	(void)state;
	assert_int_equal(ftruncate(fd, (off_t)(BIG_OFF + BIG)), 0);
	assert_int_equal(setup_root(&f), 0);
	assert_int_equal(pci_root_claim_window64(pci_root_of(&f.root), &f.bus, WIN64, 64ull << 30,
						 &err), 0);
	handles(fd, &h);
	h.region[2] = (struct vfio_region){ .size = BIG, .offset = BIG_OFF };
	put(fd, CFG_OFF + PCI_CFG_BAR0 + 8, 0xc, 4);          /* BAR 2: 64-bit, prefetchable */
	put(fd, BIG_OFF + 0x100, 0x600df00d, 4);
	assert_int_equal(vfio_pci_create(&h, &env, pci_root_of(&f.root), SLOT, &space, &f.f, &err),
			 0);
	at = (cfg_rd(&f, PCI_CFG_BAR0 + 8, 4) & ~0xfull) |
	     (uint64_t)cfg_rd(&f, PCI_CFG_BAR0 + 12, 4) << 32;
	assert_int_equal(cfg_rd(&f, PCI_CFG_BAR0 + 8, 4) & 0xf, 0xc);
	assert_int_equal(at, WIN64);
	assert_int_equal(space.next64, WIN64 + BIG);
	/* BAR 0 still below 4 GiB: it fits there. */
	assert_true((cfg_rd(&f, PCI_CFG_BAR0, 4) & ~0xfu) >= LAYOUT_PCI_VFIO_BARS);
	cfg_wr(&f, PCI_CFG_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(mem_rd(&f, WIN64 + 0x100, 4), 0x600df00d);
	mem_wr(&f, WIN64 + BIG - 4, 0x12345678, 4);
	assert_int_equal(get(fd, BIG_OFF + BIG - 4, 4), 0x12345678);
	f.root.ops->destroy(f.root.obj);
	vfio_pci_destroy(f.f);
	bus_destroy(&f.bus);

	/* The same size as a 32-bit BAR: nowhere to go. */
	fd = make_device(true, false);
	assert_int_equal(ftruncate(fd, (off_t)(BIG_OFF + BIG)), 0);
	assert_int_equal(setup_root(&f), 0);
	handles(fd, &h);
	h.region[2] = (struct vfio_region){ .size = BIG, .offset = BIG_OFF };
	space = (struct vfio_bar_space){ LAYOUT_PCI_VFIO_BARS, LAYOUT_PCI_MMIO32_END, WIN64,
					 WIN64 + (64ull << 30) };
	f.f = NULL;
	assert_int_equal(vfio_pci_create(&h, &env, pci_root_of(&f.root), SLOT, &space, &f.f, &err),
			 -ENOSPC);
	assert_non_null(strstr(err.msg, "32-bit"));
	assert_non_null(strstr(err.msg, "does not fit in the PCI windows"));
	f.root.ops->destroy(f.root.obj);
	bus_destroy(&f.bus);
}

static void test_refusals(void **state)
{
	(void)state;
	refused(false, false, LAYOUT_PCI_VFIO_BARS, "no MSI-X capability");
	refused(true, true, LAYOUT_PCI_VFIO_BARS, "no MSI-X capability");     /* PM loops */
	refused(true, false, LAYOUT_PCI_MMIO32_END - 0x1000, "does not fit");
}

/* One of the function's counters by name (vfio_pci_component's). */
static unsigned long counter(struct fixture *f, const char *name)
{
	struct dev_counter c[8];
	unsigned int n = vfio_pci_component.counters(f->f, c, 8);

	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return (unsigned long)c[i].value;
	fail_msg("no counter %s", name);
	return 0;
}

/*
 * The guest's Initiate FLR: the bit reads back 0, the function's command
 * bits and MSI-X go off (in the device too), and the device is reset
 * through VFIO (this fake device's fd refuses the ioctl: a failure
 * counted, no reset). Then an unplug takes it off the bus and a replug
 * puts it back at another slot, once.
 */
static void test_flr_and_replug(void **state)
{
	struct fixture *f = *state;
	struct err err = ERR_INIT;
	unsigned int msix = cfg_rd(f, PCI_CFG_CAP_PTR, 1), exp = cfg_rd(f, msix + 1, 1);

	assert_int_equal(cfg_rd(f, msix, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(cfg_rd(f, exp, 1), 0x10);
	assert_int_equal(cfg_rd(f, exp + 2, 2) & 0xf0, 0x90);            /* RC integrated endpoint */
	assert_true(cfg_rd(f, exp + 4, 4) & (1u << 28));                 /* FLR */
	cfg_wr(f, PCI_CFG_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	cfg_wr(f, msix + 2, 0x8000, 2);
	assert_true(vfio_pci_driven(f->f));
	cfg_wr(f, exp + 8, 0x8000 | 0x0010, 2);
	assert_int_equal(cfg_rd(f, exp + 8, 2), 0x0010);                  /* FLR reads 0 */
	assert_int_equal(cfg_rd(f, PCI_CFG_COMMAND, 2) & 6, 0);
	assert_int_equal(get(f->fd, CFG_OFF + PCI_CFG_COMMAND, 2), PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(cfg_rd(f, msix + 2, 2) & 0x8000, 0);
	assert_false(vfio_pci_driven(f->f));
	assert_int_equal(counter(f, "resets"), 0);
	assert_int_equal(counter(f, "failures"), 1);
	/* Off the bus: nothing answers at its slot; back at slot 5, and only once. */
	assert_int_equal(vfio_pci_unplug(f->f, &err), 0);
	assert_false(vfio_pci_attached(f->f));
	assert_int_equal(cfg_rd(f, PCI_CFG_VENDOR_ID, 4), 0xffffffffu);
	assert_int_equal(vfio_pci_replug(f->f, 5, &err), 0);
	assert_int_equal(pci_root_cfg_read(pci_root_of(&f->root), 0, 5 << 3, PCI_CFG_VENDOR_ID, 4),
			 0x00101b36);
	assert_int_equal(vfio_pci_slot(f->f), 5);
	assert_int_equal(vfio_pci_replug(f->f, 6, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "plugged in already"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ids_and_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_reaches_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_refused, setup, teardown),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_window64),
		cmocka_unit_test_setup_teardown(test_flr_and_replug, setup_resettable, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
