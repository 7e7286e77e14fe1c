/*
 * The ICH9 LPC (chipset/lpc.h) as the firmware and the guest drive it:
 * its identity, the PM block decoding only where PMBASE and ACPI_EN put
 * it, S5 and S4 powering off (other sleep types ignored), the PM timer on
 * a fake clock, APM's ACPI_ENABLE, the SCI, RCBA's NO_REBOOT; and its
 * record: a round trip, every truncation refused, hostile records (SLP_EN
 * held, NO_REBOOT clear, a PMBASE with its low bits) refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chipset/lpc.h"
#include "core/bus.h"
#include "pci/config.h"
#include "state_check.h"
#include "util/bytes.h"

#define PM 0x600
#define APM 0xb2
#define RCBA 0xfed1c000ull
#define SCI 9

struct rig {
	struct bus bus;
	struct component c;
	struct rl_clock clock;
	uint64_t now;
	int level[24];
	unsigned int offs, resets;
};

static uint64_t fake_now(void *opaque)
{
	return ((struct rig *)opaque)->now;
}

static int set_line(void *ctx, unsigned int gsi, int level)
{
	struct rig *r = ctx;

	assert_true(gsi < 24);
	r->level[gsi] = level;
	return 0;
}

static void on_power(void *ctx, enum power_event ev)
{
	struct rig *r = ctx;

	if (ev == POWER_OFF)
		r->offs++;
	else
		r->resets++;
}

static struct rig *make(uint64_t now)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct err err = ERR_INIT;

	assert_non_null(r);
	bus_init(&r->bus);
	r->now = now;
	r->clock = (struct rl_clock){ fake_now, r };
	struct dev_env env = { .bus = &r->bus, .irq = { set_line, r, 0 },
			       .power = { on_power, r } };
	struct lpc_config cfg = { .pm_port = PM, .apm_port = APM, .rcba_addr = RCBA,
				  .sci = { set_line, r, SCI }, .clock = &r->clock };
	assert_int_equal(lpc_create(&env, &cfg, &r->c, &err), 0);
	return r;
}

static void unmake(struct rig *r)
{
	r->c.ops->destroy(r->c.obj);
	bus_destroy(&r->bus);
	free(r);
}

static uint32_t cfg_rd(struct rig *r, unsigned int off, unsigned int len)
{
	return lpc_function_ops.cfg_read(r->c.obj, off, len);
}

static void cfg_wr(struct rig *r, unsigned int off, uint32_t v, unsigned int len)
{
	lpc_function_ops.cfg_write(r->c.obj, off, v, len);
}

static uint32_t io_rd(struct rig *r, uint64_t port, unsigned int len)
{
	uint8_t b[4] = { 0 };

	assert_int_equal(bus_access(&r->bus, BUS_PIO, port, b, len, false), 0);
	return (uint32_t)bus_data_get(b, len);
}

static void io_wr(struct rig *r, uint64_t port, unsigned int len, uint32_t v)
{
	uint8_t b[4];

	bus_data_put(b, len, v);
	assert_int_equal(bus_access(&r->bus, BUS_PIO, port, b, len, true), 0);
}

/* What SeaBIOS's and OVMF's q35 code does: PMBASE, then ACPI_EN. */
static void enable_pm(struct rig *r)
{
	cfg_wr(r, LPC_PMBASE, PM | 1, 4);
	cfg_wr(r, LPC_ACPI_CNTL, LPC_ACPI_EN, 1);
}

static void test_identity(void **state)
{
	struct rig *r = make(1000000000000ull);

	(void)state;
	assert_int_equal(cfg_rd(r, PCI_CFG_VENDOR_ID, 2), LPC_VENDOR);
	assert_int_equal(cfg_rd(r, PCI_CFG_VENDOR_ID + 2, 2), LPC_DEVICE);
	assert_int_equal(cfg_rd(r, PCI_CFG_CLASS_PROG, 4) & 0xffffff, LPC_CLASS_ISA_BRIDGE);
	/* PMBASE's I/O indicator reads 1 and stays; its low bits are not the guest's. */
	assert_int_equal(cfg_rd(r, LPC_PMBASE, 4), 1);
	cfg_wr(r, LPC_PMBASE, 0xffffffff, 4);
	assert_int_equal(cfg_rd(r, LPC_PMBASE, 4), LPC_PMBASE_MASK | 1);
	assert_int_equal(cfg_rd(r, LPC_PIRQA, 1), LPC_PIRQ_DISABLED);
	unmake(r);
}

