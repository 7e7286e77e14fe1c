/*
 * The HPET's registers, as a vCPU reads and writes them (hpet.c runs the
 * timers). A write only recomputes the comparators' deadlines and, when
 * the earliest comes sooner than the loop's timerfd is armed for, wakes
 * the loop to rearm it: a vCPU's seccomp filter has no timerfd_settime,
 * and nothing on a vCPU waits. Lines change here too (KVM_IRQ_LINE,
 * which a vCPU may call).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "devices/hpet_priv.h"
#include "util/log.h"

static struct ratelimit hpet_regs_rl = RATELIMIT_INIT(5);

static uint64_t hpet_deposit(uint64_t old, unsigned int shift, unsigned int bits, uint64_t v)
{
	uint64_t mask = bits >= 64 ? ~0ull : ((1ull << bits) - 1) << shift;

	return (old & ~mask) | ((v << shift) & mask);
}

/* The 64-bit register at reg (8-aligned). */
static uint64_t hpet_reg_read(const struct hpet *d, uint64_t reg)
{
	if (reg >= HPET_REG_TIMER0) {
		uint64_t n = (reg - HPET_REG_TIMER0) / HPET_TIMER_STRIDE;

		if (n >= HPET_TIMERS)
			return 0;
		switch ((reg - HPET_REG_TIMER0) % HPET_TIMER_STRIDE) {
		case HPET_TN_CFG:
			return d->t[n].config;
		case HPET_TN_CMP:
			return d->t[n].cmp;
		default:
			return 0; /* the FSB route: no FSB delivery */
		}
	}
	switch (reg) {
	case HPET_REG_CAP:
		return HPET_CAP;
	case HPET_REG_CFG:
		return d->config;
	case HPET_REG_STATUS:
		return d->isr;
	case HPET_REG_COUNTER:
		return hpet_counter_at(d, hpet_now(d));
	default:
		return 0;
	}
}

static void hpet_write_timer_cfg(struct hpet *d, unsigned int n, uint64_t v, uint64_t now)
{
	struct hpet_timer *t = &d->t[n];
	uint64_t old = t->config, cfg = (old & HPET_TN_FIXED) | (v & HPET_TN_WRITABLE);
	unsigned int route = (unsigned int)((cfg & HPET_TN_ROUTE) >> HPET_TN_ROUTE_SHIFT);

	if (!(old & HPET_TN_PERIODIC_CAP))
		cfg &= ~HPET_TN_PERIODIC;
	/* A route not offered does not take (the spec's Tn_INT_ROUTE_CNF): reads back unchanged. */
	if (!(d->routes >> route & 1))
		cfg = (cfg & ~HPET_TN_ROUTE) | (old & HPET_TN_ROUTE);
	/* Edge-triggered timers keep no status. */
	if (!(cfg & HPET_TN_LEVEL))
		d->isr &= ~(1ull << n);
	t->config = cfg;
	if (cfg & HPET_TN_32BIT) {
		t->cmp = (uint32_t)t->cmp;
		t->period = (uint32_t)t->period;
	}
	if (d->config & HPET_CFG_ENABLE)
		hpet_set_timer(d, t, now);
	hpet_sync_lines(d);
}

/*
 * A periodic timer's comparator write sets its period, and the
 * comparator itself only with Tn_VAL_SET_CNF; a one-shot's sets the
 * comparator. Either way Tn_VAL_SET_CNF clears.
 */
static void hpet_write_timer_cmp(struct hpet *d, unsigned int n, unsigned int shift,
				 unsigned int bits, uint64_t v, uint64_t now)
{
	struct hpet_timer *t = &d->t[n];

	if (t->config & HPET_TN_32BIT) {
		if (shift)
			return; /* the high half is zero in 32-bit mode */
		bits = 64;
		v = (uint32_t)v;
	}
	if (!(t->config & HPET_TN_PERIODIC) || (t->config & HPET_TN_SETVAL))
		t->cmp = hpet_deposit(t->cmp, shift, bits, v);
	if (t->config & HPET_TN_PERIODIC)
		t->period = hpet_deposit(t->period, shift, bits, v);
	t->config &= ~HPET_TN_SETVAL;
	if (d->config & HPET_CFG_ENABLE)
		hpet_set_timer(d, t, now);
}

