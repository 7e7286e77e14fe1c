/*
 * QEMU's firmware configuration device as x86 QEMU serves it
 * (hw/nvram/fw_cfg.c, docs/specs/fw_cfg.rst): what SeaBIOS, OVMF and
 * Linux's qemu_fw_cfg driver read.
 *
 * The ports, from res->pio_base (QEMU's 0x510):
 *   +0  the selector, a 16-bit write (a byte write selects too, as
 *       Hearth always had it); reads as 0
 *   +1  the data byte: the selected item's next byte, zeros past its end
 *   +4  the DMA address, 8 ports (only when res->pio_size is
 *       FW_CFG_PORTS_DMA): a 32-bit write of the high half then one of
 *       the low half starts a transfer, each half big-endian; reads give
 *       the signature "QEMU CFG"
 *
 * The items: the signature, FW_CFG_ID (bit 1: DMA), the legacy numbers
 * from dev_env (RAM size and top, CPU counts), and once a file was
 * added, the file directory at FW_CFG_FILE_DIR and the files from
 * FW_CFG_FILE_FIRST up, in the order added. All numbers little-endian
 * but the directory's, which is big-endian. Unknown selectors read zeros.
 */
#ifndef HEARTH_DEVICES_FW_CFG_H
#define HEARTH_DEVICES_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"

#define FW_CFG_PORTS 2        /* the selector, then the data byte: no DMA */
#define FW_CFG_PORTS_DMA 12   /* and the DMA address at +4..+11, as QEMU's 0x510..0x51b */
#define FW_CFG_DMA_OFF 4

#define FW_CFG_SIGNATURE 0x00 /* "QEMU" */
#define FW_CFG_ID 0x01        /* feature bits: FW_CFG_VERSION, FW_CFG_VERSION_DMA */
#define FW_CFG_RAM_SIZE 0x03  /* 64-bit, bytes */
#define FW_CFG_NB_CPUS 0x05   /* 16-bit */
#define FW_CFG_MAX_CPUS 0x0f  /* 16-bit */
#define FW_CFG_MAX_RAM 0x11   /* 64-bit, bytes: the top of guest RAM */
#define FW_CFG_FILE_DIR 0x19  /* BE32 count, then FW_CFG_DIR_ENTRY bytes per file */
#define FW_CFG_FILE_FIRST 0x20

#define FW_CFG_VERSION 0x01       /* the port interface */
#define FW_CFG_VERSION_DMA 0x02   /* the DMA interface */

/* A directory entry: size BE32, select BE16, reserved u16, name[56]. */
#define FW_CFG_DIR_ENTRY 64
#define FW_CFG_NAME_MAX 56        /* with its NUL: names of 1 to 55 bytes */
#define FW_CFG_FILES_MAX 128
#define FW_CFG_FILE_SIZE_MAX (64u << 20)

/* The guest's FWCfgDmaAccess, all big-endian: control, length, address. */
#define FW_CFG_DMA_ACCESS_SIZE 16
#define FW_CFG_DMA_CTL_ERROR 0x01
#define FW_CFG_DMA_CTL_READ 0x02
#define FW_CFG_DMA_CTL_SKIP 0x04
#define FW_CFG_DMA_CTL_SELECT 0x08 /* the item in the high 16 bits */
#define FW_CFG_DMA_CTL_WRITE 0x10
/*
 * The most one transfer reads or writes: the largest file. A longer one
 * is refused with the error bit, so a guest's request costs a vCPU at
 * most one bounded copy.
 */
#define FW_CFG_DMA_LEN_MAX FW_CFG_FILE_SIZE_MAX

/* fw_cfg_add_file's flags. */
#define FW_CFG_FILE_WRITABLE 0x1u /* DMA writes may change it (QEMU's few; none yet) */

/*
 * Record "FWCF": version 1 (the selector, u16, and the read offset, u32,
 * at most 8) while that is all there is to say, which is what every
 * snapshot of a VM without DMA or writable files holds; version 2
 * otherwise: the selector, the offset (at most its item's length), the
 * DMA address's high half latched (u32), and the writable files'
 * contents (a count, u32, then each one's length, u32, and bytes, in
 * directory order), which must match this device's files.
 */
#define FW_CFG_TAG "FWCF"
#define FW_CFG_STATE_VERSION 1u
#define FW_CFG_STATE_VERSION_2 2u

struct fw_cfg;

/*
 * The device on env->bus: res->pio_size FW_CFG_PORTS (ports only) or
 * FW_CFG_PORTS_DMA (DMA too; env->mem must be there, the guest RAM the
 * transfers read and write, range-checked). *out's obj is the struct
 * fw_cfg the calls below take.
 */
int fw_cfg_create(const struct dev_env *env, const struct dev_resources *res,
		  struct component *out, struct err *err);

/*
 * Adds a file: a copy of [data, data+len) under name (1 to 55 bytes, no
 * two alike), at the next selector (*key, when key is not NULL), listed
 * in the directory. Before the vCPUs run, or any time after (the guest
 * sees it from its next read of the directory). 0, or -errno with one
 * line in err (-EINVAL: a bad name or flags, -EEXIST: the name is
 * taken, -ENOSPC: FW_CFG_FILES_MAX files, -EFBIG: longer than
 * FW_CFG_FILE_SIZE_MAX, -ENOMEM).
 */
int fw_cfg_add_file(struct fw_cfg *d, const char *name, const void *data, size_t len,
		    unsigned int flags, uint16_t *key, struct err *err);

/*
 * Copies file name's bytes as they are now (a writable one's as the
 * guest left them) into dst, at most max; *len is its size. 0, or
 * -ENOENT.
 */
int fw_cfg_file_get(struct fw_cfg *d, const char *name, void *dst, size_t max, size_t *len);

#endif
