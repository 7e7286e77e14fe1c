/*
 * Seconds since the epoch as a UTC calendar date (utc.c): what the log
 * file's timestamps and the RTC show. Not gmtime_r: glibc's reads the
 * time zone file (/etc/localtime) the first time, which a sealed thread
 * may not open and every process start would pay for.
 */
#ifndef HEARTH_UTIL_UTC_H
#define HEARTH_UTIL_UTC_H

#include <stdint.h>
#include <time.h>

/*
 * Fills tm_year, tm_mon, tm_mday, tm_hour, tm_min, tm_sec, tm_wday and
 * tm_yday as gmtime_r does (the proleptic Gregorian calendar, no leap
 * seconds); tm_isdst 0. Any int64_t whose year fits an int.
 */
void utc_from_epoch(int64_t secs, struct tm *tm);

#endif
