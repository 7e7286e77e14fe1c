#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static enum log_level current_level = LOG_INFO;
static bool crlf;
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level level)
{
	current_level = level;
}

void log_set_crlf(bool on)
{
	crlf = on;
}

enum log_level log_get_level(void)
{
	return current_level;
}

uint64_t clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void vlog(enum log_level level, const char *fmt, va_list ap)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	char buf[1024];

	/*
	 * One write per line: the guest's console shares stderr's terminal and
	 * vCPU threads log concurrently, so lines must not interleave.
	 * CRLF while the terminal is in raw mode.
	 */
	int n = snprintf(buf, sizeof(buf), "hearth: %s", prefix[level]);
	int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 2, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(buf) - 3)
		len = sizeof(buf) - 3;
	if (crlf)
		buf[len++] = '\r';
	buf[len++] = '\n';
	fwrite(buf, 1, len, stderr);
	fflush(stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > current_level)
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

bool ratelimit_allow(struct ratelimit *rl)
{
	const uint64_t window = 5ull * 1000000000ull;
	uint64_t now = clock_now_ns();
	bool ok;

	pthread_mutex_lock(&rl_lock);
	if (rl->window_start_ns == 0 || now - rl->window_start_ns >= window) {
		if (rl->suppressed)
			log_msg(LOG_WARN, "%lu similar messages suppressed", rl->suppressed);
		rl->window_start_ns = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	ok = rl->printed < rl->burst;
	if (ok)
		rl->printed++;
	else
		rl->suppressed++;
	pthread_mutex_unlock(&rl_lock);
	return ok;
}

noreturn void die_code(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
	exit(code);
}
