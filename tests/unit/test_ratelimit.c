/* Token buckets on a fake clock: every token and nanosecond is exact. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/ratelimit.h"

#define MS 1000000ull

static uint64_t fake_now;

static uint64_t fake_clock(void *opaque)
{
	(void)opaque;
	return fake_now;
}

static const struct rl_clock clk = { fake_clock, NULL };

static struct rl_bucket_config bucket(uint64_t size, uint64_t burst, uint64_t refill_ms)
{
	return (struct rl_bucket_config){ true, size, burst, refill_ms, true };
}

static void init_bw(struct rate_limiter *rl, uint64_t size, uint64_t burst, uint64_t refill)
{
	struct rl_config c = { .bandwidth = bucket(size, burst, refill) };

	fake_now = 1000 * MS;
	rate_limiter_init(rl, &c, &clk);
}

/* size 1000 per 1000 ms: one token per ms, fractions carried over. */
static void test_refill_arithmetic(void **state)
{
	struct rate_limiter rl;

	(void)state;
	init_bw(&rl, 1000, 0, 1000);
	assert_true(rate_limiter_consume(&rl, 1000, RL_BYTES));
	assert_false(rate_limiter_consume(&rl, 1, RL_BYTES));
	assert_true(rl.blocked);
	assert_int_equal(rl.timer_ns, RL_REFILL_TIMER_NS);
	/* Blocked: nothing goes, even what would fit, until the timer fires. */
	fake_now += 500 * MS;
	assert_false(rate_limiter_consume(&rl, 1, RL_BYTES));
	rate_limiter_unblock(&rl);
	assert_true(rate_limiter_consume(&rl, 500, RL_BYTES));
	assert_false(rate_limiter_consume(&rl, 1, RL_BYTES));
	rate_limiter_unblock(&rl);
	/* 1.5 ms earns one token; the half left over counts towards the next. */
	fake_now += 1500000;
	assert_true(rate_limiter_consume(&rl, 1, RL_BYTES));
	assert_false(rate_limiter_consume(&rl, 1, RL_BYTES));
	rate_limiter_unblock(&rl);
	fake_now += 1500000;
	assert_true(rate_limiter_consume(&rl, 2, RL_BYTES));
	assert_int_equal(rl.bandwidth.budget, 0);
	/* A whole refill time (or more) fills it, never beyond size. */
	fake_now += 5000 * MS;
	assert_true(rate_limiter_consume(&rl, 1000, RL_BYTES));
	assert_false(rate_limiter_consume(&rl, 1, RL_BYTES));
}

/*
 * A bucket that sat full does not earn while it sits: drained after a long
 * idle time, it has nothing more to give until time passes (Firecracker
 * refills only when short, from a stale timestamp, and gives a second full
 * bucket here; the lab measured it as 2 x size + rate x time).
 */
static void test_idle_full_bucket_earns_nothing(void **state)
{
	struct rate_limiter rl;

	(void)state;
	init_bw(&rl, 1000, 0, 1000);
	fake_now += 60000 * MS;
	for (int i = 0; i < 10; i++)
		assert_true(rate_limiter_consume(&rl, 100, RL_BYTES));
	assert_false(rate_limiter_consume(&rl, 100, RL_BYTES));
	rate_limiter_unblock(&rl);
	fake_now += 100 * MS;
	assert_true(rate_limiter_consume(&rl, 100, RL_BYTES));
	assert_false(rate_limiter_consume(&rl, 1, RL_BYTES));
}

static void test_burst_first_never_refilled(void **state)
{
	struct rate_limiter rl;

	(void)state;
	init_bw(&rl, 100, 50, 100);
	assert_true(rate_limiter_consume(&rl, 40, RL_BYTES));
	assert_int_equal(rl.bandwidth.burst, 10);
	assert_int_equal(rl.bandwidth.budget, 100);
	/* 10 from the burst, 100 from the budget. */
	assert_true(rate_limiter_consume(&rl, 110, RL_BYTES));
	assert_int_equal(rl.bandwidth.burst, 0);
	assert_int_equal(rl.bandwidth.budget, 0);
	assert_false(rate_limiter_consume(&rl, 1, RL_BYTES));
	rate_limiter_unblock(&rl);
	fake_now += 10 * 100 * MS;
	assert_true(rate_limiter_consume(&rl, 100, RL_BYTES));
	assert_int_equal(rl.bandwidth.burst, 0);
	assert_false(rate_limiter_consume(&rl, 1, RL_BYTES));
}

/* More than the bucket holds goes through once, then silence for the excess. */
static void test_over_consumption(void **state)
{
	struct rate_limiter rl;

	(void)state;
	init_bw(&rl, 100, 0, 1000);
	assert_true(rate_limiter_consume(&rl, 350, RL_BYTES));
	assert_true(rl.blocked);
	/* 250 tokens over a 100-token bucket: 2.5 refill times. */
	assert_int_equal(rl.timer_ns, 2500 * MS);
	assert_int_equal(rl.bandwidth.budget, 0);
	assert_false(rate_limiter_consume(&rl, 1, RL_BYTES));
	fake_now += 2500 * MS;
	rate_limiter_unblock(&rl);
	assert_true(rate_limiter_consume(&rl, 100, RL_BYTES));
	assert_false(rl.blocked);
	/* From a partly full bucket the excess is what it could not cover. */
	fake_now += 1000 * MS;
	rate_limiter_unblock(&rl);
	assert_true(rate_limiter_consume(&rl, 60, RL_BYTES));
	assert_true(rate_limiter_consume(&rl, 120, RL_BYTES));
	assert_int_equal(rl.timer_ns, 800 * MS);
}

