/*
 * What vm_fw's parts share (vm_fw.c: the images and the boot;
 * vm_fw_image.c: the image's component and the ROM; vm_fw_q35.c: the
 * chipset and the flashes; vm_fw_cfg.c: fw_cfg's files).
 */
#ifndef HEARTH_VMM_VM_FW_PRIV_H
#define HEARTH_VMM_VM_FW_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "pci/root.h"
#include "util/log.h"
#include "vmm/vm_fw.h"

/* A flash's array as a read-only memslot, there only while the flash is in array mode. */
struct vm_fw_slot {
	int vm_fd;
	uint32_t slot;
	uint64_t gpa, size;
	uint8_t *hva;             /* the flash's array (pflash_array) */
	struct ratelimit rl;
};

struct vm_fw {
	int code_fd, vars_fd;     /* the image, the store (read-write, locked); -1: none */
	uint64_t code_size, vars_size;
	bool flash;               /* a CFI flash pair (a store given); else a ROM */
	uint64_t code_gpa, vars_gpa;
	uint64_t hash;            /* FNV-1a of the image: a restore's must be the snapshot's */
	uint8_t *rom;             /* a ROM's image, mapped read-only; NULL: none */
	struct vm_fw_slot code_slot, vars_slot;
	int vm_fd;
	struct pci_root *root;    /* the MCH's, which decodes its ECAM window */
	/* The HPET's LegacyReplacement is on: the RTC's line is its (atomic). */
	int rtc_gated;
};

/*
 * Record "FWIM" 1 of the image's component: whether it is a flash pair
 * (u8), the image's size and hash, the store's size (u64 each), which
 * a restored VM's images must match. Its counter: guest writes to a
 * ROM refused. On a ROM, its writes come here (the slot is read-only).
 */
#define FW_IMAGE_TAG "FWIM"
#define FW_IMAGE_VERSION 1u
int vm_fw_image_create(struct vm *vm, const struct dev_env *env, struct err *err);

/* The flash's slot in (array) or out; pflash's set_array, on the thread that wrote. */
void vm_fw_slot_set(void *opaque, bool array);

#endif
