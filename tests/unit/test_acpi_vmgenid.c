/*
 * VMGenID in the DSDT (boot/acpi_vmgenid.c), byte for byte as ACPI 6.x's
 * AML encodes it and as Linux reads it: the VGEN device with the IDs
 * drivers/virt/vmgenid.c matches (_HID "VMGENCTR", which its ACPI driver
 * before 6.10 needs, and _CID "VM_GEN_COUNTER"), ADDR as a package of the
 * address's two halves, and a Generic Event Device (ACPI0013) whose
 * edge-triggered line runs _EVT, which notifies VGEN with 0x80. Beside
 * PCI hotplug's GED, its own with its own _UID; without VMGenID, neither.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/acpi.h"
#include "core/layout.h"

static uint8_t tables[LAYOUT_ACPI_SIZE];

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static struct acpi_config base_config(void)
{
	return (struct acpi_config){
		.ncpus = 1, .ioapic_addr = LAYOUT_IOAPIC, .lapic_addr = LAYOUT_LAPIC,
		.sleep_ctl_port = PORT_ACPI_SLEEP_CTL, .sleep_sts_port = PORT_ACPI_SLEEP_STS,
		.reset_port = PORT_ACPI_RESET, .reset_value = ACPI_RESET_VALUE,
		.s5_slp_typ = ACPI_S5_SLP_TYP, .com1_port = PORT_COM1, .com1_irq = IRQ_COM1,
	};
}

/* The DSDT acpi_build writes for cfg, found as a guest finds it: RSDP, XSDT, FADT. */
static const uint8_t *dsdt_of(const struct acpi_config *cfg, size_t *len)
{
	const uint8_t *xsdt, *fadt, *dsdt;
	uint64_t rsdp;

	assert_int_equal(acpi_build(tables, LAYOUT_ACPI_BASE, sizeof(tables), cfg, &rsdp), 0);
	xsdt = tables + (rd64(tables + 24) - LAYOUT_ACPI_BASE);
	fadt = tables + (rd64(xsdt + 36) - LAYOUT_ACPI_BASE);
	dsdt = tables + (rd64(fadt + 140) - LAYOUT_ACPI_BASE);
	assert_memory_equal(dsdt, "DSDT", 4);
	*len = (size_t)(dsdt[4] | dsdt[5] << 8 | dsdt[6] << 16 | (uint32_t)dsdt[7] << 24);
	assert_int_equal(acpi_checksum(dsdt, *len), 0);
	return dsdt;
}

static size_t count(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	size_t c = 0;

	for (size_t i = 0; i + m <= n; i++)
		c += !memcmp(hay + i, needle, m);
	return c;
}

static const uint8_t *find(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return hay + i;
	return NULL;
}

/* Name(_HID, "VMGENCTR"), Name(_CID, "VM_GEN_COUNTER"), Name(_DDN, "VM_Gen_Counter"). */
static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d,
			       'V', 'M', 'G', 'E', 'N', 'C', 'T', 'R', 0 };
static const uint8_t cid[] = { 0x08, '_', 'C', 'I', 'D', 0x0d, 'V', 'M', '_', 'G', 'E', 'N', '_',
			       'C', 'O', 'U', 'N', 'T', 'E', 'R', 0 };
static const uint8_t ddn[] = { 0x08, '_', 'D', 'D', 'N', 0x0d, 'V', 'M', '_', 'G', 'e', 'n', '_',
			       'C', 'o', 'u', 'n', 't', 'e', 'r', 0 };
/* Name(ADDR, Package(2) { 0xfeffa000, Zero }) */
static const uint8_t addr[] = { 0x08, 'A', 'D', 'D', 'R', 0x12, 0x08, 0x02,
				0x0c, 0x00, 0xa0, 0xff, 0xfe, 0x00 };
/* Name(_HID, "ACPI0013"), Name(_UID, One) */
static const uint8_t ged_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d,
				   'A', 'C', 'P', 'I', '0', '0', '1', '3', 0 };
static const uint8_t ged_uid1[] = { 0x08, '_', 'U', 'I', 'D', 0x01 };
/* Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 15 } */
static const uint8_t irq[] = { 0x89, 0x06, 0x00, 0x03, 0x01, LAYOUT_VMGENID_GSI, 0, 0, 0 };
/* Method(_EVT, 1, NotSerialized) { Notify(\_SB.VGEN, 0x80) } */
static const uint8_t evt[] = { 0x14, 0x13, '_', 'E', 'V', 'T', 0x01,
			       0x86, 0x5c, 0x2e, '_', 'S', 'B', '_', 'V', 'G', 'E', 'N',
			       0x0a, 0x80 };

