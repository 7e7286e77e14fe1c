#include "util/log.h"

#include "util/err.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/file.h"
#include "util/utc.h"

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
 * The log file. Every logging thread (vCPUs, io, api) reads its state
 * under file_lock's read side; only a switch to another file or the close
 * at exit take the write side, and only to swap the fd: the old file is
 * closed after, once no line can still be on its way to it. So a line goes
 * to the old file or the new one, never to a closed or reused fd, and no
 * thread needs a syscall for it beyond futex and write (a dup3() over the
 * old fd, as once done here, is in no thread's seccomp filter). The write
 * side does no I/O and glibc's default rwlock lets readers in while a
 * writer waits, so a vCPU never waits on the api thread's switch; the
 * switching thread waits at most for lines in flight, which never block.
 */
static pthread_rwlock_t file_lock = PTHREAD_RWLOCK_INITIALIZER;
static int file_fd = -1;
static bool file_fifo;
static int file_level = LOG_FILE_OFF;
static bool file_show_level;
static bool file_show_origin;
static uint64_t file_missed;
static char instance_id[65] = "anonymous-instance";

/* A line whole in one write: a pipe takes up to PIPE_BUF bytes atomically. */
#define LOG_FILE_LINE_MAX 1400
_Static_assert(LOG_FILE_LINE_MAX <= PIPE_BUF, "a log line must fit a pipe's atomic write");

void log_set_instance(const char *id)
{
	snprintf(instance_id, sizeof(instance_id), "%s", id);
}

uint64_t log_missed_count(void)
{
	return __atomic_load_n(&file_missed, __ATOMIC_RELAXED);
}

/* Under the write side of file_lock. */
static void file_options_locked(int level, bool show_level, bool show_origin)
{
	file_level = level < LOG_FILE_OFF ? LOG_FILE_OFF : level;
	file_show_level = show_level;
	file_show_origin = show_origin;
}

void log_set_file_options(int level, bool show_level, bool show_origin)
{
	pthread_rwlock_wrlock(&file_lock);
	file_options_locked(level, show_level, show_origin);
	pthread_rwlock_unlock(&file_lock);
}

int log_open_file(const char *path, int level, bool show_level, bool show_origin, struct err *err)
{
	bool fifo = false;
	int fd, old;

	fd = file_open_sink(path, &fifo);
	if (fd < 0)
		return err_set(err, true, fd, "cannot open the log file %s: %s", path,
			       strerror(-fd));
	pthread_rwlock_wrlock(&file_lock);
	old = file_fd;
	file_fd = fd;
	file_fifo = fifo;
	file_options_locked(level, show_level, show_origin);
	pthread_rwlock_unlock(&file_lock);
	if (old >= 0)
		close(old);
	return 0;
}

void log_close_file(void)
{
	int fd;

	pthread_rwlock_wrlock(&file_lock);
	fd = file_fd;
	file_fd = -1;
	pthread_rwlock_unlock(&file_lock);
	if (fd >= 0)
		close(fd);
}

/* Meson passes paths like "../src/vcpu/vcpu.c": the part from src/ on is enough. */
static const char *origin_name(const char *file)
{
	const char *p = strstr(file, "src/");

	return p ? p : file;
}

/*
 * "2025-01-31T12:00:00.123456789 [id:thread:LEVEL:file:line] msg\n", one
 * write(), under the read side of file_lock.
 */
static void file_write_locked(enum log_level level, const char *file, int line, const char *msg)
{
	static const char *const names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
	char small[LOG_FILE_LINE_MAX], thread[16] = "?", when[80], lvl[16] = "", where[96] = "";
	size_t cap = sizeof(small), want;
	char *buf = small;
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* Not gmtime_r and strftime: both make glibc read the time zone file (utc.h). */
	utc_from_epoch(ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	pthread_getname_np(pthread_self(), thread, sizeof(thread));
	if (file_show_level)
		snprintf(lvl, sizeof(lvl), ":%s", names[level]);
	if (file_show_origin)
		snprintf(where, sizeof(where), ":%s:%d", origin_name(file), line);
	/*
	 * A long line (a request's whole body, which Firecracker's tooling
	 * reads back) is written whole from the heap: on a FIFO it may then
	 * interleave with another thread's line, never be cut.
	 */
	want = strlen(msg) + sizeof(when) + sizeof(thread) + sizeof(lvl) + sizeof(where) +
	       sizeof(instance_id) + 32;
	if (want > cap) {
		buf = malloc(want);
		if (buf)
			cap = want;
		else
			buf = small;
	}
	n = snprintf(buf, cap, "%s.%09ld [%s:%s%s%s] %s", when, ts.tv_nsec,
		     instance_id, thread, lvl, where, msg);
	if (n >= 0) {
		if ((size_t)n > cap - 2)
			n = (int)cap - 2;
		buf[n++] = '\n';
		/* O_NONBLOCK: a FIFO nobody drains costs whole lines, never a stuck thread. */
		if (file_write_line(file_fd, file_fifo, buf, (size_t)n))
			__atomic_fetch_add(&file_missed, 1, __ATOMIC_RELAXED);
	}
	if (buf != small)
		free(buf);
}

/* stderr: 1 forced, 0 by the level, -1 never (the file's own lines). */
static void vlog(enum log_level level, int stderr_mode, const char *file, int line,
		 const char *fmt, va_list ap)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };
	bool to_file, to_stderr;
	char small[1024], *msg = small, buf[1100];
	size_t len;
	va_list again;
	int m;

	pthread_rwlock_rdlock(&file_lock);
	to_file = file_fd >= 0 && (int)level <= file_level;
	to_stderr = stderr_mode > 0 || (stderr_mode == 0 && level <= current_level &&
					(file_fd < 0 || level == LOG_ERR));
	if (!to_file && !to_stderr) {
		pthread_rwlock_unlock(&file_lock);
		return;
	}
	va_copy(again, ap);
	m = vsnprintf(small, sizeof(small), fmt, ap);
	if (m < 0)
		small[0] = '\0';
	/* The file gets the whole line; stderr, a terminal's, is cut below. */
	if (to_file && m >= (int)sizeof(small)) {
		msg = malloc((size_t)m + 1);
		if (msg)
			vsnprintf(msg, (size_t)m + 1, fmt, again);
		else
			msg = small;
	}
	va_end(again);
	if (to_file)
		file_write_locked(level, file, line, msg);
	pthread_rwlock_unlock(&file_lock);
	if (msg != small)
		free(msg);
	if (!to_stderr)
		return;
	/*
	 * One write per line: the guest's console shares stderr's terminal and
	 * vCPU threads log concurrently, so lines must not interleave.
	 * CRLF while the terminal is in raw mode.
	 */
	m = snprintf(buf, sizeof(buf) - 2, "hearth: %s%s", prefix[level], small);
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
	vlog(level, 0, file, line, fmt, ap);
	va_end(ap);
}

void log_file_at(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, -1, file, line, fmt, ap);
	va_end(ap);
}

bool log_file_wants(enum log_level level)
{
	bool yes;

	pthread_rwlock_rdlock(&file_lock);
	yes = file_fd >= 0 && (int)level <= file_level;
	pthread_rwlock_unlock(&file_lock);
	return yes;
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
	vlog(LOG_ERR, 1, __FILE__, __LINE__, fmt, ap);
	va_end(ap);
	exit(code);
}

int log_fail(const struct err *e)
{
	log_err("%s", e->msg);
	return e->usage ? HEARTH_EXIT_USAGE : HEARTH_EXIT_FAILURE;
}
