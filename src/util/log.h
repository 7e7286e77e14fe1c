/* Logging, rate limiting and the pre-run die(). */
#ifndef HEARTH_UTIL_LOG_H
#define HEARTH_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "util/err.h"

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Exit codes, documented in docs/running.md ("Exit codes"). */
enum hearth_exit {
	HEARTH_EXIT_OK = 0,      /* guest powered off or rebooted */
	HEARTH_EXIT_FAILURE = 1, /* host, KVM or guest-crash failure */
	HEARTH_EXIT_USAGE = 2,   /* bad flag, bad file: nothing ran */
	HEARTH_EXIT_STOPPED = 3, /* stopped from the host: Ctrl-A x, SIGINT, SIGTERM */
	HEARTH_EXIT_SECCOMP = 148, /* a thread made a syscall its filter forbids (Firecracker's) */
	/* Stopped by a signal Firecracker intercepts the same way (its codes). */
	HEARTH_EXIT_SIGBUS = 149,
	HEARTH_EXIT_SIGSEGV = 150,
	HEARTH_EXIT_SIGXFSZ = 151,
	HEARTH_EXIT_SIGXCPU = 154,
	HEARTH_EXIT_SIGILL = 157,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Raw-mode terminals need CRLF line ends. */
void log_set_crlf(bool on);
/* Through log_msg (a macro), so a log file can show where a line came from. */
void log_msg_at(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define log_msg(level, ...) log_msg_at((level), __FILE__, __LINE__, __VA_ARGS__)
/*
 * A line for the log file alone (Firecracker's own lines, which its
 * tooling reads there: the start, each API request, the exit), never on
 * stderr. Nothing without a log file.
 */
void log_file_at(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define log_file(level, ...) log_file_at((level), __FILE__, __LINE__, __VA_ARGS__)
/* Whether a line at level would reach the log file now. */
bool log_file_wants(enum log_level level);

/*
 * The log file (Firecracker's logger: PUT /logger, --log-path). Without one,
 * every line at the stderr level goes to stderr as "hearth: ...". With one,
 * lines at or above file_level go to the file, with a timestamp, the
 * instance id and the thread, optionally the level and the origin; stderr
 * then keeps only errors, so a failure is still seen where it always was.
 * path is opened by file_open_sink (util/file.h): a FIFO needs no reader
 * yet, and one nobody drains costs whole lines (log_missed_count), never a
 * stuck thread. Any thread may call it again, while others log: each line
 * then goes whole to the old file or the new one, and the old one is
 * closed (only open and close on the calling thread; the loggers need
 * nothing but write). Returns 0, or -errno with one line in err and the
 * log as it was.
 */
#define LOG_FILE_OFF (-1)   /* file_level: nothing goes to the file */
int log_open_file(const char *path, int file_level, bool show_level, bool show_origin,
		  struct err *err);
/* The level and flags alone, of the file open now (log_open_file sets its own). */
void log_set_file_options(int file_level, bool show_level, bool show_origin);
/* At exit: later lines go to stderr again. */
void log_close_file(void);
/* The instance id in the file's lines (default "anonymous-instance"); set before threads start. */
void log_set_instance(const char *id);
/* Lines the file did not take whole (a full FIFO, a failed write): Firecracker's missed_log_count. */
uint64_t log_missed_count(void);

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * A token bucket: guest-triggered messages go through one of these so a
 * hostile guest cannot flood the host's log.
 */
struct ratelimit {
	uint64_t window_start_ns;
	unsigned int burst;      /* messages allowed per window */
	unsigned int printed;    /* in the current window */
	unsigned long suppressed;
};

#define RATELIMIT_INIT(n) { .window_start_ns = 0, .burst = (n), .printed = 0, .suppressed = 0 }

/* True when the caller may print now. Thread-safe. */
bool ratelimit_allow(struct ratelimit *rl);

#define log_ratelimited(rl, level, ...)                                        \
	do {                                                                   \
		if (ratelimit_allow(rl))                                       \
			log_msg(level, __VA_ARGS__);                           \
	} while (0)

/* Only before any vCPU runs: prints "hearth: <msg>" and exits with code. */
noreturn void die_code(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define die(...) die_code(HEARTH_EXIT_FAILURE, __VA_ARGS__)

uint64_t clock_now_ns(void);

/* Logs e's line as an error and returns its exit status: 2 when the input was at fault, else 1. */
struct err;
int log_fail(const struct err *e);

#endif
