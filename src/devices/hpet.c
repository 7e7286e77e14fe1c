/*
 * The HPET's timers and interrupt lines, its loop and its making (hpet.h
 * says what it is; hpet_regs.c is the guest's view of it, hpet_state.c
 * saves it). The main counter is not a running variable: while enabled
 * it is computed from the clock, the value it had when the guest enabled
 * it (or a restore set it) plus the ticks since. Each comparator keeps the
 * counter value of its next match (cmp64) and the clock time that is
 * (deadline); the loop's one timerfd is armed for the earliest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "devices/hpet_priv.h"
#include "util/log.h"

/* IOAPIC pin 0 has no GSI on a PC (GSI 0 goes to pin 2, core/irq.h): never offered. */
#define HPET_ROUTABLE 0x00fffffeu
#define HPET_LEGACY_GSI0 0    /* ISA IRQ 0: IOAPIC pin 2 */
#define HPET_LEGACY_GSI1 8    /* ISA IRQ 8, the RTC's */
/* The longest a timerfd is armed for: a later deadline is looked at again then. */
#define HPET_MAX_ARM_NS (86400ull * 1000000000ull)

static struct ratelimit hpet_rl = RATELIMIT_INIT(5);

uint64_t hpet_now(const struct hpet *d)
{
	return rl_clock_now(&d->clock);
}

uint64_t hpet_counter_at(const struct hpet *d, uint64_t now)
{
	if (!(d->config & HPET_CFG_ENABLE))
		return d->counter;
	/* A clock that went back (a test's) counts as no time at all. */
	return d->counter + (now > d->base ? now - d->base : 0) / HPET_TICK_NS;
}

/*
 * The clock time at which the counter reads tick. A tick behind the
 * counter, or more than half its range ahead (QEMU's signed test), is due
 * now; one too far to express never comes.
 */
static uint64_t hpet_tick_time(const struct hpet *d, uint64_t tick, uint64_t now)
{
	uint64_t delta = tick - hpet_counter_at(d, now);
	uint64_t into = (now > d->base ? now - d->base : 0) % HPET_TICK_NS;

	if ((int64_t)delta <= 0)
		return now;
	if (delta > (HPET_NEVER - now) / HPET_TICK_NS)
		return HPET_NEVER;
	return now - into + delta * HPET_TICK_NS;
}

/* The counter value of the next match of target: the low half only in 32-bit mode. */
static uint64_t hpet_cmp64(const struct hpet_timer *t, uint64_t cur, uint64_t target)
{
	uint64_t v;

	if (!(t->config & HPET_TN_32BIT))
		return target;
	v = (cur & ~0xffffffffull) | (uint32_t)target;
	return v < cur ? v + 0x100000000ull : v;
}

/*
 * Sets when t fires for the counter's tick. A periodic timer fires at
 * most once per HPET_MIN_PERIOD_NS whatever its period, so a guest's tiny
 * period costs the host a bounded rate of wakeups, not a spinning loop.
 */
static void hpet_arm(struct hpet *d, struct hpet_timer *t, uint64_t tick, uint64_t now)
{
	uint64_t ns = hpet_tick_time(d, tick, now);

	if ((t->config & HPET_TN_PERIODIC) && t->last != HPET_NEVER && ns != HPET_NEVER &&
	    ns >= t->last && ns - t->last < HPET_MIN_PERIOD_NS)
		ns = t->last + HPET_MIN_PERIOD_NS;
	t->deadline = ns;
}

/* QEMU's hpet_set_timer: the comparator (re)programmed, the counter running. */
void hpet_set_timer(struct hpet *d, struct hpet_timer *t, uint64_t now)
{
	uint64_t cur = hpet_counter_at(d, now), wrap_at = (cur | 0xffffffffull) + 1;

	t->wrap = false;
	t->cmp64 = hpet_cmp64(t, cur, t->cmp);
	/* The spec's 32-bit one-shot: an interrupt when the low half wraps, then at the match. */
	if ((t->config & HPET_TN_32BIT) && !(t->config & HPET_TN_PERIODIC) && t->cmp64 > wrap_at) {
		t->wrap = true;
		hpet_arm(d, t, wrap_at, now);
		return;
	}
	hpet_arm(d, t, t->cmp64, now);
}

/* The GSI timer n drives, or -1: a route the guest has not chosen yet. */
static int hpet_gsi(const struct hpet *d, unsigned int n)
{
	unsigned int pin = (unsigned int)((d->t[n].config & HPET_TN_ROUTE) >> HPET_TN_ROUTE_SHIFT);

	if (n < 2 && (d->config & HPET_CFG_LEGACY))
		return n == 0 ? HPET_LEGACY_GSI0 : HPET_LEGACY_GSI1;
	if (!(d->routes >> pin & 1))
		return -1;
	return pin == 2 ? HPET_LEGACY_GSI0 : (int)pin;
}