static void test_ops_and_bandwidth(void **state)
{
	struct rl_config c = { .bandwidth = bucket(1000, 0, 1000), .ops = bucket(2, 0, 1000) };
	struct rate_limiter rl;
	uint64_t ops_before;

	(void)state;
	fake_now = 0;
	rate_limiter_init(&rl, &c, &clk);
	assert_true(rate_limiter_consume_request(&rl, 100));
	assert_true(rate_limiter_consume_request(&rl, 100));
	/* The ops bucket is dry: the bytes are not taken. */
	assert_false(rate_limiter_consume_request(&rl, 100));
	assert_int_equal(rl.bandwidth.budget, 800);
	rate_limiter_unblock(&rl);
	fake_now += 1000 * MS;
	assert_true(rate_limiter_consume_request(&rl, 900));
	ops_before = rl.ops.budget;
	/* The bytes do not fit: the op is given back. */
	assert_false(rate_limiter_consume_request(&rl, 200));
	assert_int_equal(rl.ops.budget, ops_before);
	assert_int_equal(rl.bandwidth.budget, 100);
}

static void test_zero_or_absent_is_unlimited(void **state)
{
	struct rl_config zero = { .bandwidth = bucket(0, 5, 100), .ops = bucket(10, 0, 0) };
	struct rate_limiter rl;

	(void)state;
	assert_false(rl_config_enabled(&zero));
	rate_limiter_init(&rl, &zero, &clk);
	assert_true(rate_limiter_unlimited(&rl));
	for (int i = 0; i < 1000; i++)
		assert_true(rate_limiter_consume_request(&rl, UINT64_MAX / 2));
	assert_false(rl.blocked);
	rate_limiter_init(&rl, NULL, NULL);
	assert_true(rate_limiter_consume_request(&rl, UINT64_MAX));
	assert_false(rl.blocked);
}

static void test_live_update(void **state)
{
	struct rl_config ops_only = { .ops = bucket(5, 0, 1000) };
	struct rl_config bw_off = { .bandwidth = bucket(0, 0, 0) };
	struct rl_config bw_new = { .bandwidth = bucket(500, 0, 1000) };
	struct rate_limiter rl;

	(void)state;
	init_bw(&rl, 100, 0, 1000);
	assert_true(rate_limiter_consume(&rl, 100, RL_BYTES));
	/* A bucket the update leaves out keeps its state: still empty. */
	rate_limiter_update(&rl, &ops_only);
	assert_int_equal(rl.ops.size, 5);
	assert_int_equal(rl.bandwidth.budget, 0);
	assert_false(rate_limiter_consume(&rl, 1, RL_BYTES));
	rate_limiter_unblock(&rl);
	/* A new bucket starts full. */
	rate_limiter_update(&rl, &bw_new);
	assert_true(rate_limiter_consume(&rl, 500, RL_BYTES));
	assert_false(rate_limiter_consume(&rl, 1, RL_BYTES));
	rate_limiter_unblock(&rl);
	/* Size 0 turns the bucket off. */
	rate_limiter_update(&rl, &bw_off);
	assert_true(rate_limiter_consume(&rl, 1u << 30, RL_BYTES));
	assert_false(rl.blocked);
}

static void test_config_check(void **state)
{
	struct rl_config c = { .ops = bucket(1, 0, RL_MAX_REFILL_MS + 1) };
	struct rl_config merged = { .bandwidth = bucket(1, 0, 1), .ops = bucket(2, 0, 2) };
	struct rl_config upd = { .ops = bucket(7, 1, 3) };
	struct err err;

	(void)state;
	assert_int_equal(rl_config_check(&c, &err), -EINVAL);
	assert_string_equal(err.msg, "ops: refill_time 18446744073710 ms is too long (at most "
			    "18446744073709)");
	c.ops.refill_time = RL_MAX_REFILL_MS;
	assert_int_equal(rl_config_check(&c, &err), 0);
	rl_config_merge(&merged, &upd);
	assert_int_equal(merged.bandwidth.size, 1);
	assert_int_equal(merged.ops.size, 7);
	assert_int_equal(merged.ops.one_time_burst, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refill_arithmetic),
		cmocka_unit_test(test_idle_full_bucket_earns_nothing),
		cmocka_unit_test(test_burst_first_never_refilled),
		cmocka_unit_test(test_over_consumption),
		cmocka_unit_test(test_ops_and_bandwidth),
		cmocka_unit_test(test_zero_or_absent_is_unlimited),
		cmocka_unit_test(test_live_update),
		cmocka_unit_test(test_config_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
