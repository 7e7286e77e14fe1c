#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/layout.h"
#include "mem/guest_mem.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static void test_layout_small(void **state)
{
	struct guest_mem gm;

	(void)state;
	assert_int_equal(guest_mem_layout(&gm, 256 * MiB), 0);
	assert_int_equal(gm.nregions, 1);
	assert_int_equal(gm.regions[0].gpa, 0);
	assert_int_equal(gm.regions[0].size, 256 * MiB);
	assert_null(gm.regions[0].hva);
	assert_int_equal(gm.ram_bytes, 256 * MiB);
	assert_int_equal(guest_mem_low_end(&gm), 256 * MiB);

	/* Exactly 3 GiB still fits below the hole. */
	assert_int_equal(guest_mem_layout(&gm, 3 * GiB), 0);
	assert_int_equal(gm.nregions, 1);
	assert_int_equal(gm.regions[0].size, 3 * GiB);
	assert_int_equal(guest_mem_low_end(&gm), 3 * GiB);
}

static void test_layout_split(void **state)
{
	struct guest_mem gm;

	(void)state;
	/* One page over 3 GiB goes above 4 GiB. */
	assert_int_equal(guest_mem_layout(&gm, 3 * GiB + 4096), 0);
	assert_int_equal(gm.nregions, 2);
	assert_int_equal(gm.regions[0].gpa, 0);
	assert_int_equal(gm.regions[0].size, 3 * GiB);
	assert_int_equal(gm.regions[1].gpa, 4 * GiB);
	assert_int_equal(gm.regions[1].size, 4096);

	assert_int_equal(guest_mem_layout(&gm, 8 * GiB), 0);
	assert_int_equal(gm.nregions, 2);
	assert_int_equal(gm.regions[0].size, LAYOUT_MMIO_HOLE_START);
	assert_int_equal(gm.regions[1].gpa, LAYOUT_MMIO_HOLE_END);
	assert_int_equal(gm.regions[1].size, 5 * GiB);
	assert_int_equal(gm.regions[0].size + gm.regions[1].size, 8 * GiB);
	assert_int_equal(gm.ram_bytes, 8 * GiB);
	assert_int_equal(guest_mem_low_end(&gm), 3 * GiB);
}

/* Each region at a 2 MiB-aligned address (THP, KVM's large mappings), whole and writable. */
static void test_init_aligned(void **state)
{
	struct guest_mem gm;

	(void)state;
	for (int round = 0; round < 8; round++) {
		assert_int_equal(guest_mem_init(&gm, 3 * GiB + (6ull << 20) + round * 4096ull), 0);
		for (unsigned int i = 0; i < gm.nregions; i++) {
			uint8_t *a = gm.regions[i].hva;

			assert_int_equal((uintptr_t)a & ((2u << 20) - 1), 0);
			a[0] = 1;
			a[gm.regions[i].size - 1] = 1;
		}
		guest_mem_destroy(&gm);
	}
}

static void test_layout_invalid(void **state)
{
	struct guest_mem gm;

	(void)state;
	assert_int_equal(guest_mem_layout(&gm, 0), -EINVAL);
	assert_int_equal(guest_mem_layout(&gm, 16 * MiB + 1), -EINVAL);
	assert_int_equal(guest_mem_layout(&gm, 16 * MiB + 0x800), -EINVAL);
	assert_int_equal(gm.nregions, 0);
	assert_int_equal(guest_mem_low_end(&gm), 0);
}

/*
 * Bounds on a multi-GiB layout without mapping it: give the regions fake
 * host addresses that are never dereferenced, and check the arithmetic.
 */
static void test_ptr_bounds_split_layout(void **state)
{
	struct guest_mem gm;
	uint8_t *h0 = (uint8_t *)(uintptr_t)0x100000000000ull;
	uint8_t *h1 = (uint8_t *)(uintptr_t)0x200000000000ull;
	uint64_t ram = 5 * GiB;

	(void)state;
	assert_int_equal(guest_mem_layout(&gm, ram), 0);
	/* Unmapped layout: nothing translates. */
	assert_null(guest_mem_ptr(&gm, 0, 1));
	gm.regions[0].hva = h0;
	gm.regions[1].hva = h1;

	assert_ptr_equal(guest_mem_ptr(&gm, 0, 1), h0);
	assert_ptr_equal(guest_mem_ptr(&gm, 0x1234, 16), h0 + 0x1234);
	/* Exactly the whole low region, and up to its last byte. */
	assert_ptr_equal(guest_mem_ptr(&gm, 0, 3 * GiB), h0);
	assert_ptr_equal(guest_mem_ptr(&gm, 3 * GiB - 1, 1), h0 + 3 * GiB - 1);
	assert_ptr_equal(guest_mem_ptr(&gm, 3 * GiB - 8, 8), h0 + 3 * GiB - 8);
	/* One past. */
	assert_null(guest_mem_ptr(&gm, 3 * GiB - 8, 9));
	assert_null(guest_mem_ptr(&gm, 3 * GiB, 1));
	assert_null(guest_mem_ptr(&gm, 0, 3 * GiB + 1));
	/* In the hole. */
	assert_null(guest_mem_ptr(&gm, LAYOUT_VIRTIO_MMIO_BASE, 4));
	assert_null(guest_mem_ptr(&gm, LAYOUT_LAPIC, 4));
	assert_null(guest_mem_ptr(&gm, 4 * GiB - 1, 1));
	/* Straddling the hole in either direction, or spanning it. */
	assert_null(guest_mem_ptr(&gm, 3 * GiB - 4, 8));
	assert_null(guest_mem_ptr(&gm, 4 * GiB - 4, 8));
	assert_null(guest_mem_ptr(&gm, 0, 5 * GiB));
	assert_null(guest_mem_ptr(&gm, 3 * GiB - 4096, 1 * GiB + 8192));
	/* High region. */
	assert_ptr_equal(guest_mem_ptr(&gm, 4 * GiB, 1), h1);
	assert_ptr_equal(guest_mem_ptr(&gm, 4 * GiB, 2 * GiB), h1);
	assert_ptr_equal(guest_mem_ptr(&gm, 6 * GiB - 1, 1), h1 + 2 * GiB - 1);
	assert_null(guest_mem_ptr(&gm, 6 * GiB - 1, 2));
	assert_null(guest_mem_ptr(&gm, 6 * GiB, 1));
	assert_null(guest_mem_ptr(&gm, 4 * GiB, 2 * GiB + 1));
	/* Overflow of gpa + len. */
	assert_null(guest_mem_ptr(&gm, UINT64_MAX, 1));
	assert_null(guest_mem_ptr(&gm, UINT64_MAX - 3, 8));
	assert_null(guest_mem_ptr(&gm, 0x1000, UINT64_MAX));
	assert_null(guest_mem_ptr(&gm, 4 * GiB + 0x1000, UINT64_MAX - 0xfff));
	assert_null(guest_mem_ptr(&gm, 4 * GiB + 0x1000, (uint64_t)-(int64_t)(4 * GiB)));
	assert_null(guest_mem_ptr(&gm, UINT64_MAX, UINT64_MAX));
}

