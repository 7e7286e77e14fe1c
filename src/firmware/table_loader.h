/*
 * QEMU's BIOS linker/loader script, fw_cfg's "etc/table-loader"
 * (hw/acpi/bios-linker-loader.c), which SeaBIOS (romfile_loader.c) and
 * OVMF (AcpiPlatformDxe's QemuFwCfgAcpi.c) run: 128-byte commands, all
 * little-endian, each a u32 command and its fields:
 *
 *   ALLOCATE      file[56], align u32, zone u8: load the fw_cfg file into
 *                 memory the firmware allocates (HIGH, or the F segment
 *                 for the RSDP SeaBIOS scans for)
 *   ADD_POINTER   dest[56], src[56], offset u32, size u8: add src's
 *                 address to the size-byte number at dest+offset
 *   ADD_CHECKSUM  file[56], offset u32, start u32, length u32: subtract
 *                 the byte sum of [start, start+length) from the byte at
 *                 offset (which the blob leaves 0)
 *   WRITE_POINTER dest[56], src[56], dst_offset u32, src_offset u32,
 *                 size u8: write src's address + src_offset into the
 *                 fw_cfg file dest at dst_offset, by DMA
 *
 * A file is allocated before any command names it. The builder patches
 * the blobs as QEMU's does: an ADD_POINTER's field gets the offset
 * within src it points at, an ADD_CHECKSUM's byte 0.
 */
#ifndef HEARTH_FIRMWARE_TABLE_LOADER_H
#define HEARTH_FIRMWARE_TABLE_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define TABLE_LOADER_FILE "etc/table-loader"
#define TL_CMD_SIZE 128
#define TL_NAME_MAX 56              /* with the NUL: as fw_cfg's names */
#define TL_FILES_MAX 16
#define TL_CMDS_MAX 4096

#define TL_CMD_ALLOCATE 1
#define TL_CMD_ADD_POINTER 2
#define TL_CMD_ADD_CHECKSUM 3
#define TL_CMD_WRITE_POINTER 4

enum tl_zone { TL_ZONE_HIGH = 1, TL_ZONE_FSEG = 2 };

struct tl_file {
	char name[TL_NAME_MAX];
	uint8_t *blob;               /* the caller's, patched in place */
	uint32_t len;
};

struct table_loader {
	uint8_t *cmds;               /* ncmds * TL_CMD_SIZE bytes */
	unsigned int ncmds, cap;
	struct tl_file files[TL_FILES_MAX];
	unsigned int nfiles;
};

void table_loader_init(struct table_loader *tl);
void table_loader_release(struct table_loader *tl);

/*
 * ALLOCATE: file, whose bytes are blob (len, kept by the caller until
 * the loader is released), aligned to align (a power of two). 0, or
 * -errno with one line in err (-EINVAL: a bad name, alignment or zone,
 * -EEXIST: allocated already, -ENOSPC: TL_FILES_MAX files or
 * TL_CMDS_MAX commands, -ENOMEM).
 */
int table_loader_allocate(struct table_loader *tl, const char *file, uint8_t *blob,
			  uint32_t len, uint32_t align, enum tl_zone zone, struct err *err);
/*
 * ADD_POINTER: the size-byte (1, 2, 4, 8) field at dest+offset will hold
 * the address of src + src_offset; the field is set to src_offset now.
 * Both files allocated, the field and src_offset inside their blobs.
 */
int table_loader_add_pointer(struct table_loader *tl, const char *dest, uint32_t offset,
			     uint8_t size, const char *src, uint32_t src_offset, struct err *err);
/* ADD_CHECKSUM: the byte at offset, inside [start, start+length), makes the range sum to 0. */
int table_loader_add_checksum(struct table_loader *tl, const char *file, uint32_t start,
			      uint32_t length, uint32_t offset, struct err *err);
/*
 * WRITE_POINTER: the firmware writes src's address + src_offset back
 * into the (writable) fw_cfg file dest at dst_offset, size bytes. src
 * allocated, src_offset inside it; dest is no allocated file.
 */
int table_loader_write_pointer(struct table_loader *tl, const char *dest, uint32_t dst_offset,
			       uint8_t size, const char *src, uint32_t src_offset,
			       struct err *err);

/* The script: ncmds * TL_CMD_SIZE bytes at tl->cmds. */
static inline size_t table_loader_len(const struct table_loader *tl)
{
	return (size_t)tl->ncmds * TL_CMD_SIZE;
}

#endif
