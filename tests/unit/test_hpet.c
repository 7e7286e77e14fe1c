/*
 * The HPET (devices/hpet.c) through its MMIO window on a bus, on a fake
 * clock, its timers fired by hpet_service as the loop would: the
 * registers and their masks, the main counter, one-shot and periodic
 * comparators on the legacy and the routed lines, level-triggered status,
 * 32-bit mode, and periods a hostile guest picks. Its record and the real
 * loop: test_hpet_state.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/bus.h"
#include "devices/hpet.h"

#define CAP 0x000
#define CFG 0x010
#define STS 0x020
#define CNT 0x0f0
#define TCFG(n) (0x100 + 0x20 * (n))
#define TCMP(n) (0x108 + 0x20 * (n))
#define TFSB(n) (0x110 + 0x20 * (n))

#define ENABLE 0x1u
#define LEGACY 0x2u
#define T_LEVEL 0x2u
#define T_ENB 0x4u
#define T_PERIODIC 0x8u
#define T_SETVAL 0x40u
#define T_32BIT 0x100u
#define ROUTE(p) ((uint32_t)(p) << 9)

#define US 1000ull /* ns */

struct rig {
	struct bus bus;
	struct component c;
	struct rl_clock clock;
	uint64_t now;
	int level[24];
	unsigned int edges[24];   /* rises seen on each GSI */
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

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct dev_resources res = { .mmio_base = HPET_MMIO_BASE, .mmio_size = HPET_MMIO_SIZE,
				     .gsi = -1 };
	struct err err = ERR_INIT;

	assert_non_null(r);
	bus_init(&r->bus);
	r->now = 5000000000000ull; /* far from 0, as a host's clock is */
	r->clock = (struct rl_clock){ fake_now, r };
	struct dev_env env = { .bus = &r->bus, .irq = { set_line, r, 0 } };
	struct hpet_config cfg = { .clock = &r->clock, .legacy = on_legacy, .legacy_ctx = r };
	assert_int_equal(hpet_create_with(&env, &res, &cfg, &r->c, &err), 0);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	r->c.ops->destroy(r->c.obj);
	bus_destroy(&r->bus);
	free(r);
	return 0;
}

static uint64_t rd(struct rig *r, uint64_t off, unsigned int len)
{
	uint8_t b[8] = { 0 };

	assert_int_equal(bus_access(&r->bus, BUS_MMIO, HPET_MMIO_BASE + off, b, len, false), 0);
	return bus_data_get(b, len);
}

static void wr(struct rig *r, uint64_t off, unsigned int len, uint64_t v)
{
	uint8_t b[8];

	bus_data_put(b, len, v);
	assert_int_equal(bus_access(&r->bus, BUS_MMIO, HPET_MMIO_BASE + off, b, len, true), 0);
}

#define rd32(r, off) ((uint32_t)rd((r), (off), 4))
#define rd64(r, off) rd((r), (off), 8)
#define wr32(r, off, v) wr((r), (off), 4, (v))
#define wr64(r, off, v) wr((r), (off), 8, (v))

/* Time passes, and the loop does what its timerfd would. */
static void advance(struct rig *r, uint64_t ns)
{
	r->now += ns;
	hpet_service(r->c.obj);
}

static void test_capabilities(void **state)
{
	struct rig *r = *state;

	/* Intel, three timers, 64-bit, LegacyReplacement, revision 1; 10 ns a tick. */
	assert_int_equal(rd64(r, CAP), 0x009896808086a201ull);
	assert_int_equal(rd32(r, CAP), 0x8086a201);
	assert_int_equal(rd32(r, CAP + 4), 0x00989680);
	wr64(r, CAP, 0);
	assert_int_equal(rd64(r, CAP), 0x009896808086a201ull);
	for (unsigned int n = 0; n < 3; n++) {
		/* Periodic-capable, 64-bit; q35's routes: pins 2, 8 and 16-23. No FSB. */
		assert_int_equal(rd64(r, TCFG(n)), 0x00ff010400000030ull);
		assert_int_equal(rd64(r, TCMP(n)), ~0ull);
		wr64(r, TFSB(n), 0xfee00000ull << 32 | 0x41);
		assert_int_equal(rd64(r, TFSB(n)), 0);
	}
	/* No fourth timer; reserved space reads zero and takes nothing. */
	wr64(r, TCFG(3), ~0ull);
	assert_int_equal(rd64(r, TCFG(3)), 0);
	assert_int_equal(rd64(r, 0x3f8), 0);
	assert_int_equal(rd64(r, CFG), 0);
	assert_int_equal(rd64(r, STS), 0);
	assert_int_equal(rd64(r, CNT), 0);
}

