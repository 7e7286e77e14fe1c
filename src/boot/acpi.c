/*
 * ACPI tables for a hardware-reduced x86 platform (ACPI 6.3 layouts).
 *
 * The stock guest kernel has no MP-table support, so the MADT is how it
 * finds CPUs and the IOAPIC; the FADT's sleep control register is how it
 * powers off, and its reset register how it reboots.
 *
 * Everything is written with explicit little-endian byte stores because
 * buf may be unaligned host memory and the tables are packed.
 */
#include "boot/acpi.h"

#include <errno.h>
#include <string.h>

#include "boot/acpi_priv.h"
#include "boot/aml.h"
#include "core/layout.h"

#define ACPI_OEM_ID "HEARTH"
#define ACPI_OEM_TABLE_ID "HEARTHVM"
#define ACPI_CREATOR_ID "HRTH"
#define ACPI_VENDOR_ID "HEARTH  " /* FADT hypervisor vendor identity */

#define RSDP_LEN 36
#define XSDT_ENTRIES_MAX 4 /* FADT, MADT, MCFG, HPET (the firmware platform's) */
#define FADT_LEN 276 /* revision 6 */
#define MADT_FIXED_LEN 44

/* Table offsets we fill, from ACPI 6.3 tables 5-27 (RSDP) and 5-34 (FADT). */
#define RSDP_CHECKSUM 8
#define RSDP_OEMID 9
#define RSDP_REVISION 15
#define RSDP_RSDT 16
#define RSDP_LENGTH 20
#define RSDP_XSDT 24
#define RSDP_EXT_CHECKSUM 32


#define FADT_DSDT 40
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_MINOR_VERSION 131
#define FADT_X_DSDT 140
#define FADT_SLEEP_CONTROL_REG 244
#define FADT_SLEEP_STATUS_REG 256
#define FADT_HYPERVISOR_ID 268

#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PWR_BUTTON (1u << 4) /* set: no fixed-feature power button */
#define FADT_F_SLP_BUTTON (1u << 5)
#define FADT_F_RESET_REG_SUP (1u << 10)
#define FADT_F_HW_REDUCED_ACPI (1u << 20)

#define IAPC_VGA_NOT_PRESENT (1u << 2)
#define IAPC_MSI_NOT_PRESENT (1u << 3)

#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1

#define MADT_PCAT_COMPAT (1u << 0)
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2
#define MADT_LAPIC_NMI 4
#define MADT_LAPIC_LEN 8
#define MADT_IOAPIC_LEN 12
#define MADT_ISO_LEN 10
#define MADT_LAPIC_NMI_LEN 6
#define MADT_LAPIC_ENABLED (1u << 0)
#define MADT_ALL_PROCESSORS 0xff

/*
 * KVM's in-kernel IOAPIC reads back ID 0 and 64-bit Linux never rewrites
 * it; matching the register avoids a mismatch, and IOAPIC IDs live in a
 * different namespace from LAPIC IDs on x86-64 (QEMU also uses 0).
 */
#define IOAPIC_ID 0

/* The host wires the PIT (ISA IRQ 0) to IOAPIC pin 2, like real chipsets. */
#define ISO_PIT_IRQ 0
#define ISO_PIT_GSI 2

#define IAPC_8042 (1u << 1)

#define MAX_MMIO_DEVS 4096 /* "V" plus three hex digits per NameSeg */

uint8_t acpi_checksum(const uint8_t *data, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + data[i]);
	return sum;
}

/* Stores the byte that makes [p, p+len) sum to zero. */
void acpi_fix_checksum(uint8_t *p, size_t len, size_t csum_off)
{
	p[csum_off] = 0;
	p[csum_off] = (uint8_t)(0u - acpi_checksum(p, len));
}

void acpi_sdt_header(uint8_t *p, const char sig[4], uint32_t len, uint8_t rev)
{
	memset(p, 0, SDT_HDR_LEN);
	memcpy(p, sig, 4);
	put32(p + 4, len);
	p[8] = rev;
	memcpy(p + 10, ACPI_OEM_ID, 6);
	memcpy(p + 16, ACPI_OEM_TABLE_ID, 8);
	put32(p + 24, 1); /* OEM revision */
	memcpy(p + 28, ACPI_CREATOR_ID, 4);
	put32(p + 32, 1); /* creator revision */
}

