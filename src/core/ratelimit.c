#include "core/ratelimit.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define NS_PER_MS 1000000ull

typedef unsigned __int128 u128;

uint64_t rl_clock_now(const struct rl_clock *c)
{
	struct timespec ts;

	if (c && c->now_ns)
		return c->now_ns(c->opaque);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rl_now(const struct rate_limiter *rl)
{
	return rl_clock_now(&rl->clock);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

bool rl_bucket_enabled(const struct rl_bucket_config *b)
{
	return b->set && b->size && b->refill_time;
}

bool rl_config_enabled(const struct rl_config *c)
{
	return rl_bucket_enabled(&c->bandwidth) || rl_bucket_enabled(&c->ops);
}

int rl_config_check(const struct rl_config *c, struct err *err)
{
	const struct rl_bucket_config *b[2] = { &c->bandwidth, &c->ops };
	static const char *const names[2] = { "bandwidth", "ops" };

	for (int i = 0; i < 2; i++) {
		/* Firecracker silently turns such a bucket off; a typo should not. */
		if (b[i]->set && b[i]->refill_time > RL_MAX_REFILL_MS)
			return err_set(err, true, -EINVAL, "%s: refill_time %llu ms is too long "
				       "(at most %llu)", names[i],
				       (unsigned long long)b[i]->refill_time,
				       (unsigned long long)RL_MAX_REFILL_MS);
	}
	return 0;
}

void rl_config_merge(struct rl_config *dst, const struct rl_config *update)
{
	if (update->bandwidth.set)
		dst->bandwidth = update->bandwidth;
	if (update->ops.set)
		dst->ops = update->ops;
}

/* A full bucket, or none (size 0) when b does not limit. */
static void bucket_init(struct token_bucket *tb, const struct rl_bucket_config *b,
			uint64_t now)
{
	uint64_t refill_ns, g;

	memset(tb, 0, sizeof(*tb));
	if (!rl_bucket_enabled(b) || b->refill_time > RL_MAX_REFILL_MS)
		return;
	refill_ns = b->refill_time * NS_PER_MS;
	g = gcd(b->size, refill_ns);
	tb->size = b->size;
	tb->initial_burst = tb->burst = b->one_time_burst;
	tb->refill_ms = b->refill_time;
	tb->budget = b->size;
	tb->last_update = now;
	tb->rate_num = b->size / g;
	tb->rate_den = refill_ns / g;
}

/*
 * Adds the tokens the time since last_update earned. last_update moves on
 * only by the time those whole tokens took, so fractions carry over to the
 * next call instead of being lost at high call rates.
 */
static void bucket_refill(struct token_bucket *tb, uint64_t now)
{
	uint64_t delta = now > tb->last_update ? now - tb->last_update : 0;
	u128 tokens, used;

	if (delta >= tb->refill_ms * NS_PER_MS) {
		tb->budget = tb->size;
		tb->last_update = now;
		return;
	}
	tokens = (u128)delta * tb->rate_num / tb->rate_den;
	/* Rounded up: a fraction of a nanosecond must not earn a token twice. */
	used = (tokens * tb->rate_den + tb->rate_num - 1) / tb->rate_num;
	tb->last_update += (uint64_t)used;
	tb->budget = tokens >= tb->size - tb->budget ? tb->size : tb->budget + (uint64_t)tokens;
}

enum reduce { REDUCE_OK, REDUCE_FAIL, REDUCE_OVER };

/* Takes tokens; for REDUCE_OVER, *over is what the bucket could not cover. */
static enum reduce bucket_reduce(struct token_bucket *tb, uint64_t tokens, uint64_t now,
				 uint64_t *over)
{
	if (tb->burst) {
		if (tb->burst >= tokens) {
			tb->burst -= tokens;
			tb->last_update = now;
			return REDUCE_OK;
		}
		tokens -= tb->burst;
		tb->burst = 0;
	}
	/*
	 * Refilled on every call, not only when the budget runs short as in
	 * Firecracker: there a bucket that sat full keeps its stale
	 * last_update, and the first refill after it drains hands out a whole
	 * second bucket at once (the lab measured 2 x size + rate x time).
	 */
	bucket_refill(tb, now);
	if (tokens > tb->budget) {
		if (tokens > tb->size) {
			*over = tokens - tb->budget;
			tb->budget = 0;
			return REDUCE_OVER;
		}
		if (tokens > tb->budget)
			return REDUCE_FAIL;
	}
	tb->budget -= tokens;
	return REDUCE_OK;
}

void rate_limiter_init(struct rate_limiter *rl, const struct rl_config *cfg,
		       const struct rl_clock *clock)
{
	memset(rl, 0, sizeof(*rl));
	if (clock)
		rl->clock = *clock;
	if (cfg)
		rate_limiter_update(rl, cfg);
}

static struct token_bucket *bucket_of(struct rate_limiter *rl, enum rl_kind kind)
{
	return kind == RL_BYTES ? &rl->bandwidth : &rl->ops;
}

bool rate_limiter_consume(struct rate_limiter *rl, uint64_t tokens, enum rl_kind kind)
{
	struct token_bucket *tb = bucket_of(rl, kind);
	uint64_t over = 0;
	u128 ns;

	if (rl->blocked)
		return false;
	if (!tb->size)
		return true;
	switch (bucket_reduce(tb, tokens, rl_now(rl), &over)) {
	case REDUCE_OK:
		return true;
	case REDUCE_FAIL:
		rl->blocked = true;
		rl->timer_ns = RL_REFILL_TIMER_NS;
		return false;
	case REDUCE_OVER:
		/* The excess is over/size buckets: that many refill times of silence. */
		ns = (u128)over * tb->refill_ms * NS_PER_MS / tb->size;
		rl->blocked = true;
		rl->timer_ns = ns > UINT64_MAX ? UINT64_MAX : ns ? (uint64_t)ns : 1;
		return true;
	}
	return false;
}

void rate_limiter_replenish(struct rate_limiter *rl, uint64_t tokens, enum rl_kind kind)
{
	struct token_bucket *tb = bucket_of(rl, kind);

	if (!tb->size)
		return;
	/* Still in the burst: give it back there (Firecracker's approximation). */
	if (tb->burst) {
		tb->burst = tokens >= tb->initial_burst - tb->burst ? tb->initial_burst
								    : tb->burst + tokens;
		return;
	}
	tb->budget = tokens >= tb->size - tb->budget ? tb->size : tb->budget + tokens;
}

bool rate_limiter_consume_request(struct rate_limiter *rl, uint64_t bytes)
{
	if (!rate_limiter_consume(rl, 1, RL_OPS))
		return false;
	if (!rate_limiter_consume(rl, bytes, RL_BYTES)) {
		rate_limiter_replenish(rl, 1, RL_OPS);
		return false;
	}
	return true;
}

void rate_limiter_unblock(struct rate_limiter *rl)
{
	rl->blocked = false;
	rl->timer_ns = 0;
}

void rate_limiter_update(struct rate_limiter *rl, const struct rl_config *cfg)
{
	uint64_t now = rl_now(rl);

	if (cfg->bandwidth.set)
		bucket_init(&rl->bandwidth, &cfg->bandwidth, now);
	if (cfg->ops.set)
		bucket_init(&rl->ops, &cfg->ops, now);
}

bool rate_limiter_unlimited(const struct rate_limiter *rl)
{
	return !rl->bandwidth.size && !rl->ops.size;
}
