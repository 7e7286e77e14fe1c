/*
 * A passed-through function's configuration space as Hearth builds it
 * (pci/vfio.h): the device's ids, its memory BARs placed in the PCI
 * windows, its MSI-X capability, and a PCI Express capability that
 * offers function-level reset when the device can be reset.
 */
#include <errno.h>
#include <linux/vfio.h>
#include <string.h>
#include <sys/mman.h>

#include "pci/vfio_priv.h"
#include "util/log.h"


/* The device's MSI-X capability: vectors (capped), table and PBA; 0 or -ENOTSUP. */
static int find_msix(struct vfio_pci *f, unsigned int *nvec, struct err *err)
{
	unsigned int off = vfio_phys_cfg(f, PCI_CFG_CAP_PTR, 1) & 0xfc, hops = 0;

	if (!(vfio_phys_cfg(f, PCI_CFG_STATUS, 2) & PCI_STATUS_CAP_LIST))
		off = 0;
	/* The list is the device's: at most 48 capabilities fit, so a longer walk is a loop. */
	for (; off >= PCI_CFG_CAP_START && off < PCI_CFG_STD_SIZE && hops < 48; hops++) {
		if (vfio_phys_cfg(f, off, 1) == PCI_CAP_ID_MSIX) {
			uint32_t table = vfio_phys_cfg(f, off + CAP_MSIX_TABLE, 4);
			uint32_t pba = vfio_phys_cfg(f, off + CAP_MSIX_PBA, 4);

			*nvec = (vfio_phys_cfg(f, off + CAP_MSIX_CTRL, 2) & 0x7ff) + 1;
			if (*nvec > MSIX_MAX_VECTORS)
				*nvec = MSIX_MAX_VECTORS;
			f->msix_bar = table & 7;
			f->table_off = table & ~7u;
			f->pba_off = pba & ~7u;
			if ((pba & 7) != f->msix_bar || f->msix_bar >= PCI_NUM_BARS)
				break;   /* PBA in another BAR: not offered */
			return 0;
		}
		off = vfio_phys_cfg(f, off + 1, 1) & 0xfc;
	}
	return err_set(err, true, -ENOTSUP, "VFIO device %s: no MSI-X capability (with its "
		       "table and pending bits in one BAR); Hearth passes through only devices "
		       "that interrupt with MSI-X", f->h.name);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Where a BAR of size goes: the 32-bit window, else (64-bit) the 64-bit one; 0: nowhere. */
static uint64_t place(struct vfio_bar_space *sp, uint64_t size, bool is64)
{
	uint64_t at = align_up(sp->next32, size);

	if (at >= sp->next32 && at + size <= sp->end32 && at + size > at) {
		sp->next32 = at + size;
		return at;
	}
	at = align_up(sp->next64, size);
	if (is64 && sp->end64 && at >= sp->next64 && at + size <= sp->end64 && at + size > at) {
		sp->next64 = at + size;
		return at;
	}
	return 0;
}

/* The BARs' kinds from the device, sizes from VFIO, placed in sp; mapped where VFIO lets us. */
static int build_bars(struct vfio_pci *f, struct vfio_bar_space *sp, struct err *err)
{
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		uint32_t raw = vfio_phys_cfg(f, PCI_CFG_BAR0 + 4 * i, 4);
		struct vfio_bar *b = &f->bar[i];
		uint64_t size = f->h.region[i].size, at;
		bool is64 = (raw & 6) == 4;
		int ret;

		if (!size || (raw & 1) || size & (size - 1)) {
			if (size && (raw & 1))
				log_warn("VFIO device %s: its I/O BAR %u is not offered", f->h.name, i);
			continue;
		}
		b->kind = is64 ? PCI_BAR_MEM64 : PCI_BAR_MEM32;
		b->size = size < 16 ? 16 : size;
		at = place(sp, b->size, is64);
		if (!at)
			return err_set(err, true, -ENOSPC, "VFIO device %s: BAR %u (%s, %llu KiB) does "
				       "not fit in the PCI windows (%llu MiB left below 4 GiB, %llu "
				       "MiB above)", f->h.name, i, is64 ? "64-bit" : "32-bit",
				       (unsigned long long)(b->size >> 10),
				       (unsigned long long)((sp->end32 - sp->next32) >> 20),
				       (unsigned long long)(sp->end64 > sp->next64 ?
							    (sp->end64 - sp->next64) >> 20 : 0));
		ret = pci_config_add_bar(&f->cfg, i, b->kind, b->size, raw & 8);
		if (ret)
			return err_set(err, false, ret, "VFIO device %s: BAR %u: %s", f->h.name, i,
				       strerror(-ret));
		/* The address over the kind bits pci_config_add_bar wrote. */
		pci_config_set(&f->cfg, PCI_CFG_BAR0 + 4 * i,
			       (uint32_t)at | (pci_config_read(&f->cfg, PCI_CFG_BAR0 + 4 * i, 4) & 0xf),
			       4);
		if (is64)
			pci_config_set(&f->cfg, PCI_CFG_BAR0 + 4 * (i + 1), (uint32_t)(at >> 32), 4);
		if (f->h.region[i].mmap && size >= PAGE && f->h.group >= 0) {
			void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f->h.device,
				       (off_t)f->h.region[i].offset);

			b->map = p == MAP_FAILED ? NULL : p;
		}
		if (is64)
			i++;
	}
	return 0;
}

