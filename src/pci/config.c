/*
 * A PCI function's configuration space: registers and the two masks
 * that say what the guest may do to them (config.h).
 */
#include "pci/config.h"

#include <errno.h>
#include <string.h>

#include "util/trim.h"

#define BAR_IO_FLAG 0x1u
#define BAR_MEM64_FLAG 0x4u
#define BAR_PREFETCH_FLAG 0x8u
#define BAR_IO_MAX 0x10000ull
#define BAR_MEM32_MAX 0x80000000ull

static bool in_space(unsigned int off, unsigned int len)
{
	return len >= 1 && len <= 4 && off < PCI_CFG_SIZE && len <= PCI_CFG_SIZE - off;
}

void pci_config_set(struct pci_config *c, unsigned int off, uint32_t v, unsigned int len)
{
	if (!in_space(off, len))
		return;
	for (unsigned int i = 0; i < len; i++)
		c->data[off + i] = (uint8_t)(v >> (8 * i));
}

static void set_wmask32(struct pci_config *c, unsigned int off, uint32_t m)
{
	for (unsigned int i = 0; i < 4; i++)
		c->wmask[off + i] = (uint8_t)(m >> (8 * i));
}

void pci_config_set_wmask(struct pci_config *c, unsigned int off, const uint8_t *mask,
			  unsigned int len)
{
	if (off >= PCI_CFG_SIZE || len > PCI_CFG_SIZE - off)
		return;
	memcpy(c->wmask + off, mask, len);
}

void pci_config_init(struct pci_config *c, const struct pci_ids *ids, bool writable_command)
{
	/* 12 KiB, mostly the extended space no one sets: fresh memory stays untouched (trim.h). */
	trim_zero(c, sizeof(*c));
	pci_config_set(c, PCI_CFG_VENDOR_ID, ids->vendor, 2);
	pci_config_set(c, PCI_CFG_DEVICE_ID, ids->device, 2);
	pci_config_set(c, PCI_CFG_REVISION, ids->revision, 1);
	pci_config_set(c, PCI_CFG_CLASS_PROG, ids->class_code & 0xffffffu, 3);
	pci_config_set(c, PCI_CFG_SUBSYS_VENDOR, ids->subsys_vendor, 2);
	pci_config_set(c, PCI_CFG_SUBSYS_ID, ids->subsys_id, 2);
	if (writable_command) {
		uint16_t cmd = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			       PCI_COMMAND_INTX_DISABLE;

		c->wmask[PCI_CFG_COMMAND] = (uint8_t)cmd;
		c->wmask[PCI_CFG_COMMAND + 1] = (uint8_t)(cmd >> 8);
		/* The interrupt line is the OS's scratch register. */
		c->wmask[PCI_CFG_INT_LINE] = 0xff;
		/* Status' error bits (parity, aborts, SERR) are cleared by writing 1. */
		c->w1c[PCI_CFG_STATUS + 1] = 0xf9;
	}
	c->cap_next = PCI_CFG_CAP_START;
}

int pci_config_add_bar(struct pci_config *c, unsigned int idx, enum pci_bar_kind kind,
		       uint64_t size, bool prefetch)
{
	unsigned int off = PCI_CFG_BAR0 + 4 * idx;
	uint64_t mask;
	uint32_t flags;

	if (idx >= PCI_NUM_BARS || !size || (size & (size - 1)))
		return -EINVAL;
	switch (kind) {
	case PCI_BAR_IO:
		if (size < 4 || size > BAR_IO_MAX || prefetch)
			return -EINVAL;
		flags = BAR_IO_FLAG;
		break;
	case PCI_BAR_MEM32:
		if (size < 16 || size > BAR_MEM32_MAX)
			return -EINVAL;
		flags = prefetch ? BAR_PREFETCH_FLAG : 0;
		break;
	case PCI_BAR_MEM64:
		if (size < 16 || idx + 1 >= PCI_NUM_BARS)
			return -EINVAL;
		if (c->bar[idx + 1].kind != PCI_BAR_NONE)
			return -EEXIST;
		flags = BAR_MEM64_FLAG | (prefetch ? BAR_PREFETCH_FLAG : 0);
		break;
	default:
		return -EINVAL;
	}
	if (c->bar[idx].kind != PCI_BAR_NONE || (idx > 0 && c->bar[idx - 1].kind == PCI_BAR_MEM64))
		return -EEXIST;
	c->bar[idx] = (struct pci_bar){ .kind = kind, .prefetch = prefetch, .size = size };
	pci_config_set(c, off, flags, 4);
	/* The flag bits are read-only; so are the address bits below the size. */
	mask = ~(size - 1) & ~(uint64_t)(kind == PCI_BAR_IO ? 0x3 : 0xf);
	set_wmask32(c, off, (uint32_t)mask);
	if (kind == PCI_BAR_MEM64) {
		/* The upper half is all address; an empty slot to everyone else. */
		c->bar[idx + 1] = (struct pci_bar){ .kind = PCI_BAR_NONE };
		set_wmask32(c, off + 4, (uint32_t)(mask >> 32));
	}
	return 0;
}

uint64_t pci_config_bar_addr(const struct pci_config *c, unsigned int idx)
{
	unsigned int off = PCI_CFG_BAR0 + 4 * idx;
	uint64_t lo;

	if (idx >= PCI_NUM_BARS || c->bar[idx].kind == PCI_BAR_NONE)
		return 0;
	lo = pci_config_read(c, off, 4);
	switch (c->bar[idx].kind) {
	case PCI_BAR_IO:
		return lo & ~0x3ull;
	case PCI_BAR_MEM64:
		return (lo & ~0xfull) | ((uint64_t)pci_config_read(c, off + 4, 4) << 32);
	default:
		return lo & ~0xfull;
	}
}

int pci_config_add_cap(struct pci_config *c, uint8_t id, unsigned int len)
{
	unsigned int off = c->cap_next;

	if (len < 2 || !off || off + len > PCI_CFG_STD_SIZE)
		return -ENOSPC;
	c->data[off] = id;
	c->data[off + 1] = 0;
	if (c->cap_last)
		c->data[c->cap_last + 1] = (uint8_t)off;
	else
		c->data[PCI_CFG_CAP_PTR] = (uint8_t)off;
	c->data[PCI_CFG_STATUS] |= PCI_STATUS_CAP_LIST;
	c->cap_last = (uint8_t)off;
	off = (off + len + 3) & ~3u;
	c->cap_next = off < PCI_CFG_STD_SIZE ? (uint8_t)off : 0;
	return (int)c->cap_last;
}

uint32_t pci_config_read(const struct pci_config *c, unsigned int off, unsigned int len)
{
	uint32_t v = 0;

	if (!in_space(off, len))
		return 0xffffffffu;
	for (unsigned int i = 0; i < len; i++)
		v |= (uint32_t)c->data[off + i] << (8 * i);
	return v;
}

void pci_config_write(struct pci_config *c, unsigned int off, uint32_t v, unsigned int len)
{
	if (!in_space(off, len))
		return;
	for (unsigned int i = 0; i < len; i++) {
		unsigned int o = off + i;
		uint8_t b = (uint8_t)(v >> (8 * i));

		c->data[o] = (uint8_t)((c->data[o] & ~c->wmask[o]) | (b & c->wmask[o]));
		c->data[o] &= (uint8_t)~(b & c->w1c[o]);
	}
}
