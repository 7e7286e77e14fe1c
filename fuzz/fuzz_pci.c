/*
 * The PCI root complex and a function's configuration space against a
 * hostile guest: ECAM and mechanism #1 accesses of any address and width,
 * a function with BARs of each kind and a capability list behind them,
 * and the root's record saved, restored into itself and corrupted.
 *
 * Input: a program of steps, each an opcode byte then its operands:
 *   0 ECAM read   (u32 offset, u8 width)
 *   1 ECAM write  (u32 offset, u8 width, u64 value)
 *   2 port read   (u8 port 0-7 from 0xcf8, u8 width)
 *   3 port write  (u8 port, u8 width, u32 value)
 *   4 save, restore into itself, then a copy with one byte flipped (u16 at, u8 xor)
 *   5 window access (u32 offset into the 32-bit BAR window, u8 width, u8 write)
 *   6 hotplug register access (u8 offset 0-15, u8 width, u8 write, u32 value)
 *   7 the host's hotplug request (u8 slot, u8 plug), then the function at
 *     slot 5 taken out or put back (pci_root_detach / attach)
 *   8 a straddle, so the fuzzer reaches one without luck (u8 register,
 *     u8 sel, u8 width, u8 write, u32 value): an access at -3..+3
 *     (sel % 7 - 3) from the start of CONFIG_DATA (0xcfc, CONFIG_ADDRESS
 *     first set to slot 5's dword register) or, with sel's top bit, from
 *     the end of slot 5's 4 KiB of ECAM
 *
 * Invariants: the ids, the BARs' flag bits and the capability chain
 * never change; a BAR's address is a multiple of its size; absent
 * functions read all ones (slot 5 too while taken out); the reset line
 * rises only for a byte write to 0xcf9 with RST_CPU; a restore that
 * fails changes nothing; the hotplug registers never show slot 0, and
 * the GED's line rises once per request for a real slot, and falls again.
 * After a straddle: an access wholly inside CONFIG_DATA (or wholly below
 * the function's end) reaches exactly its bytes of the register; one that
 * crosses the edge reaches nothing, a read all ones.
 */
#include "fz.h"

#include <errno.h>

#include "core/bus.h"
#include "core/layout.h"
#include "pci/config.h"
#include "pci/hotplug.h"
#include "pci/root.h"

static unsigned int resets, allowed_resets;
static unsigned int rises, level;

static int line_set(void *ctx, unsigned int gsi, int lvl)
{
	if (lvl && !level)
		rises++;
	level = (unsigned int)lvl;
	return 0;
}

static void on_power(void *ctx, enum power_event ev)
{
	if (ev == POWER_RESET)
		resets++;
}

static uint32_t fn_read(void *opaque, unsigned int off, unsigned int len)
{
	return pci_config_read(opaque, off, len);
}

static void fn_write(void *opaque, unsigned int off, uint32_t v, unsigned int len)
{
	pci_config_write(opaque, off, v, len);
}

/* BAR 0 (32-bit memory) while programmed and decoding: the fuzzer's reads see its offset. */
static int fn_claim(void *opaque, uint64_t addr, unsigned int len, uint64_t *off)
{
	const struct pci_config *c = opaque;
	uint64_t base = pci_config_bar_addr(c, 0);

	if (!(pci_config_read(c, PCI_CFG_COMMAND, 2) & PCI_COMMAND_MEMORY) || !base ||
	    addr < base || addr + len > base + c->bar[0].size)
		return -1;
	*off = addr - base;
	return 0;
}

static void fn_bar_read(void *opaque, int bar, uint64_t off, uint8_t *data, unsigned int len)
{
	const struct pci_config *c = opaque;

	CHECK(bar == 0 && off + len <= c->bar[0].size);
	bus_data_put(data, len, off);
}

static void fn_bar_write(void *opaque, int bar, uint64_t off, const uint8_t *data,
			 unsigned int len)
{
	const struct pci_config *c = opaque;

	CHECK(bar == 0 && off + len <= c->bar[0].size);
}

static const struct pci_function_ops fn_ops = {
	.cfg_read = fn_read, .cfg_write = fn_write, .bar_claim = fn_claim,
	.bar_read = fn_bar_read, .bar_write = fn_bar_write,
};

static void check_function(const struct pci_config *c)
{
	CHECK(pci_config_read(c, PCI_CFG_VENDOR_ID, 4) == 0x10421af4u);
	CHECK(pci_config_read(c, PCI_CFG_CAP_PTR, 1) == 0x40);
	CHECK(pci_config_read(c, 0x40, 2) == 0x4c11);          /* MSI-X, next at 0x4c */
	CHECK(pci_config_read(c, 0x4c, 2) == 0x0009);          /* vendor, the last */
	CHECK((pci_config_read(c, 0x10, 4) & 0xf) == 0x0);      /* 32-bit memory */
	CHECK((pci_config_read(c, 0x14, 4) & 0x3) == 0x1);      /* I/O */
	CHECK((pci_config_read(c, 0x18, 4) & 0xf) == 0xc);      /* 64-bit prefetchable */
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++)
		if (c->bar[i].kind != PCI_BAR_NONE)
			CHECK(pci_config_bar_addr(c, i) % c->bar[i].size == 0);
}