static void test_register_masks(void **state)
{
	struct rig *r = *state;

	wr64(r, CFG, ~0ull & ~(uint64_t)ENABLE);
	assert_int_equal(rd64(r, CFG), LEGACY);
	wr32(r, CFG, 0);
	/* Every writable bit; route 31 is not offered, FSB is not there. */
	wr64(r, TCFG(1), ~0ull);
	assert_int_equal(rd64(r, TCFG(1)), 0x00ff010400000000ull | 0x17e);
	wr32(r, TCFG(1), ROUTE(2));
	assert_int_equal(rd32(r, TCFG(1)), 0x30 | ROUTE(2));
	wr32(r, TCFG(1), ROUTE(5));        /* not offered: reads back as it was */
	assert_int_equal(rd32(r, TCFG(1)), 0x30 | ROUTE(2));
	wr32(r, TCFG(1), ROUTE(20));
	assert_int_equal(rd32(r, TCFG(1)), 0x30 | ROUTE(20));
	/* The capabilities half is read-only. */
	wr32(r, TCFG(1) + 4, 0);
	assert_int_equal(rd32(r, TCFG(1) + 4), 0x00ff0104);

	/* Bytes and words read their part; only dwords and qwords write; misaligned floats. */
	assert_int_equal(rd(r, CAP + 2, 1), 0x86);
	assert_int_equal(rd(r, CAP + 2, 2), 0x8086);
	assert_int_equal(rd(r, CAP + 6, 2), 0x0098);
	assert_int_equal(rd(r, CAP + 2, 4), 0);
	assert_int_equal(rd(r, CAP + 4, 8), 0);
	wr(r, CFG, 1, ENABLE);
	wr(r, CFG, 2, ENABLE);
	wr(r, CFG + 4, 8, ENABLE);
	assert_int_equal(rd64(r, CFG), 0);
	assert_int_equal(rd64(r, CNT), 0);
}

static void test_counter(void **state)
{
	struct rig *r = *state;

	/* Halted, it holds still and takes writes, either half or whole. */
	advance(r, 1000 * US);
	assert_int_equal(rd64(r, CNT), 0);
	wr32(r, CNT, 0x11223344);
	wr32(r, CNT + 4, 0x55);
	assert_int_equal(rd64(r, CNT), 0x5511223344ull);
	wr64(r, CNT, 1000);
	advance(r, 1000 * US);
	assert_int_equal(rd64(r, CNT), 1000);

	/* Running, 100 ticks a microsecond; writes do not take. */
	wr32(r, CFG, ENABLE);
	advance(r, 5 * US);
	assert_int_equal(rd64(r, CNT), 1500);
	assert_int_equal(rd32(r, CNT), 1500);
	assert_int_equal(rd32(r, CNT + 4), 0);
	wr64(r, CNT, 7);
	advance(r, 15);                     /* a tick and a half */
	assert_int_equal(rd64(r, CNT), 1501);
	advance(r, 5);
	assert_int_equal(rd64(r, CNT), 1502);

	/* Halted again, it keeps the value it read. */
	wr32(r, CFG, 0);
	advance(r, 1000 * US);
	assert_int_equal(rd64(r, CNT), 1502);
	wr32(r, CFG, ENABLE);
	advance(r, 1 * US);
	assert_int_equal(rd64(r, CNT), 1602);
}

