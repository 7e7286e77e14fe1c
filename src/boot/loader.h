/*
 * Kernel image loading: identify and validate the file (bzImage or ELF
 * vmlinux) before any KVM state exists, then place it, the initrd, the
 * command line and the zero page in guest memory.
 */
#ifndef HEARTH_BOOT_LOADER_H
#define HEARTH_BOOT_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cpu_entry.h"
#include "mem/guest_mem.h"
#include "util/err.h"

enum kernel_kind { KERNEL_BZIMAGE, KERNEL_ELF64, KERNEL_ELF_PVH, KERNEL_MULTIBOOT };

struct kernel_image {
	enum kernel_kind kind;
	const char *path;        /* for messages */
	uint8_t *data; /* whole file */
	size_t size;
	/* bzImage */
	size_t setup_size;       /* real-mode part, (setup_sects + 1) * 512 */
	uint16_t version;
	/*
	 * A bzImage's, kept by the ELF unpacked from it (or found for it in
	 * the kernel cache); 0 for a kernel that states none.
	 */
	uint32_t cmdline_max;    /* excluding the NUL */
	uint32_t initrd_addr_max;
	uint32_t init_size;
	uint32_t kernel_alignment;
	uint64_t pref_address;
	int relocatable;
	/* ELF */
	uint64_t entry;          /* 64-bit entry, or the PVH / Multiboot 32-bit entry */
	bool unpacked;           /* the ELF inside a bzImage, decompressed here (bzimage_unpack) */
	bool cached;             /* ... or found so in the kernel cache (boot/kcache.h) */
	/*
	 * An ELF read segment by segment from fd (loader_open_elf_fd): data
	 * then holds only its headers and notes; loader_close closes fd.
	 */
	bool from_fd;
	int fd;
};

/* Where things went; loader_entry turns it into the BSP's entry state. */
struct boot_plan {
	uint64_t entry;
	uint64_t params_gpa;      /* boot_params, or hvm_start_info for PVH */
	int pvh;                  /* enter in 32-bit protected mode */
	int multiboot;            /* 32-bit too, EAX = 0x2badb002, EBX = params_gpa */
	uint64_t kernel_start, kernel_end;
	uint64_t initrd_gpa, initrd_size;
	uint64_t cmdline_gpa;
};

/*
 * Reads and validates path: a Multiboot header in the first 8 KiB makes
 * it a Multiboot kernel (boot/multiboot.h), else ELF or bzImage by magic.
 * On failure returns -errno with one human-readable line (without the
 * file name) in err.
 */
int loader_open(const char *path, struct kernel_image *img, struct err *err);
void loader_close(struct kernel_image *img);

/*
 * The ELF kernel in the regular file fd (elf_file.c), taken over by img
 * on success (loader_close closes it): its headers and notes are read and
 * checked now (elf_parse), its segments only by loader_load, from the
 * file into guest RAM, holes (SEEK_HOLE) left as fresh RAM's zeros.
 * -errno with err set; fd is then still the caller's.
 */
int loader_open_elf_fd(int fd, const char *path, struct kernel_image *img, struct err *err);
/* One segment's file bytes [off, off + len) into dst: 0, or -errno (-EIO: the file shrank). */
int elf_read_segment(const struct kernel_image *img, uint8_t *dst, uint64_t off, uint64_t len);

/*
 * A bzImage's payload decompressed on the host (boot/decompress.h) and,
 * when it is an ELF kernel with a PVH entry, img becomes that ELF
 * (unpacked set), to boot through PVH: the kernel then never
 * decompresses itself in the guest. Else img is left as it was, and
 * -ENOTSUP (a format or library this host lacks, no PVH note), -EINVAL
 * (a corrupt payload), -EFBIG (one past its declared size) or -ENOMEM
 * say why, in err; the bzImage still boots as it is.
 */
int bzimage_unpack(struct kernel_image *img, struct err *err);

/* Validators on an in-memory image; exposed for unit tests and fuzzing. */
int bzimage_parse(const uint8_t *data, size_t size, struct kernel_image *img,
		  struct err *err);
int elf_parse(const uint8_t *data, size_t size, struct kernel_image *img,
	      struct err *err);

/*
 * Places kernel, initrd (path may be NULL), command line, e820 and boot
 * parameters. rsdp_gpa goes into the zero page. -E2BIG / -ENOSPC with err
 * set when something does not fit in guest RAM. gm is fresh, all zero: an
 * ELF kernel's zero pages and .bss are not written (elf.c).
 */
int loader_load(const struct kernel_image *img, struct guest_mem *gm, const char *initrd_path,
		const char *cmdline, uint64_t rsdp_gpa, struct boot_plan *plan,
		struct err *err);

/* The BSP's entry for plan: its mode, and the registers the kernel's boot protocol sets. */
void loader_entry(const struct boot_plan *plan, struct cpu_entry *e);

/* Loaders of each format, called by loader_load. */
int bzimage_load(const struct kernel_image *img, struct guest_mem *gm, struct boot_plan *plan,
		 struct err *err);
int elf_load(const struct kernel_image *img, struct guest_mem *gm, struct boot_plan *plan,
	     struct err *err);

/* PVH: writes hvm_start_info (with memmap, cmdline, initrd module). */
int elf_pvh_fill(struct guest_mem *gm, const struct boot_plan *plan, uint64_t rsdp_gpa,
		 struct err *err);

#endif
