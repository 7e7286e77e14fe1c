/*
 * Dirty tracking without KVM (vm_fd -1): Hearth's own marks, from
 * guest_mem_write and from the virtqueue path, collected and cleared.
 */
#include "virtq_fixture.h"

#include <errno.h>
#include <pthread.h>

#include "core/layout.h"
#include "mem/guest_mem_hotplug.h"
#include "util/bytes.h"
#include "util/err.h"

#define PAGE 4096ull

static bool bit(const uint64_t *map, uint64_t page)
{
	return (map[page / 64] >> (page % 64)) & 1;
}

static unsigned int count(const uint64_t *map, size_t words)
{
	unsigned int n = 0;

	for (size_t i = 0; i < words; i++)
		n += (unsigned int)__builtin_popcountll(map[i]);
	return n;
}

static uint64_t *collect(struct fx *f, unsigned int idx)
{
	size_t words = guest_mem_dirty_words(&f->mem, idx);
	uint64_t *map = calloc(words ? words : 1, sizeof(*map));

	assert_non_null(map);
	assert_int_equal(guest_mem_dirty_collect(&f->mem, -1, idx, map), 0);
	return map;
}

static void test_off_by_default(void **state)
{
	struct fx *f = *state;
	uint64_t map[64];

	assert_false(guest_mem_dirty_enabled(&f->mem));
	guest_mem_dirty_mark(&f->mem, 0, PAGE); /* ignored, no crash */
	assert_int_equal(guest_mem_dirty_collect(&f->mem, -1, 0, map), -EINVAL);
	assert_int_equal(guest_mem_dirty_enable(&f->mem), 0);
	assert_int_equal(guest_mem_dirty_enable(&f->mem), -EBUSY);
	assert_int_equal(guest_mem_dirty_collect(&f->mem, -1, 1, map), -EINVAL);
	assert_int_equal(guest_mem_dirty_words(&f->mem, 0), RAM / PAGE / 64);
}

static void test_mark_collect_clear(void **state)
{
	struct fx *f = *state;
	size_t words = guest_mem_dirty_words(&f->mem, 0);
	uint8_t buf[16] = { 1 };
	uint64_t *map;

	assert_int_equal(guest_mem_dirty_enable(&f->mem), 0);
	map = collect(f, 0);
	assert_int_equal(count(map, words), 0);
	free(map);

	/* A write straddling pages 2 and 3, one range of 70 pages over a word edge. */
	assert_int_equal(guest_mem_write(&f->mem, 3 * PAGE - 8, buf, sizeof(buf)), 0);
	guest_mem_dirty_mark(&f->mem, 60 * PAGE + 1, 70 * PAGE);
	/* Out of RAM and zero-length: ignored. */
	guest_mem_dirty_mark(&f->mem, RAM, PAGE);
	guest_mem_dirty_mark(&f->mem, 5 * PAGE, 0);
	guest_mem_dirty_mark(&f->mem, UINT64_MAX - 10, 100);
	/* The last page of RAM, from a range running past it. */
	guest_mem_dirty_mark(&f->mem, RAM - 1, 10);
	map = collect(f, 0);
	assert_true(bit(map, 2));
	assert_true(bit(map, 3));
	assert_false(bit(map, 1));
	assert_false(bit(map, 4));
	assert_false(bit(map, 59));
	for (uint64_t p = 60; p <= 130; p++)
		assert_true(bit(map, p));
	assert_false(bit(map, 131));
	assert_true(bit(map, RAM / PAGE - 1));
	assert_int_equal(count(map, words), 2 + 71 + 1);
	free(map);
	/* Collected means cleared. */
	map = collect(f, 0);
	assert_int_equal(count(map, words), 0);
	free(map);
	/* A snapshot that failed gives its pages back: the next collect has them again. */
	guest_mem_dirty_mark(&f->mem, 7 * PAGE, 1);
	map = collect(f, 0);
	guest_mem_dirty_putback(&f->mem, 0, map);
	free(map);
	guest_mem_dirty_mark(&f->mem, 9 * PAGE, 1);
	map = collect(f, 0);
	assert_true(bit(map, 7));
	assert_true(bit(map, 9));
	assert_int_equal(count(map, words), 2);
	free(map);
}

