#include <asm/bootparam.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/layout.h"
#include "boot/loader.h"
#include "boot/multiboot.h"
#include "mem/guest_mem.h"

#define MiB (1ull << 20)
#define HDR_OFF 0x1f1
#define PAYLOAD 0x20000
#define RAM (64 * MiB)
#define RSDP 0xe0000ull
#define INIT_SIZE 0x800000u

static uint8_t *image;
static size_t image_size;
static char kpath[64];
static char ipath[64];
static uint8_t *initrd;
static size_t initrd_len;

static struct setup_header *hdr(void)
{
	return (struct setup_header *)(image + HDR_OFF);
}

/* A synthetic 2.15 bzImage with 4 setup sectors and a patterned payload. */
static void build_image(void)
{
	struct setup_header h;

	image_size = 5 * 512 + PAYLOAD;
	free(image);
	image = calloc(1, image_size);
	assert_non_null(image);
	/* Recognisable bytes in the setup area too, so copies can be checked. */
	for (size_t i = 0; i < HDR_OFF; i++)
		image[i] = 0x11;
	for (size_t i = 5 * 512; i < image_size; i++)
		image[i] = (uint8_t)(i * 31 + 7);

	memset(&h, 0, sizeof(h));
	h.setup_sects = 4;
	h.root_flags = 1;
	h.syssize = PAYLOAD / 16;
	h.vid_mode = 0xfffd;
	h.boot_flag = 0xaa55;
	h.jump = (uint16_t)(0xeb | ((HDR_OFF + sizeof(h) - 0x202) << 8));
	h.header = 0x53726448;
	h.version = 0x020f;
	h.kernel_version = 0x1234;
	h.loadflags = LOADED_HIGH | KEEP_SEGMENTS;
	h.relocatable_kernel = 1;
	h.kernel_alignment = 0x200000;
	h.min_alignment = 21;
	h.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	h.cmdline_size = 2047;
	h.initrd_addr_max = 0x7fffffff;
	h.pref_address = 0x1000000;
	h.init_size = INIT_SIZE;
	h.handover_offset = 0x190;
	memcpy(image + HDR_OFF, &h, sizeof(h));
}

