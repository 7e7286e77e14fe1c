/*
 * Token-bucket rate limiters with Firecracker's semantics (its
 * rate_limiter/mod.rs): a limiter has an optional bandwidth bucket (bytes)
 * and an optional ops bucket. Each bucket starts full, refills size tokens
 * every refill_time ms (passively, when consumed from), and has a one-time
 * burst that is spent first and never refills. A request larger than the
 * bucket is let through once ("over-consumption"): it empties the bucket
 * and blocks the limiter for as long as refilling the excess takes. A
 * request that does not fit blocks it for REFILL_TIMER_MS. While blocked
 * nothing is consumed; the owner arms a timer and calls
 * rate_limiter_unblock when it fires.
 *
 * Pure arithmetic: the clock and the timer are the caller's, so unit tests
 * run it on a fake clock.
 */
#ifndef HEARTH_CORE_RATELIMIT_H
#define HEARTH_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* How long a limiter that ran dry waits before it tries again (Firecracker's). */
#define RL_REFILL_TIMER_NS (100ull * 1000 * 1000)
/* refill_time is in ms; its ns value must fit in 64 bits. */
#define RL_MAX_REFILL_MS (UINT64_MAX / 1000000ull)

/* One bucket as configured. set: given (a PATCH leaves unset buckets alone). */
struct rl_bucket_config {
	bool set;
	uint64_t size;
	uint64_t one_time_burst;
	uint64_t refill_time;     /* ms */
	bool burst_given;         /* one_time_burst was given (GET /vm/config shows null if not) */
};

/*
 * A limiter as configured: Firecracker's RateLimiterConfig. A bucket that
 * is unset, or set with size or refill_time 0, does not limit.
 */
struct rl_config {
	struct rl_bucket_config bandwidth;
	struct rl_bucket_config ops;
};

/* Monotonic nanoseconds; NULL now_ns (or a NULL clock) is CLOCK_MONOTONIC. */
struct rl_clock {
	uint64_t (*now_ns)(void *opaque);
	void *opaque;
};

/* The clock's now; CLOCK_MONOTONIC when c or its now_ns is NULL. */
uint64_t rl_clock_now(const struct rl_clock *c);

struct token_bucket {
	uint64_t size;            /* 0: no bucket, unlimited */
	uint64_t initial_burst;
	uint64_t refill_ms;
	uint64_t burst;           /* one-time tokens left */
	uint64_t budget;
	uint64_t last_update;     /* ns */
	/* size / (refill_ms * 1e6), reduced by their gcd so products stay small. */
	uint64_t rate_num, rate_den;
};

enum rl_kind { RL_BYTES, RL_OPS };

struct rate_limiter {
	struct token_bucket bandwidth, ops;
	bool blocked;             /* a timer is (to be) armed; nothing is consumed */
	uint64_t timer_ns;        /* how long that timer runs, from the blocking call */
	struct rl_clock clock;
};

/* True when the bucket configuration limits anything. */
bool rl_bucket_enabled(const struct rl_bucket_config *b);
bool rl_config_enabled(const struct rl_config *c);
/*
 * Checks a configuration; -EINVAL with one line naming the bucket and the
 * field ("bandwidth: refill_time ..."). Every front end goes through it.
 */
int rl_config_check(const struct rl_config *c, struct err *err);
/* For a PATCH: each bucket set in update replaces the one in dst. */
void rl_config_merge(struct rl_config *dst, const struct rl_config *update);

/* cfg NULL: unlimited. clock NULL: CLOCK_MONOTONIC. */
void rate_limiter_init(struct rate_limiter *rl, const struct rl_config *cfg,
		       const struct rl_clock *clock);
/*
 * Takes tokens from one bucket. False when the limiter is blocked or the
 * tokens do not fit: it is then blocked, and the caller arms a timer for
 * rl->timer_ns. True also for an over-consumption, which blocks it too.
 */
bool rate_limiter_consume(struct rate_limiter *rl, uint64_t tokens, enum rl_kind kind);
/* Gives tokens back (a request that was refused by the other bucket). */
void rate_limiter_replenish(struct rate_limiter *rl, uint64_t tokens, enum rl_kind kind);
/* One request: an op and its bytes, both or neither. */
bool rate_limiter_consume_request(struct rate_limiter *rl, uint64_t bytes);
/* The timer fired. */
void rate_limiter_unblock(struct rate_limiter *rl);
/*
 * Live update: each bucket set in cfg is replaced by a new, full one (or
 * removed when it does not limit); unset ones keep their state.
 */
void rate_limiter_update(struct rate_limiter *rl, const struct rl_config *cfg);
/* True when neither bucket limits. */
bool rate_limiter_unlimited(const struct rate_limiter *rl);

#endif
