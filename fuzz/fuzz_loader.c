/*
 * libFuzzer target for kernel loading (src/boot/bzimage.c, elf.c,
 * multiboot.c, loader.c): the input is the kernel file. As loader_open
 * does, a Multiboot header in the first 8 KiB picks the Multiboot parser,
 * else "\177ELF" the ELF one and anything else the bzImage one; an image they
 * accept is loaded with a short command line into 64 MiB of guest RAM
 * (RAM is not cleared between inputs: the loader must not care).
 *
 * A bzImage it accepts also has its payload decompressed as Hearth does
 * by default (bzimage_unpack, boot/decompress.c), and loads as the PVH
 * ELF that gives when it gives one. An ELF is also read as Hearth reads
 * a vmlinux or a kernel cache entry: from a file (a memfd), its headers
 * and notes first, its segments straight into RAM (boot/elf_file.c).
 *
 * Checked besides ASan/UBSan: the file is read, never written; a load that
 * succeeds puts the kernel, the command line and the boot parameters
 * inside RAM; a Multiboot load enters inside the kernel it placed; an
 * unpacked bzImage is a PVH ELF of exactly its payload's declared size,
 * keeping the bzImage's cmdline_size and initrd_addr_max, and a refused
 * one is left a bzImage. Seeds: a bzImage of each compression the kernel
 * build offers (fuzz/gen_seeds.py).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot/loader.h"
#include "boot/multiboot.h"
#include "fz.h"
#include "mem/guest_mem.h"
#include "util/file.h"
#include "util/log.h"

#define RAM (64ull << 20)

static struct guest_mem gm;

/* The ELF in data as a file: what loader_open_elf_fd reads and loads must stay in bounds. */
static void from_file(const uint8_t *data, size_t size)
{
	struct kernel_image img;
	struct boot_plan plan;
	struct err err;
	int fd = memfd_create("fuzz-elf", MFD_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(file_pwrite_full(fd, data, size, 0) == 0);
	if (loader_open_elf_fd(fd, "fuzz", &img, &err)) {
		close(fd);
		return;
	}
	CHECK(img.from_fd && img.fd == fd);
	if (loader_load(&img, &gm, NULL, "console=ttyS0", 0xe0000, &plan, &err) == 0)
		CHECK(plan.kernel_start <= plan.kernel_end && plan.kernel_end <= RAM);
	loader_close(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err;
	struct kernel_image img;
	struct boot_plan plan;
	uint8_t *copy;
	int ret;

	if (!gm.nregions) {
		log_set_level(LOG_ERR);
		CHECK(guest_mem_init(&gm, RAM) == 0);
	}
	/* An exact-size copy, so ASan catches a read past the file. */
	copy = malloc(size ? size : 1);
	CHECK(copy);
	memcpy(copy, data, size);
	memset(&img, 0, sizeof(img));
	if (mb_find_header(copy, size, &(uint32_t){ 0 }))
		ret = mb_parse(copy, size, &img, &err);
	else if (size >= 4 && !memcmp(copy, "\177ELF", 4))
		ret = elf_parse(copy, size, &img, &err);
	else
		ret = bzimage_parse(copy, size, &img, &err);
	CHECK(ret <= 0);
	if (ret == 0 && img.kind == KERNEL_BZIMAGE) {
		/* Its own copy: unpack frees the bzImage's data when it succeeds. */
		struct kernel_image u = img;
		uint8_t *c2 = file_buf_alloc(size);   /* as loader_open's, which unpack frees */

		CHECK(c2);
		memcpy(c2, data, size);
		u.data = c2;
		u.size = size;
		u.path = "fuzz";
		if (bzimage_unpack(&u, &err) == 0) {
			CHECK(u.kind == KERNEL_ELF_PVH && u.unpacked && u.data != c2);
			/* The bzImage's limits go with the ELF booted in its place. */
			CHECK(u.cmdline_max == img.cmdline_max &&
			      u.initrd_addr_max == img.initrd_addr_max);
			CHECK(loader_load(&u, &gm, NULL, "console=ttyS0", 0xe0000, &plan, &err) <= 0);
		} else {
			CHECK(u.kind == KERNEL_BZIMAGE && u.data == c2);
		}
		loader_close(&u);
	}
	if (ret == 0) {
		img.data = copy;
		img.size = size;
		img.path = "fuzz";
		ret = loader_load(&img, &gm, NULL, "console=ttyS0 panic=-1", 0xe0000, &plan, &err);
		CHECK(ret <= 0);
		if (ret == 0) {
			CHECK(plan.kernel_start <= plan.kernel_end && plan.kernel_end <= RAM);
			CHECK(plan.cmdline_gpa < RAM && plan.params_gpa < RAM);
			/*
			 * A Multiboot image may load below 1 MiB (real-mode test
			 * kernels), but never onto what Hearth keeps there: its
			 * lowest byte is in a free area.
			 */
			if (plan.multiboot)
				CHECK(plan.entry >= plan.kernel_start && plan.entry < plan.kernel_end &&
				      (plan.kernel_start >= 0x100000 ||
				       !mb_low_overlap(plan.kernel_start, 1)));
		}
	}
	if (size >= 4 && !memcmp(data, "\177ELF", 4))
		from_file(data, size);
	CHECK(!memcmp(copy, data, size));
	free(copy);
	return 0;
}
