/*
 * The tables of the firmware platform (acpi.h's struct acpi_fw), after
 * QEMU's q35 (hw/i386/acpi-build.c, hw/acpi/aml-build.c's build_fadt
 * and build_hpet): the FADT's fixed-hardware fields on the ICH9's PM
 * block, a FACS, the MADT's SCI override, the HPET table and device.
 */
#include <errno.h>
#include <string.h>

#include "boot/acpi_priv.h"

/* FADT offsets (ACPI 6.3 table 5-34) beyond those acpi.c fills. */
#define FADT_FIRMWARE_CTRL 36
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_ACPI_ENABLE 52
#define FADT_ACPI_DISABLE 53
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_GPE0_BLK 80
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_GPE0_BLK_LEN 92
#define FADT_P_LVL2_LAT 96
#define FADT_P_LVL3_LAT 98
#define FADT_CENTURY 108
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM_TMR_BLK 208
#define FADT_X_GPE0_BLK 220

#define PM1_EVT_LEN 4
#define PM1_CNT_LEN 2
#define PM_TMR_LEN 4
#define GPE0_OFF 0x20
#define GPE0_LEN 16
#define PM1_CNT_OFF 4
#define PM_TMR_OFF 8
#define C2_NONE 0xfff                 /* latencies that say "no C2, no C3" */
#define C3_NONE 0x3e9
#define CMOS_CENTURY 0x32             /* QEMU's RTC keeps the century there */

#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_PWR_BUTTON (1u << 4)
#define FADT_F_SLP_BUTTON (1u << 5)
#define FADT_F_RTC_S4 (1u << 7)
#define FADT_F_RESET_REG_SUP (1u << 10)
#define FADT_F_PLATFORM_CLOCK (1u << 15)
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define Q35_RESET_PORT 0xcf9
#define Q35_RESET_VALUE 0x06          /* RST_CPU | SYS_RST: a hard reset */

#define FACS_LEN 64
#define FACS_VERSION 32
#define HPET_TABLE_LEN 56
#define HPET_BLOCK_ID 0x8086a201u     /* devices/hpet.h's capabilities: QEMU's value */
#define HPET_WINDOW 0x400u

#define MADT_ISO 2
#define MADT_ISO_LEN 10
#define ISO_LEVEL_HIGH 0x000d         /* active high (01), level triggered (11) */

#define GAS_SYSTEM_MEMORY 0
#define GAS_SYSTEM_IO 1

int acpi_fw_check(const struct acpi_config *cfg)
{
	const struct acpi_fw *f = &cfg->fw;

	if (!f->pm_base)
		return f->hpet_addr ? -EINVAL : 0;
	if (f->sci_irq > 15 || f->pm_base > 0xffff - 0x80)
		return -EINVAL;
	if (f->hpet_addr > UINT32_MAX - HPET_WINDOW)
		return -EINVAL;
	if (f->rcba_size && f->rcba_addr + f->rcba_size - 1 > UINT32_MAX)
		return -EINVAL;
	return 0;
}

static void put_gas(uint8_t *p, uint8_t space, uint8_t bits, uint8_t access, uint64_t addr)
{
	p[0] = space;
	p[1] = bits;
	p[2] = 0;
	p[3] = access;
	put64(p + 4, addr);
}

void acpi_fw_fadt(uint8_t *p, const struct acpi_config *cfg, uint64_t facs_gpa)
{
	const struct acpi_fw *f = &cfg->fw;
	uint32_t base = f->pm_base;

	put32(p + FADT_FIRMWARE_CTRL, (uint32_t)facs_gpa);
	put16(p + FADT_SCI_INT, f->sci_irq);
	put32(p + FADT_SMI_CMD, f->smi_cmd);
	p[FADT_ACPI_ENABLE] = f->acpi_enable;
	p[FADT_ACPI_DISABLE] = f->acpi_disable;
	put32(p + FADT_PM1A_EVT_BLK, base);
	put32(p + FADT_PM1A_CNT_BLK, base + PM1_CNT_OFF);
	put32(p + FADT_PM_TMR_BLK, base + PM_TMR_OFF);
	put32(p + FADT_GPE0_BLK, base + GPE0_OFF);
	p[FADT_PM1_EVT_LEN] = PM1_EVT_LEN;
	p[FADT_PM1_CNT_LEN] = PM1_CNT_LEN;
	p[FADT_PM_TMR_LEN] = PM_TMR_LEN;
	p[FADT_GPE0_BLK_LEN] = GPE0_LEN;
	put16(p + FADT_P_LVL2_LAT, C2_NONE);
	put16(p + FADT_P_LVL3_LAT, C3_NONE);
	p[FADT_CENTURY] = CMOS_CENTURY;
	/* Fixed hardware, no fixed power or sleep button (nothing presses them), a 24-bit timer. */
	put32(p + FADT_FLAGS, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_PWR_BUTTON |
				      FADT_F_SLP_BUTTON | FADT_F_RTC_S4 | FADT_F_RESET_REG_SUP |
				      FADT_F_PLATFORM_CLOCK);
	put_gas(p + FADT_RESET_REG, GAS_SYSTEM_IO, 8, 1, Q35_RESET_PORT);
	p[FADT_RESET_VALUE] = Q35_RESET_VALUE;
	put_gas(p + FADT_X_PM1A_EVT_BLK, GAS_SYSTEM_IO, 8 * PM1_EVT_LEN, 0, base);
	put_gas(p + FADT_X_PM1A_CNT_BLK, GAS_SYSTEM_IO, 8 * PM1_CNT_LEN, 0, base + PM1_CNT_OFF);
	put_gas(p + FADT_X_PM_TMR_BLK, GAS_SYSTEM_IO, 8 * PM_TMR_LEN, 0, base + PM_TMR_OFF);
	put_gas(p + FADT_X_GPE0_BLK, GAS_SYSTEM_IO, 8 * GPE0_LEN, 0, base + GPE0_OFF);
}

