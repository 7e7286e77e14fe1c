/*
 * The HPET's state, shared by hpet.c (the timers, the lines, the loop),
 * hpet_regs.c (the registers) and hpet_state.c (pause, resume, save and
 * restore). Nothing else includes this but the fuzz target, which checks
 * it.
 */
#ifndef HEARTH_DEVICES_HPET_PRIV_H
#define HEARTH_DEVICES_HPET_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/hpet.h"

#define HPET_TICK_NS 10u
#define HPET_PERIOD_FS 10000000u     /* the tick in femtoseconds: 0x00989680 */
#define HPET_NEVER UINT64_MAX        /* a deadline that never comes */
#define HPET_PINS 24u                /* KVM's IOAPIC */

/* The general registers, and each timer's at 0x100 + 0x20 * n. */
#define HPET_REG_CAP 0x000
#define HPET_REG_CFG 0x010
#define HPET_REG_STATUS 0x020
#define HPET_REG_COUNTER 0x0f0
#define HPET_REG_TIMER0 0x100
#define HPET_TIMER_STRIDE 0x20
#define HPET_TN_CFG 0x00
#define HPET_TN_CMP 0x08

/* General Capabilities and ID: revision 1, a 64-bit counter, LegacyReplacement. */
#define HPET_CAP_REV 0x01ull
#define HPET_CAP_NUM_SHIFT 8
#define HPET_CAP_COUNT_64 (1ull << 13)
#define HPET_CAP_LEG_RT (1ull << 15)
#define HPET_CAP_VENDOR (0x8086ull << 16)
#define HPET_CAP                                                                          \
	(HPET_CAP_REV | (uint64_t)(HPET_TIMERS - 1) << HPET_CAP_NUM_SHIFT | HPET_CAP_COUNT_64 | \
	 HPET_CAP_LEG_RT | HPET_CAP_VENDOR | (uint64_t)HPET_PERIOD_FS << 32)

/* General Configuration. */
#define HPET_CFG_ENABLE 0x1ull
#define HPET_CFG_LEGACY 0x2ull
#define HPET_CFG_MASK (HPET_CFG_ENABLE | HPET_CFG_LEGACY)

/* Timer N Configuration and Capabilities; the route capability is its top half. */
#define HPET_TN_LEVEL (1ull << 1)
#define HPET_TN_ENABLE (1ull << 2)
#define HPET_TN_PERIODIC (1ull << 3)
#define HPET_TN_PERIODIC_CAP (1ull << 4)
#define HPET_TN_SIZE_CAP (1ull << 5)
#define HPET_TN_SETVAL (1ull << 6)
#define HPET_TN_32BIT (1ull << 8)
#define HPET_TN_ROUTE_SHIFT 9
#define HPET_TN_ROUTE (0x1full << HPET_TN_ROUTE_SHIFT)
/* Tn_FSB_EN_CNF (bit 14) is not here: with no FSB capability it stays 0. */
#define HPET_TN_WRITABLE                                                                  \
	(HPET_TN_LEVEL | HPET_TN_ENABLE | HPET_TN_PERIODIC | HPET_TN_SETVAL | HPET_TN_32BIT |   \
	 HPET_TN_ROUTE)
/* What a timer is: the bits of its register the guest cannot change. */
#define HPET_TN_FIXED (~HPET_TN_WRITABLE)

struct hpet_timer {
	uint64_t config;      /* the register as the guest reads it, capabilities included */
	uint64_t cmp;         /* the comparator as the guest reads it */
	uint64_t cmp64;       /* the main counter's value at the next match */
	uint64_t period;      /* periodic mode's step */
	bool wrap;            /* 32-bit one-shot: armed for the counter's wrap, the match next */
	uint64_t deadline;    /* clock ns it fires at; HPET_NEVER: not armed */
	uint64_t last;        /* the deadline it last fired at (HPET_MIN_PERIOD_NS); NEVER: none */
};

struct hpet {
	pthread_mutex_t lock;
	struct irq_line irq;           /* env's setter; the GSI is each call's */
	uint32_t routes;               /* Tn_INT_ROUTE_CAP, every timer's */
	struct rl_clock clock;
	void (*legacy)(void *ctx, bool on);
	void *legacy_ctx;
	bool legacy_tell;              /* LEG_RT_CNF changed since the hook last heard */

	uint64_t config, isr;
	uint64_t counter;              /* halted: the main counter; running: its value at base */
	uint64_t base;                 /* clock ns at which a running counter read `counter` */
	uint32_t lines;                /* the GSIs this HPET holds high */
	bool paused;                   /* no timer fires (component pause) */
	struct hpet_timer t[HPET_TIMERS];

	/* The loop's side: NULL and -1 without one. */
	struct eventloop *loop;
	int tfd, efd;
	uint64_t armed;                /* the deadline tfd is armed for; HPET_NEVER: none */
	bool kicked;                   /* efd written, the loop not yet through it */
};

/* The device's clock. */
uint64_t hpet_now(const struct hpet *d);
/* The main counter at now. d->lock held, as for all below. */
uint64_t hpet_counter_at(const struct hpet *d, uint64_t now);
/* Sets t's next match and deadline from its comparator: the counter runs. */
void hpet_set_timer(struct hpet *d, struct hpet_timer *t, uint64_t now);
/* The earliest deadline; HPET_NEVER when nothing may fire (paused, halted). */
uint64_t hpet_next(const struct hpet *d);
/* Drives each GSI to what the level-triggered timers' status asks. */
void hpet_sync_lines(struct hpet *d);
/* Arms the timerfd for the earliest deadline (nothing while paused or halted). */
void hpet_rearm(struct hpet *d, uint64_t now);
/* Hands the hook LEG_RT_CNF's state when it has news. Without d->lock, on the loop's thread. */
void hpet_tell_legacy(struct hpet *d);

/* hpet_regs.c: the MMIO window's handlers. */
extern const struct bus_region_ops hpet_regs_ops;

/* hpet_state.c: the component's ops besides destroy. */
int hpet_pause(void *obj);
int hpet_resume(void *obj);
int hpet_save(void *obj, struct bytes_out *o, struct err *err);
int hpet_restore(void *obj, const void *in, size_t len, bool apply, struct err *err);

#endif
