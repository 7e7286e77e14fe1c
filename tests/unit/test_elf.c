#include <asm/bootparam.h>
#include <elf.h>
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

#include "boot/e820.h"
#include "core/layout.h"
#include "boot/loader.h"
#include "mem/guest_mem.h"

#define MiB (1ull << 20)
#define FILE_SIZE 0x4000
#define NOTE_OFF 0x200
#define SEG1_OFF 0x1000
#define SEG1_PADDR 0x200000ull
#define SEG1_FILESZ 0x2000
#define SEG1_MEMSZ 0x3000
#define SEG2_OFF 0x3000
#define SEG2_PADDR 0x400000ull
#define SEG2_SIZE 0x1000
#define ENTRY64 0x200100ull
#define PVH_ENTRY 0x200040u
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

/* Program header indices in the synthetic file. */
enum { PH_NOTE, PH_LOAD1, PH_LOAD2, PH_STACK, NPH };

struct elf {
	uint8_t *data;
	size_t size;
};

static Elf64_Ehdr *ehdr(struct elf *e)
{
	return (Elf64_Ehdr *)e->data;
}

static Elf64_Phdr *phdr(struct elf *e, int i)
{
	return (Elf64_Phdr *)(e->data + sizeof(Elf64_Ehdr)) + i;
}

static size_t put_note(uint8_t *p, const char *name, uint32_t namesz, uint32_t type,
		       const void *desc, uint32_t descsz)
{
	Elf64_Nhdr nh = { .n_namesz = namesz, .n_descsz = descsz, .n_type = type };
	size_t off = 0;

	memcpy(p, &nh, sizeof(nh));
	off += sizeof(nh);
	memcpy(p + off, name, namesz);
	off += (namesz + 3u) & ~3u;
	memcpy(p + off, desc, descsz);
	off += (descsz + 3u) & ~3u;
	return off;
}

/*
 * ELF64 x86-64 executable: a PT_NOTE (a GNU note, then optionally Xen's
 * PHYS32_ENTRY), a PT_LOAD with bss, a second PT_LOAD, and a
 * PT_GNU_STACK that must be ignored.
 */
static struct elf make_elf(int pvh)
{
	struct elf e;
	Elf64_Ehdr *h;
	Elf64_Phdr *ph;
	uint8_t gnu_desc[20];
	uint32_t entry = PVH_ENTRY;
	size_t nlen;

	e.size = FILE_SIZE;
	e.data = calloc(1, e.size);
	assert_non_null(e.data);
	h = ehdr(&e);
	memcpy(h->e_ident, ELFMAG, SELFMAG);
	h->e_ident[EI_CLASS] = ELFCLASS64;
	h->e_ident[EI_DATA] = ELFDATA2LSB;
	h->e_ident[EI_VERSION] = EV_CURRENT;
	h->e_type = ET_EXEC;
	h->e_machine = EM_X86_64;
	h->e_version = EV_CURRENT;
	h->e_entry = ENTRY64;
	h->e_phoff = sizeof(Elf64_Ehdr);
	h->e_ehsize = sizeof(Elf64_Ehdr);
	h->e_phentsize = sizeof(Elf64_Phdr);
	h->e_phnum = NPH;

	memset(gnu_desc, 0x47, sizeof(gnu_desc));
	nlen = put_note(e.data + NOTE_OFF, "GNU", 4, NT_GNU_BUILD_ID, gnu_desc, sizeof(gnu_desc));
	if (pvh)
		nlen += put_note(e.data + NOTE_OFF + nlen, "Xen", 4, 18, &entry, 4);

	ph = phdr(&e, PH_NOTE);
	ph->p_type = PT_NOTE;
	ph->p_offset = NOTE_OFF;
	ph->p_filesz = nlen;
	ph->p_memsz = nlen;

	ph = phdr(&e, PH_LOAD1);
	ph->p_type = PT_LOAD;
	ph->p_offset = SEG1_OFF;
	ph->p_vaddr = 0xffffffff80000000ull + SEG1_PADDR;
	ph->p_paddr = SEG1_PADDR;
	ph->p_filesz = SEG1_FILESZ;
	ph->p_memsz = SEG1_MEMSZ;

	ph = phdr(&e, PH_LOAD2);
	ph->p_type = PT_LOAD;
	ph->p_offset = SEG2_OFF;
	ph->p_vaddr = 0xffffffff80000000ull + SEG2_PADDR;
	ph->p_paddr = SEG2_PADDR;
	ph->p_filesz = SEG2_SIZE;
	ph->p_memsz = SEG2_SIZE;