size_t acpi_fw_facs_len(const struct acpi_config *cfg)
{
	return cfg->fw.pm_base ? FACS_LEN : 0;
}

/* No waking vector, no global lock owner: the guest fills what it uses. */
void acpi_fw_build_facs(uint8_t *p)
{
	memset(p, 0, FACS_LEN);
	memcpy(p, "FACS", 4);
	put32(p + 4, FACS_LEN);
	p[FACS_VERSION] = 2;
}

size_t acpi_fw_hpet_len(const struct acpi_config *cfg)
{
	return cfg->fw.hpet_addr ? HPET_TABLE_LEN : 0;
}

void acpi_fw_build_hpet(uint8_t *p, const struct acpi_config *cfg)
{
	memset(p, 0, HPET_TABLE_LEN);
	acpi_sdt_header(p, "HPET", HPET_TABLE_LEN, 1);
	put32(p + 36, HPET_BLOCK_ID);
	put_gas(p + 40, GAS_SYSTEM_MEMORY, 0, 0, cfg->fw.hpet_addr);
	/* HPET number 0, no minimum periodic tick, no page protection. */
	acpi_fix_checksum(p, HPET_TABLE_LEN, SDT_CHECKSUM);
}

size_t acpi_fw_madt_len(const struct acpi_config *cfg)
{
	return cfg->fw.pm_base ? MADT_ISO_LEN : 0;
}

/* The SCI, level-triggered and active high as the LPC drives it (QEMU's override). */
void acpi_fw_madt(uint8_t *e, const struct acpi_config *cfg)
{
	e[0] = MADT_ISO;
	e[1] = MADT_ISO_LEN;
	e[2] = 0; /* ISA */
	e[3] = cfg->fw.sci_irq;
	put32(e + 4, cfg->fw.sci_irq);
	put16(e + 8, ISO_LEVEL_HIGH);
}

/*
 * The HPET as a PNP0103 device (Linux's hpet character device binds
 * it; its clocksource reads the table), and a motherboard resource for
 * the chipset's ports and window, kept out of the PCI bridge's windows.
 */
void acpi_dsdt_fw(struct aml_buf *b, const struct acpi_config *cfg)
{
	const struct acpi_fw *f = &cfg->fw;
	size_t dev, res;

	if (f->hpet_addr) {
		dev = aml_device_begin(b, "HPET");
		aml_name(b, "_HID");
		aml_eisaid(b, "PNP0103");
		aml_name(b, "_UID");
		aml_integer(b, 0);
		aml_name(b, "_STA");
		aml_integer(b, 0x0f);
		aml_name(b, "_CRS");
		res = aml_restemplate_begin(b);
		aml_res_memory32_fixed(b, false, (uint32_t)f->hpet_addr, HPET_WINDOW);
		aml_restemplate_end(b, res);
		aml_end(b, dev);
	}
	if (!f->pm_base)
		return;
	dev = aml_device_begin(b, "CRES");
	aml_name(b, "_HID");
	aml_eisaid(b, "PNP0C02");
	aml_name(b, "_UID");
	aml_integer(b, 2);
	aml_name(b, "_CRS");
	res = aml_restemplate_begin(b);
	aml_res_io16(b, f->pm_base, f->pm_base, 1, 0x80);
	if (f->smi_cmd)
		aml_res_io16(b, f->smi_cmd, f->smi_cmd, 1, 2);
	if (f->rcba_size)
		aml_res_memory32_fixed(b, true, (uint32_t)f->rcba_addr, f->rcba_size);
	aml_restemplate_end(b, res);
	aml_end(b, dev);
}