static void test_oneshot_legacy(void **state)
{
	struct rig *r = *state;

	wr32(r, CFG, ENABLE | LEGACY);
	assert_int_equal(r->legacy_calls, 0);
	advance(r, 0);
	assert_int_equal(r->legacy_calls, 1);
	assert_true(r->legacy_on);
	/* Timer 0 in 10 us, timer 1 in 20 us, edge-triggered: whatever Tn_INT_ROUTE says. */
	wr64(r, TCMP(0), 1000);
	wr64(r, TCMP(1), 2000);
	wr32(r, TCFG(0), T_ENB | ROUTE(20));
	wr32(r, TCFG(1), T_ENB | ROUTE(20));
	advance(r, 9 * US);
	assert_int_equal(r->edges[0], 0);
	advance(r, 1 * US);
	assert_int_equal(r->edges[0], 1);   /* ISA IRQ 0: IOAPIC pin 2 */
	assert_int_equal(r->level[0], 0);
	advance(r, 10 * US);
	assert_int_equal(r->edges[8], 1);   /* IRQ 8 */
	/* One-shot: nothing more, however long; nothing on the route they'd have otherwise. */
	advance(r, 100000 * US);
	assert_int_equal(r->edges[0], 1);
	assert_int_equal(r->edges[8], 1);
	assert_int_equal(r->edges[20], 0);
	assert_int_equal(rd64(r, STS), 0);  /* edge-triggered: no status */

	/* Legacy off: timer 1 takes its route. */
	wr32(r, CFG, ENABLE);
	advance(r, 0);
	assert_int_equal(r->legacy_calls, 2);
	assert_false(r->legacy_on);
	wr64(r, TCMP(1), rd64(r, CNT) + 100);
	advance(r, 1 * US);
	assert_int_equal(r->edges[20], 1);
	assert_int_equal(r->edges[8], 1);
}

static void test_periodic_route(void **state)
{
	struct rig *r = *state;

	/* Linux's hpet_set_periodic: VAL_SET, the first deadline, then the period (200 us). */
	wr32(r, TCFG(2), T_ENB | T_PERIODIC | T_SETVAL | ROUTE(17));
	wr64(r, TCMP(2), 20000);
	wr64(r, TCMP(2), 20000);
	assert_int_equal(rd32(r, TCFG(2)) & T_SETVAL, 0);
	wr32(r, CFG, ENABLE);
	advance(r, 199 * US);
	assert_int_equal(r->edges[17], 0);
	advance(r, 1 * US);
	assert_int_equal(r->edges[17], 1);
	advance(r, 200 * US);
	assert_int_equal(r->edges[17], 2);
	assert_int_equal(rd64(r, TCMP(2)), 60000);  /* the comparator steps by the period */
	/* Late by several periods: one interrupt, and the comparator past the counter. */
	advance(r, 950 * US);
	assert_int_equal(r->edges[17], 3);
	assert_int_equal(rd64(r, TCMP(2)), 140000);
	advance(r, 50 * US);
	assert_int_equal(r->edges[17], 4);
	/* Without VAL_SET a write sets the period only. */
	wr64(r, TCMP(2), 50000);
	assert_int_equal(rd64(r, TCMP(2)), 160000);
	advance(r, 200 * US);
	assert_int_equal(r->edges[17], 5);
	assert_int_equal(rd64(r, TCMP(2)), 210000);
	advance(r, 500 * US);
	assert_int_equal(r->edges[17], 6);
	/* Interrupts off: it keeps counting periods, and raises nothing. */
	wr32(r, TCFG(2), T_PERIODIC | ROUTE(17));
	advance(r, 2000 * US);
	assert_int_equal(r->edges[17], 6);
	assert_true(rd64(r, TCMP(2)) > rd64(r, CNT));
}

