/*
 * Split-virtqueue parser against hostile rings: each test builds the rings
 * by hand in guest RAM, as a misbehaving driver would, and checks the
 * exact error (or that a well-formed ring works).
 */
#include <errno.h>

#include "virtq_fixture.h"

static void test_good_chain(void **state)
{
	struct fx *f = *state;

	ring_enable(f, 16, false, false);
	put_desc(f, DESC_GPA, 3, BUF_GPA, 100, VIRTQ_DESC_F_NEXT, 7);
	put_desc(f, DESC_GPA, 7, BUF_GPA + 0x1000, 20, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC_GPA, 1, BUF_GPA + 0x2000, 300, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, DESC_GPA, 2, BUF_GPA + 0x3000, 4, VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(pop(f), 0);
	avail_add(f, 3);
	assert_true(virtq_has_work(&f->vq));
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->chain.head, 3);
	assert_int_equal(f->chain.n_out, 2);
	assert_int_equal(f->chain.n_in, 2);
	assert_int_equal(f->chain.out_len, 120);
	assert_int_equal(f->chain.in_len, 304);
	assert_ptr_equal(f->chain.iov[0].iov_base, hva(f, BUF_GPA, 1));
	assert_int_equal(f->chain.iov[1].iov_len, 20);
	assert_ptr_equal(f->chain.iov[2].iov_base, hva(f, BUF_GPA + 0x2000, 1));
	assert_int_equal(f->chain.iov[3].iov_len, 4);
	assert_false(virtq_has_work(&f->vq));
	assert_int_equal(pop(f), 0);

	assert_int_equal(virtq_push(&f->vq, &f->chain, 304), 0);
	assert_int_equal(get16(f, USED_GPA + 2), 1);
	assert_int_equal(get32(f, USED_GPA + 4), 3);
	assert_int_equal(get32(f, USED_GPA + 8), 304);

	/* A chain exactly as long as the queue is allowed. */
	ring_enable(f, 4, false, false);
	for (unsigned int i = 0; i < 4; i++)
		put_desc(f, DESC_GPA, i, BUF_GPA, 8, i < 3 ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	avail_add(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->chain.n_out, 4);
}

static void test_disabled_queue_is_empty(void **state)
{
	struct fx *f = *state;

	virtq_reset(&f->vq);
	assert_int_equal(pop(f), 0);
	assert_false(virtq_has_work(&f->vq));
	assert_int_equal(virtq_push(&f->vq, &f->chain, 0), -EINVAL);
	assert_false(virtq_needs_interrupt(&f->vq));
}

static void test_loop(void **state)
{
	struct fx *f = *state;

	ring_enable(f, 16, false, false);
	put_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	avail_add(f, 0);
	assert_int_equal(pop(f), -VIRTQ_ERR_LOOP);
	/* The queue stays broken: nothing is consumed. */
	assert_int_equal(pop(f), -VIRTQ_ERR_LOOP);

	ring_enable(f, 2, false, false);
	put_desc(f, DESC_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	avail_add(f, 1);
	assert_int_equal(pop(f), -VIRTQ_ERR_LOOP);
}

static void test_next_and_head_out_of_range(void **state)
{
	struct fx *f = *state;

	ring_enable(f, 16, false, false);
	put_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 16);
	avail_add(f, 0);
	assert_int_equal(pop(f), -VIRTQ_ERR_NEXT);

	ring_enable(f, 16, false, false);
	avail_add(f, 16);
	assert_int_equal(pop(f), -VIRTQ_ERR_HEAD);
}

static void test_avail_jump(void **state)
{
	struct fx *f = *state;

	ring_enable(f, 8, false, false);
	for (unsigned int i = 0; i < 8; i++)
		put_desc(f, DESC_GPA, i, BUF_GPA, 8, 0, 0);
	put16(f, AVAIL_GPA + 2, 9);
	assert_int_equal(pop(f), -VIRTQ_ERR_AVAIL_JUMP);
	/* Exactly a full ring is fine. */
	put16(f, AVAIL_GPA + 2, 8);
	for (unsigned int i = 0; i < 8; i++)
		assert_int_equal(pop(f), 1);
	assert_int_equal(pop(f), 0);
	/* Moving backwards looks like a huge jump forwards. */
	put16(f, AVAIL_GPA + 2, 7);
	assert_int_equal(pop(f), -VIRTQ_ERR_AVAIL_JUMP);
}

/* A snapshot bounds the pops however far the driver moves meanwhile. */
static void test_pop_until_snapshot(void **state)
{
	struct fx *f = *state;
	uint64_t avail_event = USED_GPA + 4 + 8 * 8;
	uint16_t end;

	ring_enable(f, 8, false, true);
	for (unsigned int i = 0; i < 8; i++)
		put_desc(f, DESC_GPA, i, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	put16(f, avail_event, 0x1234);
	assert_int_equal(virtq_read_avail(&f->vq, &end), 0);
	assert_int_equal(end, 0);
	assert_int_equal(get16(f, avail_event), 0); /* empty: re-armed, as pop does */
	for (unsigned int i = 0; i < 3; i++)
		avail_add(f, (uint16_t)i);
	assert_int_equal(virtq_read_avail(&f->vq, &end), 0);
	assert_int_equal(end, 3);
	for (unsigned int i = 0; i < 5; i++)
		avail_add(f, (uint16_t)i);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(virtq_pop_until(&f->vq, &f->chain, end), 1);
	assert_int_equal(virtq_pop_until(&f->vq, &f->chain, end), 0);
	assert_int_equal(f->vq.last_avail, 3);
	/* A bound more than a queue ahead is refused, like the index itself. */
	f->vq.last_avail = 0;
	assert_int_equal(virtq_pop_until(&f->vq, &f->chain, 9), -VIRTQ_ERR_AVAIL_JUMP);
	put16(f, AVAIL_GPA + 2, 9);
	assert_int_equal(virtq_read_avail(&f->vq, &end), -VIRTQ_ERR_AVAIL_JUMP);
}

static void expect_addr_error(struct fx *f, uint64_t addr, uint32_t len)
{
	ring_enable(f, 16, false, false);
	put_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC_GPA, 1, addr, len, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	assert_int_equal(pop(f), -VIRTQ_ERR_ADDR);
}

static void test_buffer_addresses(void **state)
{
	struct fx *f = *state;

	expect_addr_error(f, RAM, 1);                 /* outside RAM */
	expect_addr_error(f, 0x100000000ull, 16);
	expect_addr_error(f, RAM - 8, 16);            /* straddling the end */
	expect_addr_error(f, UINT64_MAX - 3, 16);     /* wrapping 2^64 */
	expect_addr_error(f, UINT64_MAX, 0xffffffffu);
	/* Ending exactly at the end of RAM is fine. */
	ring_enable(f, 16, false, false);
	put_desc(f, DESC_GPA, 0, RAM - 16, 16, 0, 0);
	avail_add(f, 0);
	assert_int_equal(pop(f), 1);
}

/* A 2^32-byte chain, from 256 segments that each cover all 16 MiB of RAM. */
static void test_total_len(void **state)
{
	struct fx *f = *state;

	ring_enable(f, 256, true, false);
	for (unsigned int i = 0; i < 256; i++)
		put_desc(f, TABLE_GPA, i, 0, (uint32_t)RAM, i < 255 ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	put_desc(f, DESC_GPA, 0, TABLE_GPA, 256 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	assert_int_equal(pop(f), -VIRTQ_ERR_TOTAL_LEN);

	/* One byte less is exactly UINT32_MAX and allowed. */
	ring_enable(f, 256, true, false);
	put_desc(f, TABLE_GPA, 255, 1, (uint32_t)RAM - 1, 0, 0);
	avail_add(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->chain.out_len, UINT32_MAX);
	assert_int_equal(f->chain.n_out, 256);
}

static void test_indirect_good(void **state)
{
	struct fx *f = *state;

	ring_enable(f, 16, true, false);
	put_desc(f, TABLE_GPA, 0, BUF_GPA, 10, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, TABLE_GPA, 2, BUF_GPA + 0x100, 20, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, TABLE_GPA, 1, BUF_GPA + 0x200, 30, VIRTQ_DESC_F_WRITE, 0);
	put_desc(f, DESC_GPA, 5, TABLE_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 5);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->chain.head, 5);
	assert_int_equal(f->chain.n_out, 1);
	assert_int_equal(f->chain.n_in, 2);
	assert_int_equal(f->chain.in_len, 50);
	assert_ptr_equal(f->chain.iov[2].iov_base, hva(f, BUF_GPA + 0x200, 1));
}

/* The spec sets no alignment for indirect tables; a driver may use any. */
static void test_indirect_unaligned_table(void **state)
{
	struct fx *f = *state;

	ring_enable(f, 16, true, false);
	put_desc(f, TABLE_GPA + 8, 0, BUF_GPA, 10, VIRTQ_DESC_F_WRITE, 0);
	put_desc(f, DESC_GPA, 0, TABLE_GPA + 8, 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->chain.n_in, 1);
	assert_int_equal(f->chain.in_len, 10);
}

static int pop_indirect(struct fx *f, uint64_t table, uint32_t len, uint16_t flags)
{
	ring_enable(f, 16, true, false);
	put_desc(f, DESC_GPA, 0, table, len, flags, 1);
	put_desc(f, DESC_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	return pop(f);
}

static void test_indirect_rules(void **state)
{
	struct fx *f = *state;

	/* An indirect descriptor inside the table. */
	put_desc(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, TABLE_GPA, 1, TABLE_GPA + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	assert_int_equal(pop_indirect(f, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT),
			 -VIRTQ_ERR_NESTED);
	put_desc(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	assert_int_equal(pop_indirect(f, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT),
			 -VIRTQ_ERR_INDIRECT_NEXT);
	/* VIRTIO_F_INDIRECT_DESC not negotiated. */
	ring_enable(f, 16, false, false);
	put_desc(f, DESC_GPA, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	assert_int_equal(pop(f), -VIRTQ_ERR_INDIRECT_OFF);
}

static void test_indirect_bad_len(void **state)
{
	struct fx *f = *state;

	put_desc(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
	assert_int_equal(pop_indirect(f, TABLE_GPA, 0, VIRTQ_DESC_F_INDIRECT),
			 -VIRTQ_ERR_INDIRECT_LEN);
	assert_int_equal(pop_indirect(f, TABLE_GPA, 24, VIRTQ_DESC_F_INDIRECT),
			 -VIRTQ_ERR_INDIRECT_LEN);
	assert_int_equal(pop_indirect(f, TABLE_GPA, 15, VIRTQ_DESC_F_INDIRECT),
			 -VIRTQ_ERR_INDIRECT_LEN);
	/* More entries than the queue size (16). */
	assert_int_equal(pop_indirect(f, TABLE_GPA, 17 * 16, VIRTQ_DESC_F_INDIRECT),
			 -VIRTQ_ERR_TOO_MANY);
}

static void test_indirect_table_outside_ram(void **state)
{
	struct fx *f = *state;

	assert_int_equal(pop_indirect(f, RAM - 16, 32, VIRTQ_DESC_F_INDIRECT), -VIRTQ_ERR_ADDR);
	assert_int_equal(pop_indirect(f, UINT64_MAX - 15, 32, VIRTQ_DESC_F_INDIRECT),
			 -VIRTQ_ERR_ADDR);
}

static void test_indirect_next_and_loop(void **state)
{
	struct fx *f = *state;

	/* next is checked against the table, not the queue. */
	put_desc(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, TABLE_GPA, 1, BUF_GPA, 8, 0, 0);
	assert_int_equal(pop_indirect(f, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT), -VIRTQ_ERR_NEXT);

	put_desc(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, TABLE_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
	assert_int_equal(pop_indirect(f, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT), -VIRTQ_ERR_LOOP);
}

static void test_direction(void **state)
{
	struct fx *f = *state;

	ring_enable(f, 16, false, false);
	put_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC_GPA, 1, BUF_GPA, 8, 0, 0);
	avail_add(f, 0);
	assert_int_equal(pop(f), -VIRTQ_ERR_DIRECTION);
	/* The same inside an indirect table. */
	put_desc(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, TABLE_GPA, 1, BUF_GPA, 8, 0, 0);
	assert_int_equal(pop_indirect(f, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT),
			 -VIRTQ_ERR_DIRECTION);
}

/* An indirect table may hold more segments than we ever accept at once. */
static void test_too_many_segments(void **state)
{
	struct fx *f = *state;
	unsigned int n = VIRTQ_MAX_SEGS + 1;

	ring_enable(f, 2048, true, false);
	for (unsigned int i = 0; i < n; i++)
		put_desc(f, TABLE_GPA, i, BUF_GPA, 1, i + 1 < n ? VIRTQ_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	put_desc(f, DESC_GPA, 0, TABLE_GPA, n * 16, VIRTQ_DESC_F_INDIRECT, 0);
	avail_add(f, 0);
	assert_int_equal(pop(f), -VIRTQ_ERR_TOO_MANY);
}

static enum virtq_error try_enable(struct fx *f, uint16_t size, uint64_t desc, uint64_t avail,
				   uint64_t used)
{
	virtq_reset(&f->vq);
	f->vq.size = size;
	f->vq.desc_gpa = desc;
	f->vq.avail_gpa = avail;
	f->vq.used_gpa = used;
	return virtq_enable(&f->vq, &f->mem);
}

static void test_enable_checks(void **state)
{
	struct fx *f = *state;

	assert_int_equal(try_enable(f, 16, DESC_GPA, AVAIL_GPA, USED_GPA), VIRTQ_OK);
	assert_true(f->vq.enabled);
	assert_int_equal(try_enable(f, 16, DESC_GPA + 8, AVAIL_GPA, USED_GPA), VIRTQ_ERR_RING_ADDR);
	assert_false(f->vq.enabled);
	assert_int_equal(try_enable(f, 16, DESC_GPA, AVAIL_GPA + 1, USED_GPA), VIRTQ_ERR_RING_ADDR);
	assert_int_equal(try_enable(f, 16, DESC_GPA, AVAIL_GPA, USED_GPA + 2), VIRTQ_ERR_RING_ADDR);
	assert_int_equal(try_enable(f, 0, DESC_GPA, AVAIL_GPA, USED_GPA), VIRTQ_ERR_RING_ADDR);
	assert_int_equal(try_enable(f, 12, DESC_GPA, AVAIL_GPA, USED_GPA), VIRTQ_ERR_RING_ADDR);
	assert_int_equal(try_enable(f, 16, RAM, AVAIL_GPA, USED_GPA), VIRTQ_ERR_RING_ADDR);
	assert_int_equal(try_enable(f, 16, DESC_GPA, RAM - 8, USED_GPA), VIRTQ_ERR_RING_ADDR);
	/* used ring is 6 + 8 * 16 bytes: one short of fitting. */
	assert_int_equal(try_enable(f, 16, DESC_GPA, AVAIL_GPA, RAM - 132), VIRTQ_ERR_RING_ADDR);
	assert_int_equal(try_enable(f, 16, DESC_GPA, AVAIL_GPA, RAM - 136), VIRTQ_OK);
	assert_int_equal(try_enable(f, 16, UINT64_MAX - 15, AVAIL_GPA, USED_GPA),
			 VIRTQ_ERR_RING_ADDR);
	assert_null(f->vq.desc);
}


#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_good_chain), T(test_disabled_queue_is_empty), T(test_loop),
		T(test_next_and_head_out_of_range), T(test_avail_jump), T(test_pop_until_snapshot),
		T(test_direction),
		T(test_buffer_addresses), T(test_total_len), T(test_indirect_good),
		T(test_indirect_unaligned_table), T(test_indirect_rules),
		T(test_indirect_bad_len), T(test_indirect_table_outside_ram),
		T(test_indirect_next_and_loop), T(test_too_many_segments),
		T(test_enable_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