static void test_ptr_bounds_mapped(void **state)
{
	struct guest_mem gm;
	const uint64_t size = 32 * MiB;
	uint8_t *base;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, size), 0);
	assert_int_equal(gm.nregions, 1);
	base = gm.regions[0].hva;
	assert_non_null(base);

	assert_ptr_equal(guest_mem_ptr(&gm, 0, size), base);
	assert_ptr_equal(guest_mem_ptr(&gm, size - 1, 1), base + size - 1);
	assert_ptr_equal(guest_mem_ptr(&gm, size - 4096, 4096), base + size - 4096);
	assert_null(guest_mem_ptr(&gm, size - 4096, 4097));
	assert_null(guest_mem_ptr(&gm, size, 1));
	assert_null(guest_mem_ptr(&gm, 0, size + 1));
	assert_null(guest_mem_ptr(&gm, size + 4096, 1));
	assert_null(guest_mem_ptr(&gm, 4 * GiB, 1));
	assert_null(guest_mem_ptr(&gm, UINT64_MAX - 0x10, 0x20));
	assert_null(guest_mem_ptr(&gm, 16, UINT64_MAX - 8));

	/* Mapped RAM is usable at both ends. */
	base[0] = 1;
	base[size - 1] = 2;
	guest_mem_destroy(&gm);
	assert_null(gm.regions[0].hva);
	/* Destroy twice is harmless. */
	guest_mem_destroy(&gm);
}

static void test_read_write_roundtrip(void **state)
{
	struct guest_mem gm;
	const uint64_t size = 32 * MiB;
	uint8_t src[256], dst[256];

	(void)state;
	for (unsigned int i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(guest_mem_init(&gm, size), 0);

	/* Fresh RAM is zero. */
	assert_int_equal(guest_mem_read(&gm, 0x100000, dst, sizeof(dst)), 0);
	for (unsigned int i = 0; i < sizeof(dst); i++)
		assert_int_equal(dst[i], 0);

	assert_int_equal(guest_mem_write(&gm, 0x123456, src, sizeof(src)), 0);
	memset(dst, 0, sizeof(dst));
	assert_int_equal(guest_mem_read(&gm, 0x123456, dst, sizeof(dst)), 0);
	assert_memory_equal(src, dst, sizeof(src));
	/* The same bytes through the pointer, and at the right host offset. */
	assert_memory_equal((uint8_t *)gm.regions[0].hva + 0x123456, src, sizeof(src));
	/* Neighbours untouched. */
	assert_int_equal(((uint8_t *)gm.regions[0].hva)[0x123455], 0);
	assert_int_equal(((uint8_t *)gm.regions[0].hva)[0x123456 + sizeof(src)], 0);

	/* Last bytes of RAM. */
	assert_int_equal(guest_mem_write(&gm, size - sizeof(src), src, sizeof(src)), 0);
	assert_int_equal(guest_mem_read(&gm, size - sizeof(src), dst, sizeof(dst)), 0);
	assert_memory_equal(src, dst, sizeof(src));

	/* Crossing the end fails and writes nothing. */
	memset(dst, 0xaa, sizeof(dst));
	assert_int_equal(guest_mem_write(&gm, size - 16, src, 32), -EFAULT);
	assert_int_equal(guest_mem_read(&gm, size - 16, dst, 32), -EFAULT);
	assert_int_equal(dst[0], 0xaa);
	assert_int_equal(guest_mem_read(&gm, size - 16, dst, 16), 0);
	/* Still the tail of src from the previous write, not the new one. */
	assert_memory_equal(dst, src + sizeof(src) - 16, 16);
	assert_int_equal(guest_mem_write(&gm, UINT64_MAX - 1, src, 4), -EFAULT);
	guest_mem_destroy(&gm);
}

static void test_init_invalid(void **state)
{
	struct guest_mem gm;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, 0), -EINVAL);
	assert_int_equal(guest_mem_init(&gm, 32 * MiB + 100), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_small),
		cmocka_unit_test(test_layout_split),
		cmocka_unit_test(test_init_aligned),
		cmocka_unit_test(test_layout_invalid),
		cmocka_unit_test(test_ptr_bounds_split_layout),
		cmocka_unit_test(test_ptr_bounds_mapped),
		cmocka_unit_test(test_read_write_roundtrip),
		cmocka_unit_test(test_init_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
