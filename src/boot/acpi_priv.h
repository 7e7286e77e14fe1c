/*
 * What the ACPI table builders share (acpi.c, acpi_pci.c, acpi_vmgenid.c):
 * the table header, its checksum, and little-endian stores into packed
 * tables.
 */
#ifndef HEARTH_BOOT_ACPI_PRIV_H
#define HEARTH_BOOT_ACPI_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "boot/acpi.h"
#include "boot/aml.h"

#define SDT_HDR_LEN 36
#define SDT_CHECKSUM 9

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A table's common header, Hearth's OEM ids; the checksum is left 0. */
void acpi_sdt_header(uint8_t *p, const char sig[4], uint32_t len, uint8_t rev);
/* Stores the byte that makes [p, p+len) sum to zero. */
void acpi_fix_checksum(uint8_t *p, size_t len, size_t csum_off);

/* The MCFG's length for cfg (0: no PCI root), and the table itself. */
size_t acpi_mcfg_len(const struct acpi_config *cfg);
void acpi_build_mcfg(uint8_t *p, const struct acpi_config *cfg);
/* The DSDT's PCI host bridge and the motherboard resource reserving ECAM. */
void acpi_dsdt_pci(struct aml_buf *b, const struct acpi_config *cfg);
/* -EINVAL when cfg's PCI part cannot be described. */
int acpi_pci_check(const struct acpi_config *cfg);
/* VMGenID's device and the Generic Event Device that notifies it (acpi_vmgenid.c). */
void acpi_dsdt_vmgenid(struct aml_buf *b, const struct acpi_config *cfg);
/* -EINVAL when cfg's VMGenID cannot be described. */
int acpi_vmgenid_check(const struct acpi_config *cfg);

/* The firmware platform's parts (acpi_fw.c; acpi.h's struct acpi_fw). -EINVAL: cannot be described. */
int acpi_fw_check(const struct acpi_config *cfg);
/* The FADT's fixed-hardware fields, flags and reset register, over a hardware-reduced one's. */
void acpi_fw_fadt(uint8_t *p, const struct acpi_config *cfg, uint64_t facs_gpa);
size_t acpi_fw_facs_len(const struct acpi_config *cfg);
void acpi_fw_build_facs(uint8_t *p);
size_t acpi_fw_hpet_len(const struct acpi_config *cfg);
void acpi_fw_build_hpet(uint8_t *p, const struct acpi_config *cfg);
/* The MADT's extra entries (the SCI's override): their length, and the entries at e. */
size_t acpi_fw_madt_len(const struct acpi_config *cfg);
void acpi_fw_madt(uint8_t *e, const struct acpi_config *cfg);
/* The DSDT's HPET device and the chipset's motherboard resources. */
void acpi_dsdt_fw(struct aml_buf *b, const struct acpi_config *cfg);

#endif
