/*
 * libFuzzer target for virtio-pci (src/virtio/pci/pci.c, src/pci/msix.c)
 * with virtio-rng as function 00:01.0 of a PCI root (src/pci/root.c) on
 * a bus, no I/O thread (status writes and notifications run inline).
 * Guest RAM is 256 KiB at 0.
 *
 * The input is a list of records, an opcode byte then its operands:
 *   0 configuration access  u16 offset, u8 width, u8 write, u32 value
 *   1 BAR access            u16 offset into the 32 KiB BAR, u8 width, u8 write, u64 value
 *   2 RAM poke              u32 offset, u8 n, n bytes
 *   3 a whole driver bring-up: decoding on, features, MSI-X on with one
 *     unmasked entry, queue 0 at fixed rings, DRIVER_OK
 *   4 the host's side: pause, a save restored into itself and a copy with
 *     one byte flipped (u16 at, u8 xor), resume
 *   5 a straddle of the PCI_CFG window (4.1.4.9), so the fuzzer reaches
 *     one without luck: u8 target, u16 offset, u8 at, u8 width, u8 write,
 *     u32 value. The window is aimed validly (bar 0, an aligned offset,
 *     length 1, 2 or 4) at a register from a list (target % 8; 7: offset
 *     aligned down to the length target / 8 % 3 picks), then one ECAM
 *     access of width 1, 2, 4 or 8 at pci_cfg_data + (at % 7 - 3), a
 *     write's bytes over cap.length replaced by cap.length's own
 *
 * Checked besides ASan/UBSan: the ids never change, the BAR answers only
 * while decoding, num_queues reads 1, the pending bits name only the
 * table's vectors, a save restores into the function it came from, and
 * a record that passes its check applies and saves again. After a
 * straddle: the window's bar, offset and length are as aimed; on a
 * register that reads back what it was written (the feature selects,
 * queue_select), a write that touched pci_cfg_data sent the register the
 * field's first length bytes, the driver's over what the field held, and
 * a read's bytes in the field are the register's, zeros above.
 */
#include "core/bus.h"
#include "core/layout.h"
#include "fz_drv.h"
#include "pci/root.h"
#include "util/log.h"
#include "virtio/pci.h"
#include "virtio/rng.h"

#define RAM_SIZE FZ_RAM
#define BAR 0xe8008000ull
#define DEVFN_CFG (LAYOUT_PCI_ECAM + (1u << 15))

static unsigned int width(uint8_t w)
{
	static const unsigned int widths[] = { 1, 2, 4, 8 };

	return widths[w & 3];
}

static uint64_t access(struct bus *bus, uint64_t addr, unsigned int w, bool write, uint64_t v)
{
	uint8_t d[8];

	bus_data_put(d, w, v);
	if (bus_access(bus, BUS_MMIO, addr, d, w, write))
		return ~0ull;
	return bus_data_get(d, w);
}