static void test_split_regions(void **state)
{
	struct guest_mem gm;
	uint64_t *map;
	size_t words;

	(void)state;
	/* Layout only (no mapping): marks are by GPA, they need no memory. */
	assert_int_equal(guest_mem_layout(&gm, LAYOUT_MMIO_HOLE_START + 64 * PAGE), 0);
	assert_int_equal(gm.nregions, 2);
	assert_int_equal(guest_mem_dirty_enable(&gm), 0);
	guest_mem_dirty_mark(&gm, LAYOUT_MMIO_HOLE_START - PAGE, 2 * PAGE); /* into the hole */
	guest_mem_dirty_mark(&gm, LAYOUT_MMIO_HOLE_END + 5 * PAGE, 1);
	words = guest_mem_dirty_words(&gm, 1);
	assert_int_equal(words, 1);
	map = calloc(guest_mem_dirty_words(&gm, 0), sizeof(*map));
	assert_non_null(map);
	assert_int_equal(guest_mem_dirty_collect(&gm, -1, 0, map), 0);
	assert_true(bit(map, LAYOUT_MMIO_HOLE_START / PAGE - 1));
	assert_int_equal(count(map, guest_mem_dirty_words(&gm, 0)), 1);
	assert_int_equal(guest_mem_dirty_collect(&gm, -1, 1, map), 0);
	assert_int_equal(map[0], 1ull << 5);
	free(map);
	guest_mem_destroy(&gm);
	assert_false(guest_mem_dirty_enabled(&gm));
}

/*
 * A chain: a device-readable header page, then two device-writable
 * buffers. Pushing it marks both writable buffers (whole, even past
 * `written`), the used element and index, not the readable one.
 */
