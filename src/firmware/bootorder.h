/*
 * fw_cfg's "bootorder": the devices to boot from, best first, as
 * OpenFirmware device paths, one a line, the last one NUL-terminated
 * (QEMU's get_boot_devices_list). SeaBIOS matches a PCI disk by its
 * prefix "/pci@i0cf8/<any name>@<slot>[,<fn>]" (boot.c's build_pci_path,
 * slot and function in hex); OVMF translates "/pci@i0cf8/scsi@<slot>
 * [,<fn>]/disk@0,0" into PciRoot(0x0)/Pci(slot,fn) (QemuBootOrderLib):
 * the path QEMU gives a virtio-blk-pci disk (its class, mass storage,
 * is "scsi"; virtio-blk adds "/disk@0,0").
 */
#ifndef HEARTH_FIRMWARE_BOOTORDER_H
#define HEARTH_FIRMWARE_BOOTORDER_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define BOOTORDER_FILE "bootorder"
#define BOOTORDER_MAX 32              /* entries */
#define BOOTORDER_PATH_MAX 64         /* bytes a path, its newline or NUL included */

struct bootorder {
	char buf[BOOTORDER_MAX * BOOTORDER_PATH_MAX];
	size_t len;                   /* bytes in buf, its final NUL included (0: empty) */
	unsigned int n;
};

void bootorder_init(struct bootorder *b);

/*
 * Appends the path of a virtio-blk disk on the root bus at slot (0-31)
 * and function fn (0-7): "/pci@i0cf8/scsi@3/disk@0,0". 0, or -errno with
 * one line in err (-EINVAL: slot or function out of range, -ENOSPC:
 * BOOTORDER_MAX paths already).
 */
int bootorder_add_virtio_blk(struct bootorder *b, unsigned int slot, unsigned int fn,
			     struct err *err);

/* The file's bytes: the paths joined by newlines, then a NUL; *len 0 when there is none. */
const uint8_t *bootorder_bytes(const struct bootorder *b, size_t *len);

#endif
