/*
 * The PCI root complex as ACPI describes it (pci/root.h is the device):
 * the MCFG table (PCI Firmware 3.2 §4.1.2) locating ECAM, the host
 * bridge in the DSDT with the windows it decodes, and a motherboard
 * resource covering ECAM, without which Linux does not trust the MCFG
 * ("not reserved in ACPI motherboard resources").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/acpi_priv.h"

#define MCFG_FIXED_LEN (SDT_HDR_LEN + 8)
#define MCFG_ENTRY_LEN 16
#define ECAM_BUS_SIZE (1ull << 20)

/* The conf1 ports the bridge itself decodes, and the I/O it forwards around them. */
#define CONF1_PORT 0xcf8
#define CONF1_LEN 8
#define IO_BELOW_CONF1_END 0x0cf7
#define IO_ABOVE_CONF1 0x0d00
#define IO_END 0xffff

int acpi_pci_check(const struct acpi_config *cfg)
{
	const struct acpi_pci *p = &cfg->pci;
	uint64_t ecam_end;

	if (!p->ecam)
		return 0;
	ecam_end = p->ecam + (p->bus_end + 1ull) * ECAM_BUS_SIZE;
	if (p->bus_end > 255 || p->ecam % ECAM_BUS_SIZE || ecam_end - 1 > UINT32_MAX)
		return -EINVAL;
	if (p->mmio32_end <= p->mmio32_base || p->mmio32_end - 1 > UINT32_MAX)
		return -EINVAL;
	/* The guest would place BARs over configuration space. */
	if (p->ecam < p->mmio32_end && p->mmio32_base < ecam_end)
		return -EINVAL;
	/* A 64-bit window is above 4 GiB, and not empty or wrapped. */
	if (p->mmio64_end && (p->mmio64_base < (1ull << 32) || p->mmio64_end <= p->mmio64_base))
		return -EINVAL;
	return 0;
}

size_t acpi_mcfg_len(const struct acpi_config *cfg)
{
	return cfg->pci.ecam ? MCFG_FIXED_LEN + MCFG_ENTRY_LEN : 0;
}

void acpi_build_mcfg(uint8_t *p, const struct acpi_config *cfg)
{
	uint32_t len = (uint32_t)acpi_mcfg_len(cfg);
	uint8_t *e = p + MCFG_FIXED_LEN;

	memset(p, 0, len);
	acpi_sdt_header(p, "MCFG", len, 1);
	put64(e, cfg->pci.ecam);
	put16(e + 8, 0);     /* segment group */
	e[10] = 0;           /* start bus */
	e[11] = (uint8_t)cfg->pci.bus_end;
	acpi_fix_checksum(p, len, SDT_CHECKSUM);
}

#define HP_SLOTS 32u
#define HP_PORTS 12u                 /* pci/hotplug.h's PCI_HOTPLUG_PORTS */
#define NOTIFY_DEVICE_CHECK 1
#define NOTIFY_EJECT_REQUEST 3

static void slot_name(char out[5], unsigned int slot)
{
	snprintf(out, 5, "S%02X", slot);
}

/*
 * Inside PCI0: the hotplug registers as fields, a device for each slot
 * (1-31) that Linux's acpiphp takes for a hotplug slot (its _ADR, _SUN,
 * and _EJ0, which tells Hearth the guest gave the slot up), and PCNT,
 * which the GED's _EVT runs: a Device Check to each slot in PCIU (the guest
 * scans it and binds the new function's driver), an Eject Request to each
 * in PCID (the guest unbinds the driver, removes the function and calls
 * the slot's _EJ0).
 */
