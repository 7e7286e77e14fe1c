#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/*
 * The log file's state is read by every logging thread without a lock:
 * the fd number is fixed once set (a new file is dup3()ed over it, so a
 * writer sees the old file or the new one, never a closed or reused fd),
 * and the level and flags are single words.
 */
static int file_fd = -1;
static int file_level = LOG_FILE_OFF;
static bool file_show_level;
static bool file_show_origin;
static uint64_t file_missed;
static char instance_id[65] = "anonymous-instance";

void log_set_instance(const char *id)
{
	snprintf(instance_id, sizeof(instance_id), "%s", id);
}

uint64_t log_missed_count(void)
{
	return __atomic_load_n(&file_missed, __ATOMIC_RELAXED);
}

int log_open_file(const char *path, int level, bool show_level, bool show_origin, char *err,
		  size_t errlen)
{
	int fd, old;

	fd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot open the log file %s: %s%s", path, strerror(e),
			 e == ENXIO ? " (a FIFO needs its reader first)" : "");
		return -e;
	}
	__atomic_store_n(&file_level, level < LOG_FILE_OFF ? LOG_FILE_OFF : level,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&file_show_level, show_level, __ATOMIC_RELAXED);
	__atomic_store_n(&file_show_origin, show_origin, __ATOMIC_RELAXED);
	old = __atomic_load_n(&file_fd, __ATOMIC_ACQUIRE);
	if (old < 0) {
		__atomic_store_n(&file_fd, fd, __ATOMIC_RELEASE);
		return 0;
	}
	if (dup3(fd, old, O_CLOEXEC) < 0) {
		int e = errno;

		close(fd);
		snprintf(err, errlen, "cannot switch to the log file %s: %s", path, strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}

void log_close_file(void)
{
	int fd = __atomic_exchange_n(&file_fd, -1, __ATOMIC_ACQ_REL);

	if (fd >= 0)
		close(fd);
}

/* Meson passes paths like "../src/vcpu/vcpu.c": the part from src/ on is enough. */
static const char *origin_name(const char *file)
{
	const char *p = strstr(file, "src/");

	return p ? p : file;
}

/* "2025-01-31T12:00:00.123456 [id:thread:LEVEL:file:line] msg\n", one write(). */
static void file_write(int fd, enum log_level level, const char *file, int line,
		       const char *msg)
{
	static const char *const names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
	char buf[1400], thread[16] = "?", when[32], lvl[16] = "", where[96] = "";
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_getname_np(pthread_self(), thread, sizeof(thread));
	if (__atomic_load_n(&file_show_level, __ATOMIC_RELAXED))
		snprintf(lvl, sizeof(lvl), ":%s", names[level]);
	if (__atomic_load_n(&file_show_origin, __ATOMIC_RELAXED))
		snprintf(where, sizeof(where), ":%s:%d", origin_name(file), line);
	n = snprintf(buf, sizeof(buf), "%s.%06ld [%s:%s%s%s] %s", when, ts.tv_nsec / 1000,
		     instance_id, thread, lvl, where, msg);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* O_NONBLOCK: a FIFO nobody drains costs lines, never a stuck thread. */
	if (write(fd, buf, (size_t)n) != n)
		__atomic_fetch_add(&file_missed, 1, __ATOMIC_RELAXED);
}

static void vlog(enum log_level level, bool force_stderr, const char *file, int line,
		 const char *fmt, va_list ap)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	int fd = __atomic_load_n(&file_fd, __ATOMIC_ACQUIRE);
	bool to_file = fd >= 0 && (int)level <= __atomic_load_n(&file_level, __ATOMIC_RELAXED);
	bool to_stderr = force_stderr || (level <= current_level && (fd < 0 || level == LOG_ERR));
	char msg[1024], buf[1100];
	size_t len;
	int m;

	if (!to_file && !to_stderr)
		return;
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0)
		msg[0] = '\0';
	if (to_file)
		file_write(fd, level, file, line, msg);
	if (!to_stderr)
		return;
	/*
	 * One write per line: the guest's console shares stderr's terminal and
	 * vCPU threads log concurrently, so lines must not interleave.
	 * CRLF while the terminal is in raw mode.
	 */
	m = snprintf(buf, sizeof(buf) - 2, "hearth: %s%s", prefix[level], msg);
	len = m < 0 ? 0 : (size_t)m;
	if (len > sizeof(buf) - 3)
		len = sizeof(buf) - 3;
	if (crlf)
		buf[len++] = '\r';
	buf[len++] = '\n';
	fwrite(buf, 1, len, stderr);
	fflush(stderr);
}

void log_msg_at(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, false, file, line, fmt, ap);
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
	vlog(LOG_ERR, true, __FILE__, __LINE__, fmt, ap);
	va_end(ap);
	exit(code);
}
