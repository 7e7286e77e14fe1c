/*
 * Split-virtqueue completions and notifications: used lengths, event-idx
 * interrupt suppression, index wrap and copies through a chain.
 */
#include <errno.h>

#include "virtq_fixture.h"

static void test_push_used_len(void **state)
{
	struct fx *f = *state;

	ring_enable(f, 16, false, false);
	put_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(virtq_push(&f->vq, &f->chain, 9), -VIRTQ_ERR_USED_LEN);
	assert_int_equal(get16(f, USED_GPA + 2), 0);
	assert_int_equal(virtq_push(&f->vq, &f->chain, 8), 0);
	assert_int_equal(get16(f, USED_GPA + 2), 1);
}

static void push_one(struct fx *f)
{
	put_desc(f, DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
	avail_add(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(virtq_push(&f->vq, &f->chain, 0), 0);
}

static void test_event_idx_interrupts(void **state)
{
	struct fx *f = *state;
	uint64_t used_event = AVAIL_GPA + 4 + 2 * 16;

	/* Without EVENT_IDX the driver's NO_INTERRUPT flag decides. */
	ring_enable(f, 16, false, false);
	assert_true(virtq_needs_interrupt(&f->vq));
	put16(f, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	assert_false(virtq_needs_interrupt(&f->vq));
	put16(f, AVAIL_GPA, 0);
	assert_true(virtq_needs_interrupt(&f->vq));

	ring_enable(f, 16, false, true);
	/* NO_INTERRUPT is ignored under EVENT_IDX. */
	put16(f, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
	put16(f, used_event, 5);
	push_one(f); /* used idx 1 */
	/* Nothing signalled yet: the first check always interrupts. */
	assert_true(virtq_needs_interrupt(&f->vq));
	push_one(f); /* 2 */
	assert_false(virtq_needs_interrupt(&f->vq));
	push_one(f); /* 3 */
	push_one(f); /* 4 */
	assert_false(virtq_needs_interrupt(&f->vq));
	push_one(f); /* 5 */
	assert_false(virtq_needs_interrupt(&f->vq));
	push_one(f); /* 6: crossed used_event == 5 */
	assert_true(virtq_needs_interrupt(&f->vq));
	/* Nothing new since the last check. */
	assert_false(virtq_needs_interrupt(&f->vq));
	/* used_event = 7, two pushes in one batch: 7 lies within (6, 8]. */
	put16(f, used_event, 7);
	push_one(f);
	push_one(f);
	assert_true(virtq_needs_interrupt(&f->vq));
	/* used_event behind us: no interrupt until the index wraps round. */
	put16(f, used_event, 3);
	push_one(f);
	assert_false(virtq_needs_interrupt(&f->vq));
}

static void test_set_notify(void **state)
{
	struct fx *f = *state;
	uint64_t avail_event = USED_GPA + 4 + 8 * 16;

	ring_enable(f, 16, false, true);
	put16(f, avail_event, 0xdead);
	push_one(f);
	push_one(f);
	virtq_set_notify(&f->vq, true);
	assert_int_equal(get16(f, avail_event), 2);
	assert_int_equal(get16(f, USED_GPA), 0);

	ring_enable(f, 16, false, false);
	virtq_set_notify(&f->vq, false);
	assert_int_equal(get16(f, USED_GPA), VIRTQ_USED_F_NO_NOTIFY);
	virtq_set_notify(&f->vq, true);
	assert_int_equal(get16(f, USED_GPA), 0);
}

/*
 * A device that drains the ring must leave avail_event at the next index,
 * or an EVENT_IDX driver stops kicking; virtq_pop re-arms it when empty.
 */
static void test_pop_rearms_avail_event(void **state)
{
	struct fx *f = *state;
	uint64_t avail_event = USED_GPA + 4 + 8 * 16;

	ring_enable(f, 16, false, true);
	put16(f, avail_event, 0);
	put_desc(f, DESC_GPA, 0, BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	for (int i = 0; i < 3; i++)
		avail_add(f, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pop(f), 1);
	assert_int_equal(get16(f, avail_event), 0); /* not yet drained */
	assert_int_equal(pop(f), 0);
	assert_int_equal(get16(f, avail_event), 3);
	/* Without EVENT_IDX the field is not ours to write. */
	ring_enable(f, 16, false, false);
	put16(f, avail_event, 0x1234);
	assert_int_equal(pop(f), 0);
	assert_int_equal(get16(f, avail_event), 0x1234);
}

/* The driver's side of 2.7.10: kick when avail_event lies in [old, new). */
static bool driver_kicks(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/*
 * A device that takes entries and gives them back (net RX: too few buffers
 * for a frame) must arm avail_event at the driver's index, not at its own
 * last_avail, or the driver's next additions never cross it.
 */
static void test_give_back_arms_at_driver_index(void **state)
{
	struct fx *f = *state;
	uint64_t avail_event = USED_GPA + 4 + 8 * 16;

	ring_enable(f, 16, false, true);
	put_desc(f, DESC_GPA, 0, BUF_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	for (int i = 0; i < 3; i++)
		avail_add(f, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pop(f), 1);
	f->vq.last_avail -= 3;
	virtq_set_notify(&f->vq, true);
	assert_int_equal(get16(f, avail_event), 3);
	assert_true(virtq_has_work(&f->vq));
	assert_false(virtq_has_new(&f->vq));
	/* The driver adds one more: it must kick, and the device sees it as new. */
	assert_true(driver_kicks(get16(f, avail_event), 4, 3));
	avail_add(f, 0);
	assert_true(virtq_has_new(&f->vq));
	/* Arming at last_avail (0) instead would have missed that kick. */
	assert_false(driver_kicks(0, 4, 3));
}

/* 16-bit indices wrap: last_avail and the used index start near 65535. */
static void test_index_wrap(void **state)
{
	struct fx *f = *state;

	ring_enable(f, 8, false, true);
	for (unsigned int i = 0; i < 8; i++)
		put_desc(f, DESC_GPA, i, BUF_GPA + 64 * i, 64, VIRTQ_DESC_F_WRITE, 0);
	f->vq.last_avail = 65533;
	f->vq.next_used = 65533;
	f->avail_idx = 65533;
	for (unsigned int i = 0; i < 5; i++)
		avail_add(f, (uint16_t)i);
	assert_int_equal(get16(f, AVAIL_GPA + 2), 2);
	put16(f, AVAIL_GPA + 4 + 2 * 8, 65533); /* used_event: behind, crossed already */
	for (unsigned int i = 0; i < 5; i++) {
		assert_int_equal(pop(f), 1);
		assert_int_equal(f->chain.head, i);
		assert_int_equal(virtq_push(&f->vq, &f->chain, 64), 0);
		/*
		 * The first check interrupts by rule (nothing signalled yet) and
		 * leaves 65534 signalled, so the later ones compare for real.
		 */
		if (i == 0)
			assert_true(virtq_needs_interrupt(&f->vq));
		if (i == 1)
			put16(f, AVAIL_GPA + 4 + 2 * 8, 0); /* used_event: just after the wrap */
	}
	assert_int_equal(pop(f), 0);
	assert_int_equal(f->vq.last_avail, 2);
	assert_int_equal(get16(f, USED_GPA + 2), 2);
	/* Element for used idx 65535 sits in slot 65535 % 8 == 7. */
	assert_int_equal(get32(f, USED_GPA + 4 + 8 * 7), 2);
	/* Signalled 65534, now 2: used_event 0 lies in (65534, 2] across the wrap. */
	assert_true(virtq_needs_interrupt(&f->vq));
	/* Signalled 2, now 3: used_event 0 is behind. */
	push_one(f);
	assert_false(virtq_needs_interrupt(&f->vq));
	/* An event just before the wrap, from a batch that crosses it: (3, 65535] holds 65534. */
	f->vq.next_used = 65533;
	f->vq.last_avail = f->avail_idx;
	f->vq.signalled_used = 65533;
	put16(f, AVAIL_GPA + 4 + 2 * 8, 65534);
	push_one(f);   /* 65534 */
	push_one(f);   /* 65535 */
	push_one(f);   /* 0 */
	assert_true(virtq_needs_interrupt(&f->vq));
	/* An event ahead of the index after the wrap: not yet. */
	put16(f, AVAIL_GPA + 4 + 2 * 8, 5);
	push_one(f);   /* 1 */
	assert_false(virtq_needs_interrupt(&f->vq));
	virtq_set_notify(&f->vq, true);
	assert_int_equal(get16(f, USED_GPA + 4 + 8 * 8), f->vq.avail_seen);
}

static void test_iov_copies(void **state)
{
	uint8_t a[4] = { 0, 1, 2, 3 }, b[3] = { 4, 5, 6 }, c[5] = { 7, 8, 9, 10, 11 };
	struct iovec iov[4] = { { a, 4 }, { NULL, 0 }, { b, 3 }, { c, 5 } };
	uint8_t buf[16];
	uint8_t in[6] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5 };

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(virtq_iov_to_buf(iov, 4, 3, buf, 6), 6);
	assert_memory_equal(buf, ((uint8_t[]){ 3, 4, 5, 6, 7, 8 }), 6);
	assert_int_equal(buf[6], 0xee);
	/* Bounded by the iovec. */
	assert_int_equal(virtq_iov_to_buf(iov, 4, 10, buf, 16), 2);
	assert_memory_equal(buf, ((uint8_t[]){ 10, 11 }), 2);
	assert_int_equal(virtq_iov_to_buf(iov, 4, 12, buf, 16), 0);
	assert_int_equal(virtq_iov_to_buf(iov, 4, 1000, buf, 16), 0);
	assert_int_equal(virtq_iov_to_buf(iov, 4, 0, buf, 0), 0);
	assert_int_equal(virtq_iov_to_buf(iov, 2, 0, buf, 16), 4);

	assert_int_equal(virtq_buf_to_iov(iov, 4, 2, in, 6), 6);
	assert_memory_equal(a, ((uint8_t[]){ 0, 1, 0xa0, 0xa1 }), 4);
	assert_memory_equal(b, ((uint8_t[]){ 0xa2, 0xa3, 0xa4 }), 3);
	assert_memory_equal(c, ((uint8_t[]){ 0xa5, 8, 9, 10, 11 }), 5);
	assert_int_equal(virtq_buf_to_iov(iov, 4, 9, in, 6), 3);
	assert_memory_equal(c, ((uint8_t[]){ 0xa5, 8, 0xa0, 0xa1, 0xa2 }), 5);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(virtq_strerror(VIRTQ_ERR_LOOP),
			    "descriptor chain loops or exceeds the queue size");
	assert_string_equal(virtq_strerror((enum virtq_error)999), "unknown virtqueue error");
}


#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_push_used_len), T(test_event_idx_interrupts), T(test_set_notify),
		T(test_pop_rearms_avail_event), T(test_give_back_arms_at_driver_index),
		T(test_index_wrap), T(test_iov_copies), T(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
