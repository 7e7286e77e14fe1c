/*
 * Loading a parsed ELF into guest RAM: segments by paddr with their bss,
 * what does not fit, and the boot data each entry gets (the PVH start
 * info or a zero page).
 */
#include <asm/bootparam.h>
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elf_fixture.h"

#include "boot/e820.h"
#include "core/layout.h"
#include "mem/guest_mem.h"

#define MiB (1ull << 20)
#define RAM (32 * MiB)

/* Xen's public hvm_start_info ABI, by offset. */
#define SI_MAGIC 0
#define SI_VERSION 4
#define SI_NR_MODULES 12
#define SI_MODLIST 16
#define SI_CMDLINE 24
#define SI_RSDP 32
#define SI_MEMMAP 40
#define SI_MEMMAP_ENTRIES 48

static int parse_keep(struct elf *e, struct kernel_image *img)
{
	struct err err;
	int r = elf_parse(e->data, e->size, img, &err);

	img->data = e->data;
	img->size = e->size;
	return r;
}

static void test_load_segments(void **state)
{
	struct elf e = make_elf(0);
	struct kernel_image img;
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err;
	uint8_t *p;

	(void)state;
	assert_int_equal(parse_keep(&e, &img), 0);
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	/* Fresh RAM (loader.h), but for the zero page, which is cleared. */
	memset(guest_mem_ptr(&gm, LAYOUT_BOOT_PARAMS, 4096), 0xbb, 4096);
	memset(&plan, 0, sizeof(plan));
	if (elf_load(&img, &gm, &plan, &err))
		fail_msg("elf_load: %s", err.msg);

	p = guest_mem_ptr(&gm, SEG1_PADDR, SEG1_MEMSZ);
	assert_memory_equal(p, e.data + SEG1_OFF, SEG1_FILESZ);
	for (size_t i = SEG1_FILESZ; i < SEG1_MEMSZ; i++)
		if (p[i] != 0)
			fail_msg("bss byte 0x%zx is 0x%x", i, p[i]);
	p = guest_mem_ptr(&gm, SEG2_PADDR, SEG2_SIZE);
	assert_memory_equal(p, e.data + SEG2_OFF, SEG2_SIZE);
	/* Not placed by vaddr, nor anywhere else. */
	assert_int_equal(*(uint8_t *)guest_mem_ptr(&gm, SEG2_PADDR + SEG2_SIZE, 1), 0);

	assert_int_equal(plan.entry, ENTRY64);
	assert_int_equal(plan.pvh, 0);
	assert_int_equal(plan.params_gpa, LAYOUT_BOOT_PARAMS);
	assert_int_equal(plan.kernel_start, SEG1_PADDR);
	assert_int_equal(plan.kernel_end, SEG2_PADDR + SEG2_SIZE);
	/* Zero page cleared. */
	p = guest_mem_ptr(&gm, LAYOUT_BOOT_PARAMS, sizeof(struct boot_params));
	for (size_t i = 0; i < sizeof(struct boot_params); i++)
		assert_int_equal(p[i], 0);
	guest_mem_destroy(&gm);
	free(e.data);
}

/*
 * A page of zeros in the file, and the bss, are left to fresh RAM: never
 * written, so never faulted in (mincore), while the page beside them is.
 */
static void test_load_skips_zero_pages(void **state)
{
	struct elf e = make_elf(0);
	struct kernel_image img;
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err;
	unsigned char res[3];
	uint8_t *p;

	(void)state;
	/* SEG1's second file page all zeros; its first keeps the fixture's bytes. */
	memset(e.data + SEG1_OFF + 0x1000, 0, 0x1000);
	assert_int_equal(parse_keep(&e, &img), 0);
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	memset(&plan, 0, sizeof(plan));
	if (elf_load(&img, &gm, &plan, &err))
		fail_msg("elf_load: %s", err.msg);
	p = guest_mem_ptr(&gm, SEG1_PADDR, SEG1_MEMSZ);
	assert_memory_equal(p, e.data + SEG1_OFF, 0x1000);
	assert_int_equal(mincore(p, 3 * 4096, res), 0);
	assert_true(res[0] & 1);
	assert_false(res[1] & 1);   /* the zero page of the file */
	assert_false(res[2] & 1);   /* the bss */
	for (size_t i = 0x1000; i < SEG1_MEMSZ; i++)
		if (p[i] != 0)
			fail_msg("byte 0x%zx is 0x%x", i, p[i]);
	guest_mem_destroy(&gm);
	free(e.data);
}

