#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/e820.h"
#include "core/layout.h"
#include "mem/guest_mem.h"
#include "mem/guest_mem_hotplug.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define RAM_T 1
#define RES_T 2

/* Bytes below 1 MiB that are not reported as RAM: EBDA to 1 MiB. */
#define LOW_RESERVED (LAYOUT_KERNEL_LOAD - LAYOUT_EBDA)

static int build(const struct guest_mem *gm, struct boot_e820_entry *tbl, unsigned int max)
{
	memset(tbl, 0xcc, sizeof(*tbl) * max);
	return e820_build(gm, tbl, max);
}

/* Sorted, non-overlapping, non-empty, known types; returns RAM bytes. */
static uint64_t check_sane(const struct boot_e820_entry *t, int n)
{
	uint64_t ram = 0;

	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		assert_true(t[i].size > 0);
		assert_true(t[i].addr + t[i].size > t[i].addr);
		assert_true(t[i].type == RAM_T || t[i].type == RES_T);
		if (i > 0)
			assert_true(t[i - 1].addr + t[i - 1].size <= t[i].addr);
		/* Nothing at all in the 32-bit hole. */
		assert_false(t[i].addr < LAYOUT_MMIO_HOLE_END &&
			     LAYOUT_MMIO_HOLE_START < t[i].addr + t[i].size);
		if (t[i].type == RAM_T)
			ram += t[i].size;
	}
	return ram;
}

static int covered_by(const struct boot_e820_entry *t, int n, uint64_t a, uint64_t len,
		      uint32_t type)
{
	for (int i = 0; i < n; i++)
		if (t[i].addr <= a && a + len <= t[i].addr + t[i].size)
			return t[i].type == type;
	return 0;
}

static int overlaps_ram(const struct boot_e820_entry *t, int n, uint64_t a, uint64_t len)
{
	for (int i = 0; i < n; i++)
		if (t[i].type == RAM_T && t[i].addr < a + len && a < t[i].addr + t[i].size)
			return 1;
	return 0;
}

static void test_64m(void **state)
{
	struct guest_mem gm;
	struct boot_e820_entry t[16];
	int n;

	(void)state;
	assert_int_equal(guest_mem_layout(&gm, 64 * MiB), 0);
	n = build(&gm, t, 16);
	assert_true(n >= 2);
	assert_int_equal(check_sane(t, n), 64 * MiB - LOW_RESERVED);
	/* Real-mode RAM from 0, loader structures in RAM, kernel area RAM. */
	assert_int_equal(t[0].addr, 0);
	assert_true(covered_by(t, n, LAYOUT_BOOT_PARAMS, 4096, RAM_T));
	assert_true(covered_by(t, n, LAYOUT_CMDLINE, LAYOUT_CMDLINE_MAX, RAM_T));
	assert_true(covered_by(t, n, LAYOUT_PML4, 4096, RAM_T));
	assert_true(covered_by(t, n, LAYOUT_KERNEL_LOAD, 63 * MiB, RAM_T));
	/* EBDA, VGA, BIOS and ACPI tables are not RAM; the ACPI area is reserved. */
	assert_false(overlaps_ram(t, n, LAYOUT_EBDA, LAYOUT_KERNEL_LOAD - LAYOUT_EBDA));
	assert_true(covered_by(t, n, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE, RES_T));
	assert_true(covered_by(t, n, LAYOUT_EBDA, 0x400, RES_T));
	/* Ends exactly at the end of RAM. */
	assert_int_equal(t[n - 1].addr + t[n - 1].size, 64 * MiB);
	/* Nothing written past n. */
	assert_int_equal(t[n].type, 0xcccccccc);
}

