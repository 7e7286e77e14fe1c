/*
 * Multiboot v1 kernels (GNU Multiboot 0.6.96): the header search, ELF32
 * and a.out-kludge parsing, and the information structure the kernel
 * finds in EBX. This is what x86 test kernels (kvm-unit-tests and the
 * like) are.
 *
 * Guest-physical layout of what Hearth writes for a Multiboot kernel; all
 * of it in [0x6000, 0x8000), clear of page 0, of 0x1000 and of the
 * 0x8000-0xDFFF area test kernels use for AP trampolines:
 *
 *   0x6000  struct multiboot_info (116 bytes)
 *   0x6080  module list (one entry: --initrd)
 *   0x6100  memory map (MB_MMAP_MAX entries of 24 bytes)
 *   0x6300  boot loader name "hearth"
 *   0x6400  module string (the initrd's path), up to 1 KiB
 *   0x6800  command line: the kernel's path, then --cmdline, up to 6 KiB
 *
 * The initial ESP is 0x6000 (growing down, away from the structure).
 *
 * Segments may load below 1 MiB where nothing of Hearth's is (a kernel
 * that drops to real mode loads at 0x8000): [0x500, 0x1000) and
 * [0x8000, 0x9fc00). Hearth places no AP trampoline: the APs wait for the
 * kernel's INIT/SIPI, and 0x8000-0xdfff is left to the kernel for its own.
 */
#ifndef HEARTH_BOOT_MULTIBOOT_H
#define HEARTH_BOOT_MULTIBOOT_H

#include <stddef.h>
#include <stdint.h>

#include "boot/loader.h"
#include "util/err.h"

#define MB_HEADER_MAGIC 0x1badb002u
#define MB_BOOT_MAGIC 0x2badb002u   /* EAX at entry */
#define MB_SEARCH_LEN 8192          /* the header lies in the first 8 KiB */
#define MB_MAX_SEGS 16

/* Header flags. */
#define MB_HF_PAGE_ALIGN (1u << 0)
#define MB_HF_MEMINFO (1u << 1)
#define MB_HF_VIDEO (1u << 2)       /* accepted; no video info is given */
#define MB_HF_AOUT_KLUDGE (1u << 16)

/* Information structure flags. */
#define MB_IF_MEM (1u << 0)
#define MB_IF_CMDLINE (1u << 2)
#define MB_IF_MODS (1u << 3)
#define MB_IF_MMAP (1u << 6)
#define MB_IF_LOADER_NAME (1u << 9)

#define MB_INFO_GPA 0x6000u
#define MB_MODS_GPA 0x6080u
#define MB_MMAP_GPA 0x6100u
#define MB_MMAP_MAX 16
#define MB_LOADER_NAME_GPA 0x6300u
#define MB_MODSTR_GPA 0x6400u
#define MB_MODSTR_MAX 0x400u
#define MB_CMDLINE_GPA 0x6800u
#define MB_CMDLINE_MAX 0x1800u      /* including the NUL */
#define MB_STACK_GPA MB_INFO_GPA
#define MB_INFO_SIZE 116u
#define MB_AREA_END 0x8000u         /* the end of the structure's area */
#define MB_LOW_FREE_START 0x500u    /* past the IVT (0-0x3ff) and the BDA (0x400-0x4ff) */

/* Offsets in struct multiboot_info. */
#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_CMDLINE 16
#define MBI_MODS_COUNT 20
#define MBI_MODS_ADDR 24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_LOADER_NAME 64

/* One piece of the file to place: filesz bytes from offset, then zeros to memsz. */
struct mb_segment {
	uint32_t paddr;
	uint32_t memsz;
	uint32_t filesz;
	uint32_t offset;
};

struct mb_layout {
	uint32_t header_off;        /* of the magic, in the file */
	uint32_t flags;             /* the header's */
	uint32_t entry;             /* physical */
	int aout;                   /* loaded by the a.out kludge's addresses */
	unsigned int nsegs;
	struct mb_segment segs[MB_MAX_SEGS];
};

/* 1 and the header's offset when data has a Multiboot header (magic and checksum). */
int mb_find_header(const uint8_t *data, size_t size, uint32_t *off);

/*
 * Parses and checks the whole image: header flags, ELF32 program headers
 * or the a.out kludge, segments inside the file and not overlapping each
 * other, an entry point inside what is loaded. -EINVAL with one line in err.
 */
int mb_layout_parse(const uint8_t *data, size_t size, struct mb_layout *out,
		    struct err *err);

/* loader_open's step: img->kind = KERNEL_MULTIBOOT and the entry. */
int mb_parse(const uint8_t *data, size_t size, struct kernel_image *img,
	     struct err *err);

/* A piece of low memory Hearth keeps from Multiboot segments. */
struct mb_low_area {
	uint64_t start, end;
	const char *what;
};

/* The first kept area [start, start + len) overlaps, or NULL. */
const struct mb_low_area *mb_low_overlap(uint64_t start, uint64_t len);

/* Places the segments (inside RAM, clear of mb_low_overlap's areas) and zeroes the bss. */
int mb_load(const struct kernel_image *img, struct guest_mem *gm, struct boot_plan *plan,
	    struct err *err);

/*
 * Writes the information structure and its strings (layout above), after
 * the initrd, if any, is placed (plan->initrd_*). -E2BIG when the command
 * line or the module string does not fit.
 */
int mb_info_fill(struct guest_mem *gm, const struct boot_plan *plan, const char *kernel_path,
		 const char *cmdline, const char *initrd_path, struct err *err);

#endif