static void hpet_write_cfg(struct hpet *d, uint64_t v, uint64_t now)
{
	uint64_t old = d->config, cfg = (old & ~HPET_CFG_MASK) | (v & HPET_CFG_MASK);

	if ((old & HPET_CFG_ENABLE) && !(cfg & HPET_CFG_ENABLE)) {
		/* Halted: the counter holds what it read, and no comparator fires. */
		d->counter = hpet_counter_at(d, now);
		for (unsigned int n = 0; n < HPET_TIMERS; n++) {
			d->t[n].deadline = HPET_NEVER;
			d->t[n].wrap = false; /* enabling again sets each timer anew */
		}
	}
	d->config = cfg;
	if (!(old & HPET_CFG_ENABLE) && (cfg & HPET_CFG_ENABLE)) {
		d->base = now;
		for (unsigned int n = 0; n < HPET_TIMERS; n++)
			hpet_set_timer(d, &d->t[n], now);
	}
	if ((old ^ cfg) & HPET_CFG_LEGACY)
		d->legacy_tell = true;
	hpet_sync_lines(d);
}

static void hpet_reg_write(struct hpet *d, uint64_t reg, unsigned int shift, unsigned int bits,
			   uint64_t v, uint64_t now)
{
	if (reg >= HPET_REG_TIMER0) {
		uint64_t n = (reg - HPET_REG_TIMER0) / HPET_TIMER_STRIDE;

		if (n >= HPET_TIMERS)
			return;
		switch ((reg - HPET_REG_TIMER0) % HPET_TIMER_STRIDE) {
		case HPET_TN_CFG:
			hpet_write_timer_cfg(d, (unsigned int)n,
					     hpet_deposit(d->t[n].config, shift, bits, v), now);
			break;
		case HPET_TN_CMP:
			hpet_write_timer_cmp(d, (unsigned int)n, shift, bits, v, now);
			break;
		default:
			break; /* the FSB route: no FSB delivery */
		}
		return;
	}
	switch (reg) {
	case HPET_REG_CFG:
		hpet_write_cfg(d, hpet_deposit(d->config, shift, bits, v), now);
		break;
	case HPET_REG_STATUS:
		/* Write 1 to clear a level-triggered timer's status, and so its line. */
		d->isr &= ~hpet_deposit(0, shift, bits, v);
		hpet_sync_lines(d);
		break;
	case HPET_REG_COUNTER:
		/* Software writes it only while halted (the spec); QEMU's would lose it too. */
		if (!(d->config & HPET_CFG_ENABLE))
			d->counter = hpet_deposit(d->counter, shift, bits, v);
		break;
	default:
		break; /* capabilities and reserved space */
	}
}

/* Sub-dword reads see their bytes of the register; a misaligned access floats to zero. */
static void hpet_mmio_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct hpet *d = opaque;
	uint64_t v = 0;

	if (len && len <= 8 && offset % len == 0) {
		pthread_mutex_lock(&d->lock);
		v = hpet_reg_read(d, offset & ~7ull) >> (offset & 7) * 8;
		pthread_mutex_unlock(&d->lock);
	}
	bus_data_put(data, len, v);
}

static void hpet_kick(struct hpet *d)
{
	uint64_t one = 1;

	if (write(d->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_ratelimited(&hpet_regs_rl, LOG_WARN, "hpet: cannot wake its loop: %s",
				strerror(errno));
}

/* The spec allows 32- and 64-bit accesses only; others are dropped. */
static void hpet_mmio_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct hpet *d = opaque;
	bool kick = false;

	if ((len != 4 && len != 8) || offset % len) {
		log_ratelimited(&hpet_regs_rl, LOG_DEBUG, "hpet: %u-byte write at 0x%llx ignored", len,
				(unsigned long long)offset);
		return;
	}
	pthread_mutex_lock(&d->lock);
	hpet_reg_write(d, offset & ~7ull, (unsigned int)(offset & 4) * 8, len * 8,
		       bus_data_get(data, len), hpet_now(d));
	/* A later deadline needs no wakeup: the timerfd fires early and finds nothing due. */
	if (d->loop && !d->kicked && (d->legacy_tell || hpet_next(d) < d->armed)) {
		d->kicked = true;
		kick = true;
	}
	pthread_mutex_unlock(&d->lock);
	if (kick)
		hpet_kick(d);
}

const struct bus_region_ops hpet_regs_ops = {
	.read = hpet_mmio_read,
	.write = hpet_mmio_write,
};