static void test_load_rejects(void **state)
{
	struct elf e = make_elf(0);
	struct kernel_image img;
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, RAM), 0);

	/* Below 1 MiB: our page tables and zero page live there. */
	phdr(&e, PH_LOAD1)->p_paddr = 0xff000;
	assert_int_equal(parse_keep(&e, &img), 0);
	err.msg[0] = '\0';
	assert_int_equal(elf_load(&img, &gm, &plan, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "1 MiB"));
	assert_non_null(strstr(err.msg, "0xff000"));
	phdr(&e, PH_LOAD1)->p_paddr = SEG1_PADDR;

	/* Past the end of RAM, by the bss alone. */
	phdr(&e, PH_LOAD2)->p_paddr = RAM - SEG2_SIZE;
	assert_int_equal(parse_keep(&e, &img), 0);
	assert_int_equal(elf_load(&img, &gm, &plan, &err), 0);
	phdr(&e, PH_LOAD2)->p_memsz = SEG2_SIZE + 1;
	assert_int_equal(parse_keep(&e, &img), 0);
	err.msg[0] = '\0';
	assert_int_equal(elf_load(&img, &gm, &plan, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "outside guest RAM"));
	phdr(&e, PH_LOAD2)->p_paddr = 4ull << 30;
	phdr(&e, PH_LOAD2)->p_memsz = SEG2_SIZE;
	assert_int_equal(parse_keep(&e, &img), 0);
	assert_int_equal(elf_load(&img, &gm, &plan, &err), -E2BIG);
	phdr(&e, PH_LOAD2)->p_paddr = SEG2_PADDR;

	/* Entry outside RAM. */
	ehdr(&e)->e_entry = 0xffffffff81000000ull;
	assert_int_equal(parse_keep(&e, &img), 0);
	err.msg[0] = '\0';
	assert_int_equal(elf_load(&img, &gm, &plan, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "entry"));

	/* Empty PT_LOADs are skipped wherever they claim to be. */
	ehdr(&e)->e_entry = ENTRY64;
	phdr(&e, PH_STACK)->p_type = PT_LOAD;
	phdr(&e, PH_STACK)->p_offset = 0;
	phdr(&e, PH_STACK)->p_filesz = 0;
	phdr(&e, PH_STACK)->p_memsz = 0;
	phdr(&e, PH_STACK)->p_paddr = 0;
	assert_int_equal(parse_keep(&e, &img), 0);
	assert_int_equal(elf_load(&img, &gm, &plan, &err), 0);
	assert_int_equal(plan.kernel_start, SEG1_PADDR);
	guest_mem_destroy(&gm);
	free(e.data);
}

