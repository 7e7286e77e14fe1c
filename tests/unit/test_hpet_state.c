/*
 * The HPET (devices/hpet.c) as a component: its record round trip, the
 * counter and deadlines relative to the save, hostile records refused
 * without a change, pause and resume; and its timers on a real event loop
 * and the host's clock, as a VM runs them. Registers: test_hpet.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "devices/hpet.h"
#include "state_check.h"

#define CFG 0x010
#define STS 0x020
#define CNT 0x0f0
#define TCFG(n) (0x100 + 0x20 * (n))
#define TCMP(n) (0x108 + 0x20 * (n))

#define ENABLE 0x1u
#define LEGACY 0x2u
#define T_LEVEL 0x2u
#define T_ENB 0x4u
#define T_PERIODIC 0x8u
#define T_SETVAL 0x40u
#define T_32BIT 0x100u
#define ROUTE(p) ((uint32_t)(p) << 9)

#define US 1000ull

/* The record's layout (hpet_state.c): where each field sits. */
#define R_TIMERS 8
#define R_CONFIG 9
#define R_ISR 17
#define R_COUNTER 25
#define R_TIMER(n) (33 + 41 * (n))
#define R_TCFG 0
#define R_TCMP 8
#define R_TCMP64 16
#define R_PERIOD 24
#define R_WRAP 32
#define R_DUE 33
#define R_LEN R_TIMER(3)

struct rig {
	struct bus bus;
	struct component c;
	struct rl_clock clock;
	uint64_t now;
	bool real;                 /* the host's clock and a loop */
	struct eventloop loop;
	int level[24];
	unsigned int edges[24];
	unsigned int legacy_calls;
	bool legacy_on;
};

static uint64_t fake_now(void *opaque)
{
	return ((struct rig *)opaque)->now;
}

static int set_line(void *ctx, unsigned int gsi, int level)
{
	struct rig *r = ctx;

	assert_true(gsi < 24);
	if (level && !r->level[gsi])
		r->edges[gsi]++;
	r->level[gsi] = level;
	return 0;
}

static void on_legacy(void *ctx, bool on)
{
	struct rig *r = ctx;

	r->legacy_calls++;
	r->legacy_on = on;
}

static struct rig *make(uint64_t now, uint32_t routes, bool real)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct dev_resources res = { .mmio_base = HPET_MMIO_BASE, .mmio_size = HPET_MMIO_SIZE,
				     .gsi = -1 };
	struct err err = ERR_INIT;

	assert_non_null(r);
	bus_init(&r->bus);
	r->now = now;
	r->real = real;
	r->clock = (struct rl_clock){ fake_now, r };
	if (real)
		assert_int_equal(eventloop_init(&r->loop), 0);
	struct dev_env env = { .bus = &r->bus, .irq = { set_line, r, 0 },
			       .loop = real ? &r->loop : NULL };
	struct hpet_config cfg = { .routes = routes, .clock = real ? NULL : &r->clock,
				   .legacy = on_legacy, .legacy_ctx = r };
	assert_int_equal(hpet_create_with(&env, &res, &cfg, &r->c, &err), 0);
	return r;
}

static void unmake(struct rig *r)
{
	r->c.ops->destroy(r->c.obj);
	if (r->real)
		eventloop_destroy(&r->loop);
	bus_destroy(&r->bus);
	free(r);
}

static uint64_t rd64(struct rig *r, uint64_t off)
{
	uint8_t b[8] = { 0 };

	assert_int_equal(bus_access(&r->bus, BUS_MMIO, HPET_MMIO_BASE + off, b, 8, false), 0);
	return bus_data_get(b, 8);
}

static void wr64(struct rig *r, uint64_t off, uint64_t v)
{
	uint8_t b[8];

	bus_data_put(b, 8, v);
	assert_int_equal(bus_access(&r->bus, BUS_MMIO, HPET_MMIO_BASE + off, b, 8, true), 0);
}

static void advance(struct rig *r, uint64_t ns)
{
	r->now += ns;
	hpet_service(r->c.obj);
}

/*
 * Every kind of state at once: LegacyReplacement on; timer 0 periodic
 * (200 us) on IRQ 0; timer 1 level-triggered on IRQ 8, fired and not yet
 * acknowledged; timer 2 a 32-bit one-shot on pin 16 waiting for the low
 * half's wrap.
 */
static void stir(struct rig *r)
{
	wr64(r, CNT, 0xffff0000ull);         /* 655 us before the low half wraps */
	wr64(r, TCFG(0), T_ENB | T_PERIODIC | T_SETVAL);
	wr64(r, TCMP(0), 20000);
	wr64(r, TCMP(0), 20000);
	wr64(r, TCFG(1), T_ENB | T_LEVEL);
	wr64(r, TCMP(1), 0xffff0000ull + 500);
	wr64(r, TCFG(2), T_ENB | T_32BIT | ROUTE(16));
	wr64(r, TCMP(2), 0x1000);
	wr64(r, CFG, ENABLE | LEGACY);
	advance(r, 5 * US);
	advance(r, 80 * US);
}

