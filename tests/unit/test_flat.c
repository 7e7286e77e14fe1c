/*
 * --flat images (src/boot/flat.c): the modes, real mode's CS:IP rule,
 * where the boot tables go, and every refusal before RAM is touched.
 */
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

#include "boot/flat.h"
#include "core/layout.h"
#include "mem/guest_mem.h"

#define MiB (1ull << 20)

static char path[] = "/tmp/hearth-flat-XXXXXX";

static void write_image(size_t size)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	for (size_t i = 0; i < size; i++)
		fputc((int)(0x40 + i % 26), f);
	fclose(f);
}

static void test_modes(void **state)
{
	enum flat_mode m;

	(void)state;
	assert_int_equal(flat_mode_parse("real", &m), 0);
	assert_int_equal(m, FLAT_REAL);
	assert_int_equal(flat_mode_parse("prot32", &m), 0);
	assert_int_equal(m, FLAT_PROT32);
	assert_int_equal(flat_mode_parse("long", &m), 0);
	assert_int_equal(m, FLAT_LONG);
	assert_int_equal(flat_mode_parse("Long", &m), -EINVAL);
	assert_int_equal(flat_mode_parse("", &m), -EINVAL);
	assert_int_equal(flat_mode_parse("vm86", &m), -EINVAL);
	assert_string_equal(flat_mode_name(FLAT_PROT32), "prot32");
}

/* CS = (E >> 4) & 0xf000, IP = E & 0xffff: the 64 KiB-aligned segment holding E. */
static void test_real_cs_ip(void **state)
{
	static const struct { uint64_t e; uint16_t cs, ip; } ok[] = {
		{ 0x0, 0x0, 0x0 },            /* the introductory example: CS base 0, IP 0 */
		{ 0x7c00, 0x0, 0x7c00 },      /* a boot sector */
		{ 0x8000, 0x0, 0x8000 },
		{ 0x12345, 0x1000, 0x2345 },
		{ 0xffff0, 0xf000, 0xfff0 },  /* the reset vector's offset, below 1 MiB */
		{ 0xfffff, 0xf000, 0xffff },
	};
	uint16_t cs, ip;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(flat_real_cs_ip(ok[i].e, &cs, &ip), 0);
		assert_int_equal(cs, ok[i].cs);
		assert_int_equal(ip, ok[i].ip);
		assert_int_equal(((uint64_t)cs << 4) + ip, ok[i].e);
	}
	assert_int_equal(flat_real_cs_ip(0x100000, &cs, &ip), -ERANGE);
	assert_int_equal(flat_real_cs_ip(UINT64_MAX, &cs, &ip), -ERANGE);
}

static void test_tables_place(void **state)
{
	struct guest_mem gm;
	uint64_t base, size;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, 16 * MiB), 0);
	/* Real mode: nothing is written. */
	assert_int_equal(flat_tables_place(&gm, FLAT_REAL, 0, 0x1000000, &base, &size), 0);
	assert_int_equal(size, 0);
	/* Out of the way of the image: the usual place. */
	assert_int_equal(flat_tables_place(&gm, FLAT_LONG, 0x100000, 0x100100, &base, &size), 0);
	assert_int_equal(base, LAYOUT_GDT);
	assert_int_equal(size, LAYOUT_TABLES_SIZE);
	assert_int_equal(flat_tables_place(&gm, FLAT_LONG, 0, 0x1000, &base, &size), 0);
	assert_int_equal(base, LAYOUT_GDT);
	assert_int_equal(flat_tables_place(&gm, FLAT_PROT32, 0x2000, 0x3000, &base, &size), 0);
	assert_int_equal(base, LAYOUT_GDT);
	assert_int_equal(size, LAYOUT_TABLES_GDT_SIZE);
	/* Over the image: the first page above it. */
	assert_int_equal(flat_tables_place(&gm, FLAT_LONG, 0, 0x1a, &base, &size), 0);
	assert_int_equal(base, LAYOUT_GDT);
	assert_int_equal(flat_tables_place(&gm, FLAT_LONG, 0x1000, 0x1010, &base, &size), 0);
	assert_int_equal(base, 0x2000);
	assert_int_equal(flat_tables_place(&gm, FLAT_LONG, 0x7fff, 0x9001, &base, &size), 0);
	assert_int_equal(base, 0xa000);
	assert_int_equal(flat_tables_place(&gm, FLAT_PROT32, 0x800, 0x1800, &base, &size), 0);
	assert_int_equal(base, 0x2000);
	/* No room above an image that fills RAM to its end. */
	assert_int_equal(flat_tables_place(&gm, FLAT_LONG, 0, 16 * MiB - 0x1000, &base, &size),
			 -ENOSPC);
	assert_int_equal(flat_tables_place(&gm, FLAT_PROT32, 0, 16 * MiB - 0x1000, &base, &size),
			 0);
	assert_int_equal(base, 16 * MiB - 0x1000);
	guest_mem_destroy(&gm);
}

