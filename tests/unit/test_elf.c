/*
 * elf_parse against a synthetic executable: what it accepts (plain ELF64,
 * PVH by Xen's note) and every malformed header or segment it rejects.
 */
#include <errno.h>
#include <stdio.h>

#include "elf_fixture.h"

static int parse(struct elf *e, size_t size, struct kernel_image *img, struct err *err)
{
	uint8_t *copy = malloc(size ? size : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, e->data, size);
	err->msg[0] = '\0';
	r = elf_parse(copy, size, img, err);
	free(copy);
	return r;
}

static void expect_reject(struct elf *e, const char *needle)
{
	struct kernel_image img;
	struct err err;

	assert_int_equal(parse(e, e->size, &img, &err), -EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

static void test_parse_exec(void **state)
{
	struct elf e = make_elf(0);
	struct kernel_image img;
	struct err err;

	(void)state;
	assert_int_equal(parse(&e, e.size, &img, &err), 0);
	assert_int_equal(img.kind, KERNEL_ELF64);
	assert_int_equal(img.entry, ENTRY64);
	free(e.data);
}

static void test_parse_pvh(void **state)
{
	struct elf e = make_elf(1);
	struct kernel_image img;
	struct err err;
	uint8_t *xen;

	(void)state;
	assert_int_equal(parse(&e, e.size, &img, &err), 0);
	assert_int_equal(img.kind, KERNEL_ELF_PVH);
	assert_int_equal(img.entry, PVH_ENTRY);

	/* The Xen note follows the 36-byte GNU note. */
	xen = e.data + NOTE_OFF + 12 + 4 + 20;
	/* Wrong type: not PVH. */
	((Elf64_Nhdr *)xen)->n_type = 17;
	assert_int_equal(parse(&e, e.size, &img, &err), 0);
	assert_int_equal(img.kind, KERNEL_ELF64);
	assert_int_equal(img.entry, ENTRY64);
	((Elf64_Nhdr *)xen)->n_type = 18;
	/* Wrong name: not PVH. */
	xen[12 + 2] = 'x';
	assert_int_equal(parse(&e, e.size, &img, &err), 0);
	assert_int_equal(img.kind, KERNEL_ELF64);
	xen[12 + 2] = 'n';
	/* PT_NOTE too short to hold the Xen note's descriptor: ignored. */
	phdr(&e, PH_NOTE)->p_filesz -= 4;
	assert_int_equal(parse(&e, e.size, &img, &err), 0);
	assert_int_equal(img.kind, KERNEL_ELF64);
	/* A note whose sizes run off the end stops the scan safely. */
	phdr(&e, PH_NOTE)->p_filesz += 4;
	((Elf64_Nhdr *)(e.data + NOTE_OFF))->n_namesz = 0xfffffff0u;
	assert_int_equal(parse(&e, e.size, &img, &err), 0);
	assert_int_equal(img.kind, KERNEL_ELF64);
	((Elf64_Nhdr *)(e.data + NOTE_OFF))->n_namesz = 4;
	((Elf64_Nhdr *)(e.data + NOTE_OFF))->n_descsz = 0xffffffffu;
	assert_int_equal(parse(&e, e.size, &img, &err), 0);
	assert_int_equal(img.kind, KERNEL_ELF64);
	free(e.data);
}

static void test_truncated_header(void **state)
{
	struct elf e = make_elf(0);
	struct kernel_image img;
	struct err err;

	(void)state;
	assert_int_equal(parse(&e, sizeof(Elf64_Ehdr) - 1, &img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "truncated ELF header"));
	assert_int_equal(parse(&e, 4, &img, &err), -EINVAL);
	/* Header complete, program headers cut off. */
	assert_int_equal(parse(&e, sizeof(Elf64_Ehdr) + 10, &img, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "program headers"));
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

/*
 * Found by fuzz/fuzz_loader: PT_LOADs of zero bytes counted as loadable,
 * so a file with nothing to load was accepted and "booted" with a kernel
 * range of [UINT64_MAX, 0).
 */
static void test_only_empty_loads(void **state)
{
	struct elf e = make_elf(0);

	(void)state;
	phdr(&e, PH_LOAD1)->p_filesz = 0;
	phdr(&e, PH_LOAD1)->p_memsz = 0;
	phdr(&e, PH_LOAD2)->p_filesz = 0;
	phdr(&e, PH_LOAD2)->p_memsz = 0;
	expect_reject(&e, "no loadable");
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
		cmocka_unit_test(test_only_empty_loads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