static void dsdt_pci_hotplug(struct aml_buf *b, const struct acpi_pci *p)
{
	static const char *const names[3] = { "PCIU", "PCID", "B0EJ" };
	static const unsigned int bits[3] = { 32, 32, 32 };
	char name[5];
	size_t dev, m, cond;

	aml_opregion_io(b, "PCHP", p->hotplug_port, HP_PORTS);
	aml_field_dword(b, "PCHP", names, bits, 3);
	for (unsigned int slot = 1; slot < HP_SLOTS; slot++) {
		slot_name(name, slot);
		dev = aml_device_begin(b, name);
		aml_name(b, "_ADR");
		aml_integer(b, (uint64_t)slot << 16);
		aml_name(b, "_SUN");
		aml_integer(b, slot);
		m = aml_method_begin(b, "_EJ0", 1, false);
		aml_store(b);
		aml_integer(b, 1ull << slot);
		aml_name_string(b, "B0EJ");
		aml_end(b, m);
		aml_end(b, dev);
	}
	m = aml_method_begin(b, "PCNT", 0, true);
	aml_store(b);
	aml_name_string(b, "PCIU");
	aml_local(b, 0);
	aml_store(b);
	aml_name_string(b, "PCID");
	aml_local(b, 1);
	for (unsigned int slot = 1; slot < HP_SLOTS; slot++) {
		for (unsigned int down = 0; down < 2; down++) {
			slot_name(name, slot);
			cond = aml_if_begin(b);
			aml_and(b);
			aml_local(b, down);
			aml_integer(b, 1ull << slot);
			aml_null_name(b);
			aml_notify(b);
			aml_name_string(b, name);
			aml_integer(b, down ? NOTIFY_EJECT_REQUEST : NOTIFY_DEVICE_CHECK);
			aml_end(b, cond);
		}
	}
	aml_end(b, m);
}

/* The Generic Event Device (ACPI 6.x §5.6.9): its interrupt runs PCI0.PCNT. */
static void dsdt_ged(struct aml_buf *b, const struct acpi_pci *p)
{
	size_t dev, res, m;

	dev = aml_device_begin(b, "GED0");
	aml_name(b, "_HID");
	aml_string(b, "ACPI0013");
	aml_name(b, "_UID");
	aml_integer(b, 0);
	aml_name(b, "_CRS");
	res = aml_restemplate_begin(b);
	aml_res_ext_irq(b, AML_IRQ_EDGE, AML_IRQ_ACTIVE_HIGH, false, p->hotplug_gsi);
	aml_restemplate_end(b, res);
	m = aml_method_begin(b, "_EVT", 1, false);
	aml_name_string(b, "\\_SB.PCI0.PCNT");
	aml_end(b, m);
	aml_end(b, dev);
}

void acpi_dsdt_pci(struct aml_buf *b, const struct acpi_config *cfg)
{
	const struct acpi_pci *p = &cfg->pci;
	uint32_t ecam_len = (uint32_t)((p->bus_end + 1) * ECAM_BUS_SIZE);
	size_t dev, res;

	if (!p->ecam)
		return;
	/* A PCI Express root bridge (PNP0A08), compatible with PCI's (PNP0A03). */
	dev = aml_device_begin(b, "PCI0");
	aml_name(b, "_HID");
	aml_eisaid(b, "PNP0A08");
	aml_name(b, "_CID");
	aml_eisaid(b, "PNP0A03");
	aml_name(b, "_SEG");
	aml_integer(b, 0);
	aml_name(b, "_BBN");
	aml_integer(b, 0);
	aml_name(b, "_UID");
	aml_integer(b, 0);
	aml_name(b, "_CRS");
	res = aml_restemplate_begin(b);
	aml_res_window(b, AML_WINDOW_BUS, 0, p->bus_end);
	aml_res_io16(b, CONF1_PORT, CONF1_PORT, 1, CONF1_LEN);
	aml_res_window(b, AML_WINDOW_IO, 0, IO_BELOW_CONF1_END);
	aml_res_window(b, AML_WINDOW_IO, IO_ABOVE_CONF1, IO_END);
	aml_res_window(b, AML_WINDOW_MEM32, p->mmio32_base, p->mmio32_end - 1);
	if (p->mmio64_end > p->mmio64_base)
		aml_res_window(b, AML_WINDOW_MEM64, p->mmio64_base, p->mmio64_end - 1);
	aml_restemplate_end(b, res);
	if (p->hotplug_port)
		dsdt_pci_hotplug(b, p);
	aml_end(b, dev);

	dev = aml_device_begin(b, "PRES");
	aml_name(b, "_HID");
	aml_eisaid(b, "PNP0C02");
	aml_name(b, "_UID");
	aml_integer(b, 1);
	aml_name(b, "_CRS");
	res = aml_restemplate_begin(b);
	aml_res_memory32_fixed(b, false, (uint32_t)p->ecam, ecam_len);
	/* The hotplug registers sit in the bridge's I/O window: not for BARs. */
	if (p->hotplug_port)
		aml_res_io16(b, p->hotplug_port, p->hotplug_port, 1, HP_PORTS);
	aml_restemplate_end(b, res);
	aml_end(b, dev);
	if (p->hotplug_port)
		dsdt_ged(b, p);
}
