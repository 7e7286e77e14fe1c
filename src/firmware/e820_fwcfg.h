/*
 * The e820 map as QEMU's fw_cfg file "etc/e820" gives it to SeaBIOS and
 * OVMF: packed entries of { le64 address; le64 length; le32 type; },
 * sorted. RAM is reported whole from 0, as QEMU does: the firmware
 * carves its own areas (the EBDA, the BIOS, its tables) out of it, so
 * the direct-boot map of boot/e820.c (which reserves them for a kernel
 * that has no firmware) is not this one.
 */
#ifndef HEARTH_FIRMWARE_E820_FWCFG_H
#define HEARTH_FIRMWARE_E820_FWCFG_H

#include <stddef.h>
#include <stdint.h>

#include "mem/guest_mem.h"
#include "util/err.h"

#define E820_FWCFG_FILE "etc/e820"
#define E820_FWCFG_ENTRY 20          /* bytes per entry */
#define E820_FWCFG_RAM 1
#define E820_FWCFG_RESERVED 2
#define E820_FWCFG_ACPI 3
#define E820_FWCFG_NVS 4
#define E820_FWCFG_UNUSABLE 5
#define E820_FWCFG_EXTRA_MAX 8
#define E820_FWCFG_MAX (GUEST_MEM_MAX_REGIONS + E820_FWCFG_EXTRA_MAX)

/* A range besides RAM: KVM's identity-map and TSS pages (reserved), say. */
struct e820_fwcfg_range {
	uint64_t addr;
	uint64_t len;
	uint32_t type;               /* E820_FWCFG_RESERVED to E820_FWCFG_UNUSABLE */
};

/*
 * The file for gm's RAM regions and the n extra ranges, into out (max
 * bytes); *len is the bytes written, E820_FWCFG_ENTRY a range. 0, or
 * -errno with one line in err: -EINVAL (no RAM, an empty, wrapping or
 * RAM-typed extra, two ranges that overlap), -ENOSPC (max too small, or
 * more than E820_FWCFG_EXTRA_MAX extras).
 */
int e820_fwcfg_build(const struct guest_mem *gm, const struct e820_fwcfg_range *extra,
		     unsigned int n, uint8_t *out, size_t max, size_t *len, struct err *err);

#endif