static void put_gas_io8(uint8_t *p, uint16_t port)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = 8; /* register bit width */
	p[2] = 0; /* bit offset */
	p[3] = GAS_ACCESS_BYTE;
	put64(p + 4, port);
}

static void build_rsdp(uint8_t *p, uint64_t xsdt_gpa)
{
	memset(p, 0, RSDP_LEN);
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + RSDP_OEMID, ACPI_OEM_ID, 6);
	p[RSDP_REVISION] = 2;
	put32(p + RSDP_RSDT, 0); /* XSDT only: every consumer we target reads it */
	put32(p + RSDP_LENGTH, RSDP_LEN);
	put64(p + RSDP_XSDT, xsdt_gpa);
	/* The v1 checksum covers only the first 20 bytes. */
	acpi_fix_checksum(p, 20, RSDP_CHECKSUM);
	acpi_fix_checksum(p, RSDP_LEN, RSDP_EXT_CHECKSUM);
}

/* The tables' addresses, the FADT first; an address 0 is no table. */
static void build_xsdt(uint8_t *p, const uint64_t *gpas, unsigned int n)
{
	uint32_t len = SDT_HDR_LEN;

	for (unsigned int i = 0; i < n; i++) {
		if (!gpas[i])
			continue;
		put64(p + len, gpas[i]);
		len += 8;
	}
	acpi_sdt_header(p, "XSDT", len, 1);
	acpi_fix_checksum(p, len, SDT_CHECKSUM);
}

static void build_fadt(uint8_t *p, const struct acpi_config *cfg, uint64_t dsdt_gpa,
		       uint64_t facs_gpa)
{
	memset(p, 0, FADT_LEN);
	acpi_sdt_header(p, "FACP", FADT_LEN, 6);
	if (dsdt_gpa <= UINT32_MAX)
		put32(p + FADT_DSDT, (uint32_t)dsdt_gpa); /* same value as X_DSDT */
	/*
	 * The 8042 flag: without it Linux never looks for the keyboard
	 * controller, and the host's Ctrl-Alt-Del has no driver to reach.
	 * The CMOS RTC at 0x70 exists, so "CMOS RTC not present" stays clear.
	 * MSI is denied unless PCI functions use it: Linux then never tries.
	 */
	put16(p + FADT_IAPC_BOOT_ARCH, IAPC_8042 | IAPC_VGA_NOT_PRESENT |
					       (cfg->pci.msi ? 0 : IAPC_MSI_NOT_PRESENT));
	p[FADT_MINOR_VERSION] = 3;
	put64(p + FADT_X_DSDT, dsdt_gpa);
	memcpy(p + FADT_HYPERVISOR_ID, ACPI_VENDOR_ID, 8);
	if (cfg->fw.pm_base) {
		/* The firmware platform: QEMU q35's fixed hardware (acpi_fw.c). */
		acpi_fw_fadt(p, cfg, facs_gpa);
		acpi_fix_checksum(p, FADT_LEN, SDT_CHECKSUM);
		return;
	}
	/*
	 * Hardware-reduced: no PM1/GPE blocks, no SCI, no PM timer, no FACS.
	 * Sleep and reset go through the extended registers below instead.
	 */
	put32(p + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON |
				      FADT_F_RESET_REG_SUP | FADT_F_HW_REDUCED_ACPI);
	put_gas_io8(p + FADT_RESET_REG, cfg->reset_port);
	p[FADT_RESET_VALUE] = cfg->reset_value;
	put_gas_io8(p + FADT_SLEEP_CONTROL_REG, cfg->sleep_ctl_port);
	put_gas_io8(p + FADT_SLEEP_STATUS_REG, cfg->sleep_sts_port);
	acpi_fix_checksum(p, FADT_LEN, SDT_CHECKSUM);
}

static size_t madt_len(const struct acpi_config *cfg)
{
	return MADT_FIXED_LEN + (size_t)cfg->ncpus * MADT_LAPIC_LEN + MADT_IOAPIC_LEN +
	       MADT_ISO_LEN + MADT_LAPIC_NMI_LEN + acpi_fw_madt_len(cfg);
}