/*
 * A device VFIO can reset gets a PCI Express capability whose only
 * feature is function-level reset, so a guest driver's reset (or sysfs'
 * reset) reaches the device. Device control is the guest's to write;
 * Initiate FLR is caught by the function (vfio.c).
 */
static int add_express(struct vfio_pci *f, struct err *err)
{
	static const uint8_t devctl_mask[2] = { 0xff, 0xff };
	int at;

	if (!f->h.resettable)
		return 0;
	at = pci_config_add_cap(&f->cfg, PCI_CAP_ID_EXP, EXP_CAP_LEN);
	if (at < 0)
		return err_set(err, false, at, "VFIO device %s: no room for its PCI Express "
			       "capability", f->h.name);
	f->exp_cap = (unsigned int)at;
	pci_config_set(&f->cfg, f->exp_cap + EXP_FLAGS, 0x92, 2);
	pci_config_set(&f->cfg, f->exp_cap + EXP_DEVCAP, EXP_DEVCAP_FLR, 4);
	pci_config_set_wmask(&f->cfg, f->exp_cap + EXP_DEVCTL, devctl_mask, 2);
	return 0;
}

int vfio_build_config(struct vfio_pci *f, struct vfio_bar_space *sp, struct err *err)
{
	uint32_t class_rev = vfio_phys_cfg(f, PCI_CFG_REVISION, 4);
	unsigned int nvec = 0;
	int ret;

	pci_config_init(&f->cfg, &(struct pci_ids){
		.vendor = (uint16_t)vfio_phys_cfg(f, PCI_CFG_VENDOR_ID, 2),
		.device = (uint16_t)vfio_phys_cfg(f, PCI_CFG_DEVICE_ID, 2),
		.class_code = class_rev >> 8, .revision = (uint8_t)class_rev,
		.subsys_vendor = (uint16_t)vfio_phys_cfg(f, PCI_CFG_SUBSYS_VENDOR, 2),
		.subsys_id = (uint16_t)vfio_phys_cfg(f, PCI_CFG_SUBSYS_ID, 2) }, true);
	ret = find_msix(f, &nvec, err);
	if (!ret)
		ret = build_bars(f, sp, err);
	if (ret)
		return ret;
	/* The BIR is the device's: 6 and 7 are reserved. */
	if (f->msix_bar >= PCI_NUM_BARS || f->bar[f->msix_bar].kind == PCI_BAR_NONE ||
	    !vfio_in_range(f->table_off, 1, 0, (uint32_t)f->bar[f->msix_bar].size))
		return err_set(err, true, -ENOTSUP, "VFIO device %s: its MSI-X table is outside "
			       "its BARs", f->h.name);
	ret = msix_init(&f->msix, &f->cfg, nvec, f->msix_bar, (uint32_t)f->table_off,
			(uint32_t)f->pba_off, vfio_deliver, f);
	if (ret)
		return err_set(err, false, ret, "VFIO device %s: MSI-X: %s", f->h.name,
			       strerror(-ret));
	/* The pages of the table and the pending bits trap; the rest of that BAR is mapped. */
	{
		struct vfio_bar *b = &f->bar[f->msix_bar];
		uint64_t a = f->table_off, z = f->table_off + msix_table_size(&f->msix);
		uint64_t pa = f->pba_off, pz = f->pba_off + msix_pba_size(&f->msix);

		b->trap_lo = (a < pa ? a : pa) & ~(PAGE - 1);
		b->trap_hi = ((z > pz ? z : pz) + PAGE - 1) & ~(PAGE - 1);
		if (b->trap_hi > b->size)
			b->trap_hi = b->size;
	}
	f->msix.changed = vfio_msix_changed;
	return add_express(f, err);
}