static void write_file(char *path, const void *data, size_t len)
{
	int fd;

	strcpy(path, "/tmp/hearth-bp-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	if (len)
		assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	build_image();
	write_file(kpath, image, image_size);
	initrd_len = 300001; /* deliberately not a page multiple */
	initrd = malloc(initrd_len);
	assert_non_null(initrd);
	for (size_t i = 0; i < initrd_len; i++)
		initrd[i] = (uint8_t)(i ^ (i >> 8));
	write_file(ipath, initrd, initrd_len);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(kpath);
	unlink(ipath);
	free(image);
	image = NULL;
	free(initrd);
	initrd = NULL;
	return 0;
}

/* Rewrites the kernel file from the (possibly edited) in-memory image. */
static void rewrite_kernel(void)
{
	unlink(kpath);
	write_file(kpath, image, image_size);
}

static int load(struct guest_mem *gm, uint64_t ram, const char *initrd_path, const char *cmdline,
		struct boot_plan *plan, struct err *err)
{
	struct kernel_image img;
	int ret;

	assert_int_equal(guest_mem_init(gm, ram), 0);
	ret = loader_open(kpath, &img, err);
	if (ret)
		fail_msg("loader_open: %s", err->msg);
	ret = loader_load(&img, gm, initrd_path, cmdline, RSDP, plan, err);
	loader_close(&img);
	return ret;
}

static void test_zero_page(void **state)
{
	const char *cmdline = "console=ttyS0 root=/dev/ram0 quiet";
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err;
	struct boot_params *bp;
	struct setup_header orig;
	uint64_t rd, rd_end, ram_total = 0;
	uint8_t *p;

	(void)state;
	memcpy(&orig, image + HDR_OFF, sizeof(orig));
	if (load(&gm, RAM, ipath, cmdline, &plan, &err))
		fail_msg("loader_load: %s", err.msg);

	/* The plan. */
	assert_int_equal(plan.entry, 0x100200);
	assert_int_equal(plan.params_gpa, LAYOUT_BOOT_PARAMS);
	assert_int_equal(plan.pvh, 0);
	assert_int_equal(plan.kernel_start, 0x100000);
	assert_int_equal(plan.kernel_end, 0x100000 + INIT_SIZE);
	assert_int_equal(plan.cmdline_gpa, LAYOUT_CMDLINE);

	/* Payload at 1 MiB, byte for byte. */
	p = guest_mem_ptr(&gm, LAYOUT_KERNEL_LOAD, PAYLOAD);
	assert_non_null(p);
	assert_memory_equal(p, image + 5 * 512, PAYLOAD);

	bp = guest_mem_ptr(&gm, LAYOUT_BOOT_PARAMS, sizeof(*bp));
	assert_non_null(bp);

	/* Header copied from the image... */
	assert_int_equal(bp->hdr.setup_sects, 4);
	assert_int_equal(bp->hdr.syssize, PAYLOAD / 16);
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, 0x53726448);
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_int_equal(bp->hdr.kernel_version, 0x1234);
	assert_int_equal(bp->hdr.kernel_alignment, 0x200000);
	assert_int_equal(bp->hdr.relocatable_kernel, 1);
	assert_int_equal(bp->hdr.xloadflags, orig.xloadflags);
	assert_int_equal(bp->hdr.cmdline_size, 2047);
	assert_int_equal(bp->hdr.initrd_addr_max, 0x7fffffff);
	assert_int_equal(bp->hdr.init_size, INIT_SIZE);
	assert_int_equal(bp->hdr.handover_offset, 0x190);
	assert_int_equal(bp->hdr.pref_address, 0x1000000);
	/* ...then edited as the protocol asks. */
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.code32_start, 0x100000);
	assert_true(bp->hdr.loadflags & LOADED_HIGH);
	assert_true(bp->hdr.loadflags & CAN_USE_HEAP);
	assert_false(bp->hdr.loadflags & KEEP_SEGMENTS);
	assert_int_equal(bp->hdr.vid_mode, 0xffff);
	assert_int_equal(bp->hdr.heap_end_ptr, 0xfe00);
	/* Outside the header the zero page is zero (setup code is not copied). */
	assert_int_equal(bp->screen_info.orig_x, 0);
	assert_int_equal(bp->sentinel, 0);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	assert_int_equal(bp->ext_ramdisk_image, 0);
	assert_int_equal(bp->ext_ramdisk_size, 0);

	/* Command line. */
	assert_int_equal(bp->hdr.cmd_line_ptr, LAYOUT_CMDLINE);
	p = guest_mem_ptr(&gm, bp->hdr.cmd_line_ptr, strlen(cmdline) + 1);
	assert_non_null(p);
	assert_string_equal((char *)p, cmdline);

	/* Initrd: page aligned, at the top of low RAM, clear of the kernel. */
	rd = bp->hdr.ramdisk_image;
	rd_end = rd + bp->hdr.ramdisk_size;
	assert_int_equal(bp->hdr.ramdisk_size, initrd_len);
	assert_int_equal(rd & 0xfff, 0);
	assert_true(rd_end <= RAM);
	assert_true(RAM - rd_end < 4096);
	assert_true(rd_end - 1 <= bp->hdr.initrd_addr_max);
	assert_true(rd >= 0x100000 + INIT_SIZE);
	assert_int_equal(plan.initrd_gpa, rd);
	assert_int_equal(plan.initrd_size, initrd_len);
	p = guest_mem_ptr(&gm, rd, initrd_len);
	assert_non_null(p);
	assert_memory_equal(p, initrd, initrd_len);

	assert_int_equal(bp->acpi_rsdp_addr, RSDP);

	/* e820: sorted, non-overlapping, inside RAM, RAM where the kernel is. */
	assert_true(bp->e820_entries >= 2);
	assert_true(bp->e820_entries <= E820_MAX_ENTRIES_ZEROPAGE);
	for (unsigned int i = 0; i < bp->e820_entries; i++) {
		const struct boot_e820_entry *e = &bp->e820_table[i];
		assert_true(e->size > 0);
		assert_true(e->addr + e->size <= RAM);
		if (i)
			assert_true(bp->e820_table[i - 1].addr + bp->e820_table[i - 1].size <=
				    e->addr);
		if (e->type == 1) {
			ram_total += e->size;
			/* No RAM over the zero page's neighbour, the ACPI area. */
			assert_false(e->addr < RSDP + 0x20000 && RSDP < e->addr + e->size);
		}
		if (e->addr <= 0x100000 && 0x100000 + INIT_SIZE <= e->addr + e->size)
			assert_int_equal(e->type, 1);
		if (e->addr <= rd && rd_end <= e->addr + e->size)
			assert_int_equal(e->type, 1);
	}
	assert_true(ram_total > RAM - MiB);
	assert_true(ram_total <= RAM);
	/* Past the table: untouched zeroes. */
	assert_int_equal(bp->e820_table[bp->e820_entries].size, 0);
	guest_mem_destroy(&gm);
}