	ph = phdr(&e, PH_STACK);
	ph->p_type = PT_GNU_STACK;
	ph->p_offset = 0xffffffffffff0000ull; /* garbage that must not matter */
	ph->p_filesz = 0x100000;

	for (size_t i = SEG1_OFF; i < FILE_SIZE; i++)
		e.data[i] = (uint8_t)(i * 17 + 1);
	return e;
}

static int parse(struct elf *e, size_t size, struct kernel_image *img, char *err)
{
	uint8_t *copy = malloc(size ? size : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, e->data, size);
	err[0] = '\0';
	r = elf_parse(copy, size, img, err);
	free(copy);
	return r;
}

static void expect_reject(struct elf *e, const char *needle)
{
	struct kernel_image img;
	char err[LOADER_ERR_MAX];

	assert_int_equal(parse(e, e->size, &img, err), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_parse_exec(void **state)
{
	struct elf e = make_elf(0);
	struct kernel_image img;
	char err[LOADER_ERR_MAX];

	(void)state;
	assert_int_equal(parse(&e, e.size, &img, err), 0);
	assert_int_equal(img.kind, KERNEL_ELF64);
	assert_int_equal(img.entry, ENTRY64);
	free(e.data);
}

static void test_parse_pvh(void **state)
{
	struct elf e = make_elf(1);
	struct kernel_image img;
	char err[LOADER_ERR_MAX];
	uint8_t *xen;

	(void)state;
	assert_int_equal(parse(&e, e.size, &img, err), 0);
	assert_int_equal(img.kind, KERNEL_ELF_PVH);
	assert_int_equal(img.entry, PVH_ENTRY);

	/* The Xen note follows the 36-byte GNU note. */
	xen = e.data + NOTE_OFF + 12 + 4 + 20;
	/* Wrong type: not PVH. */
	((Elf64_Nhdr *)xen)->n_type = 17;
	assert_int_equal(parse(&e, e.size, &img, err), 0);
	assert_int_equal(img.kind, KERNEL_ELF64);
	assert_int_equal(img.entry, ENTRY64);
	((Elf64_Nhdr *)xen)->n_type = 18;
	/* Wrong name: not PVH. */
	xen[12 + 2] = 'x';
	assert_int_equal(parse(&e, e.size, &img, err), 0);
	assert_int_equal(img.kind, KERNEL_ELF64);
	xen[12 + 2] = 'n';
	/* PT_NOTE too short to hold the Xen note's descriptor: ignored. */
	phdr(&e, PH_NOTE)->p_filesz -= 4;
	assert_int_equal(parse(&e, e.size, &img, err), 0);
	assert_int_equal(img.kind, KERNEL_ELF64);
	/* A note whose sizes run off the end stops the scan safely. */
	phdr(&e, PH_NOTE)->p_filesz += 4;
	((Elf64_Nhdr *)(e.data + NOTE_OFF))->n_namesz = 0xfffffff0u;
	assert_int_equal(parse(&e, e.size, &img, err), 0);
	assert_int_equal(img.kind, KERNEL_ELF64);
	((Elf64_Nhdr *)(e.data + NOTE_OFF))->n_namesz = 4;
	((Elf64_Nhdr *)(e.data + NOTE_OFF))->n_descsz = 0xffffffffu;
	assert_int_equal(parse(&e, e.size, &img, err), 0);
	assert_int_equal(img.kind, KERNEL_ELF64);
	free(e.data);
}

static void test_truncated_header(void **state)
{
	struct elf e = make_elf(0);
	struct kernel_image img;
	char err[LOADER_ERR_MAX];

	(void)state;
	assert_int_equal(parse(&e, sizeof(Elf64_Ehdr) - 1, &img, err), -EINVAL);
	assert_non_null(strstr(err, "truncated ELF header"));
	assert_int_equal(parse(&e, 4, &img, err), -EINVAL);
	/* Header complete, program headers cut off. */
	assert_int_equal(parse(&e, sizeof(Elf64_Ehdr) + 10, &img, err), -EINVAL);
	assert_non_null(strstr(err, "program headers"));
	free(e.data);
}

static void test_wrong_class_machine(void **state)
{
	struct elf e = make_elf(0);

	(void)state;
	ehdr(&e)->e_ident[EI_CLASS] = ELFCLASS32;
	expect_reject(&e, "64-bit");
	ehdr(&e)->e_ident[EI_CLASS] = ELFCLASS64;
	ehdr(&e)->e_ident[EI_DATA] = ELFDATA2MSB;
	expect_reject(&e, "64-bit");
	ehdr(&e)->e_ident[EI_DATA] = ELFDATA2LSB;
	ehdr(&e)->e_machine = EM_386;
	expect_reject(&e, "x86-64");
	ehdr(&e)->e_machine = EM_AARCH64;
	expect_reject(&e, "x86-64");
	free(e.data);
}

static void test_not_exec(void **state)
{
	struct elf e = make_elf(1);

	(void)state;
	ehdr(&e)->e_type = ET_DYN;
	expect_reject(&e, "e_type 3");
	ehdr(&e)->e_type = ET_REL;
	expect_reject(&e, "not an executable");
	free(e.data);
}

static void test_phdrs_beyond_file(void **state)
{
	struct elf e = make_elf(0);

	(void)state;
	ehdr(&e)->e_phoff = FILE_SIZE - sizeof(Elf64_Phdr) + 1;
	ehdr(&e)->e_phnum = 1;
	expect_reject(&e, "program headers");
	ehdr(&e)->e_phoff = UINT64_MAX - 8;
	expect_reject(&e, "program headers");
	ehdr(&e)->e_phoff = sizeof(Elf64_Ehdr);
	ehdr(&e)->e_phnum = 0xffff;
	expect_reject(&e, "program headers");
	ehdr(&e)->e_phnum = 0;
	expect_reject(&e, "program headers");
	ehdr(&e)->e_phnum = NPH;
	ehdr(&e)->e_phentsize = sizeof(Elf32_Phdr);
	expect_reject(&e, "program headers");
	free(e.data);
}

static void test_bad_segments(void **state)
{
	struct elf e = make_elf(0);

	(void)state;
	phdr(&e, PH_LOAD1)->p_filesz = SEG1_MEMSZ + 1;
	expect_reject(&e, "segment 1");
	phdr(&e, PH_LOAD1)->p_filesz = SEG1_FILESZ;

	/* Beyond the file, by one byte or by wrapping. */
	phdr(&e, PH_LOAD2)->p_filesz = SEG2_SIZE + 1;
	phdr(&e, PH_LOAD2)->p_memsz = SEG2_SIZE + 1;
	expect_reject(&e, "truncated");
	phdr(&e, PH_LOAD2)->p_filesz = SEG2_SIZE;
	phdr(&e, PH_LOAD2)->p_offset = UINT64_MAX - 0x10;
	expect_reject(&e, "truncated");
	phdr(&e, PH_LOAD2)->p_offset = SEG2_OFF;

	/* A note segment outside the file is rejected too, not read. */
	phdr(&e, PH_NOTE)->p_offset = FILE_SIZE;
	phdr(&e, PH_NOTE)->p_filesz = 0x100;
	expect_reject(&e, "truncated");
	phdr(&e, PH_NOTE)->p_offset = NOTE_OFF;
	phdr(&e, PH_NOTE)->p_filesz = 36;

	/* paddr + memsz wraps. */
	phdr(&e, PH_LOAD2)->p_paddr = UINT64_MAX - 0x100;
	expect_reject(&e, "malformed");
	free(e.data);
}

static void test_no_load(void **state)
{
	struct elf e = make_elf(1);

	(void)state;
	phdr(&e, PH_LOAD1)->p_type = PT_NULL;
	phdr(&e, PH_LOAD2)->p_type = PT_DYNAMIC;
	expect_reject(&e, "no loadable");
	free(e.data);
}

static int parse_keep(struct elf *e, struct kernel_image *img)
{
	char err[LOADER_ERR_MAX];
	int r = elf_parse(e->data, e->size, img, err);

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
	char err[LOADER_ERR_MAX] = "";
	uint8_t *p;

	(void)state;
	assert_int_equal(parse_keep(&e, &img), 0);
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	/* Dirty the bss and the zero page first. */
	memset(guest_mem_ptr(&gm, SEG1_PADDR, SEG1_MEMSZ), 0xaa, SEG1_MEMSZ);
	memset(guest_mem_ptr(&gm, LAYOUT_BOOT_PARAMS, 4096), 0xbb, 4096);
	memset(&plan, 0, sizeof(plan));
	if (elf_load(&img, &gm, &plan, err))
		fail_msg("elf_load: %s", err);

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

static void test_load_rejects(void **state)
{
	struct elf e = make_elf(0);
	struct kernel_image img;
	struct guest_mem gm;
	struct boot_plan plan;
	char err[LOADER_ERR_MAX];

	(void)state;
	assert_int_equal(guest_mem_init(&gm, RAM), 0);

	/* Below 1 MiB: our page tables and zero page live there. */
	phdr(&e, PH_LOAD1)->p_paddr = 0xff000;
	assert_int_equal(parse_keep(&e, &img), 0);
	err[0] = '\0';
	assert_int_equal(elf_load(&img, &gm, &plan, err), -EINVAL);
	assert_non_null(strstr(err, "1 MiB"));
	assert_non_null(strstr(err, "0xff000"));
	phdr(&e, PH_LOAD1)->p_paddr = SEG1_PADDR;

	/* Past the end of RAM, by the bss alone. */
	phdr(&e, PH_LOAD2)->p_paddr = RAM - SEG2_SIZE;
	assert_int_equal(parse_keep(&e, &img), 0);
	assert_int_equal(elf_load(&img, &gm, &plan, err), 0);
	phdr(&e, PH_LOAD2)->p_memsz = SEG2_SIZE + 1;
	assert_int_equal(parse_keep(&e, &img), 0);
	err[0] = '\0';
	assert_int_equal(elf_load(&img, &gm, &plan, err), -E2BIG);
	assert_non_null(strstr(err, "outside guest RAM"));
	phdr(&e, PH_LOAD2)->p_paddr = 4ull << 30;
	phdr(&e, PH_LOAD2)->p_memsz = SEG2_SIZE;
	assert_int_equal(parse_keep(&e, &img), 0);
	assert_int_equal(elf_load(&img, &gm, &plan, err), -E2BIG);
	phdr(&e, PH_LOAD2)->p_paddr = SEG2_PADDR;

	/* Entry outside RAM. */
	ehdr(&e)->e_entry = 0xffffffff81000000ull;
	assert_int_equal(parse_keep(&e, &img), 0);
	err[0] = '\0';
	assert_int_equal(elf_load(&img, &gm, &plan, err), -EINVAL);
	assert_non_null(strstr(err, "entry"));

	/* Empty PT_LOADs are skipped wherever they claim to be. */
	ehdr(&e)->e_entry = ENTRY64;
	phdr(&e, PH_STACK)->p_type = PT_LOAD;
	phdr(&e, PH_STACK)->p_offset = 0;
	phdr(&e, PH_STACK)->p_filesz = 0;
	phdr(&e, PH_STACK)->p_memsz = 0;
	phdr(&e, PH_STACK)->p_paddr = 0;
	assert_int_equal(parse_keep(&e, &img), 0);
	assert_int_equal(elf_load(&img, &gm, &plan, err), 0);
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
	char err[LOADER_ERR_MAX] = "";
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
	if (loader_open(kpath, &img, err))
		fail_msg("loader_open: %s", err);
	assert_int_equal(img.kind, KERNEL_ELF_PVH);
	if (loader_load(&img, &gm, ipath, cmdline, rsdp, &plan, err))
		fail_msg("loader_load: %s", err);

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
	if (loader_load(&img, &gm, NULL, "", rsdp, &plan, err))
		fail_msg("loader_load: %s", err);
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
	char err[LOADER_ERR_MAX] = "";
	char kpath[64];
	struct boot_params *bp;

	(void)state;
	write_tmp(kpath, e.data, e.size);
	assert_int_equal(guest_mem_init(&gm, RAM), 0);
	if (loader_open(kpath, &img, err))
		fail_msg("loader_open: %s", err);
	assert_int_equal(img.kind, KERNEL_ELF64);
	if (loader_load(&img, &gm, NULL, "root=/dev/vda", 0xe0000, &plan, err))
		fail_msg("loader_load: %s", err);
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
	loader_close(&img);
	guest_mem_destroy(&gm);
	unlink(kpath);
	free(e.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_exec),
		cmocka_unit_test(test_parse_pvh),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_wrong_class_machine),
		cmocka_unit_test(test_not_exec),
		cmocka_unit_test(test_phdrs_beyond_file),
		cmocka_unit_test(test_bad_segments),
		cmocka_unit_test(test_no_load),
		cmocka_unit_test(test_load_segments),
		cmocka_unit_test(test_load_rejects),
		cmocka_unit_test(test_pvh_start_info),
		cmocka_unit_test(test_elf64_zero_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
