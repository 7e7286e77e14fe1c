/*
 * The HPET as a component: pause, resume, save and restore (hpet.c holds
 * the registers). Record "HPET" 1:
 *
 *   u8 timers (3), u64 general configuration, u64 interrupt status,
 *   u64 main counter (its value at the save), then per timer:
 *   u64 configuration, u64 comparator, u64 next match (counter value),
 *   u64 period, u8 wrap pending, u64 ns from the save to its deadline
 *   (all ones: not armed).
 *
 * The counter and the deadlines are relative to the save, so a restored
 * HPET counts on from the value it was saved with and each comparator
 * fires as long after the restore as it was due after the save.
 */
#include <errno.h>

#include "devices/hpet_priv.h"
#include "util/bytes.h"

#define HPET_TAG "HPET"

struct hpet_timer_image {
	uint64_t config, cmp, cmp64, period, due;
	bool wrap;
};

struct hpet_image {
	uint8_t timers;
	uint64_t config, isr, counter;
	struct hpet_timer_image t[HPET_TIMERS];
};

int hpet_pause(void *obj)
{
	struct hpet *d = obj;

	pthread_mutex_lock(&d->lock);
	d->paused = true;
	hpet_rearm(d, hpet_now(d));
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* What came due while paused fires now, once. */
int hpet_resume(void *obj)
{
	struct hpet *d = obj;

	pthread_mutex_lock(&d->lock);
	d->paused = false;
	pthread_mutex_unlock(&d->lock);
	hpet_service(d);
	return 0;
}

int hpet_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct hpet *d = obj;
	uint64_t now;

	pthread_mutex_lock(&d->lock);
	now = hpet_now(d);
	bytes_put_tag(o, HPET_TAG, HPET_STATE_VERSION);
	bytes_put_u8(o, HPET_TIMERS);
	bytes_put_u64(o, d->config);
	bytes_put_u64(o, d->isr);
	bytes_put_u64(o, hpet_counter_at(d, now));
	for (unsigned int n = 0; n < HPET_TIMERS; n++) {
		const struct hpet_timer *t = &d->t[n];

		bytes_put_u64(o, t->config);
		bytes_put_u64(o, t->cmp);
		bytes_put_u64(o, t->cmp64);
		bytes_put_u64(o, t->period);
		bytes_put_u8(o, t->wrap);
		if (t->deadline == HPET_NEVER)
			bytes_put_u64(o, HPET_NEVER);
		else
			bytes_put_u64(o, t->deadline > now ? t->deadline - now : 0);
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/*
 * Each timer as hpet.c leaves it: this HPET's capabilities and routes,
 * no bit a write cannot set, and while the counter runs a next match that
 * is the comparator (its low half in 32-bit mode); while it is halted,
 * nothing armed.
 */
static bool hpet_timer_ok(const struct hpet *d, const struct hpet_image *im, unsigned int n)
{
	const struct hpet_timer_image *t = &im->t[n];
	uint64_t fixed = d->t[n].config & HPET_TN_FIXED;
	unsigned int route = (unsigned int)((t->config & HPET_TN_ROUTE) >> HPET_TN_ROUTE_SHIFT);
	bool running = im->config & HPET_CFG_ENABLE, w32 = t->config & HPET_TN_32BIT;
	bool periodic = t->config & HPET_TN_PERIODIC;

	if ((t->config & HPET_TN_FIXED) != fixed)
		return false;
	if (periodic && !(fixed & HPET_TN_PERIODIC_CAP))
		return false;
	if (route && !(d->routes >> route & 1))
		return false;
	if ((im->isr >> n & 1) && !(t->config & HPET_TN_LEVEL))
		return false;
	if (w32 && (t->cmp > UINT32_MAX || t->period > UINT32_MAX))
		return false;
	if (t->wrap && (!running || !w32 || periodic))
		return false;
	if (!running)
		return t->due == HPET_NEVER;
	return w32 ? (uint32_t)t->cmp64 == t->cmp : t->cmp64 == t->cmp;
}

static int hpet_image_read(const struct hpet *d, const void *in, size_t len,
			   struct hpet_image *im)
{
	struct bytes_in r = bytes_in_init(in, len);
	int ret = bytes_get_tag(&r, HPET_TAG, HPET_STATE_VERSION);

	if (ret)
		return ret;
	im->timers = bytes_get_u8(&r);
	im->config = bytes_get_u64(&r);
	im->isr = bytes_get_u64(&r);
	im->counter = bytes_get_u64(&r);
	for (unsigned int n = 0; n < HPET_TIMERS; n++) {
		struct hpet_timer_image *t = &im->t[n];

		t->config = bytes_get_u64(&r);
		t->cmp = bytes_get_u64(&r);
		t->cmp64 = bytes_get_u64(&r);
		t->period = bytes_get_u64(&r);
		t->wrap = bytes_get_bool(&r);
		t->due = bytes_get_u64(&r);
	}
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	if (im->timers != HPET_TIMERS || (im->config & ~HPET_CFG_MASK) ||
	    (im->isr >> HPET_TIMERS))
		return -EINVAL;
	for (unsigned int n = 0; n < HPET_TIMERS; n++)
		if (!hpet_timer_ok(d, im, n))
			return -EINVAL;
	return 0;
}

int hpet_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct hpet *d = obj;
	struct hpet_image im;
	uint64_t now;
	int ret = hpet_image_read(d, in, len, &im);

	if (ret || !apply)
		return ret;
	pthread_mutex_lock(&d->lock);
	now = hpet_now(d);
	d->config = im.config;
	d->isr = im.isr;
	d->counter = im.counter;
	d->base = now;
	for (unsigned int n = 0; n < HPET_TIMERS; n++) {
		struct hpet_timer *t = &d->t[n];
		const struct hpet_timer_image *s = &im.t[n];

		t->config = s->config;
		t->cmp = s->cmp;
		t->cmp64 = s->cmp64;
		t->period = s->period;
		t->wrap = s->wrap;
		t->deadline = s->due > HPET_NEVER - now ? HPET_NEVER : now + s->due;
		t->last = HPET_NEVER; /* the floor counts from its next expiry */
	}
	/* The VM's PIT hears whether to stay quiet, and the lines come up as saved. */
	d->legacy_tell = true;
	hpet_sync_lines(d);
	hpet_rearm(d, now);
	pthread_mutex_unlock(&d->lock);
	hpet_tell_legacy(d);
	return 0;
}