static void test_5g(void **state)
{
	struct guest_mem gm;
	struct boot_e820_entry t[16];
	int n;

	(void)state;
	assert_int_equal(guest_mem_layout(&gm, 5 * GiB), 0);
	n = build(&gm, t, 16);
	assert_true(n >= 3);
	assert_int_equal(check_sane(t, n), 5 * GiB - LOW_RESERVED);
	assert_true(covered_by(t, n, LAYOUT_KERNEL_LOAD, 3 * GiB - LAYOUT_KERNEL_LOAD, RAM_T));
	assert_true(covered_by(t, n, 4 * GiB, 2 * GiB, RAM_T));
	assert_false(overlaps_ram(t, n, 3 * GiB, GiB));
	assert_false(overlaps_ram(t, n, 6 * GiB, GiB));
	assert_int_equal(t[n - 1].addr, 4 * GiB);
	assert_int_equal(t[n - 1].size, 2 * GiB);
}

/* The memory hotplug region is the virtio-mem driver's to find, never e820's RAM or reserved. */
static void test_hotplug_region_unlisted(void **state)
{
	struct guest_mem gm;
	struct boot_e820_entry t[16];
	uint64_t end = 0;
	int n;

	(void)state;
	assert_int_equal(guest_mem_layout(&gm, 5 * GiB), 0);
	assert_int_equal(guest_mem_hotplug_init(&gm, GiB, 2 * MiB, 128 * MiB), 0);
	assert_int_equal(gm.hp->gpa, 6 * GiB);
	/* Plugged or not. */
	assert_int_equal(guest_mem_hotplug_set(&gm, 0, 256 * MiB, true), 0);
	n = build(&gm, t, 16);
	assert_true(n >= 3);
	assert_int_equal(check_sane(t, n), 5 * GiB - LOW_RESERVED);
	for (int i = 0; i < n; i++)
		if (t[i].addr + t[i].size > end)
			end = t[i].addr + t[i].size;
	assert_true(end <= 6 * GiB);
	guest_mem_destroy(&gm);
}

static void test_exactly_3g(void **state)
{
	struct guest_mem gm;
	struct boot_e820_entry t[16];
	int n;

	(void)state;
	assert_int_equal(guest_mem_layout(&gm, 3 * GiB), 0);
	n = build(&gm, t, 16);
	assert_int_equal(check_sane(t, n), 3 * GiB - LOW_RESERVED);
	assert_int_equal(t[n - 1].addr + t[n - 1].size, 3 * GiB);
	assert_false(overlaps_ram(t, n, 3 * GiB, UINT64_MAX - 3 * GiB));
}

static void test_enospc(void **state)
{
	struct guest_mem gm;
	struct boot_e820_entry t[16];
	int full, n;

	(void)state;
	assert_int_equal(guest_mem_layout(&gm, 5 * GiB), 0);
	full = build(&gm, t, 16);
	assert_true(full > 0);
	/* Exactly enough works, any fewer fails without writing past max. */
	assert_int_equal(build(&gm, t, (unsigned int)full), full);
	for (int max = full - 1; max >= 0; max--) {
		memset(t, 0xcc, sizeof(t));
		n = build(&gm, t, (unsigned int)max);
		assert_int_equal(n, -ENOSPC);
		assert_int_equal(t[max].type, 0xcccccccc);
	}
}

static void test_invalid(void **state)
{
	struct guest_mem gm;
	struct boot_e820_entry t[16];

	(void)state;
	memset(&gm, 0, sizeof(gm));
	assert_int_equal(e820_build(&gm, t, 16), -EINVAL);
	/* RAM that does not reach past 1 MiB cannot hold the kernel. */
	assert_int_equal(guest_mem_layout(&gm, MiB), 0);
	assert_int_equal(e820_build(&gm, t, 16), -EINVAL);
	assert_int_equal(guest_mem_layout(&gm, 512 * 1024), 0);
	assert_int_equal(e820_build(&gm, t, 16), -EINVAL);
	assert_int_equal(guest_mem_layout(&gm, MiB + 4096), 0);
	assert_true(e820_build(&gm, t, 16) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_64m),
		cmocka_unit_test(test_5g),
		cmocka_unit_test(test_exactly_3g),
		cmocka_unit_test(test_hotplug_region_unlisted),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
