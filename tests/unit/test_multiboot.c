/*
 * Multiboot v1 (src/boot/multiboot.c): the header search, ELF32 and
 * a.out-kludge parsing against hostile images (every field out of range,
 * overlapping segments, truncation), loading, and the information
 * structure's bytes as the kernel reads them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <elf.h>
#include <errno.h>

#include "boot/loader.h"
#include "boot/multiboot.h"
#include "core/layout.h"
#include "mem/guest_mem.h"

#define MiB (1ull << 20)
#define RAM (32 * MiB)
#define IMG_SIZE 0x3000
#define HDR_OFF 0x1000      /* the header starts the first segment's bytes */
#define LOAD 0x400000u
#define ENTRY (LOAD + 0x20)
#define BSS 0x2000u

/* An ELF32 like tests/guest/mbtest.elf: one text segment with the header, one with bss. */
static uint8_t *make_mb_elf(size_t *size)
{
	uint8_t *d = calloc(1, IMG_SIZE);
	Elf32_Ehdr eh = {
		.e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS32, ELFDATA2LSB, EV_CURRENT },
		.e_type = ET_EXEC, .e_machine = EM_386, .e_version = EV_CURRENT,
		.e_entry = ENTRY, .e_phoff = sizeof(Elf32_Ehdr), .e_ehsize = sizeof(Elf32_Ehdr),
		.e_phentsize = sizeof(Elf32_Phdr), .e_phnum = 2,
	};
	Elf32_Phdr ph[2] = {
		{ .p_type = PT_LOAD, .p_offset = HDR_OFF, .p_vaddr = LOAD, .p_paddr = LOAD,
		  .p_filesz = 0x1000, .p_memsz = 0x1000, .p_flags = PF_R | PF_X },
		{ .p_type = PT_LOAD, .p_offset = 0x2000, .p_vaddr = LOAD + 0x1000,
		  .p_paddr = LOAD + 0x1000, .p_filesz = 0x1000, .p_memsz = 0x1000 + BSS,
		  .p_flags = PF_R | PF_W },
	};
	uint32_t hdr[3] = { MB_HEADER_MAGIC, 3, (uint32_t)-(MB_HEADER_MAGIC + 3) };

	assert_non_null(d);
	memcpy(d, &eh, sizeof(eh));
	memcpy(d + sizeof(eh), ph, sizeof(ph));
	memcpy(d + HDR_OFF, hdr, sizeof(hdr));
	memset(d + HDR_OFF + 0x20, 0x90, 0x10);
	memset(d + 0x2000, 0x77, 0x1000);
	*size = IMG_SIZE;
	return d;
}

static Elf32_Phdr *phdr(uint8_t *d, unsigned int i)
{
	return (Elf32_Phdr *)(d + sizeof(Elf32_Ehdr) + i * sizeof(Elf32_Phdr));
}

static Elf32_Ehdr *ehdr(uint8_t *d)
{
	return (Elf32_Ehdr *)d;
}

/* Header fields from the magic on, with the checksum fixed up. */
static void set_header(uint8_t *d, uint32_t flags, const uint32_t *aout)
{
	uint32_t h[8] = { MB_HEADER_MAGIC, flags, (uint32_t)-(MB_HEADER_MAGIC + flags) };

	if (aout)
		memcpy(&h[3], aout, 5 * sizeof(uint32_t));
	memcpy(d + HDR_OFF, h, aout ? 32 : 12);
}

static int parse(const uint8_t *d, size_t size, struct err *err)
{
	struct kernel_image img;
	uint8_t *copy = malloc(size ? size : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, d, size);
	err->msg[0] = '\0';
	r = mb_parse(copy, size, &img, err);
	free(copy);
	return r;
}

