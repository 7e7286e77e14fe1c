/* util/frameq: order, the byte cap, oversize frames, clearing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/frameq.h"

static void test_order(void **state)
{
	struct frameq q;
	uint8_t buf[16];

	(void)state;
	frameq_init(&q, 4096);
	assert_true(frameq_empty(&q));
	assert_int_equal(frameq_pop(&q, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(frameq_push(&q, "one", 3), 0);
	assert_int_equal(frameq_push(&q, "second", 6), 0);
	assert_int_equal(frameq_push(&q, "", 0), 0);
	assert_int_equal(q.count, 3);
	assert_int_equal(q.held, 9 + 3 * FRAMEQ_OVERHEAD);
	assert_int_equal(frameq_pop(&q, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "one", 3);
	/* Pushed while others wait: still behind them. */
	assert_int_equal(frameq_push(&q, "last", 4), 0);
	assert_int_equal(frameq_pop(&q, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "second", 6);
	assert_int_equal(frameq_pop(&q, buf, sizeof(buf)), 0);
	assert_int_equal(frameq_pop(&q, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "last", 4);
	assert_true(frameq_empty(&q));
	assert_int_equal(q.held, 0);
	assert_int_equal(frameq_pop(&q, buf, sizeof(buf)), -EAGAIN);
	frameq_clear(&q);
}

static void test_cap(void **state)
{
	uint8_t frame[200] = { 0 }, buf[256];
	struct frameq q;
	unsigned int n = 0;

	(void)state;
	/* Room for exactly three 200-byte frames with their overhead. */
	frameq_init(&q, 3 * (200 + FRAMEQ_OVERHEAD));
	while (frameq_push(&q, frame, sizeof(frame)) == 0)
		n++;
	assert_int_equal(n, 3);
	assert_int_equal(frameq_push(&q, frame, sizeof(frame)), -ENOBUFS);
	/* A refused frame left nothing behind; a popped one makes room. */
	assert_int_equal(q.count, 3);
	assert_int_equal(frameq_pop(&q, buf, sizeof(buf)), 200);
	assert_int_equal(frameq_push(&q, frame, sizeof(frame)), 0);
	/* A length that would wrap the count is refused, not queued. */
	assert_int_equal(frameq_push(&q, frame, SIZE_MAX - 8), -ENOBUFS);
	frameq_clear(&q);
	assert_true(frameq_empty(&q));
	assert_int_equal(q.held, 0);
	assert_int_equal(q.count, 0);
	/* Usable again after a clear. */
	assert_int_equal(frameq_push(&q, frame, 10), 0);
	frameq_clear(&q);
}

static void test_oversize_dropped(void **state)
{
	struct frameq q;
	uint8_t buf[8];

	(void)state;
	frameq_init(&q, 4096);
	assert_int_equal(frameq_push(&q, "too long for it", 15), 0);
	assert_int_equal(frameq_push(&q, "fits", 4), 0);
	/* The long one is dropped, not truncated, and the next one stays. */
	assert_int_equal(frameq_pop(&q, buf, sizeof(buf)), -EMSGSIZE);
	assert_int_equal(q.count, 1);
	assert_int_equal(frameq_pop(&q, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "fits", 4);
	assert_int_equal(q.held, 0);
	frameq_clear(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_oversize_dropped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
