/* util/utc.c against glibc's gmtime_r, over the dates where they could part. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "util/utc.h"

static void expect_same(int64_t secs)
{
	time_t t = (time_t)secs;
	struct tm want, got;

	assert_non_null(gmtime_r(&t, &want));
	utc_from_epoch(secs, &got);
	if (got.tm_year != want.tm_year || got.tm_mon != want.tm_mon ||
	    got.tm_mday != want.tm_mday || got.tm_hour != want.tm_hour ||
	    got.tm_min != want.tm_min || got.tm_sec != want.tm_sec ||
	    got.tm_wday != want.tm_wday || got.tm_yday != want.tm_yday)
		fail_msg("%lld: %d-%d-%d %d:%d:%d wday %d yday %d, gmtime_r %d-%d-%d %d:%d:%d "
			 "wday %d yday %d", (long long)secs, got.tm_year, got.tm_mon, got.tm_mday,
			 got.tm_hour, got.tm_min, got.tm_sec, got.tm_wday, got.tm_yday,
			 want.tm_year, want.tm_mon, want.tm_mday, want.tm_hour, want.tm_min,
			 want.tm_sec, want.tm_wday, want.tm_yday);
}

/* Every day's first and last second from 1600 to 2500: leap years, centuries, the epoch. */
static void test_days(void **state)
{
	(void)state;
	for (int64_t d = -135140; d <= 194180; d++) {
		expect_same(d * 86400);
		expect_same(d * 86400 + 86399);
	}
}

/* Seconds inside a day, and far dates both ways. */
static void test_seconds_and_range(void **state)
{
	static const int64_t far[] = { 0, -1, 1, 951782400, 951868799, 4107542399LL,
				       253402300799LL, 253402300800LL, -62135596800LL,
				       -62135596801LL, 1000000000000LL, -1000000000000LL };

	(void)state;
	for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++)
		expect_same(far[i]);
	srand(7);
	for (int i = 0; i < 200000; i++) {
		int64_t s = ((int64_t)rand() << 31 | rand()) % (400LL * 366 * 86400) - 200LL * 366 * 86400;

		expect_same(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_days),
		cmocka_unit_test(test_seconds_and_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
