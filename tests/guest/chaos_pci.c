/*
 * The chaos guest on a PCI VM (chaos.c with "pci=N"): configuration-space
 * and BAR chaos against Hearth's PCI root and its virtio-pci functions.
 * Each operation is one of:
 *  - a configuration access through ECAM or ports 0xcf8/0xcfc, to any
 *    device number (present or not), any offset and width, half of them
 *    writes of a random value: BARs sized and moved anywhere, memory
 *    decoding and bus mastering toggled, MSI-X enabled, masked and not,
 *    the PCI configuration access window's fields and data;
 *  - an access anywhere in a function's BAR 0, wherever the function has
 *    it now (the common configuration, ISR, device configuration, the
 *    notification addresses, MSI-X's table and pending bits);
 *  - a read or write of the hotplug register block (0xae00-0xae0b).
 * What the random writes must not do (chaos.c's rules, and):
 *  - DRIVER_OK is never set, in the common configuration or through the
 *    window: with queue addresses anywhere, a running device would write
 *    into our code or page tables;
 *  - an MSI-X message is always a fixed interrupt to a LAPIC (the data's
 *    delivery mode cleared, the address in 0xfee00000's page): an INIT,
 *    SMI or NMI message would reset or stop a vCPU. Interrupts stay off.
 * At the end every function is reset (status 0) and its BAR 0 and
 * command register put back; it must still answer with its ids there.
 */
#include "chaos.h"

#define ECAM 0xe0000000ull
#define WINDOW 0xe8000000ull
#define WINDOW_END 0xfc000000ull
#define PCI_MAX_FUNCS 8
#define BAR_SIZE 0x8000u
#define OFF_COMMON 0x0u
#define CC_STATUS 0x14u
#define OFF_MSIX_TABLE 0x4000u
#define MSIX_TABLE_END 0x5000u

struct pfn {
	unsigned int slot;
	uint32_t id, bar0;
	unsigned int window_cap;   /* the PCI configuration access window's capability */
};

static struct pfn fns[PCI_MAX_FUNCS];
static unsigned int nfns;
uint64_t pci_cfg_ops, pci_bar_ops, pci_hp_ops;

static uint64_t ecam(unsigned int dev, unsigned int reg)
{
	return ECAM + ((uint64_t)dev << 15) + reg;
}

static uint32_t cfg_read(unsigned int dev, unsigned int reg, unsigned int width)
{
	uint64_t a = ecam(dev, reg);

	return width == 1 ? mmio_read8(a) : width == 2 ? mmio_read16(a) : mmio_read32(a);
}

static void cfg_write(unsigned int dev, unsigned int reg, uint32_t v, unsigned int width)
{
	uint64_t a = ecam(dev, reg);

	if (width == 1)
		mmio_write8(a, (uint8_t)v);
	else if (width == 2)
		mmio_write16(a, (uint16_t)v);
	else
		mmio_write32(a, v);
}

unsigned int pci_probe(void)
{
	for (unsigned int d = 1; d < 32 && nfns < PCI_MAX_FUNCS; d++) {
		uint32_t id = mmio_read32(ecam(d, 0));
		struct pfn *f = &fns[nfns];

		if (id == 0xffffffffu)
			continue;
		if ((id & 0xffff) != 0x1af4)
			chaos_fail("a function that is not virtio", d, id);
		*f = (struct pfn){ .slot = d, .id = id, .bar0 = mmio_read32(ecam(d, 0x10)) };
		for (unsigned int c = mmio_read8(ecam(d, 0x34)), n = 0; c && n < 48; n++) {
			if (mmio_read8(ecam(d, c)) == 0x09 && mmio_read8(ecam(d, c + 3)) == 5)
				f->window_cap = c;
			c = mmio_read8(ecam(d, c + 1));
		}
		if (!f->window_cap)
			chaos_fail("no PCI configuration access window", d, id);
		nfns++;
	}
	return nfns;
}

/* A value for offset off of function f's configuration space that breaks none of the rules. */
static uint32_t cfg_tame(const struct pfn *f, unsigned int off, unsigned int width, uint32_t v)
{
	unsigned int w = f->window_cap + 16;    /* the window's data */
	unsigned int bar = f->window_cap + 4, woff = f->window_cap + 8;

	/* Through the window a write could reach the status byte: never DRIVER_OK there. */
	if (off < w + 4 && w < off + width)
		v &= ~(0x04040404u);
	/* ... nor, pointed at the MSI-X table, an INIT message: the window's target stays away. */
	if (off <= bar && bar < off + width)
		v &= ~(0xffu << (8 * (bar - off)));       /* BAR 0 only */
	if (off < woff + 4 && woff < off + width)
		v &= (uint32_t)~0u >> 20;                 /* below 4 KiB: common, not MSI-X */
	return v;
}

