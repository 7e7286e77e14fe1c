/*
 * ACPI tables generated at boot: RSDP, XSDT, FADT (hardware-reduced, with
 * sleep control/status and reset registers), MADT, a DSDT and, with a
 * PCI root complex, the MCFG; for a firmware boot, the FADT of QEMU's
 * q35, a FACS and the HPET table (struct acpi_fw).
 */
#ifndef HEARTH_BOOT_ACPI_H
#define HEARTH_BOOT_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A virtio-mmio device the DSDT describes (_HID "LNRO0005"). */
struct acpi_mmio_dev {
	uint64_t base;
	uint32_t size;
	uint32_t gsi;
};

/*
 * The PCI root complex (pci/root.h): ECAM for buses 0..bus_end at ecam
 * (MCFG, 1 MiB a bus, below 4 GiB), and the 32-bit memory window
 * [mmio32_base, mmio32_end) its bridge decodes, and the 64-bit one
 * [mmio64_base, mmio64_end) where there is one. ecam 0: no PCI.
 */
struct acpi_pci {
	uint64_t ecam;
	unsigned int bus_end;
	uint64_t mmio32_base, mmio32_end;
	uint64_t mmio64_base, mmio64_end;   /* the 64-bit window; end 0: none */
	bool msi;                    /* its functions use MSI-X: the FADT must not deny MSI */
	/*
	 * PCI hotplug (pci/hotplug.h): its register block's port (0: none)
	 * and the Generic Event Device's interrupt, which runs PCNT.
	 */
	uint16_t hotplug_port;
	uint32_t hotplug_gsi;
};

/*
 * The firmware platform's tables (--firmware, docs/firmware.md): instead
 * of the hardware-reduced FADT, QEMU q35's full one on the ICH9's PM
 * block (PM1a event at pm_base, control at +4, the PM timer at +8, GPE0
 * 16 bytes at +0x20), the SCI on ISA IRQ sci_irq (a level, active-high
 * override in the MADT), APM's SMI_CMD port with its ACPI_ENABLE and
 * ACPI_DISABLE values, the reset register 0xcf9 (value 6), a FACS; and
 * the HPET at hpet_addr (its table and a PNP0103 device). pm_base 0:
 * none of it (a direct boot's tables).
 */
struct acpi_fw {
	uint16_t pm_base;
	uint8_t sci_irq;
	uint16_t smi_cmd;
	uint8_t acpi_enable, acpi_disable;
	uint64_t hpet_addr;          /* 0: no HPET */
	/* The ports and window to reserve for the chipset (PNP0C02): APM's, RCBA's. */
	uint64_t rcba_addr;
	uint32_t rcba_size;
};

struct acpi_config {
	unsigned int ncpus;          /* APIC IDs 0..ncpus-1 */
	uint32_t ioapic_addr;
	uint32_t lapic_addr;
	uint16_t sleep_ctl_port;
	uint16_t sleep_sts_port;
	uint16_t reset_port;
	uint8_t reset_value;
	uint8_t s5_slp_typ;
	uint16_t com1_port;
	uint8_t com1_irq;
	uint16_t fw_cfg_port;        /* 0: no fw_cfg device in the DSDT */
	uint8_t fw_cfg_len;
	const struct acpi_mmio_dev *mmio_devs;
	unsigned int n_mmio_devs;
	uint64_t vmclock_addr;       /* VMClock's page (devices/vmclock.h); 0: none */
	uint32_t vmclock_size;
	/*
	 * VMGenID's 16 bytes (devices/vmgenid.h), 8-byte aligned; 0: none.
	 * Its Generic Event Device's interrupt, which notifies it.
	 */
	uint64_t vmgenid_addr;
	uint32_t vmgenid_gsi;
	struct acpi_pci pci;
	struct acpi_fw fw;
};

/*
 * Writes every table into buf, which is guest memory at guest-physical
 * address gpa, size bytes long. The RSDP goes first, 16-byte aligned.
 * Returns 0 and sets *rsdp_gpa, -EINVAL for a bad config, -ENOSPC when
 * the tables do not fit.
 */
int acpi_build(uint8_t *buf, uint64_t gpa, size_t size, const struct acpi_config *cfg,
	       uint64_t *rsdp_gpa);

/* Sum of bytes mod 256; a valid table sums to 0. */
uint8_t acpi_checksum(const uint8_t *data, size_t len);

#endif