static void expect_reject(const uint8_t *d, size_t size, const char *needle)
{
	struct err err;

	assert_int_equal(parse(d, size, &err), -EINVAL);
	assert_null(strchr(err.msg, '\n'));
	if (!strstr(err.msg, needle))
		fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

static void test_header_search(void **state)
{
	size_t size;
	uint8_t *d = make_mb_elf(&size);
	uint32_t off = 0;

	(void)state;
	assert_int_equal(mb_find_header(d, size, &off), 1);
	assert_int_equal(off, HDR_OFF);
	/* A bad checksum is no header. */
	d[HDR_OFF + 8] ^= 1;
	assert_int_equal(mb_find_header(d, size, &off), 0);
	d[HDR_OFF + 8] ^= 1;
	/* Unaligned, or past the first 8 KiB: not found. */
	memmove(d + HDR_OFF + 2, d + HDR_OFF, 12);
	memset(d + HDR_OFF, 0, 2);
	assert_int_equal(mb_find_header(d, size, &off), 0);
	memset(d + HDR_OFF, 0, 16);
	set_header(d - HDR_OFF + 0x2000, 3, NULL); /* at file offset 0x2000 = 8 KiB */
	assert_int_equal(mb_find_header(d, size, &off), 0);
	/* Truncated inside the header. */
	assert_int_equal(mb_find_header(d, 8, &off), 0);
	free(d);
}

static void test_parse_elf(void **state)
{
	struct kernel_image img;
	struct mb_layout l;
	struct err err;
	size_t size;
	uint8_t *d = make_mb_elf(&size);

	(void)state;
	assert_int_equal(mb_parse(d, size, &img, &err), 0);
	assert_int_equal(img.kind, KERNEL_MULTIBOOT);
	assert_int_equal(img.entry, ENTRY);
	assert_int_equal(mb_layout_parse(d, size, &l, &err), 0);
	assert_int_equal(l.nsegs, 2);
	assert_int_equal(l.segs[1].memsz, 0x1000 + BSS);
	/* A higher-half kernel: e_entry is virtual, the CPU starts at its physical address. */
	phdr(d, 0)->p_vaddr = 0xc0400000u;
	ehdr(d)->e_entry = 0xc0400020u;
	assert_int_equal(mb_parse(d, size, &img, &err), 0);
	assert_int_equal(img.entry, ENTRY);
	free(d);
}

static void test_hostile_elf(void **state)
{
	size_t size;
	uint8_t *d = make_mb_elf(&size);
	uint8_t *orig = malloc(size);

	(void)state;
	memcpy(orig, d, size);
#define RESET() memcpy(d, orig, size)
	ehdr(d)->e_entry = 0;
	expect_reject(d, size, "no entry point");
	RESET();
	ehdr(d)->e_entry = 0x100;
	expect_reject(d, size, "lies in no loadable segment");
	RESET();
	d[EI_CLASS] = ELFCLASS64;
	expect_reject(d, size, "64-bit ELF");
	RESET();
	ehdr(d)->e_machine = EM_X86_64;
	expect_reject(d, size, "i386");
	RESET();
	ehdr(d)->e_type = ET_DYN;
	expect_reject(d, size, "not an executable");
	RESET();
	ehdr(d)->e_phnum = 0;
	expect_reject(d, size, "program headers");
	RESET();
	ehdr(d)->e_phoff = 0xfffffff0u;
	expect_reject(d, size, "program headers");
	RESET();
	ehdr(d)->e_phentsize = 56;
	expect_reject(d, size, "program headers");
	RESET();
	phdr(d, 1)->p_offset = 0xffffff00u;
	expect_reject(d, size, "truncated: segment 1");
	RESET();
	phdr(d, 1)->p_filesz = 0x1001;
	expect_reject(d, size, "truncated: segment 1");
	RESET();
	phdr(d, 1)->p_filesz = 0x800;
	phdr(d, 1)->p_memsz = 0x400;
	expect_reject(d, size, "malformed ELF segment 1");
	RESET();
	phdr(d, 1)->p_paddr = 0xfffff000u;
	expect_reject(d, size, "malformed ELF segment 1");
	RESET();
	phdr(d, 1)->p_paddr = LOAD + 0x800; /* inside segment 0 */
	expect_reject(d, size, "overlap");
	RESET();
	ehdr(d)->e_phnum = 400; /* program headers read past the file */
	expect_reject(d, size, "program headers");
	RESET();
	set_header(d, 3 | (1u << 5), NULL); /* a required flag Hearth does not know */
	expect_reject(d, size, "features");
	RESET();
	/* Neither ELF nor a.out kludge. */
	d[0] = 'X';
	expect_reject(d, size, "neither ELF32");
	RESET();
	/* Truncated just past the header: the segments are cut. */
	expect_reject(d, HDR_OFF + 0x100, "truncated");
	expect_reject(d, 20, "no Multiboot header");
#undef RESET
	free(orig);
	free(d);
}

static void test_too_many_segments(void **state)
{
	size_t size = 0x4000;
	uint8_t *d = calloc(1, size);
	Elf32_Ehdr eh = {
		.e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS32, ELFDATA2LSB, EV_CURRENT },
		.e_type = ET_EXEC, .e_machine = EM_386, .e_entry = LOAD,
		.e_phoff = sizeof(Elf32_Ehdr), .e_phentsize = sizeof(Elf32_Phdr),
		.e_phnum = MB_MAX_SEGS + 1,
	};

	(void)state;
	memcpy(d, &eh, sizeof(eh));
	for (unsigned int i = 0; i <= MB_MAX_SEGS; i++)
		*phdr(d, i) = (Elf32_Phdr){ .p_type = PT_LOAD, .p_paddr = LOAD + i * 0x1000,
					    .p_vaddr = LOAD + i * 0x1000, .p_memsz = 0x1000 };
	set_header(d, 0, NULL);
	expect_reject(d, size, "more than 16");
	free(d);
}