/* The copy stops where the image's jump at 0x200 says its header ends. */
static void test_header_copy_length(void **state)
{
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err;
	struct boot_params *bp;

	(void)state;
	/* A header that ends right after cmdline_size (offset 0x23c). */
	image[0x201] = 0x23c - 0x202;
	rewrite_kernel();
	if (load(&gm, RAM, NULL, "x", &plan, &err))
		fail_msg("loader_load: %s", err.msg);
	bp = guest_mem_ptr(&gm, LAYOUT_BOOT_PARAMS, sizeof(*bp));
	assert_int_equal(bp->hdr.cmdline_size, 2047);
	assert_int_equal(bp->hdr.kernel_alignment, 0x200000);
	/* Beyond the end: not copied from the image. */
	assert_int_equal(bp->hdr.pref_address, 0);
	assert_int_equal(bp->hdr.init_size, 0);
	assert_int_equal(bp->hdr.handover_offset, 0);
	/* No initrd: zero. */
	assert_int_equal(bp->hdr.ramdisk_image, 0);
	assert_int_equal(bp->hdr.ramdisk_size, 0);
	assert_int_equal(plan.initrd_size, 0);
	guest_mem_destroy(&gm);
}

static void test_not_relocatable(void **state)
{
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err;
	struct boot_params *bp;
	uint8_t *p;

	(void)state;
	hdr()->relocatable_kernel = 0;
	rewrite_kernel();
	if (load(&gm, RAM, ipath, "", &plan, &err))
		fail_msg("loader_load: %s", err.msg);
	assert_int_equal(plan.entry, 0x1000200);
	assert_int_equal(plan.kernel_start, 0x1000000);
	assert_int_equal(plan.kernel_end, 0x1000000 + INIT_SIZE);
	p = guest_mem_ptr(&gm, 0x1000000, PAYLOAD);
	assert_memory_equal(p, image + 5 * 512, PAYLOAD);
	bp = guest_mem_ptr(&gm, LAYOUT_BOOT_PARAMS, sizeof(*bp));
	assert_int_equal(bp->hdr.code32_start, 0x1000000);
	assert_true(bp->hdr.ramdisk_image >= 0x1000000 + INIT_SIZE);
	/* Empty command line is a valid NUL at cmd_line_ptr. */
	p = guest_mem_ptr(&gm, bp->hdr.cmd_line_ptr, 1);
	assert_int_equal(p[0], 0);
	guest_mem_destroy(&gm);
}

static void test_initrd_addr_max(void **state)
{
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err;
	struct boot_params *bp;

	(void)state;
	hdr()->initrd_addr_max = 0x2ffffff; /* 48 MiB - 1 */
	rewrite_kernel();
	if (load(&gm, RAM, ipath, "x", &plan, &err))
		fail_msg("loader_load: %s", err.msg);
	bp = guest_mem_ptr(&gm, LAYOUT_BOOT_PARAMS, sizeof(*bp));
	assert_true(bp->hdr.ramdisk_image + bp->hdr.ramdisk_size <= 0x3000000);
	assert_true(0x3000000 - (bp->hdr.ramdisk_image + bp->hdr.ramdisk_size) < 4096);
	assert_int_equal(bp->hdr.ramdisk_image & 0xfff, 0);
	guest_mem_destroy(&gm);

	/* The limit leaves no room above the kernel's footprint. */
	hdr()->initrd_addr_max = 0x100000 + INIT_SIZE + 0x10000 - 1;
	rewrite_kernel();
	err.msg[0] = '\0';
	assert_int_equal(load(&gm, RAM, ipath, "x", &plan, &err), -E2BIG);
	assert_non_null(strstr(err.msg, ipath));
	guest_mem_destroy(&gm);
}

static void test_cmdline_limits(void **state)
{
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err;
	char *cl = malloc(0x10001);

	(void)state;
	assert_non_null(cl);
	/* cmdline_size is 2047: 2047 characters fit, 2048 do not. */
	memset(cl, 'a', 2047);
	cl[2047] = '\0';
	if (load(&gm, RAM, NULL, cl, &plan, &err))
		fail_msg("loader_load: %s", err.msg);
	assert_int_equal(strlen((char *)guest_mem_ptr(&gm, LAYOUT_CMDLINE, 2048)), 2047);
	guest_mem_destroy(&gm);

	memset(cl, 'a', 2048);
	cl[2048] = '\0';
	err.msg[0] = '\0';
	assert_int_equal(load(&gm, RAM, NULL, cl, &plan, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "2048"));
	assert_non_null(strstr(err.msg, "2047"));
	guest_mem_destroy(&gm);

	/* A kernel that allows more is still held to our buffer. */
	hdr()->cmdline_size = 0x7fffffff;
	rewrite_kernel();
	memset(cl, 'b', 0xffff);
	cl[0xffff] = '\0';
	if (load(&gm, RAM, NULL, cl, &plan, &err))
		fail_msg("loader_load: %s", err.msg);
	guest_mem_destroy(&gm);
	cl[0xffff] = 'b';
	cl[0x10000] = '\0';
	assert_int_equal(load(&gm, RAM, NULL, cl, &plan, &err), -E2BIG);
	guest_mem_destroy(&gm);
	free(cl);
}