static void write_tmp(char *path, const void *data, size_t len)
{
	int fd;

	strcpy(path, "/tmp/hearth-elf-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void test_pvh_start_info(void **state)
{
	const char *cmdline = "console=hvc0 earlyprintk";
	struct elf e = make_elf(1);
	struct kernel_image img;
	struct guest_mem gm;
	struct boot_plan plan;
	struct boot_e820_entry ref[16];
	struct err err;
	char kpath[64], ipath[64];
	uint8_t rd[5000];
	const uint8_t *si, *mod, *mm;
	uint64_t modlist, memmap, rsdp = 0xe0010;
	uint32_t n;
	int nref;

	(void)state;
	for (size_t i = 0; i < sizeof(rd); i++)
		rd[i] = (uint8_t)(i * 3);
	write_tmp(kpath, e.data, e.size);
	write_tmp(ipath, rd, sizeof(rd));
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	if (loader_open(kpath, &img, &err))
		fail_msg("loader_open: %s", err.msg);
	assert_int_equal(img.kind, KERNEL_ELF_PVH);
	if (loader_load(&img, &gm, ipath, cmdline, rsdp, &plan, &err))
		fail_msg("loader_load: %s", err.msg);

	assert_int_equal(plan.pvh, 1);
	assert_int_equal(plan.entry, PVH_ENTRY);
	assert_int_equal(plan.params_gpa, LAYOUT_BOOT_PARAMS);

	si = guest_mem_ptr(&gm, plan.params_gpa, 56);
	assert_non_null(si);
	assert_int_equal(rd32(si + SI_MAGIC), 0x336ec578);
	assert_int_equal(rd32(si + SI_VERSION), 1);
	assert_int_equal(rd64(si + SI_RSDP), rsdp);

	/* Command line. */
	assert_int_equal(rd64(si + SI_CMDLINE), plan.cmdline_gpa);
	assert_string_equal((const char *)guest_mem_ptr(&gm, rd64(si + SI_CMDLINE),
							strlen(cmdline) + 1),
			    cmdline);

	/* One module: the initrd, clear of the kernel, intact. */
	assert_int_equal(rd32(si + SI_NR_MODULES), 1);
	modlist = rd64(si + SI_MODLIST);
	mod = guest_mem_ptr(&gm, modlist, 32);
	assert_non_null(mod);
	assert_int_equal(rd64(mod), plan.initrd_gpa);
	assert_int_equal(rd64(mod + 8), sizeof(rd));
	assert_int_equal(plan.initrd_gpa & 0xfff, 0);
	assert_true(plan.initrd_gpa >= SEG2_PADDR + SEG2_SIZE);
	assert_true(plan.initrd_gpa + sizeof(rd) <= RAM);
	assert_memory_equal(guest_mem_ptr(&gm, plan.initrd_gpa, sizeof(rd)), rd, sizeof(rd));
	/* The start info, module list and memmap do not overlap one another. */
	assert_true(modlist >= plan.params_gpa + 56 || modlist + 32 <= plan.params_gpa);

	/* Memory map: same as the e820 we would build, 24-byte entries. */
	nref = e820_build(&gm, ref, 16);
	assert_true(nref > 0);
	n = rd32(si + SI_MEMMAP_ENTRIES);
	assert_int_equal(n, (uint32_t)nref);
	memmap = rd64(si + SI_MEMMAP);
	assert_true(memmap >= modlist + 32 || memmap + 24ull * n <= modlist);
	assert_true(memmap >= plan.params_gpa + 56);
	mm = guest_mem_ptr(&gm, memmap, 24ull * n);
	assert_non_null(mm);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(rd64(mm + 24 * i), ref[i].addr);
		assert_int_equal(rd64(mm + 24 * i + 8), ref[i].size);
		assert_int_equal(rd32(mm + 24 * i + 16), ref[i].type);
		assert_int_equal(rd32(mm + 24 * i + 20), 0);
	}
	/* The kernel is loaded where the map says RAM. */
	{
		int found = 0;
		for (uint32_t i = 0; i < n; i++)
			if (rd32(mm + 24 * i + 16) == 1 && rd64(mm + 24 * i) <= SEG1_PADDR &&
			    SEG2_PADDR + SEG2_SIZE <= rd64(mm + 24 * i) + rd64(mm + 24 * i + 8))
				found = 1;
		assert_true(found);
	}
	guest_mem_destroy(&gm);

	/* Without an initrd: no modules. */
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	if (loader_load(&img, &gm, NULL, "", rsdp, &plan, &err))
		fail_msg("loader_load: %s", err.msg);
	si = guest_mem_ptr(&gm, plan.params_gpa, 56);
	assert_int_equal(rd32(si + SI_MAGIC), 0x336ec578);
	assert_int_equal(rd32(si + SI_NR_MODULES), 0);
	assert_int_equal(rd64(si + SI_MODLIST), 0);
	guest_mem_destroy(&gm);

	loader_close(&img);
	unlink(kpath);
	unlink(ipath);
	free(e.data);
}

/* A plain ELF64 gets a zero page with the command line and e820. */
static void test_elf64_zero_page(void **state)
{
	struct elf e = make_elf(0);
	struct kernel_image img;
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err;
	char kpath[64];
	struct boot_params *bp;

	(void)state;
	write_tmp(kpath, e.data, e.size);
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	if (loader_open(kpath, &img, &err))
		fail_msg("loader_open: %s", err.msg);
	assert_int_equal(img.kind, KERNEL_ELF64);
	if (loader_load(&img, &gm, NULL, "root=/dev/vda", 0xe0000, &plan, &err))
		fail_msg("loader_load: %s", err.msg);
	assert_int_equal(plan.pvh, 0);
	assert_int_equal(plan.entry, ENTRY64);
	bp = guest_mem_ptr(&gm, plan.params_gpa, sizeof(*bp));
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, 0x53726448);
	assert_int_equal(bp->hdr.cmd_line_ptr, LAYOUT_CMDLINE);
	assert_string_equal((char *)guest_mem_ptr(&gm, LAYOUT_CMDLINE, 14), "root=/dev/vda");
	assert_int_equal(bp->acpi_rsdp_addr, 0xe0000);
	assert_true(bp->e820_entries > 0);
	assert_int_equal(bp->hdr.ramdisk_size, 0);
	/* A loader's mark, without which Linux ignores any initrd (early_reserve_initrd). */
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.cmdline_size, LAYOUT_CMDLINE_MAX - 1);
	loader_close(&img);
	guest_mem_destroy(&gm);
	unlink(kpath);
	free(e.data);
}