static void test_level_status(void **state)
{
	struct rig *r = *state;

	wr32(r, TCFG(1), T_LEVEL | T_ENB | ROUTE(8));
	wr64(r, TCMP(1), 100);
	wr32(r, CFG, ENABLE);
	advance(r, 1 * US);
	assert_int_equal(rd64(r, STS), 0x2);
	assert_int_equal(r->level[8], 1);
	/* Writing 0 clears nothing; writing 1 to another timer's bit neither. */
	wr32(r, STS, 0);
	wr32(r, STS, 0x5);
	assert_int_equal(rd64(r, STS), 0x2);
	assert_int_equal(r->level[8], 1);
	/* Halting lowers the line and keeps the status; running again raises it. */
	wr32(r, CFG, 0);
	assert_int_equal(r->level[8], 0);
	assert_int_equal(rd64(r, STS), 0x2);
	wr32(r, CFG, ENABLE);
	assert_int_equal(r->level[8], 1);
	assert_int_equal(r->edges[8], 2);
	wr32(r, STS, 0x2);
	assert_int_equal(rd64(r, STS), 0);
	assert_int_equal(r->level[8], 0);

	/* Interrupts off: the status still comes, the line does not. */
	wr32(r, TCFG(1), T_LEVEL | ROUTE(8));
	wr64(r, TCMP(1), rd64(r, CNT) + 100);
	advance(r, 1 * US);
	assert_int_equal(rd64(r, STS), 0x2);
	assert_int_equal(r->level[8], 0);
	wr32(r, TCFG(1), T_LEVEL | T_ENB | ROUTE(8));
	assert_int_equal(r->level[8], 1);
	/* Turned edge-triggered: the status goes, and the line with it. */
	wr32(r, TCFG(1), T_ENB | ROUTE(8));
	assert_int_equal(rd64(r, STS), 0);
	assert_int_equal(r->level[8], 0);

	/* Two level timers on one line: it stays up until both are cleared. */
	wr32(r, TCFG(1), T_LEVEL | T_ENB | ROUTE(21));
	wr32(r, TCFG(2), T_LEVEL | T_ENB | ROUTE(21));
	wr64(r, TCMP(1), rd64(r, CNT) + 100);
	wr64(r, TCMP(2), rd64(r, CNT) + 100);
	advance(r, 1 * US);
	assert_int_equal(rd64(r, STS), 0x6);
	assert_int_equal(r->level[21], 1);
	wr32(r, STS, 0x2);
	assert_int_equal(r->level[21], 1);
	wr32(r, STS, 0x4);
	assert_int_equal(r->level[21], 0);
}

static void test_32bit_mode(void **state)
{
	struct rig *r = *state;

	wr32(r, TCFG(0), T_32BIT | T_ENB | ROUTE(16));
	/* The comparator is 32 bits now: the high half reads 0 and takes no writes. */
	assert_int_equal(rd64(r, TCMP(0)), 0xffffffffull);
	wr64(r, TCMP(0), 0x1234567800000010ull);
	assert_int_equal(rd64(r, TCMP(0)), 0x10);
	wr32(r, TCMP(0) + 4, 0x99);
	assert_int_equal(rd64(r, TCMP(0)), 0x10);

	/* One-shot across the low half's wrap: an interrupt at the wrap, then at the match. */
	wr64(r, CNT, 0xffffff00ull);
	wr32(r, CFG, ENABLE);
	advance(r, 2550);                    /* 0xffffffff */
	assert_int_equal(r->edges[16], 0);
	advance(r, 10);                      /* 0x1_00000000 */
	assert_int_equal(r->edges[16], 1);
	advance(r, 150);                     /* 0x1_0000000f */
	assert_int_equal(r->edges[16], 1);
	advance(r, 10);                      /* 0x1_00000010 */
	assert_int_equal(r->edges[16], 2);
	advance(r, 100000 * US);
	assert_int_equal(r->edges[16], 2);

	/* Periodic: the period is 32 bits too, and the comparator wraps with the counter. */
	wr32(r, CFG, 0);
	wr64(r, CNT, 0xfffffc18ull);        /* 1000 ticks before the wrap */
	wr32(r, TCFG(0), T_32BIT | T_ENB | T_PERIODIC | T_SETVAL | ROUTE(16));
	wr64(r, TCMP(0), 0x1ffffffffull);   /* 0xffffffff, 999 ticks away */
	wr64(r, TCMP(0), 0x100000000ull | 20000);
	wr32(r, CFG, ENABLE);
	advance(r, 9990);
	assert_int_equal(r->edges[16], 3);
	assert_int_equal(rd64(r, TCMP(0)), 19999);
	advance(r, 200 * US);
	assert_int_equal(r->edges[16], 4);
	assert_int_equal(rd64(r, TCMP(0)), 39999);
	assert_int_equal(rd64(r, CNT), 0x100000000ull | 19999);
	/* Back to 64-bit mode: the comparator is what it was, no more. */
	wr32(r, TCFG(0), T_ENB | ROUTE(16));
	assert_int_equal(rd64(r, TCMP(0)), 39999);
}