static uint32_t tame_for(unsigned int dev, unsigned int off, unsigned int width, uint32_t v)
{
	for (unsigned int i = 0; i < nfns; i++)
		if (fns[i].slot == dev)
			return cfg_tame(&fns[i], off, width, v);
	return v;
}

static void op_pci_cfg(void)
{
	unsigned int width = 1u << below(3);
	unsigned int off = (unsigned int)below(chance(70) ? 0x100 : 0x1000) & ~(width - 1);
	unsigned int dev = chance(85) && nfns ? fns[below(nfns)].slot : (unsigned int)below(32);

	pci_cfg_ops++;
	if (chance(50)) {
		(void)cfg_read(dev, off, width);
	} else if (chance(80) || off >= 0x100) {
		cfg_write(dev, off, tame_for(dev, off, width, (uint32_t)rnd()), width);
	} else {
		/* Mechanism #1, a dword: the same space through the ports. */
		off &= 0xfc;
		outl(0xcf8, 0x80000000u | dev << 11 | off);
		outl(0xcfc, tame_for(dev, off, 4, (uint32_t)rnd()));
	}
}

/* A value for offset off of BAR 0 that breaks none of the rules. */
static uint64_t bar_tame(unsigned int off, unsigned int width, uint64_t v)
{
	if (off < OFF_COMMON + CC_STATUS + 1 && OFF_COMMON + CC_STATUS < off + width)
		v &= ~(0x04ull << (8 * (CC_STATUS - off)));
	if (off >= OFF_MSIX_TABLE && off < MSIX_TABLE_END) {
		for (unsigned int k = 0; k < width; k++) {
			unsigned int at = (off + k) & 15;    /* the entry's byte */
			uint64_t m = 0xffull << (8 * k);

			if (at == 9)                         /* data bits 8-15: delivery mode */
				v &= ~(0x07ull << (8 * k));
			else if (at == 2)                    /* address bits 16-23: 0xee */
				v = (v & ~m) | (0xeeull << (8 * k));
			else if (at == 3)                    /* address bits 24-31: 0xfe */
				v = (v & ~m) | (0xfeull << (8 * k));
			else if (at >= 4 && at < 8)          /* the upper address: 0 */
				v &= ~m;
		}
	}
	return v;
}

static void op_pci_bar(void)
{
	const struct pfn *f;
	unsigned int width = 1u << below(4), off;
	uint64_t base, v = chance(30) ? 0 : rnd();

	if (!nfns)
		return;
	f = &fns[below(nfns)];
	base = mmio_read32(ecam(f->slot, 0x10)) & ~0xfull;
	if (base < WINDOW || base >= WINDOW_END)
		base = f->bar0 & ~0xfull;             /* moved away: where it was */
	off = (unsigned int)below(BAR_SIZE) & ~(width - 1);
	pci_bar_ops++;
	v = bar_tame(off, width, v);
	if (chance(40)) {
		if (width == 1)
			(void)mmio_read8(base + off);
		else if (width == 2)
			(void)mmio_read16(base + off);
		else if (width == 4)
			(void)mmio_read32(base + off);
		else
			(void)mmio_read64(base + off);
	} else if (width == 1) {
		mmio_write8(base + off, (uint8_t)v);
	} else if (width == 2) {
		mmio_write16(base + off, (uint16_t)v);
	} else if (width == 4) {
		mmio_write32(base + off, (uint32_t)v);
	} else {
		mmio_write64(base + off, v);
	}
}

static void op_pci_hotplug(void)
{
	uint16_t port = (uint16_t)(0xae00 + below(12));

	pci_hp_ops++;
	if (chance(60))
		(void)inl(port & ~3u);
	else
		outl(port & ~3u, (uint32_t)rnd() & ~1u);   /* never slot 0 */
}

void pci_one_op(void)
{
	unsigned int r = (unsigned int)below(100);

	if (r < 50)
		op_pci_cfg();
	else if (r < 92)
		op_pci_bar();
	else
		op_pci_hotplug();
}

/* Every function reset, put back, and still itself. */
void pci_finish(void)
{
	for (unsigned int i = 0; i < nfns; i++) {
		const struct pfn *f = &fns[i];

		cfg_write(f->slot, 0x10, f->bar0, 4);
		cfg_write(f->slot, 0x04, 0x6, 2);
		mmio_write8((f->bar0 & ~0xfull) + OFF_COMMON + CC_STATUS, 0);
		if (mmio_read32(ecam(f->slot, 0)) != f->id)
			chaos_fail("a function's ids changed", f->slot, mmio_read32(ecam(f->slot, 0)));
		if (mmio_read8((f->bar0 & ~0xfull) + OFF_COMMON + CC_STATUS) != 0)
			chaos_fail("a function's status did not reset", f->slot, 0);
	}
}