static void test_round_trip(void **state)
{
	struct rig *a = make(5000000000000ull, 0, false), *b = make(7000000000000ull, 0, false);
	uint8_t *saved, *again;
	unsigned int a0[24], b0[24];
	size_t len, len2;

	(void)state;
	stir(a);
	assert_int_equal(rd64(a, STS), 0x2);
	assert_int_equal(a->level[8], 1);
	saved = state_save(&a->c, &len);
	assert_int_equal(len, R_LEN);
	state_check_refusals(&b->c, saved, len);
	assert_int_equal(state_restore(&b->c, saved, len), 0);

	/* The lines as saved, the PIT told to keep quiet, the same record again. */
	assert_int_equal(b->level[8], 1);
	assert_int_equal(b->legacy_calls, 1);
	assert_true(b->legacy_on);
	again = state_save(&b->c, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, saved, len);
	free(again);

	/* The counter counts on from the save; each comparator fires when it would have. */
	assert_int_equal(rd64(b, CNT), rd64(a, CNT));
	memcpy(a0, a->edges, sizeof(a0));
	memcpy(b0, b->edges, sizeof(b0));
	for (unsigned int step = 0; step < 400; step++) {
		advance(a, 7 * US);
		advance(b, 7 * US);
		assert_int_equal(rd64(b, CNT), rd64(a, CNT));
		for (unsigned int g = 0; g < 24; g++)
			assert_int_equal(b->edges[g] - b0[g], a->edges[g] - a0[g]);
		assert_memory_equal(b->level, a->level, sizeof(a->level));
		for (unsigned int n = 0; n < 3; n++) {
			assert_int_equal(rd64(b, TCFG(n)), rd64(a, TCFG(n)));
			assert_int_equal(rd64(b, TCMP(n)), rd64(a, TCMP(n)));
		}
		assert_int_equal(rd64(b, STS), rd64(a, STS));
	}
	assert_true(b->edges[0] - b0[0] >= 10);  /* timer 0 ran on */
	assert_int_equal(b->edges[16], 2);       /* timer 2's wrap, then its match */
	free(saved);
	unmake(a);
	unmake(b);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (unsigned int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << 8 * i;
	return v;
}

/* The check refuses it, the apply too, and b saves what it did before. */
static void refused(struct rig *b, const uint8_t *rec)
{
	size_t before_len, after_len;
	uint8_t *before = state_save(&b->c, &before_len), *after;
	struct err err = ERR_INIT;

	assert_int_equal(state_check(&b->c, rec, R_LEN), -EINVAL);
	assert_int_equal(b->c.ops->restore(b->c.obj, rec, R_LEN, true, &err), -EINVAL);
	after = state_save(&b->c, &after_len);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	assert_int_equal(b->legacy_calls, 0);
	free(before);
	free(after);
}

static void test_hostile_records(void **state)
{
	struct rig *a = make(5000000000000ull, 0, false), *b = make(9000000000000ull, 0, false);
	struct rig *narrow = make(9000000000000ull, HPET_ROUTES_LEGACY, false);
	uint8_t *saved, rec[R_LEN];
	size_t len;

	(void)state;
	stir(a);
	saved = state_save(&a->c, &len);
	assert_int_equal(len, R_LEN);

#define MUTATE(stmt)                            \
	do {                                    \
		memcpy(rec, saved, R_LEN);      \
		stmt;                           \
		refused(b, rec);                \
	} while (0)

	MUTATE(rec[R_TIMERS] = 4);
	MUTATE(rec[R_CONFIG] |= 0x4);                          /* a reserved bit */
	MUTATE(rec[R_ISR] |= 0x8);                             /* a fourth timer's status */
	MUTATE(rec[R_ISR] |= 0x1);                             /* status on an edge timer */
	MUTATE(rec[R_TIMER(0) + R_TCFG + 4] ^= 0x01);          /* another route capability */
	MUTATE(rec[R_TIMER(1) + R_TCFG + 1] |= 0x40);          /* FSB enable: no FSB */
	MUTATE(rec[R_TIMER(1) + R_TCFG] &= (uint8_t)~0x20);    /* a 32-bit-only timer */
	MUTATE(put64(&rec[R_TIMER(1) + R_TCFG],                /* route 5: not offered */
		     get64(&rec[R_TIMER(1) + R_TCFG]) | 5u << 9));
	MUTATE(rec[R_TIMER(2) + R_TCMP + 4] = 1);              /* 32-bit comparator past 32 bits */
	MUTATE(rec[R_TIMER(2) + R_PERIOD + 4] = 1);            /* and its period */
	MUTATE(rec[R_TIMER(2) + R_WRAP] = 2);                  /* not a bool */
	MUTATE(rec[R_TIMER(0) + R_WRAP] = 1);                  /* a wrap on a periodic timer */
	MUTATE(rec[R_TIMER(0) + R_TCMP64]++);                  /* a next match not the comparator */
	MUTATE(rec[R_CONFIG] &= (uint8_t)~ENABLE);             /* halted, with deadlines armed */
	/* Halted with nothing armed is a record save writes: it passes. */
	memcpy(rec, saved, R_LEN);
	rec[R_CONFIG] &= (uint8_t)~ENABLE;
	for (unsigned int n = 0; n < 3; n++) {
		put64(&rec[R_TIMER(n) + R_DUE], ~0ull);
		rec[R_TIMER(n) + R_WRAP] = 0;
	}
	assert_int_equal(state_check(&b->c, rec, R_LEN), 0);
	/* Another HPET's routes: q35's record does not fit one that offers only 2 and 8. */
	assert_int_equal(state_check(&narrow->c, saved, R_LEN), -EINVAL);
	assert_int_equal(state_check(&b->c, saved, R_LEN), 0);
#undef MUTATE
	free(saved);
	unmake(a);
	unmake(b);
	unmake(narrow);
}

static void test_pause_resume(void **state)
{
	struct rig *r = make(5000000000000ull, 0, false);

	(void)state;
	wr64(r, TCFG(0), T_ENB | ROUTE(16));
	wr64(r, TCMP(0), 10000);                /* 100 us */
	wr64(r, TCFG(1), T_ENB | T_PERIODIC | T_SETVAL | ROUTE(17));
	wr64(r, TCMP(1), 20000);
	wr64(r, TCMP(1), 20000);                /* every 200 us */
	wr64(r, CFG, ENABLE);
	assert_int_equal(r->c.ops->pause(r->c.obj), 0);
	for (unsigned int i = 0; i < 100; i++)
		advance(r, 100 * US);
	assert_int_equal(r->edges[16], 0);
	assert_int_equal(r->edges[17], 0);
	/* The counter ran on; what came due fires once on resume, not once per period missed. */
	assert_int_equal(rd64(r, CNT), 1000000);
	r->c.ops->resume(r->c.obj);
	assert_int_equal(r->edges[16], 1);
	assert_int_equal(r->edges[17], 1);
	advance(r, 200 * US);
	assert_int_equal(r->edges[16], 1);
	assert_true(r->edges[17] <= 3);
	unmake(r);
}

/* One round of the loop, as eventloop_run's; the events it had. */
static int turn(struct rig *r, int timeout_ms)
{
	struct epoll_event evs[8];
	int n = epoll_wait(r->loop.epfd, evs, 8, timeout_ms);

	eventloop_batch_begin(&r->loop);
	for (int i = 0; i < n; i++) {
		struct eventloop_handler *h = evs[i].data.ptr;

		if (h->fd >= 0)
			h->cb(h->opaque, evs[i].events);
	}
	eventloop_batch_end(&r->loop);
	return n;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* On the loop and the host's clock: a register write wakes it, the timerfd fires. */
static void test_real_loop(void **state)
{
	struct rig *r = make(0, 0, true);
	uint64_t start, turns = 0;

	(void)state;
	/* 2 ms away, IRQ 0 under LegacyReplacement. */
	wr64(r, TCFG(0), T_ENB);
	wr64(r, TCMP(0), 200000);
	wr64(r, CFG, ENABLE | LEGACY);
	assert_int_equal(r->legacy_calls, 0); /* not on the vCPU: the loop tells it */
	start = mono_ns();
	while (!r->edges[0] && mono_ns() - start < 5000000000ull)
		turn(r, 100);
	assert_int_equal(r->edges[0], 1);
	assert_true(mono_ns() - start >= 1500000);
	assert_int_equal(r->legacy_calls, 1);
	assert_true(r->legacy_on);

	/* A 10 ns period for 50 ms: coalesced, never a busy loop. */
	wr64(r, CFG, 0);
	wr64(r, CNT, 0);
	wr64(r, TCFG(2), T_ENB | T_PERIODIC | T_SETVAL | ROUTE(16));
	wr64(r, TCMP(2), 1);
	wr64(r, TCMP(2), 1);
	wr64(r, CFG, ENABLE);
	start = mono_ns();
	while (mono_ns() - start < 50000000ull) {
		turn(r, 10);
		turns++;
	}
	assert_true(r->edges[16] >= 1);
	assert_true(r->edges[16] <= (mono_ns() - start) / HPET_MIN_PERIOD_NS + 2);
	assert_true(turns <= (mono_ns() - start) / HPET_MIN_PERIOD_NS + 10);

	/* Halted: the loop goes quiet (at most one early timer with nothing due). */
	wr64(r, CFG, 0);
	turn(r, 0);
	turn(r, 1);
	assert_int_equal(turn(r, 20), 0);
	unmake(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_hostile_records),
		cmocka_unit_test(test_pause_resume),
		cmocka_unit_test(test_real_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