static void test_kernel_too_big(void **state)
{
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err;

	(void)state;
	hdr()->init_size = 64 * MiB; /* 1 MiB + 64 MiB > 64 MiB of RAM */
	rewrite_kernel();
	assert_int_equal(load(&gm, RAM, NULL, "x", &plan, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "--memory"));
	/* The message names the kernel file. */
	assert_non_null(strstr(err.msg, kpath));
	guest_mem_destroy(&gm);
	/* Exactly filling RAM is fine. */
	hdr()->init_size = 63 * MiB;
	rewrite_kernel();
	if (load(&gm, RAM, NULL, "x", &plan, &err))
		fail_msg("loader_load: %s", err.msg);
	guest_mem_destroy(&gm);
}

static void test_initrd_errors(void **state)
{
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err;
	char big[64], empty[64];
	int fd;

	(void)state;
	/* 56 MiB initrd: would have to start below the kernel's 9 MiB end. */
	strcpy(big, "/tmp/hearth-bp-big-XXXXXX");
	fd = mkstemp(big);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 56 * MiB), 0);
	close(fd);
	assert_int_equal(load(&gm, RAM, big, "x", &plan, &err), -E2BIG);
	assert_non_null(strstr(err.msg, big));
	assert_non_null(strstr(err.msg, "--memory"));
	guest_mem_destroy(&gm);
	/* Bigger than RAM itself. */
	assert_int_equal(truncate(big, 65 * MiB), 0);
	assert_int_equal(load(&gm, RAM, big, "x", &plan, &err), -E2BIG);
	guest_mem_destroy(&gm);
	/* Just fits: [9 MiB, 64 MiB). */
	assert_int_equal(truncate(big, 55 * MiB), 0);
	if (load(&gm, RAM, big, "x", &plan, &err))
		fail_msg("loader_load: %s", err.msg);
	assert_int_equal(plan.initrd_gpa, 9 * MiB);
	guest_mem_destroy(&gm);
	unlink(big);

	write_file(empty, NULL, 0);
	err.msg[0] = '\0';
	assert_int_equal(load(&gm, RAM, empty, "x", &plan, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "empty"));
	assert_non_null(strstr(err.msg, empty));
	guest_mem_destroy(&gm);
	unlink(empty);

	err.msg[0] = '\0';
	assert_int_equal(load(&gm, RAM, "/nonexistent/initrd.img", "x", &plan, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/initrd.img"));
	guest_mem_destroy(&gm);

	assert_int_equal(load(&gm, RAM, "/tmp", "x", &plan, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "regular"));
	guest_mem_destroy(&gm);
}

/* The BSP's entry for each boot protocol: mode, entry point, stack, and its registers. */
static void test_entry(void **state)
{
	struct boot_plan linux64 = { .entry = 0x100200, .params_gpa = LAYOUT_BOOT_PARAMS };
	struct boot_plan pvh = { .entry = 0x1000000, .params_gpa = 0x6000, .pvh = 1 };
	struct boot_plan mb = { .entry = 0x100000, .params_gpa = MB_INFO_GPA, .multiboot = 1 };
	struct cpu_entry e;

	(void)state;
	loader_entry(&linux64, &e);
	assert_int_equal(e.mode, CPU_ENTRY_LONG64);
	assert_int_equal(e.rip, 0x100200);
	assert_int_equal(e.rsp, LAYOUT_BOOT_STACK);
	assert_int_equal(e.rsi, LAYOUT_BOOT_PARAMS);
	assert_int_equal(e.rax | e.rbx, 0);
	loader_entry(&pvh, &e);
	assert_int_equal(e.mode, CPU_ENTRY_FLAT32);
	assert_int_equal(e.rbx, 0x6000);
	assert_int_equal(e.rax | e.rsi, 0);
	loader_entry(&mb, &e);
	assert_int_equal(e.mode, CPU_ENTRY_FLAT32);
	assert_int_equal(e.rax, MB_BOOT_MAGIC);
	assert_int_equal(e.rbx, MB_INFO_GPA);
	assert_int_equal(e.rsp, MB_STACK_GPA);
	assert_int_equal(e.rsi, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry),
		cmocka_unit_test_setup_teardown(test_zero_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_copy_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_relocatable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_addr_max, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmdline_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_initrd_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
