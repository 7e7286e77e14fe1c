/*
 * VMGenID in the DSDT (devices/vmgenid.h is the device): the VGEN device
 * Linux's vmgenid driver binds, and the Generic Event Device (ACPI 6.x
 * §5.6.9) whose interrupt notifies it, as PCI hotplug's GED0 runs PCNT
 * (acpi_pci.c). A GED of its own, so a VM without PCI has one and PCI's
 * AML stays as it was.
 */
#include <errno.h>

#include "boot/acpi_priv.h"

/* Notify values from 0x80 are the device's own: the driver's handler takes them. */
#define NOTIFY_VMGENID_CHANGED 0x80

/* The spec's 8-byte alignment; the 16 bytes must not wrap. */
int acpi_vmgenid_check(const struct acpi_config *cfg)
{
	uint64_t a = cfg->vmgenid_addr;

	return a && (a % 8 || a + 15 < a) ? -EINVAL : 0;
}

/*
 * The IDs are Linux's (drivers/virt/vmgenid.c matches "VMGENCTR" and
 * "VM_GEN_COUNTER", since 5.18). The _HID is the first of them: before
 * Linux 6.10 the driver was an ACPI driver, and by Firecracker's account
 * (its #5760) guests of those did not bind its old _HID "FCVMGID" with
 * _CID "VM_Gen_Counter". The _CID is the second, spelt as Linux's table
 * spells it. ADDR is the address of the 16 bytes as the package the
 * driver reads, the low 32 bits first.
 */
static void dsdt_vgen(struct aml_buf *b, const struct acpi_config *cfg)
{
	size_t dev, pkg;

	dev = aml_device_begin(b, "VGEN");
	aml_name(b, "_HID");
	aml_string(b, "VMGENCTR");
	aml_name(b, "_CID");
	aml_string(b, "VM_GEN_COUNTER");
	aml_name(b, "_DDN");
	aml_string(b, "VM_Gen_Counter");
	aml_name(b, "ADDR");
	pkg = aml_package_begin(b, 2);
	aml_integer(b, cfg->vmgenid_addr & 0xffffffffu);
	aml_integer(b, cfg->vmgenid_addr >> 32);
	aml_end(b, pkg);
	aml_end(b, dev);
}

/*
 * Linux's GED driver (drivers/acpi/evged.c) runs _EVT with the line's
 * GSI on each edge; the line is the device's alone, so _EVT has only the
 * one thing to do. _UID 1: PCI hotplug's GED0 has 0.
 */
static void dsdt_vged(struct aml_buf *b, const struct acpi_config *cfg)
{
	size_t dev, res, m;

	dev = aml_device_begin(b, "VGED");
	aml_name(b, "_HID");
	aml_string(b, "ACPI0013");
	aml_name(b, "_UID");
	aml_integer(b, 1);
	aml_name(b, "_CRS");
	res = aml_restemplate_begin(b);
	aml_res_ext_irq(b, AML_IRQ_EDGE, AML_IRQ_ACTIVE_HIGH, false, cfg->vmgenid_gsi);
	aml_restemplate_end(b, res);
	m = aml_method_begin(b, "_EVT", 1, false);
	aml_notify(b);
	aml_name_string(b, "\\_SB.VGEN");
	aml_integer(b, NOTIFY_VMGENID_CHANGED);
	aml_end(b, m);
	aml_end(b, dev);
}

void acpi_dsdt_vmgenid(struct aml_buf *b, const struct acpi_config *cfg)
{
	if (!cfg->vmgenid_addr)
		return;
	dsdt_vgen(b, cfg);
	dsdt_vged(b, cfg);
}