static int load(struct guest_mem *gm, struct flat_spec spec, struct cpu_entry *e,
		struct err *err)
{
	spec.path = path;
	memset(err, 0, sizeof(*err));
	return flat_load(&spec, gm, e, err);
}

static void expect_refused(struct guest_mem *gm, struct flat_spec spec, int want,
			   const char *needle)
{
	uint8_t *ram = guest_mem_ptr(gm, 0, 16 * MiB);
	struct cpu_entry e;
	struct err err;

	memset(ram, 0xaa, 16 * MiB);
	assert_int_equal(load(gm, spec, &e, &err), want);
	assert_true(err.usage);
	assert_null(strchr(err.msg, '\n'));
	if (!strstr(err.msg, needle))
		fail_msg("'%s' does not mention '%s'", err.msg, needle);
	for (uint64_t i = 0; i < 16 * MiB; i += 4096)
		assert_int_equal(ram[i], 0xaa);
}

static void test_load(void **state)
{
	struct guest_mem gm;
	struct cpu_entry e;
	struct err err;
	uint8_t *ram;

	(void)state;
	assert_true(mkstemp(path) >= 0);
	assert_int_equal(guest_mem_init(&gm, 16 * MiB), 0);
	ram = guest_mem_ptr(&gm, 0, 16 * MiB);
	write_image(26);

	/* Real mode at 0: the introductory example's CS base 0, IP 0, nothing else written. */
	memset(ram, 0, 16 * MiB);
	assert_int_equal(load(&gm, (struct flat_spec){ .mode = FLAT_REAL }, &e, &err), 0);
	assert_int_equal(e.mode, CPU_ENTRY_REAL16);
	assert_int_equal(e.real_seg, 0);
	assert_int_equal(e.rip, 0);
	assert_int_equal(e.rsp, 0);
	assert_memory_equal(ram, "@ABCDEFGHIJKLMNOPQRSTUVWXY", 26);
	assert_int_equal(ram[26], 0);
	/* Real mode elsewhere: CS:IP from the entry. */
	assert_int_equal(load(&gm, (struct flat_spec){ .addr = 0x12340, .entry = 0x12345,
						       .entry_set = true }, &e, &err), 0);
	assert_int_equal(e.real_seg, 0x1000);
	assert_int_equal(e.rip, 0x2345);
	assert_int_equal(ram[0x12345], 'E');
	/* prot32 and long: the entry as given, the tables where they fit. */
	assert_int_equal(load(&gm, (struct flat_spec){ .addr = 0x100000, .mode = FLAT_PROT32 },
			      &e, &err), 0);
	assert_int_equal(e.mode, CPU_ENTRY_FLAT32);
	assert_int_equal(e.rip, 0x100000);
	assert_int_equal(e.tables, LAYOUT_GDT);
	assert_int_equal(load(&gm, (struct flat_spec){ .addr = 0x1000, .entry = 0x1010,
						       .entry_set = true, .mode = FLAT_LONG },
			      &e, &err), 0);
	assert_int_equal(e.mode, CPU_ENTRY_LONG64);
	assert_int_equal(e.rip, 0x1010);
	assert_int_equal(e.tables, 0x2000);

	/* Refused, one line each, RAM untouched. */
	expect_refused(&gm, (struct flat_spec){ .entry = 26, .entry_set = true }, -EINVAL,
		       "entry=0x1a is outside the image [0x0, 0x1a)");
	expect_refused(&gm, (struct flat_spec){ .addr = 0x100, .entry = 0xff, .entry_set = true },
		       -EINVAL, "outside the image");
	expect_refused(&gm, (struct flat_spec){ .addr = 16 * MiB }, -EINVAL,
		       "addr=0x1000000 is outside guest RAM [0, 0x1000000)");
	expect_refused(&gm, (struct flat_spec){ .addr = UINT64_MAX - 4 }, -EINVAL,
		       "outside guest RAM");
	expect_refused(&gm, (struct flat_spec){ .addr = 16 * MiB - 10 }, -E2BIG,
		       "runs past the end of guest RAM");
	expect_refused(&gm, (struct flat_spec){ .addr = 0x100000 }, -EINVAL,
		       "mode=real reaches only the first 1 MiB");
	/* Over the usual place and up to the end of RAM: no room for the page tables. */
	write_image(16 * MiB - 0x2000);
	expect_refused(&gm, (struct flat_spec){ .mode = FLAT_LONG }, -ENOSPC,
		       "mode=long: no room for the boot tables");
	write_image(16 * MiB + 1);
	expect_refused(&gm, (struct flat_spec){ 0 }, -E2BIG,
		       "16777217 bytes do not fit in guest RAM (16 MiB); raise --memory");
	write_image(0);
	expect_refused(&gm, (struct flat_spec){ 0 }, -EINVAL, "empty file");
	unlink(path);
	expect_refused(&gm, (struct flat_spec){ 0 }, -ENOENT, "cannot open");
	guest_mem_destroy(&gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_real_cs_ip),
		cmocka_unit_test(test_tables_place),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
