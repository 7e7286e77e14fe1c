/*
 * A CFI parallel flash with Intel's command set, as QEMU's
 * hw/block/pflash_cfi01.c serves OVMF on x86: OVMF_CODE read-only, a
 * per-VM copy of OVMF_VARS written through to its file. QEMU maps both
 * contiguously below 4 GiB, the code at the top and the vars under it,
 * each its own device with 4 KiB sectors and a bank width of 1
 * (hw/i386/pc_sysfw.c), and so do we.
 *
 * Array mode, the flash as memory: the caller maps pflash_array()'s
 * bytes read-only at res->mmio_base (a KVM_MEM_READONLY memslot), so
 * reads never leave the guest and every write exits to the device on
 * env->bus. A write is a command: the device leaves array mode (its
 * set_array callback says so, and the caller takes the slot away, so
 * reads come to the device too: status, IDs, the CFI table) until the
 * guest's read-array command (0xff, or QEMU's 0x00) brings it back.
 *
 * Commands: read array 0xff/0x00, read status 0x70, clear status 0x50,
 * read ID 0x90, CFI query 0x98, block erase 0x20 then 0xd0, program
 * 0x10/0x40 then the data, write to buffer 0xe8, the count (words less
 * one), the data, 0xd0 (nothing is written before the confirm), block
 * lock 0x60 (accepted, not emulated). Anything else (suspend 0xb0
 * among them) is refused: the status shows the sequence error (0x30)
 * and the device is back in array mode. A read-only device refuses
 * every erase and program the same way QEMU's does (0x20 or 0x10 in
 * the status) and never changes a byte. Status 0x80 is "ready"; clear
 * status leaves 0, which OVMF's probe (QemuFlashDetected) looks for.
 *
 * A writable device's changes reach its file (pwrite on the fd the
 * caller opened, at the sector's offset) on env->loop's thread, never on
 * the vCPU: a command only marks its sectors dirty and signals an
 * eventfd. Without a loop (tests) they are written at once. pause
 * writes what is pending, so a snapshot's or a stop's file is whole.
 *
 * Record "PFLS" 1: the command state (wcycle, cmd, status, u8 each),
 * the write buffer (its count, u32, its block's offset, u64, and
 * PFLASH_WB_MAX bytes), the device's size (u64, which must be this
 * one's), whether its bytes follow (u8: a writable device's do, the
 * vars the guest wrote being its state: the restored VM's file is
 * written from them) and those bytes.
 */
#ifndef HEARTH_DEVICES_PFLASH_H
#define HEARTH_DEVICES_PFLASH_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"

#define PFLASH_SECTOR 4096u          /* QEMU's FLASH_SECTOR_SIZE on x86 */
#define PFLASH_SIZE_MAX (64u << 20)  /* QEMU's pc machines allow 8 MiB of flash in all */
#define PFLASH_WB_MAX 2048u          /* the write buffer of a 4-byte bank (CFI 0x2a: 2^11) */

#define PFLASH_TAG "PFLS"
#define PFLASH_STATE_VERSION 1u

struct pflash;

struct pflash_config {
	/*
	 * The image, size bytes from offset 0: a read-only device maps it
	 * privately (the page cache stays shared between VMs: hand it a file
	 * nobody rewrites in place, as /usr/share/OVMF's are replaced whole,
	 * since a file cut short under the mapping faults); a writable one
	 * reads it into memory and writes changes back through its own
	 * duplicate of fd. The caller keeps and closes fd.
	 */
	int fd;
	uint64_t size;               /* a multiple of PFLASH_SECTOR, at most PFLASH_SIZE_MAX */
	uint8_t width;               /* the bank's width in bytes: 1 (QEMU's x86) or 4 */
	bool readonly;
	/*
	 * Called when the device enters (true) or leaves (false) array
	 * mode, with the device's lock held, so calls arrive in order: map
	 * pflash_array() read-only at the device's address, or take it
	 * away. It must not call into the device. NULL: nothing to map
	 * (tests: every read comes through the bus).
	 */
	void (*set_array)(void *opaque, bool array);
	void *opaque;
};

/*
 * The device on env->bus at [res->mmio_base, + res->mmio_size), which
 * must be cfg->size. 0, or -errno with one line in err (-EINVAL: a bad
 * size, width or file; -EIO: the file is shorter than size).
 */
int pflash_create(const struct dev_env *env, const struct dev_resources *res,
		  const struct pflash_config *cfg, struct component *out, struct err *err);

/* What the caller maps in array mode: the device's bytes, page-aligned, cfg->size long. */
uint8_t *pflash_array(struct pflash *p);

/* Whether the device is in array mode now (its bytes mapped). */
bool pflash_in_array_mode(struct pflash *p);

/*
 * Writes the dirty sectors to the file now; the loop's handler and
 * pause run it. 0, or the first pwrite's -errno (the sector stays dirty
 * for the next try).
 */
int pflash_flush(struct pflash *p);

#endif