/*
 * An ELF unpacked from a bzImage keeps its setup header's limits: a
 * command line past cmdline_size is refused as the bzImage's own boot
 * refuses it, and the initrd stays below initrd_addr_max. A vmlinux
 * given as is states none: Hearth's own bounds.
 */
static void test_pvh_keeps_bzimage_limits(void **state)
{
	struct elf e = make_elf(1);
	struct kernel_image img;
	struct guest_mem gm;
	struct boot_plan plan;
	struct err err;
	char kpath[64], ipath[64], line[200];
	uint8_t rd[5000] = { 1 };

	(void)state;
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = 0;
	write_tmp(kpath, e.data, e.size);
	write_tmp(ipath, rd, sizeof(rd));
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	if (loader_open(kpath, &img, &err))
		fail_msg("loader_open: %s", err.msg);
	assert_int_equal(img.cmdline_max, 0);
	if (loader_load(&img, &gm, ipath, line, 0xe0000, &plan, &err))
		fail_msg("a vmlinux has Hearth's bounds: %s", err.msg);
	assert_true(plan.initrd_gpa + plan.initrd_size > RAM / 2);
	img.unpacked = true;
	img.cmdline_max = 100;
	img.initrd_addr_max = RAM / 2 - 1;
	assert_int_equal(loader_load(&img, &gm, ipath, line, 0xe0000, &plan, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "accepts at most 100"));
	line[100] = 0;
	if (loader_load(&img, &gm, ipath, line, 0xe0000, &plan, &err))
		fail_msg("loader_load: %s", err.msg);
	assert_true(plan.initrd_gpa + plan.initrd_size <= RAM / 2);
	loader_close(&img);
	guest_mem_destroy(&gm);
	unlink(kpath);
	unlink(ipath);
	free(e.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_segments),
		cmocka_unit_test(test_load_skips_zero_pages),
		cmocka_unit_test(test_load_rejects),
		cmocka_unit_test(test_pvh_start_info),
		cmocka_unit_test(test_elf64_zero_page),
		cmocka_unit_test(test_pvh_keeps_bzimage_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