static void test_aout(void **state)
{
	struct kernel_image img;
	struct mb_layout l;
	struct err err;
	size_t size;
	uint8_t *d = make_mb_elf(&size);
	/* header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr */
	uint32_t ok[5] = { LOAD + HDR_OFF, LOAD, LOAD + IMG_SIZE, LOAD + IMG_SIZE + BSS,
			   LOAD + HDR_OFF + 32 };
	uint32_t bad[5];

	(void)state;
	set_header(d, MB_HF_AOUT_KLUDGE | 3, ok);
	assert_int_equal(mb_parse(d, size, &img, &err), 0);
	assert_int_equal(img.entry, LOAD + HDR_OFF + 32);
	assert_int_equal(mb_layout_parse(d, size, &l, &err), 0);
	assert_int_equal(l.aout, 1);
	assert_int_equal(l.segs[0].offset, 0);
	assert_int_equal(l.segs[0].filesz, IMG_SIZE);
	assert_int_equal(l.segs[0].memsz, IMG_SIZE + BSS);
	/* load_end_addr 0: to the end of the file; bss_end_addr 0: no bss. */
	memcpy(bad, ok, sizeof(ok));
	bad[2] = 0;
	bad[3] = 0;
	set_header(d, MB_HF_AOUT_KLUDGE, bad);
	assert_int_equal(mb_layout_parse(d, size, &l, &err), 0);
	assert_int_equal(l.segs[0].memsz, IMG_SIZE);

#define TRY(i, v, needle)                                              \
	do {                                                           \
		memcpy(bad, ok, sizeof(ok));                           \
		bad[i] = (v);                                          \
		set_header(d, MB_HF_AOUT_KLUDGE, bad);                 \
		expect_reject(d, size, needle);                        \
	} while (0)
	TRY(1, LOAD + HDR_OFF + 4, "before the file");       /* load_addr above header_addr */
	TRY(1, LOAD - 0x10000, "before the file");           /* the image would start before byte 0 */
	TRY(2, LOAD, "not above load_addr");
	TRY(2, LOAD + IMG_SIZE + 1, "outside the file");
	TRY(2, 0xffffffffu, "outside the file");
	TRY(3, LOAD + 0x10, "bss_end_addr");
	TRY(4, LOAD - 1, "entry_addr");
	TRY(4, LOAD + IMG_SIZE + BSS, "entry_addr");
	TRY(4, 0, "entry_addr");
#undef TRY
	/* The address fields themselves cut off by the end of the file. */
	set_header(d, MB_HF_AOUT_KLUDGE, ok);
	expect_reject(d, HDR_OFF + 20, "truncated Multiboot header");
	free(d);
}