static void test_pm_decodes_where_programmed(void **state)
{
	struct rig *r = make(1000000000000ull);

	(void)state;
	/* Before the firmware programs it: all ones, and a sleep request goes nowhere. */
	assert_int_equal(io_rd(r, PM + LPC_PM1_CNT, 2), 0xffff);
	io_wr(r, PM + LPC_PM1_CNT, 2, LPC_PM1_CNT_SLP_EN);
	assert_int_equal(r->offs, 0);
	/* PMBASE elsewhere: still nothing at the claimed ports. */
	cfg_wr(r, LPC_PMBASE, 0x700 | 1, 4);
	cfg_wr(r, LPC_ACPI_CNTL, LPC_ACPI_EN, 1);
	assert_int_equal(io_rd(r, PM + LPC_PM1_CNT, 2), 0xffff);
	enable_pm(r);
	assert_int_equal(io_rd(r, PM + LPC_PM1_CNT, 2), 0);
	/* ACPI_EN off again: gone. */
	cfg_wr(r, LPC_ACPI_CNTL, 0, 1);
	assert_int_equal(io_rd(r, PM + LPC_PM1_CNT, 2), 0xffff);
	unmake(r);
}

static void test_sleep_types(void **state)
{
	struct rig *r = make(1000000000000ull);

	(void)state;
	enable_pm(r);
	/* S1 (type 1 here) is not supported: ignored, SLP_EN never kept. */
	io_wr(r, PM + LPC_PM1_CNT, 2, 1u << LPC_PM1_CNT_SLP_TYP_SHIFT | LPC_PM1_CNT_SLP_EN);
	assert_int_equal(r->offs, 0);
	assert_int_equal(io_rd(r, PM + LPC_PM1_CNT, 2) & LPC_PM1_CNT_SLP_EN, 0);
	/* The type alone, then SLP_EN in a byte write of its own: S5 as a word write would. */
	io_wr(r, PM + LPC_PM1_CNT, 2, 0);
	io_wr(r, PM + LPC_PM1_CNT + 1, 1, LPC_PM1_CNT_SLP_EN >> 8);
	assert_int_equal(r->offs, 1);
	/* S4 powers off too, as QEMU's ICH9. */
	io_wr(r, PM + LPC_PM1_CNT, 2, 2u << LPC_PM1_CNT_SLP_TYP_SHIFT | LPC_PM1_CNT_SLP_EN);
	assert_int_equal(r->offs, 2);
	assert_int_equal(r->resets, 0);
	unmake(r);
}

static void test_pm_timer(void **state)
{
	struct rig *r = make(1000000000000ull);
	uint32_t t0, t1;

	(void)state;
	enable_pm(r);
	t0 = io_rd(r, PM + LPC_PM_TMR, 4);
	assert_int_equal(t0 & ~LPC_PM_TIMER_MASK, 0);
	r->now += 1000000000ull; /* one second: 3579545 ticks, modulo 2^24 */
	t1 = io_rd(r, PM + LPC_PM_TMR, 4);
	assert_int_equal((t1 - t0) & LPC_PM_TIMER_MASK, LPC_PM_TIMER_HZ & LPC_PM_TIMER_MASK);
	/* Read-only: a write changes nothing. */
	io_wr(r, PM + LPC_PM_TMR, 4, 0);
	assert_int_equal(io_rd(r, PM + LPC_PM_TMR, 4), t1);
	/* Bit 23 turns over every 2^23 ticks (2.34 s): not yet, then set; write 1 clears it. */
	assert_false(io_rd(r, PM + LPC_PM1_STS, 2) & LPC_PM1_TMR_STS);
	r->now += 2000000000ull;
	assert_true(io_rd(r, PM + LPC_PM1_STS, 2) & LPC_PM1_TMR_STS);
	io_wr(r, PM + LPC_PM1_STS, 2, LPC_PM1_TMR_STS);
	assert_false(io_rd(r, PM + LPC_PM1_STS, 2) & LPC_PM1_TMR_STS);
	unmake(r);
}