static unsigned int width(uint8_t w)
{
	static const unsigned int widths[] = { 1, 2, 4, 8, 3 };

	return widths[w % 5];
}

static bool cfg_width(unsigned int w)
{
	return w == 1 || w == 2 || w == 4;
}

static void straddle(struct bus *bus, struct fz *f, const struct pci_config *fn, bool attached)
{
	static uint8_t before[PCI_CFG_SIZE];
	uint8_t reg = fz_u8(f) & 0xfc, sel = fz_u8(f), d[8];
	int k = sel % 7 - 3;
	unsigned int w = width(fz_u8(f)), r;
	bool wr = fz_u8(f) & 1, ecam = sel & 0x80, reach;
	uint32_t v = fz_u32(f);
	int ret;

	memcpy(before, fn->data, sizeof(before));
	bus_data_put(d, w, v);
	if (ecam) {
		/* Slot 5's function 1 starts where function 0 ends; it is absent. */
		r = PCI_CFG_SIZE + (unsigned int)k;
		reach = attached && k + (int)w <= 0 && cfg_width(w);
		ret = bus_access(bus, BUS_MMIO, LAYOUT_PCI_ECAM + (5u << 15) + r, d, w, wr);
	} else {
		bus_data_put(d, 4, 0x80000000u | 5u << 11 | reg);
		CHECK(bus_access(bus, BUS_PIO, PORT_PCI_CONF1, d, 4, true) == 0);
		bus_data_put(d, w, v);
		r = reg + (unsigned int)k;
		reach = attached && k >= 0 && k + (int)w <= 4 && cfg_width(w);
		ret = bus_access(bus, BUS_PIO, PORT_PCI_CONF1 + 4 + k, d, w, wr);
		if (!ret && wr && k == -3 && w == 1 && (v & 0x04))
			allowed_resets++;      /* that was RST_CNT at 0xcf9 */
	}
	if (ret)
		return;
	if (!wr && reach)
		CHECK(bus_data_get(d, w) == pci_config_read(fn, r, w));
	else if (!wr && k + (int)w > 0)
		CHECK(bus_data_get(d, w) == (w >= 8 ? ~0ull : (1ull << 8 * w) - 1));
	for (unsigned int i = 0; i < PCI_CFG_SIZE; i++)
		if (!wr || !reach || i < r || i >= r + w)
			CHECK(fn->data[i] == before[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct bus bus;
	struct dev_env env;
	struct component root, hp;
	struct pci_config *fn = calloc(1, sizeof(*fn));
	struct dev_resources hres = { .pio_base = PORT_PCI_HOTPLUG, .pio_size = PCI_HOTPLUG_PORTS,
				      .gsi = LAYOUT_PCI_HOTPLUG_GSI };
	unsigned int requests = 0;
	bool attached = true;
	struct dev_resources res = { .pio_base = PORT_PCI_CONF1, .pio_size = PCI_CONF1_PORTS,
				     .mmio_base = LAYOUT_PCI_ECAM,
				     .mmio_size = LAYOUT_PCI_ECAM_SIZE, .gsi = -1 };
	struct err err = ERR_INIT;
	static const uint8_t open_ctrl[2] = { 0xff, 0xc0 };

	CHECK(fn);
	bus_init(&bus);
	env = (struct dev_env){ .bus = &bus, .power = { on_power, NULL }, .console_fd = -1,
				.irq = { line_set, NULL, 0 } };
	resets = allowed_resets = rises = level = 0;
	CHECK(pci_root_create(&env, &res, &root, &err) == 0);
	CHECK(pci_hotplug_create(&env, &hres, &hp, &err) == 0);
	pci_config_init(fn, &(struct pci_ids){ .vendor = 0x1af4, .device = 0x1042,
		.class_code = 0x010000 }, true);
	CHECK(pci_config_add_bar(fn, 0, PCI_BAR_MEM32, 0x4000, false) == 0);
	CHECK(pci_config_add_bar(fn, 1, PCI_BAR_IO, 0x40, false) == 0);
	CHECK(pci_config_add_bar(fn, 2, PCI_BAR_MEM64, 1ull << 34, true) == 0);
	CHECK(pci_config_add_cap(fn, PCI_CAP_ID_MSIX, 12) == 0x40);
	pci_config_set_wmask(fn, 0x42, open_ctrl, 2);
	CHECK(pci_config_add_cap(fn, PCI_CAP_ID_VNDR, 16) == 0x4c);
	CHECK(pci_root_attach(pci_root_of(&root), 5, &fn_ops, fn) == 0);

	for (unsigned int steps = 0; f.n && steps < 4096; steps++) {
		uint8_t d[8], op = fz_u8(&f) % 9;
		unsigned int w;
		uint64_t a, v;

		switch (op) {
		case 0:
			a = fz_u32(&f) % LAYOUT_PCI_ECAM_SIZE;
			w = width(fz_u8(&f));
			if (bus_access(&bus, BUS_MMIO, LAYOUT_PCI_ECAM + a, d, w, false) == 0 &&
			    ((a >> 12) & 0xff) != 0 && (((a >> 12) & 0xff) != 5 << 3 || !attached))
				CHECK(bus_data_get(d, w) == (w >= 8 ? ~0ull : (1ull << 8 * w) - 1));
			break;
		case 1:
			a = fz_u32(&f) % LAYOUT_PCI_ECAM_SIZE;
			w = width(fz_u8(&f));
			v = fz_u64(&f);
			bus_data_put(d, w, v);
			bus_access(&bus, BUS_MMIO, LAYOUT_PCI_ECAM + a, d, w, true);
			break;
		case 2:
			a = fz_u8(&f) % PCI_CONF1_PORTS;
			bus_access(&bus, BUS_PIO, PORT_PCI_CONF1 + a, d, width(fz_u8(&f)), false);
			break;
		case 3:
			a = fz_u8(&f) % PCI_CONF1_PORTS;
			w = width(fz_u8(&f));
			v = fz_u32(&f);
			bus_data_put(d, w, v);
			if (bus_access(&bus, BUS_PIO, PORT_PCI_CONF1 + a, d, w, true) == 0 && a == 1 &&
			    w == 1 && (v & 0x04))
				allowed_resets++;
			break;
		case 6:
			a = fz_u8(&f) % 16;
			w = width(fz_u8(&f));
			if (fz_u8(&f) & 1) {
				bus_data_put(d, w, fz_u32(&f));
				bus_access(&bus, BUS_PIO, PORT_PCI_HOTPLUG + a, d, w, true);
			} else if (bus_access(&bus, BUS_PIO, PORT_PCI_HOTPLUG + a, d, w,
					      false) == 0 && w == 4 &&
				   (a == PCI_HOTPLUG_UP || a == PCI_HOTPLUG_DOWN)) {
				CHECK(!(bus_data_get(d, 4) & 1));
			}
			break;
		case 7: {
			unsigned int slot = fz_u8(&f) % (PCI_SLOTS + 2);
			bool plug = fz_u8(&f) & 1;

			pci_hotplug_request(pci_hotplug_of(&hp), slot, plug);
			requests += slot >= 1 && slot < PCI_SLOTS;
			CHECK(rises == requests && level == 0);
			if (attached) {
				CHECK(pci_root_detach(pci_root_of(&root), 5) == 0);
				CHECK(pci_root_detach(pci_root_of(&root), 5) == -ENOENT);
			} else {
				CHECK(pci_root_attach(pci_root_of(&root), 5, &fn_ops, fn) == 0);
			}
			attached = !attached;
			break;
		}
		case 8:
			straddle(&bus, &f, fn, attached);
			break;
		case 5:
			a = fz_u32(&f) % (LAYOUT_PCI_MMIO32_END - LAYOUT_PCI_MMIO32);
			w = width(fz_u8(&f));
			bus_access(&bus, BUS_MMIO, LAYOUT_PCI_MMIO32 + a, d, w, fz_u8(&f) & 1);
			break;
		default: {
			struct bytes_out o = bytes_out_growing();
			size_t len;
			uint16_t at = fz_u16(&f);
			uint8_t x = fz_u8(&f);

			CHECK(root.ops->save(root.obj, &o, &err) == 0);
			CHECK(bytes_out_finish(&o, &len) == 0);
			CHECK(root.ops->restore(root.obj, o.buf, len, false, &err) == 0);
			CHECK(root.ops->restore(root.obj, o.buf, len, true, &err) == 0);
			if (len) {
				struct bytes_out again = bytes_out_growing();
				size_t len2;

				o.buf[at % len] ^= x;
				if (root.ops->restore(root.obj, o.buf, len, false, &err) == 0)
					CHECK(root.ops->restore(root.obj, o.buf, len, true, &err) == 0);
				CHECK(root.ops->save(root.obj, &again, &err) == 0);
				CHECK(bytes_out_finish(&again, &len2) == 0 && len2 == len);
				free(again.buf);
			}
			free(o.buf);
			break;
		}
		}
		check_function(fn);
		CHECK(resets == allowed_resets);
	}
	hp.ops->destroy(hp.obj);
	root.ops->destroy(root.obj);
	bus_destroy(&bus);
	free(fn);
	return 0;
}
