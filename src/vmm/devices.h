/* The devices a VM gets from its config, entered in its registry. */
#ifndef HEARTH_VMM_DEVICES_H
#define HEARTH_VMM_DEVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "boot/acpi.h"
#include "devices/power.h"
#include "util/err.h"
#include "virtio/blk.h"
#include "vmm/vm.h"

/* Addresses and GSIs of the virtio-mmio slots cfg needs, into vm->mmio_devs. */
int vm_devices_layout(struct vm *vm, const struct vm_config *cfg, struct err *err);

/*
 * Opens and locks every drive's image into out[VM_MAX_DRIVES] before KVM
 * is touched, so a missing or locked image is a usage error found first.
 * vm_devices_close_drives releases out, whatever happened.
 */
/*
 * The virtio device a registry entry carries, whichever transport it is
 * attached to; NULL for an entry that is no virtio device.
 */
struct reg_entry;
struct virtio_dev *vm_virtio_device(const struct reg_entry *e);

int vm_devices_open_drives(const struct vm_config *cfg, struct blk_config *out,
			   struct err *err);
/* How errors name drive i: "--disk N" for hearth run's, else "drive 'ID'". */
void vm_drive_what(const struct vm_config *cfg, unsigned int i, char *what, size_t len);
/* drives.c. The same for drive i alone, into *out (released with virtio_blk_config_release). */
int vm_devices_open_drive(const struct vm_config *cfg, unsigned int i, struct blk_config *out,
			  struct err *err);
void vm_devices_close_drives(struct blk_config *drives);
/*
 * d's image as the disk opens it, into bc (zeroed first): its access,
 * cache, queues, serial, format and a qcow2 image's chain (copies, freed by
 * virtio_blk_config_release with the path the caller puts there). 0 or
 * -ENOMEM with err.
 */
int vm_drive_blk_config(const struct vm_drive *d, struct blk_config *bc, struct err *err);

/*
 * Every device of cfg, entered in vm->registry: the legacy devices (COM1,
 * i8042, RTC, ACPI PM, the quiet ports, fw_cfg, and when cfg asks,
 * pc-testdev and the debug-exit port), then every virtio device attached
 * on its slot, in layout order (drives, network interfaces, entropy,
 * vsock). power hears the guest's poweroff and reset, debug_exit its
 * debug-exit writes. A port clash is a usage error naming the flag.
 */
int vm_devices_create(struct vm *vm, const struct vm_config *cfg, struct power_sink power,
		      struct debug_exit_sink debug_exit, const struct blk_config *drives,
		      struct err *err);

/*
 * PCI hotplug: the virtio device of family type ("virtio-blk",
 * "virtio-net", "virtio-pmem"), the i-th of its kind in cfg, made and
 * attached to the PCI root at slot, entered in vm->registry (drives[i]:
 * a disk's opened image). On the io thread, which the device's fds join.
 * 0, or -errno with err, nothing left behind.
 */
int vm_devices_plug_pci(struct vm *vm, const struct vm_config *cfg, const char *type,
			unsigned int i, const struct blk_config *drives, unsigned int slot,
			struct err *err);

/*
 * The PCI slot a boot from cfg gives the device of that type and name
 * (the layout order, from slot 1); 0: cfg has no such device.
 */
unsigned int vm_devices_pci_slot(const struct vm_config *cfg, const char *type, const char *name);

/*
 * cmdline.c. Writes base plus " virtio_mmio.device=SIZE@BASE:IRQ" per device into out,
 * the form a kernel built with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES reads;
 * -E2BIG when that does not fit in outlen bytes.
 */
int vm_virtio_cmdline(const char *base, const struct acpi_mmio_dev *devs, unsigned int n,
		      char *out, size_t outlen);

/*
 * The kernel command line cfg gives: its boot args (the default ones,
 * except for a Multiboot test kernel, which reads its arguments as argv),
 * then root= and ro/rw for a root drive as Firecracker adds them, then
 * with cfg->virtio_cmdline the n devices as above. 0, -E2BIG or -ENOMEM.
 */
int vm_kernel_cmdline(const struct vm_config *cfg, bool multiboot,
		      const struct acpi_mmio_dev *devs, unsigned int n, char *out, size_t len);

#endif