static void test_vgen_and_its_ged(void **state)
{
	struct acpi_config cfg = base_config();
	const uint8_t *d, *dev, *ged;
	size_t n;

	(void)state;
	d = dsdt_of(&cfg, &n);
	assert_int_equal(count(d, n, "VMGENCTR", 8), 0);
	assert_int_equal(count(d, n, "ACPI0013", 8), 0);

	cfg.vmgenid_addr = LAYOUT_VMGENID;
	cfg.vmgenid_gsi = LAYOUT_VMGENID_GSI;
	d = dsdt_of(&cfg, &n);
	/* Device(VGEN): ExtOp, DeviceOp, a two-byte PkgLength, its NameSeg, then the four names. */
	dev = find(d, n, "VGEN", 4);
	assert_non_null(dev);
	assert_int_equal(dev[-4], 0x5b);
	assert_int_equal(dev[-3], 0x82);
	assert_int_equal(dev[-2] >> 6, 1);
	assert_int_equal((dev[-2] & 0x0f) | dev[-1] << 4, 2 + 4 + sizeof(hid) + sizeof(cid) +
			 sizeof(ddn) + sizeof(addr));
	dev += 4;
	assert_memory_equal(dev, hid, sizeof(hid));
	dev += sizeof(hid);
	assert_memory_equal(dev, cid, sizeof(cid));
	dev += sizeof(cid);
	assert_memory_equal(dev, ddn, sizeof(ddn));
	dev += sizeof(ddn);
	assert_memory_equal(dev, addr, sizeof(addr));
	/* Device(VGED) after it, inside \_SB like it: the GED's names, its line, its _EVT. */
	ged = find(d, n, "VGED", 4);
	assert_non_null(ged);
	assert_true(ged > dev);
	assert_memory_equal(ged + 4, ged_hid, sizeof(ged_hid));
	assert_memory_equal(ged + 4 + sizeof(ged_hid), ged_uid1, sizeof(ged_uid1));
	assert_non_null(find(ged, n - (size_t)(ged - d), irq, sizeof(irq)));
	assert_non_null(find(ged, n - (size_t)(ged - d), evt, sizeof(evt)));
	assert_int_equal(count(d, n, "VMGENCTR", 8), 1);
	assert_int_equal(count(d, n, evt, sizeof(evt)), 1);
	/* Not Firecracker's old _HID, which Linux before 6.10 did not bind. */
	assert_int_equal(count(d, n, "FCVMGID", 7), 0);
}

/* An address above 4 GiB: ADDR's second element is its high half. */
static void test_addr_high_half(void **state)
{
	struct acpi_config cfg = base_config();
	static const uint8_t want[] = { 0x08, 'A', 'D', 'D', 'R', 0x12, 0x08, 0x02,
					0x0c, 0x80, 0x67, 0x45, 0x23, 0x01 };
	const uint8_t *d;
	size_t n;

	(void)state;
	cfg.vmgenid_addr = 0x123456780ull;
	cfg.vmgenid_gsi = LAYOUT_VMGENID_GSI;
	d = dsdt_of(&cfg, &n);
	/* Package(2) { 0x23456780, One }: PkgLength 8, two elements. */
	assert_int_equal(count(d, n, want, sizeof(want)), 1);
}

/* With PCI hotplug's GED0 (_UID 0) too: two GEDs, two lines, two _EVTs, VGEN's on its own. */
static void test_beside_pci_hotplug(void **state)
{
	struct acpi_config cfg = base_config();
	static const uint8_t irq23[] = { 0x89, 0x06, 0x00, 0x03, 0x01, LAYOUT_PCI_HOTPLUG_GSI,
					 0, 0, 0 };
	static const uint8_t ged_uid0[] = { 0x08, '_', 'U', 'I', 'D', 0x00 };
	const uint8_t *d, *ged;
	size_t n;

	(void)state;
	cfg.pci = (struct acpi_pci){ .ecam = LAYOUT_PCI_ECAM, .mmio32_base = LAYOUT_PCI_MMIO32,
				     .mmio32_end = LAYOUT_PCI_MMIO32_END, .msi = true,
				     .hotplug_port = PORT_PCI_HOTPLUG,
				     .hotplug_gsi = LAYOUT_PCI_HOTPLUG_GSI };
	cfg.vmgenid_addr = LAYOUT_VMGENID;
	cfg.vmgenid_gsi = LAYOUT_VMGENID_GSI;
	d = dsdt_of(&cfg, &n);
	assert_int_equal(count(d, n, "ACPI0013", 8), 2);
	assert_int_equal(count(d, n, "_EVT", 4), 2);
	assert_int_equal(count(d, n, irq, sizeof(irq)), 1);
	assert_int_equal(count(d, n, irq23, sizeof(irq23)), 1);
	assert_int_equal(count(d, n, evt, sizeof(evt)), 1);
	/* Two ACPI0013 devices, told apart by their _UIDs: GED0's Zero, VGED's One. */
	ged = find(d, n, "GED0", 4);
	assert_non_null(ged);
	assert_memory_equal(ged + 4, ged_hid, sizeof(ged_hid));
	assert_memory_equal(ged + 4 + sizeof(ged_hid), ged_uid0, sizeof(ged_uid0));
	ged = find(d, n, "VGED", 4);
	assert_non_null(ged);
	assert_memory_equal(ged + 4 + sizeof(ged_hid), ged_uid1, sizeof(ged_uid1));
}

/* The spec's 8-byte alignment, and no wrap past 2^64: else refused, nothing written. */
static void test_bad_address(void **state)
{
	struct acpi_config cfg = base_config();
	uint64_t rsdp;

	(void)state;
	cfg.vmgenid_gsi = LAYOUT_VMGENID_GSI;
	cfg.vmgenid_addr = LAYOUT_VMGENID + 4;
	assert_int_equal(acpi_build(tables, LAYOUT_ACPI_BASE, sizeof(tables), &cfg, &rsdp),
			 -EINVAL);
	cfg.vmgenid_addr = ~0ull - 7;
	assert_int_equal(acpi_build(tables, LAYOUT_ACPI_BASE, sizeof(tables), &cfg, &rsdp),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vgen_and_its_ged),
		cmocka_unit_test(test_addr_high_half),
		cmocka_unit_test(test_beside_pci_hotplug),
		cmocka_unit_test(test_bad_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