/* A line is held high by a level-triggered timer with its status set and interrupts on. */
void hpet_sync_lines(struct hpet *d)
{
	uint32_t want = 0, change;

	for (unsigned int n = 0; n < HPET_TIMERS && (d->config & HPET_CFG_ENABLE); n++) {
		const struct hpet_timer *t = &d->t[n];
		int gsi = hpet_gsi(d, n);

		if ((d->isr >> n & 1) && (t->config & HPET_TN_LEVEL) &&
		    (t->config & HPET_TN_ENABLE) && gsi >= 0)
			want |= 1u << gsi;
	}
	change = want ^ d->lines;
	for (unsigned int gsi = 0; gsi < HPET_PINS; gsi++) {
		struct irq_line line = d->irq;

		if (!(change >> gsi & 1))
			continue;
		line.gsi = gsi;
		irq_line_set(&line, (int)(want >> gsi & 1));
	}
	d->lines = want;
}

/* QEMU's update_irq(t, 1): the comparator matched. */
static void hpet_raise(struct hpet *d, unsigned int n)
{
	const struct hpet_timer *t = &d->t[n];
	struct irq_line line = d->irq;
	int gsi = hpet_gsi(d, n);

	if (t->config & HPET_TN_LEVEL) {
		/* Status even with interrupts off: the spec's Tn_INT_ENB_CNF. */
		d->isr |= 1ull << n;
		hpet_sync_lines(d);
		return;
	}
	/* An edge on a line a level-triggered timer holds high would only lower it. */
	if (!(t->config & HPET_TN_ENABLE) || gsi < 0 || (d->lines >> gsi & 1))
		return;
	line.gsi = (unsigned int)gsi;
	irq_line_set(&line, 1);
	irq_line_set(&line, 0);
}

/*
 * QEMU's hpet_timer: t's deadline passed. A periodic comparator steps
 * past the counter in one division however many periods went by: those
 * matches are this one interrupt, as on QEMU. A step is at most half the
 * counter's range (old QEMU's clamp), so the next match is always ahead:
 * a period of all ones would otherwise step the comparator back by one.
 */
static void hpet_fire(struct hpet *d, unsigned int n, uint64_t now)
{
	struct hpet_timer *t = &d->t[n];
	uint64_t cur = hpet_counter_at(d, now);
	uint64_t step = t->period > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX : t->period;

	/* The deadline, not now: a late loop does not push the next one later. */
	t->last = t->deadline;
	t->deadline = HPET_NEVER;
	if ((t->config & HPET_TN_PERIODIC) && step) {
		if ((int64_t)(cur - t->cmp64) >= 0)
			t->cmp64 += ((cur - t->cmp64) / step + 1) * step;
		t->cmp = t->config & HPET_TN_32BIT ? (uint32_t)t->cmp64 : t->cmp64;
		hpet_arm(d, t, t->cmp64, now);
	} else if (t->wrap) {
		t->wrap = false;
		hpet_arm(d, t, t->cmp64, now);
	}
	hpet_raise(d, n);
}

uint64_t hpet_next(const struct hpet *d)
{
	uint64_t next = HPET_NEVER;

	if (d->paused || !(d->config & HPET_CFG_ENABLE))
		return HPET_NEVER;
	for (unsigned int n = 0; n < HPET_TIMERS; n++)
		if (d->t[n].deadline < next)
			next = d->t[n].deadline;
	return next;
}

void hpet_rearm(struct hpet *d, uint64_t now)
{
	struct itimerspec its = { 0 };
	uint64_t next = hpet_next(d), ns;

	d->armed = next;
	if (d->tfd < 0)
		return;
	if (next != HPET_NEVER) {
		/* Never 0, which would disarm it: a deadline already due fires at once. */
		ns = next > now ? next - now : 1;
		if (ns > HPET_MAX_ARM_NS)
			ns = HPET_MAX_ARM_NS;
		its.it_value.tv_sec = (time_t)(ns / 1000000000ull);
		its.it_value.tv_nsec = (long)(ns % 1000000000ull);
	}
	if (timerfd_settime(d->tfd, 0, &its, NULL) < 0)
		log_ratelimited(&hpet_rl, LOG_WARN, "hpet: cannot arm its timer: %s",
				strerror(errno));
}

void hpet_tell_legacy(struct hpet *d)
{
	bool tell, on;

	pthread_mutex_lock(&d->lock);
	tell = d->legacy_tell;
	on = d->config & HPET_CFG_LEGACY;
	d->legacy_tell = false;
	pthread_mutex_unlock(&d->lock);
	if (tell && d->legacy)
		d->legacy(d->legacy_ctx, on);
}

void hpet_service(struct hpet *d)
{
	uint64_t now;

	pthread_mutex_lock(&d->lock);
	d->kicked = false;
	now = hpet_now(d);
	/* One pass: each due timer fires once and is armed again for later. */
	for (unsigned int n = 0; n < HPET_TIMERS && !d->paused; n++)
		if ((d->config & HPET_CFG_ENABLE) && d->t[n].deadline <= now)
			hpet_fire(d, n, now);
	hpet_rearm(d, now);
	pthread_mutex_unlock(&d->lock);
	hpet_tell_legacy(d);
}

