/*
 * What fw_cfg hands a firmware VM's firmware (vm_fw.h), as QEMU's q35
 * does: etc/e820 (RAM, and KVM's pages reserved), bootorder (the disks,
 * the root one first), the SMBIOS tables with the request's type 1
 * fields, Hearth's ACPI tables through QEMU's table loader, and
 * etc/sercon-port, which puts SeaBIOS's screen on COM1. Every file
 * follows from the config: a restore adds the same ones in the same
 * order, so the guest's selectors mean what they meant.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/layout.h"
#include "devices/fw_cfg.h"
#include "firmware/acpi_files.h"
#include "firmware/bootorder.h"
#include "firmware/e820_fwcfg.h"
#include "firmware/smbios.h"
#include "firmware/table_loader.h"
#include "vcpu/cpuid.h"
#include "vmm/devices.h"
#include "vmm/registry.h"
#include "vmm/vm_fw_priv.h"

#define SERCON_FILE "etc/sercon-port"
#define SMBIOS_MANUFACTURER "Hearth"
#define SMBIOS_PRODUCT "Standard PC (Q35 + ICH9, 2009)"
#define SMBIOS_VERSION "hearth-q35"

static int add(struct fw_cfg *d, const char *name, const void *data, size_t len,
	       struct err *err)
{
	return fw_cfg_add_file(d, name, data, len, 0, NULL, err);
}

static int add_e820(struct vm *vm, struct fw_cfg *d, struct err *err)
{
	const struct e820_fwcfg_range kvm_pages = { LAYOUT_Q35_KVM_IDENTITY,
						    LAYOUT_Q35_KVM_PAGES_SIZE,
						    E820_FWCFG_RESERVED };
	uint8_t buf[E820_FWCFG_MAX * E820_FWCFG_ENTRY];
	size_t len;
	int ret = e820_fwcfg_build(&vm->mem, &kvm_pages, 1, buf, sizeof(buf), &len, err);

	return ret ? ret : add(d, E820_FWCFG_FILE, buf, len, err);
}

/* The drives by their PCI slots, the root drive first (the firmware tries them in order). */
static int add_bootorder(struct fw_cfg *d, const struct vm_config *cfg, struct err *err)
{
	struct bootorder b;
	const uint8_t *bytes;
	size_t len;
	int ret = 0;

	bootorder_init(&b);
	for (unsigned int pass = 0; !ret && pass < 2; pass++)
		for (unsigned int i = 0; !ret && i < cfg->ndrives; i++) {
			unsigned int slot;

			if (cfg->drives[i].is_root_device != (pass == 0))
				continue;
			slot = vm_devices_pci_slot(cfg, "virtio-blk", cfg->drives[i].id);
			if (slot)
				ret = bootorder_add_virtio_blk(&b, slot, 0, err);
		}
	bytes = bootorder_bytes(&b, &len);
	return ret ? ret : len ? add(d, BOOTORDER_FILE, bytes, len, err) : 0;
}

static int add_smbios(struct vm *vm, struct fw_cfg *d, const struct vm_config *cfg,
		      struct err *err)
{
	struct kvm_cpuid_entry2 *l1 = vm->cpuid ? cpuid_find(vm->cpuid, 1, 0) : NULL;
	struct smbios_config sc = {
		.ep = SMBIOS_EP_AUTO,
		.bios_vendor = vm->fw->flash ? "EFI Development Kit II / OVMF" : "SeaBIOS",
		.bios_version = SMBIOS_VERSION, .bios_date = "01/01/2011",
		.uefi = vm->fw->flash,
		.manufacturer = SMBIOS_MANUFACTURER,
		.product = cfg->smbios.product ? cfg->smbios.product : SMBIOS_PRODUCT,
		.version = SMBIOS_VERSION, .serial = cfg->smbios.serial,
		.has_uuid = cfg->smbios.has_uuid,
		.ncpus = vm->ncpus, .cpuid_eax = l1 ? l1->eax : 0, .cpuid_edx = l1 ? l1->edx : 0,
		.mem = &vm->mem,
	};
	struct smbios_blobs sb;
	int ret;

	memcpy(sc.uuid, cfg->smbios.uuid, sizeof(sc.uuid));
	ret = smbios_build(&sc, &sb, err);
	if (ret)
		return ret;
	ret = add(d, SMBIOS_TABLES_FILE, sb.tables, sb.tables_len, err);
	if (!ret)
		ret = add(d, SMBIOS_ANCHOR_FILE, sb.anchor, sb.anchor_len, err);
	smbios_blobs_release(&sb);
	return ret;
}

/* Hearth's tables, laid out in a scratch block, as the loader's three files. */
static int add_acpi(struct vm *vm, struct fw_cfg *d, struct err *err)
{
	struct acpi_config ac;
	struct acpi_files f;
	uint8_t *img = calloc(1, LAYOUT_ACPI_SIZE);
	uint64_t rsdp;
	int ret;

	if (!img)
		return err_set(err, false, -ENOMEM, "out of memory");
	vm_acpi_config(vm, &ac);
	ret = acpi_build(img, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE, &ac, &rsdp);
	if (ret) {
		free(img);
		return err_set(err, false, ret, "cannot build ACPI tables: %s", strerror(-ret));
	}
	ret = acpi_files_from_image(img, LAYOUT_ACPI_SIZE, LAYOUT_ACPI_BASE, rsdp, &f, err);
	free(img);
	if (ret)
		return ret;
	ret = add(d, ACPI_FILES_RSDP, f.rsdp, f.rsdp_len, err);
	if (!ret)
		ret = add(d, ACPI_FILES_TABLES, f.tables, f.tables_len, err);
	if (!ret)
		ret = add(d, TABLE_LOADER_FILE, f.loader, f.loader_len, err);
	acpi_files_release(&f);
	return ret;
}

int vm_fw_files(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	struct reg_entry *e = registry_find(&vm->registry, COMP_DEVICE, "fw_cfg");
	const uint8_t sercon[2] = { (uint8_t)PORT_COM1, (uint8_t)(PORT_COM1 >> 8) };
	struct fw_cfg *d = e ? e->comp.obj : NULL;
	int ret;

	if (!d)
		return err_set(err, false, -ENODEV, "firmware: no fw_cfg device");
	ret = add_e820(vm, d, err);
	if (!ret)
		ret = add_bootorder(d, cfg, err);
	if (!ret)
		ret = add_smbios(vm, d, cfg, err);
	if (!ret)
		ret = add_acpi(vm, d, err);
	if (!ret)
		ret = add(d, SERCON_FILE, sercon, sizeof(sercon), err);
	return ret ? err_prefix(err, ret, "firmware: ") : 0;
}