static void bring_up(struct bus *bus, int msix_cap)
{
	static const struct { uint32_t off, w; uint64_t v; } steps[] = {
		{ 0x14, 1, 3 }, { 0x00, 4, 1 }, { 0x08, 4, 1 }, { 0x0c, 4, 1 }, { 0x14, 1, 11 },
		{ 0x4000, 4, 0xfee00000u }, { 0x4008, 4, 0x41 }, { 0x400c, 4, 0 },
		{ 0x16, 2, 0 }, { 0x1a, 2, 0 }, { 0x18, 2, 16 }, { 0x20, 8, 0x10000 },
		{ 0x28, 8, 0x10100 }, { 0x30, 8, 0x11000 }, { 0x1c, 2, 1 }, { 0x14, 1, 15 },
	};

	access(bus, DEVFN_CFG + 4, 2, true, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	access(bus, DEVFN_CFG + 0x10, 4, true, BAR);
	if (msix_cap > 0)
		access(bus, DEVFN_CFG + (unsigned int)msix_cap + 2, 2, true, 0x8000);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		access(bus, BAR + steps[i].off, steps[i].w, true, steps[i].v);
}

/* The capability with this id (and, for the vendor's, this cfg_type); -1: none. */
static int find_cap(struct bus *bus, uint8_t id, int type)
{
	unsigned int n = 0;

	for (uint64_t c = access(bus, DEVFN_CFG + 0x34, 1, false, 0); c && n < 16; n++) {
		if (access(bus, DEVFN_CFG + c, 1, false, 0) == id &&
		    (type < 0 || access(bus, DEVFN_CFG + c + 3, 1, false, 0) == (uint64_t)type))
			return (int)c;
		c = access(bus, DEVFN_CFG + c + 1, 1, false, 0);
	}
	return -1;
}

/* What op 5 aims the window at; plain: the register reads back what was written. */
static const struct { uint16_t off; uint8_t len; bool plain; } window_regs[7] = {
	{ 0x00, 4, true },       /* device_feature_select */
	{ 0x08, 4, true },       /* driver_feature_select */
	{ 0x16, 2, true },       /* queue_select */
	{ 0x14, 1, false },      /* device_status: a reset or a start */
	{ 0x1000, 1, false },    /* the ISR, cleared by a read */
	{ 0x3000, 2, false },    /* queue 0's notification */
	{ 0x4000, 4, false },    /* MSI-X entry 0's address */
};

/* The register the window reaches, read through it (the field refilled). */
static uint32_t window_get(struct bus *bus, unsigned int d, unsigned int len)
{
	return (uint32_t)access(bus, DEVFN_CFG + d, len, false, 0);
}

static void window_straddle(struct bus *bus, struct fz *f, unsigned int cap)
{
	unsigned int sel = fz_u8(f), i = sel % 8, d = cap + 16;
	uint16_t boff = fz_u16(f);
	int k = fz_u8(f) % 7 - 3;
	unsigned int w = width(fz_u8(f)), len = i < 7 ? window_regs[i].len : 1u << (sel / 8 % 3);
	bool wr = fz_u8(f) & 1, plain = i < 7 && window_regs[i].plain;
	uint32_t v = fz_u32(f), off = i < 7 ? window_regs[i].off :
				      (boff % VIRTIO_PCI_BAR_SIZE) & ~(len - 1);
	uint8_t field[4], got[8];
	unsigned int at = d + (unsigned int)k;
	bool touches = at < d + 4 && d < at + w && w <= 4;

	access(bus, DEVFN_CFG + cap + 4, 1, true, 0);
	access(bus, DEVFN_CFG + cap + 8, 4, true, off);
	access(bus, DEVFN_CFG + cap + 12, 4, true, len);
	/* The field as the access finds it: the register's bytes, zeros above. */
	bus_data_put(field, 4, plain ? window_get(bus, d, 4) : 0);
	for (unsigned int b = 0; b < w && b < 4; b++) {
		unsigned int o = at + b;

		if (o >= d - 4 && o < d) {              /* cap.length's byte: kept valid */
			uint32_t keep = (len >> 8 * (o - (d - 4))) & 0xff;

			v = (v & ~(0xffu << 8 * b)) | keep << 8 * b;
		} else if (o >= d && o < d + 4 && wr) {
			field[o - d] = (uint8_t)(v >> 8 * b);
		}
	}
	bus_data_put(got, w, access(bus, DEVFN_CFG + at, w, wr, v));
	CHECK(access(bus, DEVFN_CFG + cap + 4, 1, false, 0) == 0);
	CHECK(access(bus, DEVFN_CFG + cap + 8, 4, false, 0) == off);
	CHECK(access(bus, DEVFN_CFG + cap + 12, 4, false, 0) == len);
	if (!plain || !touches)
		return;
	if (wr) {
		CHECK(window_get(bus, d, len) == (uint32_t)bus_data_get(field, len));
		return;
	}
	for (unsigned int b = 0; b < w; b++)
		if (at + b >= d && at + b < d + 4)
			CHECK(got[b] == (at + b - d < len ? field[at + b - d] : 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct fz_drv drv;
	struct bus bus;
	struct component root;
	struct virtio_dev *dev;
	struct virtio_pci *t;
	struct dev_env denv;
	struct dev_resources res = { .pio_base = PORT_PCI_CONF1, .pio_size = PCI_CONF1_PORTS,
				     .mmio_base = LAYOUT_PCI_ECAM,
				     .mmio_size = LAYOUT_PCI_ECAM_SIZE, .gsi = -1 };
	struct err err = ERR_INIT;
	int msix_cap, cfg_cap;

	log_set_level(LOG_ERR);
	memset(&drv, 0, sizeof(drv));
	fz_drv_ram(&drv);
	memset(drv.ram, 0, FZ_RAM);
	bus_init(&bus);
	denv = (struct dev_env){ .bus = &bus, .console_fd = -1 };
	CHECK(pci_root_create(&denv, &res, &root, &err) == 0);
	CHECK(virtio_rng_create(&(struct virtio_env){ .mem = &drv.gm }, &dev, &err) == 0);
	CHECK(virtio_pci_create(dev, &(struct virtio_host){ .vm_fd = -1, .bus = &bus },
				pci_root_of(&root), 1, &t) == 0);
	msix_cap = find_cap(&bus, 0x11, -1);
	cfg_cap = find_cap(&bus, 0x09, 5);
	CHECK(msix_cap > 0 && cfg_cap > 0);

	for (unsigned int steps = 0; f.n && steps < 2048; steps++) {
		uint8_t op = fz_u8(&f) % 6;

		switch (op) {
		case 0: {
			uint16_t off = fz_u16(&f) % PCI_CFG_SIZE;
			unsigned int w = width(fz_u8(&f));
			bool wr = fz_u8(&f) & 1;

			access(&bus, DEVFN_CFG + off, w, wr, fz_u32(&f));
			break;
		}
		case 1: {
			uint16_t off = fz_u16(&f) % VIRTIO_PCI_BAR_SIZE;
			unsigned int w = width(fz_u8(&f));
			bool wr = fz_u8(&f) & 1;

			access(&bus, BAR + off, w, wr, fz_u64(&f));
			break;
		}
		case 2: {
			uint32_t off = fz_u32(&f) % RAM_SIZE;
			uint8_t n = fz_u8(&f);

			for (unsigned int i = 0; i < n && off + i < RAM_SIZE; i++)
				drv.ram[off + i] = fz_u8(&f);
			break;
		}
		case 3:
			bring_up(&bus, msix_cap);
			break;
		case 5:
			window_straddle(&bus, &f, (unsigned int)cfg_cap);
			break;
		default: {
			struct bytes_out o = bytes_out_growing(), again = bytes_out_growing();
			uint16_t at = fz_u16(&f);
			uint8_t x = fz_u8(&f);
			size_t len, len2;

			CHECK(virtio_pci_component.pause(t) == 0);
			CHECK(virtio_pci_component.save(t, &o, &err) == 0);
			CHECK(bytes_out_finish(&o, &len) == 0);
			CHECK(virtio_pci_component.restore(t, o.buf, len, false, &err) == 0);
			CHECK(virtio_pci_component.restore(t, o.buf, len, true, &err) == 0);
			o.buf[at % len] ^= x;
			if (virtio_pci_component.restore(t, o.buf, len, false, &err) == 0) {
				virtio_pci_component.restore(t, o.buf, len, true, &err);
				CHECK(virtio_pci_component.save(t, &again, &err) == 0);
				CHECK(bytes_out_finish(&again, &len2) == 0 && len2 == len);
			}
			CHECK(virtio_pci_component.resume(t) == 0);
			free(o.buf);
			free(again.buf);
			break;
		}
		}
		CHECK(access(&bus, DEVFN_CFG, 4, false, 0) == 0x10441af4u);
		if (access(&bus, DEVFN_CFG + 4, 2, false, 0) & PCI_COMMAND_MEMORY &&
		    access(&bus, DEVFN_CFG + 0x10, 4, false, 0) == BAR) {
			CHECK(access(&bus, BAR + 0x12, 2, false, 0) == 1);
			CHECK((access(&bus, BAR + 0x5000, 8, false, 0) >> 2) == 0);
		} else if (!(access(&bus, DEVFN_CFG + 4, 2, false, 0) & PCI_COMMAND_MEMORY)) {
			CHECK(access(&bus, BAR + 0x12, 2, false, 0) == 0xffff);
		}
	}
	virtio_pci_component.destroy(t);
	root.ops->destroy(root.obj);
	bus_destroy(&bus);
	return 0;
}