/* ------------------------------------------------------------ the loop and the component */

static void hpet_on_timer(void *opaque, uint32_t events)
{
	struct hpet *d = opaque;
	uint64_t n;

	if (read(d->tfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_ratelimited(&hpet_rl, LOG_WARN, "hpet: its timer: %s", strerror(errno));
	hpet_service(d);
}

static void hpet_on_kick(void *opaque, uint32_t events)
{
	struct hpet *d = opaque;
	uint64_t n;

	if (read(d->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_ratelimited(&hpet_rl, LOG_WARN, "hpet: its wakeup: %s", strerror(errno));
	hpet_service(d);
}

static void hpet_destroy(void *obj)
{
	struct hpet *d = obj;

	if (d->loop) {
		eventloop_remove(d->loop, d->tfd);
		eventloop_remove(d->loop, d->efd);
	}
	if (d->tfd >= 0)
		close(d->tfd);
	if (d->efd >= 0)
		close(d->efd);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static const struct component_ops hpet_component = {
	.pause = hpet_pause,
	.resume = hpet_resume,
	.save = hpet_save,
	.restore = hpet_restore,
	.destroy = hpet_destroy,
};

static int hpet_loop_init(struct hpet *d, struct eventloop *loop, struct err *err)
{
	int ret;

	d->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->tfd < 0) {
		ret = -errno;
		return err_set(err, false, ret, "HPET: timerfd: %s", strerror(-ret));
	}
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0) {
		ret = -errno;
		return err_set(err, false, ret, "HPET: eventfd: %s", strerror(-ret));
	}
	ret = eventloop_add(loop, d->tfd, EPOLLIN, hpet_on_timer, d);
	if (ret)
		goto err_add;
	ret = eventloop_add(loop, d->efd, EPOLLIN, hpet_on_kick, d);
	if (ret)
		goto err_add_kick;
	d->loop = loop;
	return 0;

err_add_kick:
	eventloop_remove(loop, d->tfd);
err_add:
	return err_set(err, false, ret, "HPET: cannot watch its timer: %s", strerror(-ret));
}

/* The state after a reset (QEMU's hpet_reset): halted, timers one-shot, comparators all ones. */
static void hpet_reset(struct hpet *d)
{
	/* Every timer periodic-capable and 64-bit, as QEMU's (the spec asks it of timer 0 only). */
	uint64_t caps = HPET_TN_PERIODIC_CAP | HPET_TN_SIZE_CAP | (uint64_t)d->routes << 32;

	d->config = d->isr = d->counter = 0;
	for (unsigned int n = 0; n < HPET_TIMERS; n++)
		d->t[n] = (struct hpet_timer){
			.config = caps,
			.cmp = ~0ull,
			.cmp64 = ~0ull,
			.deadline = HPET_NEVER,
			.last = HPET_NEVER,
		};
	d->armed = HPET_NEVER;
}

int hpet_create_with(const struct dev_env *env, const struct dev_resources *res,
		     const struct hpet_config *cfg, struct component *out, struct err *err)
{
	static const struct hpet_config defaults;
	struct hpet *d;
	uint32_t routes;
	int ret;

	if (!cfg)
		cfg = &defaults;
	routes = (cfg->routes ? cfg->routes : HPET_ROUTES_Q35) & HPET_ROUTABLE;
	if (res->mmio_size != HPET_MMIO_SIZE)
		return err_set(err, false, -EINVAL, "HPET: a window of %u bytes, not %u",
			       HPET_MMIO_SIZE, res->mmio_size);
	if (!routes)
		return err_set(err, false, -EINVAL, "HPET: no IOAPIC pin from 1 to 23 to route to");
	d = calloc(1, sizeof(*d));
	if (!d)
		return err_set(err, false, -ENOMEM, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	d->tfd = d->efd = -1;
	d->irq = env->irq;
	d->routes = routes;
	if (cfg->clock)
		d->clock = *cfg->clock;
	d->legacy = cfg->legacy;
	d->legacy_ctx = cfg->legacy_ctx;
	hpet_reset(d);
	if (env->loop) {
		ret = hpet_loop_init(d, env->loop, err);
		if (ret)
			goto err_free;
	}
	ret = dev_claim(env, BUS_MMIO, res->mmio_base, HPET_MMIO_SIZE, &hpet_regs_ops, d,
			"hpet", err);
	if (ret)
		goto err_free;
	*out = (struct component){ &hpet_component, d };
	return 0;

err_free:
	hpet_destroy(d);
	return ret;
}

int hpet_create(const struct dev_env *env, const struct dev_resources *res,
		struct component *out, struct err *err)
{
	return hpet_create_with(env, res, NULL, out, err);
}