static void build_madt(uint8_t *p, const struct acpi_config *cfg)
{
	uint32_t len = (uint32_t)madt_len(cfg);
	uint8_t *e = p + MADT_FIXED_LEN;

	memset(p, 0, len);
	acpi_sdt_header(p, "APIC", len, 5);
	put32(p + 36, cfg->lapic_addr);
	/* KVM's irqchip includes the dual 8259s, so say so. */
	put32(p + 40, MADT_PCAT_COMPAT);

	/* Processor UID = APIC ID; 0xff is reserved for "all" below. */
	for (unsigned int i = 0; i < cfg->ncpus; i++, e += MADT_LAPIC_LEN) {
		e[0] = MADT_LAPIC;
		e[1] = MADT_LAPIC_LEN;
		e[2] = (uint8_t)i;
		e[3] = (uint8_t)i;
		put32(e + 4, MADT_LAPIC_ENABLED);
	}

	e[0] = MADT_IOAPIC;
	e[1] = MADT_IOAPIC_LEN;
	e[2] = IOAPIC_ID;
	put32(e + 4, cfg->ioapic_addr);
	put32(e + 8, 0); /* GSI base */
	e += MADT_IOAPIC_LEN;

	e[0] = MADT_ISO;
	e[1] = MADT_ISO_LEN;
	e[2] = 0; /* ISA */
	e[3] = ISO_PIT_IRQ;
	put32(e + 4, ISO_PIT_GSI);
	put16(e + 8, 0); /* conforms to ISA: edge, active high */
	e += MADT_ISO_LEN;

	e[0] = MADT_LAPIC_NMI;
	e[1] = MADT_LAPIC_NMI_LEN;
	e[2] = MADT_ALL_PROCESSORS;
	put16(e + 3, 0);
	e[5] = 1; /* LINT1 */
	e += MADT_LAPIC_NMI_LEN;

	if (acpi_fw_madt_len(cfg))
		acpi_fw_madt(e, cfg);
	acpi_fix_checksum(p, len, SDT_CHECKSUM);
}

static void dsdt_com1(struct aml_buf *b, const struct acpi_config *cfg)
{
	size_t dev, res;

	dev = aml_device_begin(b, "COM1");
	aml_name(b, "_HID");
	aml_eisaid(b, "PNP0501");
	aml_name(b, "_UID");
	aml_integer(b, 1);
	aml_name(b, "_STA");
	aml_integer(b, 0x0f); /* present, enabled, shown, functioning */
	aml_name(b, "_CRS");
	res = aml_restemplate_begin(b);
	aml_res_io16(b, cfg->com1_port, cfg->com1_port, 1, 8);
	aml_res_irq_noflags(b, (uint16_t)(1u << cfg->com1_irq));
	aml_restemplate_end(b, res);
	aml_end(b, dev);
}

static void dsdt_rtc(struct aml_buf *b)
{
	size_t dev, res;

	dev = aml_device_begin(b, "RTC");
	aml_name(b, "_HID");
	aml_eisaid(b, "PNP0B00");
	aml_name(b, "_CRS");
	res = aml_restemplate_begin(b);
	aml_res_io16(b, PORT_RTC, PORT_RTC, 1, 2);
	aml_res_irq_noflags(b, 1u << IRQ_RTC);
	aml_restemplate_end(b, res);
	aml_end(b, dev);
}

/* The PS/2 keyboard port, so the i8042 driver finds it through PNP as on a PC. */
static void dsdt_kbd(struct aml_buf *b)
{
	size_t dev, res;

	dev = aml_device_begin(b, "PS2K");
	aml_name(b, "_HID");
	aml_eisaid(b, "PNP0303");
	aml_name(b, "_CRS");
	res = aml_restemplate_begin(b);
	aml_res_io16(b, PORT_I8042_DATA, PORT_I8042_DATA, 1, 1);
	aml_res_io16(b, PORT_I8042_CMD, PORT_I8042_CMD, 1, 1);
	aml_res_irq_noflags(b, 1u << IRQ_KBD);
	aml_restemplate_end(b, res);
	aml_end(b, dev);
}

/* QEMU's fw_cfg, which Linux's qemu_fw_cfg driver binds by this _HID. */
static void dsdt_fw_cfg(struct aml_buf *b, const struct acpi_config *cfg)
{
	size_t dev, res;

	dev = aml_device_begin(b, "FWCF");
	aml_name(b, "_HID");
	aml_string(b, "QEMU0002");
	aml_name(b, "_STA");
	aml_integer(b, 0x0b); /* present, enabled, functioning; not shown in the UI */
	aml_name(b, "_CRS");
	res = aml_restemplate_begin(b);
	aml_res_io16(b, cfg->fw_cfg_port, cfg->fw_cfg_port, 1, cfg->fw_cfg_len);
	aml_restemplate_end(b, res);
	aml_end(b, dev);
}