static void test_apm_and_sci(void **state)
{
	struct rig *r = make(1000000000000ull);

	(void)state;
	enable_pm(r);
	io_wr(r, APM, 1, LPC_APM_ACPI_ENABLE);
	assert_true(io_rd(r, PM + LPC_PM1_CNT, 2) & LPC_PM1_CNT_SCI_EN);
	assert_int_equal(io_rd(r, APM, 1), LPC_APM_ACPI_ENABLE);
	/* The timer's event, enabled and pending: the SCI is high until it is cleared. */
	io_wr(r, PM + LPC_PM1_EN, 2, LPC_PM1_TMR_STS);
	r->now += 5000000000ull;
	(void)io_rd(r, PM + LPC_PM1_STS, 2);
	assert_int_equal(r->level[SCI], 1);
	io_wr(r, PM + LPC_PM1_STS, 2, LPC_PM1_TMR_STS);
	assert_int_equal(r->level[SCI], 0);
	io_wr(r, APM, 1, LPC_APM_ACPI_DISABLE);
	assert_false(io_rd(r, PM + LPC_PM1_CNT, 2) & LPC_PM1_CNT_SCI_EN);
	unmake(r);
}

static void test_rcba_no_reboot(void **state)
{
	struct rig *r = make(1000000000000ull);
	uint8_t b[4] = { 0 };

	(void)state;
	bus_data_put(b, 4, 0);
	assert_int_equal(bus_access(&r->bus, BUS_MMIO, RCBA + LPC_RCBA_GCS, b, 4, true), 0);
	assert_int_equal(bus_access(&r->bus, BUS_MMIO, RCBA + LPC_RCBA_GCS, b, 4, false), 0);
	assert_true(bus_data_get(b, 4) & LPC_GCS_NO_REBOOT);
	unmake(r);
}

/* A record's offsets (lpc.h's layout): its tag, the command, 0x40-0xff, then the PM block's. */
#define REC_CMD (BYTES_TAG_SIZE + 4)
#define REC_REGS (REC_CMD + 2)
#define REC_PM1_CNT (REC_REGS + 0xc0 + 4)

static void test_round_trip(void **state)
{
	struct rig *a = make(1000000000000ull), *b = make(9000000000000ull);
	uint8_t *saved, *again, *bad;
	size_t len, len2;

	(void)state;
	enable_pm(a);
	io_wr(a, APM, 1, LPC_APM_ACPI_ENABLE);
	io_wr(a, PM + LPC_PM1_EN, 2, LPC_PM1_PWRBTN_STS);
	cfg_wr(a, LPC_RCBA, (uint32_t)RCBA | LPC_RCBA_EN, 4);
	a->now += 123456789ull;
	saved = state_save(&a->c, &len);
	state_check_refusals(&b->c, saved, len);
	assert_int_equal(state_restore(&b->c, saved, len), 0);
	again = state_save(&b->c, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, saved, len);
	free(again);
	/* The registers as saved, the timer counting on from its value at the save. */
	assert_int_equal(cfg_rd(b, LPC_PMBASE, 4), PM | 1);
	assert_true(io_rd(b, PM + LPC_PM1_CNT, 2) & LPC_PM1_CNT_SCI_EN);
	assert_int_equal(io_rd(b, PM + LPC_PM1_EN, 2), LPC_PM1_PWRBTN_STS);
	assert_int_equal(io_rd(b, PM + LPC_PM_TMR, 4), io_rd(a, PM + LPC_PM_TMR, 4));

	/* Hostile records: each refused by the check, the device unchanged. */
	bad = malloc(len);
	assert_non_null(bad);
	memcpy(bad, saved, len);
	bad[REC_REGS + LPC_PMBASE - 0x40] |= 0x7e;       /* PMBASE's hardwired low bits */
	assert_int_equal(state_check(&b->c, bad, len), -EINVAL);
	memcpy(bad, saved, len);
	bad[REC_CMD] = 0xff;
	bad[REC_CMD + 1] = 0xff;                          /* command bits it cannot hold */
	assert_int_equal(state_check(&b->c, bad, len), -EINVAL);
	memcpy(bad, saved, len);
	bad[len - LPC_RCBA_SIZE + LPC_RCBA_GCS] = 0;      /* NO_REBOOT cleared */
	assert_int_equal(state_check(&b->c, bad, len), -EINVAL);
	memcpy(bad, saved, len);
	bad[REC_PM1_CNT + 1] |= LPC_PM1_CNT_SLP_EN >> 8;   /* a sleep request held */
	assert_int_equal(state_check(&b->c, bad, len), -EINVAL);
	free(bad);
	again = state_save(&b->c, &len2);
	assert_memory_equal(again, saved, len);
	free(again);
	free(saved);
	unmake(a);
	unmake(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_pm_decodes_where_programmed),
		cmocka_unit_test(test_sleep_types),
		cmocka_unit_test(test_pm_timer),
		cmocka_unit_test(test_apm_and_sci),
		cmocka_unit_test(test_rcba_no_reboot),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
