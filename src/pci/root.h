/*
 * The PCI Express root complex: one segment, bus 0, reached through ECAM
 * (PCIe 4.0 §7.2.2, an MMIO window of 4 KiB per function, which the
 * ACPI MCFG table describes) and through the legacy configuration
 * mechanism #1 at ports 0xcf8 (CONFIG_ADDRESS) and 0xcfc-0xcff
 * (CONFIG_DATA) for firmware and test kernels. Function 0 of device 0 is
 * the host bridge; the others are the functions attached to it.
 *
 * Port 0xcf9, inside the mechanism's window, is the reset control
 * register of Intel's chipsets (a byte access; RST_CPU resets), as
 * Linux's reboot=pci uses it.
 *
 * Built as a legacy device (devices/device.h): res->pio_base is 0xcf8
 * (8 ports), res->mmio_base the ECAM window (1 MiB: bus 0). It also
 * claims the 32-bit memory window its bridge decodes (core/layout.h's
 * LAYOUT_PCI_MMIO32), whose accesses go to the function whose BAR is
 * there.
 * Record "PCIR" 1: CONFIG_ADDRESS as the guest last wrote it.
 */
#ifndef HEARTH_PCI_ROOT_H
#define HEARTH_PCI_ROOT_H

#include <stdint.h>

#include "devices/device.h"
#include "pci/config.h"

#define PCI_CONF1_PORTS 8
#define PCI_ECAM_BUS_SIZE (1u << 20)   /* 32 devices x 8 functions x 4 KiB */
#define PCI_SLOTS 32u
#define PCI_FUNCS 8u

/*
 * The host bridge's identity: Firecracker's and Cloud Hypervisor's (Intel's
 * vendor id, a device id of their own, which Linux binds nothing to), so a
 * guest's lspci reads as under Firecracker (its test_pci_root_present).
 */
#define PCI_HOST_VENDOR 0x8086
#define PCI_HOST_DEVICE 0x0d57
#define PCI_CLASS_HOST_BRIDGE 0x060000u

/*
 * A function on the bus. Configuration accesses reach cfg_read and
 * cfg_write at any offset in [0, 4096) and width 1, 2 or 4 (the root
 * bounds them before). Memory accesses inside the root's BAR window
 * reach the function whose bar_claim says addr falls in one of its
 * BARs (decoding on, the BAR programmed there): it returns the BAR and
 * sets *off, or -1. All run on vCPU threads, possibly at once, with no
 * lock of the root's held: a function serialises itself, and may block
 * only as a device's register write may (device.h). The function stays
 * until pci_root_detach has seen every such call return.
 */
struct pci_function_ops {
	uint32_t (*cfg_read)(void *opaque, unsigned int off, unsigned int len);
	void (*cfg_write)(void *opaque, unsigned int off, uint32_t v, unsigned int len);
	int (*bar_claim)(void *opaque, uint64_t addr, unsigned int len, uint64_t *off);
	void (*bar_read)(void *opaque, int bar, uint64_t off, uint8_t *data, unsigned int len);
	void (*bar_write)(void *opaque, int bar, uint64_t off, const uint8_t *data,
			  unsigned int len);
};

struct pci_root;

int pci_root_create(const struct dev_env *env, const struct dev_resources *res,
		    struct component *out, struct err *err);

/*
 * A root of another chipset (--firmware's q35, chipset/q35.h): its own
 * host bridge, its own 32-bit window, an ECAM window that decodes only
 * what the host bridge's register says (pci_root_set_ecam).
 */
struct pci_root_config {
	/* The function at 00:00.0; NULL: the root's own bridge (PCI_HOST_DEVICE). */
	const struct pci_function_ops *host;
	void *host_opaque;
	/* The 32-bit window the root decodes BARs in; both 0: core/layout.h's LAYOUT_PCI_MMIO32. */
	uint64_t mmio32_base, mmio32_end;
	/* ECAM decodes nothing until pci_root_set_ecam says how much; false: all of it. */
	bool ecam_gated;
};

/*
 * pci_root_create with cfg: res->mmio_size bytes of ECAM (1 MiB a bus,
 * at least one) are claimed at res->mmio_base. 0, or -errno with err.
 */
int pci_root_create_with(const struct dev_env *env, const struct dev_resources *res,
			 const struct pci_root_config *cfg, struct component *out,
			 struct err *err);

/*
 * How many bytes of the ECAM window, from its start, decode now (a
 * gated root's host bridge calls it as the guest programs the window;
 * an access past them reads all ones and writes nothing). Any thread.
 */
void pci_root_set_ecam(struct pci_root *r, uint64_t len);

/*
 * Puts a function at slot (device number 1-31, function 0), before the
 * vCPUs start or while they run (PCI hotplug): accesses find it from
 * then on. 0, -EINVAL for slot 0 or past 31, -EEXIST when taken.
 * pci_root_free_slot is the first free one (0: none).
 */
unsigned int pci_root_free_slot(const struct pci_root *r);
int pci_root_attach(struct pci_root *r, unsigned int slot, const struct pci_function_ops *ops,
		    void *opaque);
/*
 * Takes slot's function away: no access finds it any more, and those
 * that had found it have finished when this returns, so its owner may
 * free it. A vCPU in such an access may wait for the io thread (a
 * virtio status write), so never call this on the io thread or a vCPU.
 * 0, -EINVAL, or -ENOENT for an empty slot.
 */
int pci_root_detach(struct pci_root *r, unsigned int slot);

/*
 * Where a function at slot should have its BARs: a stretch of the 32-bit
 * window of size bytes per slot, as firmware would assign them (Linux
 * keeps BARs it finds inside its bridge's windows). 0 past the window.
 */
uint64_t pci_root_bar_base(unsigned int slot, uint64_t size);

/*
 * The host bridge's 64-bit window [base, base + size) (above 4 GiB, as
 * the DSDT describes it): its accesses, like the 32-bit window's, go to
 * the function whose BAR is there. Once, before the bus is sealed.
 */
int pci_root_claim_window64(struct pci_root *r, struct bus *bus, uint64_t base, uint64_t size,
			    struct err *err);

/* The root a component from pci_root_create is. */
struct pci_root *pci_root_of(const struct component *c);

/*
 * One configuration access by bus, device, function and register, as
 * both mechanisms decode it (exposed for the tests and the fuzzer).
 */
uint32_t pci_root_cfg_read(struct pci_root *r, unsigned int bus, unsigned int devfn,
			   unsigned int off, unsigned int len);
void pci_root_cfg_write(struct pci_root *r, unsigned int bus, unsigned int devfn,
			unsigned int off, uint32_t v, unsigned int len);

#endif