/*
 * VMClock, as Firecracker 1.15 and QEMU describe it: Linux's ptp_vmclock
 * binds _HID AMZNC10C (or _CID VMCLOCK) and maps the one memory range of
 * _CRS, read-only, cacheable.
 */
static void dsdt_vmclock(struct aml_buf *b, const struct acpi_config *cfg)
{
	size_t dev, res;

	dev = aml_device_begin(b, "VCLK");
	aml_name(b, "_HID");
	aml_string(b, "AMZNC10C");
	aml_name(b, "_CID");
	aml_string(b, "VMCLOCK");
	aml_name(b, "_DDN");
	aml_string(b, "VMCLOCK");
	aml_name(b, "_STA");
	aml_integer(b, 0x0f);
	aml_name(b, "_CRS");
	res = aml_restemplate_begin(b);
	aml_res_qword_memory(b, false, true, cfg->vmclock_addr,
			     cfg->vmclock_addr + cfg->vmclock_size - 1);
	aml_restemplate_end(b, res);
	aml_end(b, dev);
}

static void dsdt_virtio_mmio(struct aml_buf *b, unsigned int idx,
			     const struct acpi_mmio_dev *d)
{
	static const char hex[] = "0123456789ABCDEF";
	char name[5] = { 'V', hex[(idx >> 8) & 0xf], hex[(idx >> 4) & 0xf],
			 hex[idx & 0xf], '\0' };
	size_t dev, res;

	dev = aml_device_begin(b, name);
	/* Linux's virtio_mmio binds this ID (an ARM-registered vendor). */
	aml_name(b, "_HID");
	aml_string(b, "LNRO0005");
	aml_name(b, "_UID");
	aml_integer(b, idx);
	aml_name(b, "_CRS");
	res = aml_restemplate_begin(b);
	aml_res_memory32_fixed(b, true, (uint32_t)d->base, d->size);
	/* irqfd injects a pulse per notification, so the pin is edge-triggered. */
	aml_res_ext_irq(b, AML_IRQ_EDGE, AML_IRQ_ACTIVE_HIGH, false, d->gsi);
	aml_restemplate_end(b, res);
	aml_end(b, dev);
}

/* The DSDT's body after its header; errors are in aml_error(b). */
static void build_dsdt_aml(struct aml_buf *b, const struct acpi_config *cfg)
{
	size_t sb, pkg;

	sb = aml_scope_begin(b, "\\_SB");
	dsdt_com1(b, cfg);
	dsdt_rtc(b);
	dsdt_kbd(b);
	if (cfg->fw_cfg_port)
		dsdt_fw_cfg(b, cfg);
	for (unsigned int i = 0; i < cfg->n_mmio_devs; i++)
		dsdt_virtio_mmio(b, i, &cfg->mmio_devs[i]);
	acpi_dsdt_pci(b, cfg);
	if (cfg->vmclock_addr)
		dsdt_vmclock(b, cfg);
	acpi_dsdt_vmgenid(b, cfg);
	acpi_dsdt_fw(b, cfg);
	aml_end(b, sb);

	/*
	 * Hardware-reduced sleep: OSPM writes (SLP_TYP << 2) | SLP_EN to the
	 * sleep control register, with SLP_TYP taken from here.
	 */
	aml_name(b, "\\_S5");
	pkg = aml_package_begin(b, 4);
	aml_integer(b, cfg->s5_slp_typ);
	aml_integer(b, cfg->s5_slp_typ);
	aml_integer(b, 0);
	aml_integer(b, 0);
	aml_end(b, pkg);
}

