#include "util/utc.h"

#include <stdbool.h>
#include <string.h>

/* Floor division: the calendar below counts days before 1970 downwards. */
static int64_t div_floor(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/*
 * The days-to-civil conversion on 400-year eras (146097 days each),
 * counted from 0000-03-01 so that the leap day ends each year: Howard
 * Hinnant's "chrono-compatible low-level date algorithms".
 */
void utc_from_epoch(int64_t secs, struct tm *tm)
{
	int64_t days = div_floor(secs, 86400), rem = secs - days * 86400;
	int64_t z = days + 719468;
	int64_t era = div_floor(z, 146097);
	int64_t doe = z - era * 146097;                                       /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                /* from March 1 */
	int64_t mp = (5 * doy + 2) / 153;                                     /* March is 0 */
	int64_t mon = mp < 10 ? mp + 2 : mp - 10;                             /* January is 0 */
	int64_t year = yoe + era * 400 + (mon < 2);
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	memset(tm, 0, sizeof(*tm));
	tm->tm_year = (int)(year - 1900);
	tm->tm_mon = (int)mon;
	tm->tm_mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	/* January and February close the March-based year: 306 days of it before them. */
	tm->tm_yday = (int)(mon < 2 ? doy - 306 : doy + 59 + leap);
	tm->tm_hour = (int)(rem / 3600);
	tm->tm_min = (int)(rem / 60 % 60);
	tm->tm_sec = (int)(rem % 60);
	tm->tm_wday = (int)(days + 4 - div_floor(days + 4, 7) * 7);   /* 1970-01-01: a Thursday */
}