static void test_load(void **state)
{
	struct guest_mem gm;
	struct kernel_image img;
	struct boot_plan plan;
	struct err err;
	size_t size;
	uint8_t *d = make_mb_elf(&size), *ram;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	ram = guest_mem_ptr(&gm, 0, RAM);
	memset(ram, 0xaa, RAM);
	assert_int_equal(mb_parse(d, size, &img, &err), 0);
	img.data = d;
	img.size = size;
	img.path = "/k/mb.elf";
	memset(&plan, 0, sizeof(plan));
	assert_int_equal(mb_load(&img, &gm, &plan, &err), 0);
	assert_int_equal(plan.entry, ENTRY);
	assert_int_equal(plan.multiboot, 1);
	assert_int_equal(plan.params_gpa, MB_INFO_GPA);
	assert_int_equal(plan.kernel_start, LOAD);
	assert_int_equal(plan.kernel_end, LOAD + 0x2000 + BSS);
	assert_memory_equal(ram + LOAD, d + HDR_OFF, 0x1000);
	assert_int_equal(ram[LOAD + 0x1fff], 0x77);
	for (uint32_t i = 0; i < BSS; i++)
		if (ram[LOAD + 0x2000 + i])
			fail_msg("bss byte %u not zeroed", i);
	assert_int_equal(ram[LOAD + 0x2000 + BSS], 0xaa);

	/* On anything of Hearth's below 1 MiB: refused by name, RAM untouched. */
	static const struct { uint32_t paddr; const char *what; } kept[] = {
		{ 0x400, "IVT and BIOS data area [0x0, 0x500)" },
		{ 0x0, "IVT" },
		{ 0xf00, "boot GDT" },
		{ 0x5800, "boot GDT, page tables and initial stack [0x1000, 0x6000)" },
		{ 0x6000, "Multiboot information [0x6000, 0x8000)" },
		{ 0x7fff, "Multiboot information" },
		{ 0x9f000, "EBDA, VGA and BIOS area" },
		{ 0xe0000, "ACPI tables" },
	};
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		memset(ram, 0xaa, RAM);
		phdr(d, 0)->p_paddr = kept[i].paddr;
		assert_int_equal(mb_load(&img, &gm, &plan, &err), -EINVAL);
		if (!strstr(err.msg, kept[i].what))
			fail_msg("0x%x: '%s' does not name '%s'", kept[i].paddr, err.msg, kept[i].what);
		assert_int_equal(ram[LOAD + 0x1000], 0xaa);
		assert_int_equal(ram[kept[i].paddr], 0xaa);
	}
	/* Where it is free, a segment loads below 1 MiB: at 0x8000 (real-mode test kernels), up to the EBDA. */
	static const uint32_t free_low[] = { 0x8000, 0x9fc00 - 0x1000 };
	for (size_t i = 0; i < sizeof(free_low) / sizeof(free_low[0]); i++) {
		memset(ram, 0xaa, RAM);
		phdr(d, 0)->p_paddr = free_low[i];
		assert_int_equal(mb_load(&img, &gm, &plan, &err), 0);
		assert_memory_equal(ram + free_low[i], d + HDR_OFF, 0x1000);
		assert_int_equal(plan.kernel_start, free_low[i]);
	}
	phdr(d, 0)->p_paddr = 0x500; /* 0x1000 bytes: into the GDT page */
	assert_int_equal(mb_load(&img, &gm, &plan, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "GDT"));
	phdr(d, 0)->p_paddr = 0x9fc00 - 0xfff; /* one byte into the EBDA */
	assert_int_equal(mb_load(&img, &gm, &plan, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "EBDA"));
	/* Beyond --memory. */
	memset(ram, 0xaa, RAM);
	phdr(d, 0)->p_paddr = (uint32_t)RAM - 0x800;
	assert_int_equal(mb_load(&img, &gm, &plan, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "raise --memory"));
	assert_int_equal(ram[LOAD + 0x1000], 0xaa);
	/* In the 3-4 GiB hole. */
	phdr(d, 0)->p_paddr = 0xd0000000u;
	assert_int_equal(mb_load(&img, &gm, &plan, &err), -E2BIG);
	guest_mem_destroy(&gm);
	free(d);
}

static uint32_t rd32(const uint8_t *ram, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, ram + gpa, 4);
	return v;
}

static uint64_t rd64(const uint8_t *ram, uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, ram + gpa, 8);
	return v;
}

