/*
 * A VM that boots through firmware (docs/firmware.md): QEMU's q35 as
 * Debian's SeaBIOS and OVMF expect it, assembled from the chipset's
 * devices (chipset/), the firmware's files (firmware/) and the images
 * below 4 GiB. vm.c calls these where a direct boot loads its kernel;
 * devices.c where it makes the devices. Each runs before the vCPUs.
 *
 * The image (cfg->firmware.path) is mapped at the top of the 4 GiB
 * space, read-only: a ROM (a KVM_MEM_READONLY slot whose writes exit and
 * are refused, counted and logged) when there is no variable store; with
 * one (cfg->firmware.vars_path) QEMU's two CFI flashes, the code
 * read-only at the top and the store under it, written through to its
 * file (devices/pflash.h). Its last 128 KiB are copied into RAM at
 * 0xe0000 (QEMU's isa-bios alias) when the VM boots.
 *
 * The parts that have state (the image's identity, the flashes, the
 * MCH, the LPC, the HPET) are components in the registry: a snapshot
 * holds them; a restore maps the image the request names (never the
 * state file's) and refuses one that is not the snapshot's.
 */
#ifndef HEARTH_VMM_VM_FW_H
#define HEARTH_VMM_VM_FW_H

#include "devices/device.h"
#include "util/err.h"
#include "vmm/config.h"
#include "vmm/vm.h"

/*
 * Opens the image and the store, checks their sizes (a ROM: a multiple
 * of 64 KiB up to 16 MiB; flashes: multiples of 4 KiB, together up to
 * 16 MiB), locks the store, and keeps them in vm->fw. Before KVM is
 * opened: a missing or wrong file is a usage error found first.
 */
int vm_fw_open(struct vm *vm, const struct vm_config *cfg, struct err *err);

/*
 * A boot: fresh RAM laid out as q35's, the image's tail copied to
 * 0xe0000, the boot vCPU at the reset vector. vm_fw_open first.
 */
int vm_fw_prepare(struct vm *vm, const struct vm_config *cfg, struct err *err);

/* The ROM's slot and its write catcher (a ROM image only), RAM registered and the bus open. */
int vm_fw_map(struct vm *vm, struct err *err);

/*
 * The chipset (the MCH, its PCI root, the LPC and its PM block), the
 * HPET and the flashes, entered in the registry. env is the legacy
 * devices'; vm_fw_irq_env gates its RTC line while the HPET replaces it.
 */
int vm_fw_devices(struct vm *vm, const struct vm_config *cfg, const struct dev_env *env,
		  struct err *err);
void vm_fw_irq_env(struct vm *vm, struct dev_env *env);

/* fw_cfg's files (e820, bootorder, SMBIOS, ACPI, sercon-port), the vCPUs made. */
int vm_fw_files(struct vm *vm, const struct vm_config *cfg, struct err *err);

/* What vm_fw_open and the rest hold; vm->fw NULL after. */
void vm_fw_destroy(struct vm *vm);

#endif