static void test_virtq_push_marks(void **state)
{
	struct fx *f = *state;
	size_t words = guest_mem_dirty_words(&f->mem, 0);
	uint64_t *map;

	ring_enable(f, 16, false, true);
	assert_int_equal(guest_mem_dirty_enable(&f->mem), 0);
	put_desc(f, DESC_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC_GPA, 1, BUF_GPA + 0x10000, 2 * PAGE, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	put_desc(f, DESC_GPA, 2, BUF_GPA + 0x20000, 1, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	/* The driver's own setup is the guest CPU's business (KVM's log). */
	free(collect(f, 0));
	assert_int_equal(pop(f), 1);
	map = collect(f, 0);
	/* Popping writes nothing but may re-arm avail_event (EVENT_IDX) when empty. */
	assert_false(bit(map, (BUF_GPA + 0x10000) / PAGE));
	free(map);
	assert_int_equal(virtq_push(&f->vq, &f->chain, 1), 0);
	map = collect(f, 0);
	assert_false(bit(map, BUF_GPA / PAGE));
	assert_true(bit(map, (BUF_GPA + 0x10000) / PAGE));
	assert_true(bit(map, (BUF_GPA + 0x11000) / PAGE));
	assert_false(bit(map, (BUF_GPA + 0x12000) / PAGE));
	assert_true(bit(map, (BUF_GPA + 0x20000) / PAGE));
	assert_true(bit(map, USED_GPA / PAGE));
	assert_int_equal(count(map, words), 4);
	free(map);
	/* Re-arming notifications writes avail_event after the used ring. */
	virtq_set_notify(&f->vq, true);
	map = collect(f, 0);
	assert_true(bit(map, (USED_GPA + 4 + 8 * 16) / PAGE));
	assert_int_equal(count(map, words), 1);
	free(map);
}

/* Many threads marking while one collects: no mark is lost. */
struct race {
	struct guest_mem *gm;
	unsigned int id;
};

static void *marker(void *arg)
{
	struct race *r = arg;

	for (uint64_t p = r->id; p < RAM / PAGE; p += 4)
		guest_mem_dirty_mark(r->gm, p * PAGE, 1);
	return NULL;
}

static void test_concurrent_marks(void **state)
{
	struct fx *f = *state;
	size_t words = guest_mem_dirty_words(&f->mem, 0);
	uint64_t *acc = calloc(words, sizeof(*acc)), *map;
	pthread_t t[4];
	struct race r[4];

	assert_non_null(acc);
	assert_int_equal(guest_mem_dirty_enable(&f->mem), 0);
	for (unsigned int i = 0; i < 4; i++) {
		r[i] = (struct race){ &f->mem, i };
		assert_int_equal(pthread_create(&t[i], NULL, marker, &r[i]), 0);
	}
	for (unsigned int round = 0; round < 50; round++) {
		map = collect(f, 0);
		for (size_t w = 0; w < words; w++)
			acc[w] |= map[w];
		free(map);
	}
	for (unsigned int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	map = collect(f, 0);
	for (size_t w = 0; w < words; w++)
		acc[w] |= map[w];
	free(map);
	assert_int_equal(count(acc, words), RAM / PAGE);
	free(acc);
}

/* The hotplug region's bitmap, by GPA, by host address and through a record. */
static uint64_t *collect_hp(struct guest_mem *gm)
{
	uint64_t *map = calloc(guest_mem_dirty_words(gm, GUEST_MEM_HP_MAP), sizeof(*map));

	assert_non_null(map);
	assert_int_equal(guest_mem_dirty_collect(gm, -1, GUEST_MEM_HP_MAP, map), 0);
	return map;
}

#define HP_SIZE (64ull << 20)
#define HP_BLOCK (2ull << 20)
#define HP_SLOT (8ull << 20)

static void test_hotplug_region(void **state)
{
	struct guest_mem gm;
	struct bytes_out o = bytes_out_growing();
	uint64_t *maps[GUEST_MEM_DIRTY_MAPS], *map, hp_gpa;
	struct err err = ERR_INIT;
	size_t words = HP_SIZE / PAGE / 64;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, 1u << 20), 0);
	/* Tracking first, then the region (vm_ram maps it before; both orders attach it). */
	assert_int_equal(guest_mem_dirty_enable(&gm), 0);
	assert_int_equal(guest_mem_hotplug_init(&gm, HP_SIZE, HP_BLOCK, HP_SLOT), 0);
	assert_int_equal(guest_mem_dirty_words(&gm, GUEST_MEM_HP_MAP), words);
	hp_gpa = gm.hp->gpa;
	guest_mem_dirty_mark(&gm, hp_gpa + 5 * PAGE, 1);
	guest_mem_dirty_mark(&gm, hp_gpa + HP_SIZE - 1, 100);            /* its last page only */
	guest_mem_dirty_mark_hva(&gm, gm.hp->hva + 9 * PAGE, 2 * PAGE);
	map = collect_hp(&gm);
	assert_true(bit(map, 5) && bit(map, 9) && bit(map, 10) && bit(map, HP_SIZE / PAGE - 1));
	assert_int_equal(count(map, words), 4);
	free(map);
	/* Nothing is left, and RAM's marks stay RAM's. */
	guest_mem_dirty_mark(&gm, 3 * PAGE, 1);
	map = collect_hp(&gm);
	assert_int_equal(count(map, words), 0);
	free(map);
	/* An unplugged block reads as zeros from then on: every page of it is dirty. */
	assert_int_equal(guest_mem_hotplug_set(&gm, HP_SLOT, 2 * HP_BLOCK, true), 0);
	map = collect_hp(&gm);
	assert_int_equal(count(map, words), 0);
	free(map);
	assert_int_equal(guest_mem_hotplug_set(&gm, HP_SLOT + HP_BLOCK, HP_BLOCK, false), 0);
	map = collect_hp(&gm);
	assert_int_equal(count(map, words), HP_BLOCK / PAGE);
	assert_true(bit(map, (HP_SLOT + HP_BLOCK) / PAGE));
	assert_false(bit(map, HP_SLOT / PAGE));
	free(map);
	/* The record carries it after RAM's and gives it back as it was. */
	guest_mem_dirty_mark(&gm, hp_gpa + 7 * PAGE, 1);
	assert_int_equal(guest_mem_dirty_component.save(&gm, &o, &err), 0);
	assert_int_equal(guest_mem_dirty_parse(&gm, o.buf, o.len, maps), 0);
	assert_non_null(maps[0]);
	assert_int_equal(count(maps[0], guest_mem_dirty_words(&gm, 0)), 1);
	assert_non_null(maps[GUEST_MEM_HP_MAP]);
	assert_true(bit(maps[GUEST_MEM_HP_MAP], 7));
	assert_int_equal(count(maps[GUEST_MEM_HP_MAP], words), 1);
	for (unsigned int i = 0; i < GUEST_MEM_DIRTY_MAPS; i++)
		free(maps[i]);
	/* Saving took the pages: a failed snapshot gives them back. */
	map = collect_hp(&gm);
	assert_int_equal(count(map, words), 0);
	free(map);
	guest_mem_dirty_give_back(&gm, o.buf, o.len);
	map = collect_hp(&gm);
	assert_true(bit(map, 7));
	assert_int_equal(count(map, words), 1);
	free(map);
	free(o.buf);
	guest_mem_destroy(&gm);
}

/*
 * A record from before the hotplug region was logged (RAM's bitmaps
 * only): the region's pages all count as dirty, never as clean; a record
 * with a bitmap too many, or the region's of another size, is refused.
 */
static void test_hotplug_old_record(void **state)
{
	struct guest_mem gm;
	struct bytes_out o = bytes_out_growing();
	uint64_t *maps[GUEST_MEM_DIRTY_MAPS];
	size_t ram_words;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, 1u << 20), 0);
	/* The other order: the region first, then tracking. */
	assert_int_equal(guest_mem_hotplug_init(&gm, HP_SIZE, HP_BLOCK, HP_SLOT), 0);
	assert_int_equal(guest_mem_dirty_enable(&gm), 0);
	ram_words = guest_mem_dirty_words(&gm, 0);
	bytes_put_tag(&o, "DRTY", 1);
	bytes_put_u8(&o, 1);
	bytes_put_u32(&o, 1);
	bytes_put_u64(&o, ram_words);
	for (size_t w = 0; w < ram_words; w++)
		bytes_put_u64(&o, w ? 0 : 1);
	assert_int_equal(guest_mem_dirty_parse(&gm, o.buf, o.len, maps), 0);
	assert_int_equal(count(maps[0], ram_words), 1);
	assert_non_null(maps[GUEST_MEM_HP_MAP]);
	assert_int_equal(count(maps[GUEST_MEM_HP_MAP], HP_SIZE / PAGE / 64), HP_SIZE / PAGE);
	for (unsigned int i = 0; i < GUEST_MEM_DIRTY_MAPS; i++)
		free(maps[i]);
	free(o.buf);
	/* Three bitmaps where gm has two; then the region's with the wrong size. */
	o = bytes_out_growing();
	bytes_put_tag(&o, "DRTY", 1);
	bytes_put_u8(&o, 1);
	bytes_put_u32(&o, 3);
	assert_int_equal(guest_mem_dirty_parse(&gm, o.buf, o.len, maps), -EINVAL);
	free(o.buf);
	o = bytes_out_growing();
	bytes_put_tag(&o, "DRTY", 1);
	bytes_put_u8(&o, 1);
	bytes_put_u32(&o, 2);
	bytes_put_u64(&o, ram_words);
	for (size_t w = 0; w < ram_words; w++)
		bytes_put_u64(&o, 0);
	bytes_put_u64(&o, 1);
	bytes_put_u64(&o, ~0ull);
	assert_int_equal(guest_mem_dirty_parse(&gm, o.buf, o.len, maps), -EINVAL);
	for (unsigned int i = 0; i < GUEST_MEM_DIRTY_MAPS; i++)
		assert_null(maps[i]);
	free(o.buf);
	guest_mem_destroy(&gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_off_by_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mark_collect_clear, setup, teardown),
		cmocka_unit_test(test_split_regions),
		cmocka_unit_test_setup_teardown(test_virtq_push_marks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_marks, setup, teardown),
		cmocka_unit_test(test_hotplug_region),
		cmocka_unit_test(test_hotplug_old_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
