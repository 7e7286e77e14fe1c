/*
 * fw_cfg's "etc/e820" (src/firmware/e820_fwcfg.c) field by field: RAM
 * from 0 whole, RAM past the 32-bit hole, extra ranges sorted in, and
 * every table that could mislead the firmware refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/layout.h"
#include "firmware/e820_fwcfg.h"

#define GIB (1ull << 30)

static uint64_t le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void entry(const uint8_t *e, uint64_t addr, uint64_t len, uint32_t type)
{
	assert_int_equal(le(e, 8), addr);
	assert_int_equal(le(e + 8, 8), len);
	assert_int_equal(le(e + 16, 4), type);
}

static void test_low_ram_only(void **state)
{
	struct guest_mem gm;
	uint8_t out[E820_FWCFG_MAX * E820_FWCFG_ENTRY];
	struct err err = ERR_INIT;
	size_t len;

	(void)state;
	assert_int_equal(guest_mem_layout(&gm, 512ull << 20), 0);
	assert_int_equal(e820_fwcfg_build(&gm, NULL, 0, out, sizeof(out), &len, &err), 0);
	assert_int_equal(len, 20);
	entry(out, 0, 512ull << 20, E820_FWCFG_RAM);
}

static void test_hole_and_extras(void **state)
{
	struct guest_mem gm;
	uint8_t out[E820_FWCFG_MAX * E820_FWCFG_ENTRY];
	struct err err = ERR_INIT;
	/* KVM's identity map and TSS where QEMU puts them, and one past RAM. */
	const struct e820_fwcfg_range extra[] = {
		{ 0x1000000000ull, 0x1000, E820_FWCFG_NVS },
		{ 0xfeffc000ull, 0x4000, E820_FWCFG_RESERVED },
	};
	size_t len;

	(void)state;
	assert_int_equal(guest_mem_layout(&gm, 5 * GIB), 0);
	assert_int_equal(e820_fwcfg_build(&gm, extra, 2, out, sizeof(out), &len, &err), 0);
	assert_int_equal(len, 4 * 20);
	entry(out, 0, LAYOUT_MMIO_HOLE_START, E820_FWCFG_RAM);
	entry(out + 20, 0xfeffc000ull, 0x4000, E820_FWCFG_RESERVED);
	entry(out + 40, LAYOUT_MMIO_HOLE_END, 2 * GIB, E820_FWCFG_RAM);
	entry(out + 60, 0x1000000000ull, 0x1000, E820_FWCFG_NVS);
	/* Exactly enough room, and one byte less. */
	assert_int_equal(e820_fwcfg_build(&gm, extra, 2, out, 80, &len, &err), 0);
	assert_int_equal(e820_fwcfg_build(&gm, extra, 2, out, 79, &len, &err), -ENOSPC);
}

static void test_refusals(void **state)
{
	struct guest_mem gm, none;
	uint8_t out[E820_FWCFG_MAX * E820_FWCFG_ENTRY];
	struct err err = ERR_INIT;
	struct e820_fwcfg_range r[E820_FWCFG_EXTRA_MAX + 1];
	size_t len;

	(void)state;
	memset(&none, 0, sizeof(none));
	assert_int_equal(e820_fwcfg_build(&none, NULL, 0, out, sizeof(out), &len, &err), -EINVAL);
	assert_int_equal(e820_fwcfg_build(NULL, NULL, 0, out, sizeof(out), &len, &err), -EINVAL);
	assert_int_equal(guest_mem_layout(&gm, 5 * GIB), 0);
	/* Overlapping RAM, overlapping each other, empty, wrapping, RAM-typed, unknown types. */
	r[0] = (struct e820_fwcfg_range){ 0xbffff000ull, 0x2000, E820_FWCFG_RESERVED };
	assert_int_equal(e820_fwcfg_build(&gm, r, 1, out, sizeof(out), &len, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "overlaps"));
	r[0] = (struct e820_fwcfg_range){ 0xfffff000ull, 0x2000, E820_FWCFG_RESERVED };
	assert_int_equal(e820_fwcfg_build(&gm, r, 1, out, sizeof(out), &len, &err), -EINVAL);
	r[0] = (struct e820_fwcfg_range){ 0xfec00000ull, 0x1000, E820_FWCFG_RESERVED };
	r[1] = (struct e820_fwcfg_range){ 0xfebff800ull, 0x1000, E820_FWCFG_RESERVED };
	assert_int_equal(e820_fwcfg_build(&gm, r, 2, out, sizeof(out), &len, &err), -EINVAL);
	r[0] = (struct e820_fwcfg_range){ 0xfec00000ull, 0, E820_FWCFG_RESERVED };
	assert_int_equal(e820_fwcfg_build(&gm, r, 1, out, sizeof(out), &len, &err), -EINVAL);
	r[0] = (struct e820_fwcfg_range){ 0xfffffffffffff000ull, 0x2000, E820_FWCFG_RESERVED };
	assert_int_equal(e820_fwcfg_build(&gm, r, 1, out, sizeof(out), &len, &err), -EINVAL);
	r[0] = (struct e820_fwcfg_range){ 0xfec00000ull, 0x1000, E820_FWCFG_RAM };
	assert_int_equal(e820_fwcfg_build(&gm, r, 1, out, sizeof(out), &len, &err), -EINVAL);
	r[0].type = 6;
	assert_int_equal(e820_fwcfg_build(&gm, r, 1, out, sizeof(out), &len, &err), -EINVAL);
	for (unsigned int i = 0; i <= E820_FWCFG_EXTRA_MAX; i++)
		r[i] = (struct e820_fwcfg_range){ 0xfe000000ull + i * 0x1000, 0x1000,
						  E820_FWCFG_RESERVED };
	assert_int_equal(e820_fwcfg_build(&gm, r, E820_FWCFG_EXTRA_MAX, out, sizeof(out), &len,
					  &err), 0);
	assert_int_equal(len, (2 + E820_FWCFG_EXTRA_MAX) * 20);
	assert_int_equal(e820_fwcfg_build(&gm, r, E820_FWCFG_EXTRA_MAX + 1, out, sizeof(out), &len,
					  &err), -ENOSPC);
	assert_int_equal(e820_fwcfg_build(&gm, NULL, 1, out, sizeof(out), &len, &err), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_low_ram_only),
		cmocka_unit_test(test_hole_and_extras),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