static void test_info_structure(void **state)
{
	struct guest_mem gm;
	struct kernel_image img;
	struct boot_plan plan;
	char initrd[] = "/tmp/hearth-mb-initrd-XXXXXX";
	struct err err;
	size_t size;
	uint8_t *d = make_mb_elf(&size), *ram;
	uint64_t ram_kib = 0;
	uint32_t flags, n, mod;
	int fd;

	(void)state;
	fd = mkstemp(initrd);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "MODULE!!", 8), 8);
	close(fd);
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	ram = guest_mem_ptr(&gm, 0, RAM);
	memset(ram, 0xaa, RAM);
	assert_int_equal(mb_parse(d, size, &img, &err), 0);
	img.data = d;
	img.size = size;
	img.path = "/k/mb.elf";
	assert_int_equal(loader_load(&img, &gm, initrd, "a b=c", 0xe0000, &plan, &err), 0);

	flags = rd32(ram, MB_INFO_GPA + MBI_FLAGS);
	assert_int_equal(flags, MB_IF_MEM | MB_IF_CMDLINE | MB_IF_MODS | MB_IF_MMAP |
				MB_IF_LOADER_NAME);
	assert_int_equal(rd32(ram, MB_INFO_GPA + MBI_MEM_LOWER), 639);
	assert_int_equal(rd32(ram, MB_INFO_GPA + MBI_MEM_UPPER), (RAM - MiB) >> 10);
	assert_int_equal(rd32(ram, MB_INFO_GPA + MBI_CMDLINE), MB_CMDLINE_GPA);
	assert_string_equal((char *)ram + MB_CMDLINE_GPA, "/k/mb.elf a b=c");
	assert_string_equal((char *)ram + rd32(ram, MB_INFO_GPA + MBI_LOADER_NAME), "hearth");
	/* Fields Hearth does not fill are zero, not left-over RAM. */
	assert_int_equal(rd32(ram, MB_INFO_GPA + 12), 0);  /* boot_device */
	assert_int_equal(rd32(ram, MB_INFO_GPA + 88), 0);  /* framebuffer */

	/* The memory map: 24-byte entries whose size field says 20. */
	n = rd32(ram, MB_INFO_GPA + MBI_MMAP_LENGTH) / 24;
	assert_int_equal(rd32(ram, MB_INFO_GPA + MBI_MMAP_LENGTH) % 24, 0);
	assert_true(n >= 3);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t e = rd32(ram, MB_INFO_GPA + MBI_MMAP_ADDR) + 24ull * i;

		assert_int_equal(rd32(ram, e), 20);
		if (rd32(ram, e + 20) == 1)
			ram_kib += rd64(ram, e + 12) >> 10;
	}
	assert_int_equal(rd64(ram, MB_MMAP_GPA + 4), 0); /* conventional memory first */
	assert_int_equal(ram_kib, 639 + ((RAM - MiB) >> 10));

	/* The module: the initrd, page aligned, above the kernel, named by its path. */
	assert_int_equal(rd32(ram, MB_INFO_GPA + MBI_MODS_COUNT), 1);
	mod = rd32(ram, MB_INFO_GPA + MBI_MODS_ADDR);
	assert_int_equal(mod, MB_MODS_GPA);
	assert_int_equal(rd32(ram, mod) & 0xfff, 0);
	assert_true(rd32(ram, mod) >= plan.kernel_end);
	assert_int_equal(rd32(ram, mod + 4) - rd32(ram, mod), 8);
	assert_memory_equal(ram + rd32(ram, mod), "MODULE!!", 8);
	assert_string_equal((char *)ram + rd32(ram, mod + 8), initrd);
	/* Everything stays in [0x6000, 0x8000); the Linux areas are untouched. */
	assert_int_equal(ram[LAYOUT_CMDLINE], 0xaa);
	assert_int_equal(ram[LAYOUT_BOOT_PARAMS], 0xaa);
	assert_int_equal(ram[0x5fff], 0xaa);
	assert_int_equal(ram[0x8000], 0xaa);

	/* No command line: the path alone; no initrd: no module. */
	assert_int_equal(loader_load(&img, &gm, NULL, "", 0xe0000, &plan, &err), 0);
	assert_string_equal((char *)ram + MB_CMDLINE_GPA, "/k/mb.elf");
	assert_int_equal(rd32(ram, MB_INFO_GPA + MBI_MODS_COUNT), 0);
	unlink(initrd);
	guest_mem_destroy(&gm);
	free(d);
}

static void test_cmdline_too_long(void **state)
{
	struct guest_mem gm;
	struct kernel_image img;
	struct boot_plan plan;
	struct err err;
	size_t size;
	uint8_t *d = make_mb_elf(&size);
	char *cmd = malloc(MB_CMDLINE_MAX);

	(void)state;
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	assert_int_equal(mb_parse(d, size, &img, &err), 0);
	img.data = d;
	img.size = size;
	img.path = "/k";
	/* "/k " + cmd + NUL: exactly the area, then one byte over. */
	memset(cmd, 'x', MB_CMDLINE_MAX - 4);
	cmd[MB_CMDLINE_MAX - 4] = '\0';
	assert_int_equal(loader_load(&img, &gm, NULL, cmd, 0xe0000, &plan, &err), 0);
	cmd[MB_CMDLINE_MAX - 4] = 'x';
	cmd[MB_CMDLINE_MAX - 3] = '\0';
	assert_int_equal(loader_load(&img, &gm, NULL, cmd, 0xe0000, &plan, &err), -E2BIG);
	assert_non_null(strstr(err.msg, "command line"));
	free(cmd);
	guest_mem_destroy(&gm);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_search),
		cmocka_unit_test(test_parse_elf),
		cmocka_unit_test(test_hostile_elf),
		cmocka_unit_test(test_too_many_segments),
		cmocka_unit_test(test_aout),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_info_structure),
		cmocka_unit_test(test_cmdline_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