/* A 10 ns period, for a simulated second in microsecond steps: at most one per 100 us. */
static void test_tiny_period_bounded(void **state)
{
	struct rig *r = *state;

	wr32(r, TCFG(0), T_ENB | T_PERIODIC | T_SETVAL | ROUTE(16));
	wr64(r, TCMP(0), 1);
	wr64(r, TCMP(0), 1);
	wr32(r, CFG, ENABLE);
	for (unsigned int i = 0; i < 1000000; i++)
		advance(r, 1 * US);
	assert_true(r->edges[16] >= 9000);
	assert_true(r->edges[16] <= 1000000 * US / HPET_MIN_PERIOD_NS + 1);
	/* A century in one step is one interrupt, computed, not counted out. */
	advance(r, 100ull * 365 * 86400 * 1000000000ull);
	assert_true(r->edges[16] <= 10002);
	advance(r, 100 * US);
	assert_true(r->edges[16] <= 10003);
}

static void test_odd_periods(void **state)
{
	struct rig *r = *state;

	/* Period 0: a periodic timer that fires once, like a one-shot. */
	wr32(r, TCFG(0), T_ENB | T_PERIODIC | T_SETVAL | ROUTE(16));
	wr64(r, TCMP(0), 100);
	wr64(r, TCMP(0), 0);
	/* The largest period: once, then not for millennia. */
	wr32(r, TCFG(1), T_ENB | T_PERIODIC | T_SETVAL | ROUTE(18));
	wr64(r, TCMP(1), 100);
	wr64(r, TCMP(1), ~0ull);
	wr32(r, CFG, ENABLE);
	for (unsigned int i = 0; i < 1000; i++)
		advance(r, 1000 * US);
	assert_int_equal(r->edges[16], 1);
	assert_int_equal(r->edges[18], 1);
	/* A comparator already passed fires at once (QEMU's), once. */
	wr32(r, TCFG(2), T_ENB | ROUTE(19));
	wr64(r, TCMP(2), 5);
	advance(r, 0);
	assert_int_equal(r->edges[19], 1);
	advance(r, 1000 * US);
	assert_int_equal(r->edges[19], 1);
}

/* Route 0, the reset value, is no pin q35 offers: the timer runs and raises nothing. */
static void test_unrouted(void **state)
{
	struct rig *r = *state;

	wr32(r, TCFG(2), T_ENB);
	wr32(r, TCFG(1), T_ENB | T_LEVEL);
	wr64(r, TCMP(2), 100);
	wr64(r, TCMP(1), 100);
	wr32(r, CFG, ENABLE);
	advance(r, 10 * US);
	for (unsigned int g = 0; g < 24; g++)
		assert_int_equal(r->edges[g], 0);
	assert_int_equal(rd64(r, STS), 0x2);
}

static void test_resources(void **state)
{
	struct rig *r = *state;
	struct dev_env env = { .bus = &r->bus };
	struct dev_resources res = { .mmio_base = HPET_MMIO_BASE, .mmio_size = HPET_MMIO_SIZE,
				     .gsi = -1 };
	struct dev_resources small = { .mmio_base = 0xfed10000, .mmio_size = 0x100, .gsi = -1 };
	struct hpet_config pin0 = { .routes = 0x1 };
	struct err err = ERR_INIT;
	struct component c;
	uint8_t b[4];

	assert_int_equal(hpet_create(&env, &res, &c, &err), -EEXIST);
	assert_string_equal(err.msg, "MMIO 0xfed00000-0xfed003ff are taken by another device");
	assert_int_equal(hpet_create(&env, &small, &c, &err), -EINVAL);
	res.mmio_base = 0xfed10000;
	assert_int_equal(hpet_create_with(&env, &res, &pin0, &c, &err), -EINVAL);
	assert_int_equal(bus_access(&r->bus, BUS_MMIO, HPET_MMIO_BASE + HPET_MMIO_SIZE, b, 4,
				    false), -ENOENT);
	/* A VM that keeps pins 16-23 for itself offers the legacy lines only. */
	struct hpet_config legacy = { .routes = HPET_ROUTES_LEGACY };
	assert_int_equal(hpet_create_with(&env, &res, &legacy, &c, &err), 0);
	assert_int_equal(bus_access(&r->bus, BUS_MMIO, 0xfed10104, b, 4, false), 0);
	assert_int_equal(bus_data_get(b, 4), 0x104);
	c.ops->destroy(c.obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_register_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oneshot_legacy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_periodic_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_32bit_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tiny_period_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_periods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unrouted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resources, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