static int check_config(const struct acpi_config *cfg)
{
	if (cfg->ncpus == 0 || cfg->ncpus > 255)
		return -EINVAL;
	if (cfg->com1_irq > 15)
		return -EINVAL;
	if (cfg->s5_slp_typ > 7) /* three bits in SLEEP_CONTROL_REG */
		return -EINVAL;
	if (cfg->n_mmio_devs > MAX_MMIO_DEVS)
		return -EINVAL;
	if (cfg->n_mmio_devs && !cfg->mmio_devs)
		return -EINVAL;
	if (cfg->vmclock_addr && (!cfg->vmclock_size ||
				  cfg->vmclock_addr + cfg->vmclock_size < cfg->vmclock_addr))
		return -EINVAL;
	for (unsigned int i = 0; i < cfg->n_mmio_devs; i++) {
		const struct acpi_mmio_dev *d = &cfg->mmio_devs[i];

		/* Memory32Fixed cannot describe anything above 4 GiB. */
		if (d->size == 0 || d->base > UINT32_MAX ||
		    d->base + d->size - 1 > UINT32_MAX)
			return -EINVAL;
	}
	if (acpi_vmgenid_check(cfg) || acpi_fw_check(cfg))
		return -EINVAL;
	return acpi_pci_check(cfg);
}

static size_t align16(size_t v)
{
	return (v + 15) & ~(size_t)15;
}

static size_t align64(size_t v)
{
	return (v + 63) & ~(size_t)63;
}

int acpi_build(uint8_t *buf, uint64_t gpa, size_t size, const struct acpi_config *cfg,
	       uint64_t *rsdp_gpa)
{
	size_t xsdt_off, fadt_off, facs_off, madt_off, mcfg_off, hpet_off, dsdt_off, dsdt_len;
	struct aml_buf b;
	int ret;

	if (!buf || !cfg || !rsdp_gpa)
		return -EINVAL;
	/* The RSDP must sit on a 16-byte boundary for the guest's scan. */
	if (gpa & 15 || gpa + size < gpa)
		return -EINVAL;
	ret = check_config(cfg);
	if (ret)
		return ret;

	xsdt_off = align16(RSDP_LEN);
	/* Room for the entries there are: a direct boot's tables lie where they always did. */
	fadt_off = align16(xsdt_off + SDT_HDR_LEN + 8 * (XSDT_ENTRIES_MAX - 1) +
			   (acpi_fw_hpet_len(cfg) ? 8 : 0));
	/* A FACS is 64-byte aligned; only the firmware platform has one. */
	facs_off = acpi_fw_facs_len(cfg) ? align64(fadt_off + FADT_LEN) : fadt_off + FADT_LEN;
	madt_off = align16(facs_off + acpi_fw_facs_len(cfg));
	mcfg_off = align16(madt_off + madt_len(cfg));
	hpet_off = align16(mcfg_off + acpi_mcfg_len(cfg));
	dsdt_off = align16(hpet_off + acpi_fw_hpet_len(cfg));
	if (size < dsdt_off + SDT_HDR_LEN)
		return -ENOSPC;

	/* The AML is written in place, bounded by what is left of buf. */
	aml_init(&b, buf + dsdt_off + SDT_HDR_LEN, size - dsdt_off - SDT_HDR_LEN);
	build_dsdt_aml(&b, cfg);
	ret = aml_error(&b);
	if (ret)
		return ret == -E2BIG ? -ENOSPC : ret;
	dsdt_len = SDT_HDR_LEN + aml_len(&b);
	if (dsdt_len > UINT32_MAX)
		return -ENOSPC;
	/* Revision 2: integers are 64 bits wide. */
	acpi_sdt_header(buf + dsdt_off, "DSDT", (uint32_t)dsdt_len, 2);
	acpi_fix_checksum(buf + dsdt_off, dsdt_len, SDT_CHECKSUM);

	build_madt(buf + madt_off, cfg);
	if (acpi_mcfg_len(cfg))
		acpi_build_mcfg(buf + mcfg_off, cfg);
	if (acpi_fw_facs_len(cfg))
		acpi_fw_build_facs(buf + facs_off);
	if (acpi_fw_hpet_len(cfg))
		acpi_fw_build_hpet(buf + hpet_off, cfg);
	build_fadt(buf + fadt_off, cfg, gpa + dsdt_off, acpi_fw_facs_len(cfg) ? gpa + facs_off : 0);
	build_xsdt(buf + xsdt_off, (const uint64_t[]){ gpa + fadt_off, gpa + madt_off,
		   acpi_mcfg_len(cfg) ? gpa + mcfg_off : 0,
		   acpi_fw_hpet_len(cfg) ? gpa + hpet_off : 0 }, XSDT_ENTRIES_MAX);
	build_rsdp(buf, gpa + xsdt_off);
	*rsdp_gpa = gpa;
	return 0;
}
