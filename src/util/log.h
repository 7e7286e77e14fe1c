/* Logging, rate limiting and the pre-run die(). */
#ifndef HEARTH_UTIL_LOG_H
#define HEARTH_UTIL_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdnoreturn.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Exit codes, documented in README.md. */
enum hearth_exit {
	HEARTH_EXIT_OK = 0,      /* guest powered off or rebooted */
	HEARTH_EXIT_FAILURE = 1, /* host, KVM or guest-crash failure */
	HEARTH_EXIT_USAGE = 2,   /* bad flag, bad file: nothing ran */
	HEARTH_EXIT_STOPPED = 3, /* stopped from the host: Ctrl-A x, SIGINT, SIGTERM */
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Raw-mode terminals need CRLF line ends. */
void log_set_crlf(bool on);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

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

#endif
