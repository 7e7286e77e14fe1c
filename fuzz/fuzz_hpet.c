/*
 * libFuzzer target for the HPET (src/devices/hpet.c, hpet_state.c):
 * register sequences through bus_access, on a fake clock the input moves,
 * the loop's service between them (as its timerfd would run it), pause
 * and resume, and its record saved, restored into a second HPET and
 * corrupted. A fresh pair of HPETs for each input.
 *
 * The input is a list of ops (at most 1024), each a byte c, then by c % 8:
 *   0  read: u16 offset (below 0x400), width 1 << (c >> 3 & 3)
 *   1  write: u16 offset, width 1 << (c >> 3 & 3), u64 value
 *   2  write a register from the table below: u8 index, 8 bytes if c & 8
 *      (else 4), u64 value
 *   3  time passes: u32 ns shifted left by c >> 3 (at most 2^62 ns in
 *      all), then the service
 *   4  pause (c & 8) or resume
 *   5  save; restore into the second HPET; then that record with
 *      (u16 offset, u8 xor) flips, c >> 3 of them, restored into it
 *   6  a timer programmed at once: u8 timer, u32 configuration, u64
 *      comparator, u64 period (VAL_SET, as Linux writes them)
 *   7  the service again at the same instant
 *
 * Checked besides ASan/UBSan: the capabilities and each timer's fixed
 * bits never change; status is only ever a level-triggered timer's; a
 * halted HPET has nothing armed; the lines high are the HPET's own
 * account of them and only ones it may drive (0, 8, and the pins q35's
 * routes offer, never 2); after two services at one instant nothing is
 * due at it (nothing for the loop to spin on); a restore returns 0,
 * -ENODATA, -EPROTO or -EINVAL, its own save is accepted and comes back
 * the same, a refused record changes nothing, and an accepted one saves
 * a record that is accepted again.
 */
#include <errno.h>

#include "core/bus.h"
#include "devices/hpet_priv.h"
#include "fz.h"
#include "util/log.h"

#define BASE HPET_MMIO_BASE
#define ALLOWED_LINES ((HPET_ROUTES_Q35 & ~(1u << 2)) | 1u << 0 | 1u << 8)
#define FIXED_BITS (HPET_TN_PERIODIC_CAP | HPET_TN_SIZE_CAP | (uint64_t)HPET_ROUTES_Q35 << 32)
#define REC_MAX 512

static const uint16_t regs[] = {
	0x000, 0x004, 0x010, 0x014, 0x020, 0x024, 0x0f0, 0x0f4,
	0x100, 0x104, 0x108, 0x10c, 0x110, 0x114,
	0x120, 0x124, 0x128, 0x12c, 0x130, 0x134,
	0x140, 0x144, 0x148, 0x14c, 0x150, 0x154, 0x160, 0x3f8,
};

struct side {
	struct bus bus;
	struct component c;
	uint32_t levels;   /* as the lines were driven */
};

static uint64_t fz_now;
static struct rl_clock fz_clock;
static struct side a, b;

static uint64_t clock_now(void *opaque)
{
	(void)opaque;
	return fz_now;
}

static int set_line(void *ctx, unsigned int gsi, int level)
{
	struct side *s = ctx;

	CHECK(gsi < HPET_PINS);
	CHECK(ALLOWED_LINES >> gsi & 1);
	if (level)
		s->levels |= 1u << gsi;
	else
		s->levels &= ~(1u << gsi);
	return 0;
}

static void make(struct side *s)
{
	struct dev_resources res = { .mmio_base = BASE, .mmio_size = HPET_MMIO_SIZE, .gsi = -1 };
	struct hpet_config cfg = { .clock = &fz_clock };
	struct dev_env env = { .bus = &s->bus, .irq = { set_line, s, 0 } };
	struct err err = ERR_INIT;

	bus_init(&s->bus);
	s->levels = 0;
	CHECK(hpet_create_with(&env, &res, &cfg, &s->c, &err) == 0);
}

static void unmake(struct side *s)
{
	s->c.ops->destroy(s->c.obj);
	bus_destroy(&s->bus);
}

static uint64_t rd(struct side *s, uint64_t off, unsigned int w)
{
	uint8_t v[8] = { 0 };

	bus_access(&s->bus, BUS_MMIO, BASE + off, v, w, false);
	return bus_data_get(v, w);
}

static void wr(struct side *s, uint64_t off, unsigned int w, uint64_t val)
{
	uint8_t v[8];

	bus_data_put(v, w, val);
	bus_access(&s->bus, BUS_MMIO, BASE + off, v, w, true);
}

static void invariants(struct side *s)
{
	const struct hpet *d = s->c.obj;

	CHECK(rd(s, 0, 8) == HPET_CAP);
	CHECK(!(d->config & ~HPET_CFG_MASK));
	CHECK(!(d->isr >> HPET_TIMERS));
	CHECK(d->lines == s->levels);
	CHECK(!(d->lines & ~ALLOWED_LINES));
	for (unsigned int n = 0; n < HPET_TIMERS; n++) {
		const struct hpet_timer *t = &d->t[n];

		CHECK((t->config & HPET_TN_FIXED) == FIXED_BITS);
		CHECK(!(d->isr >> n & 1) || (t->config & HPET_TN_LEVEL));
		CHECK((d->config & HPET_CFG_ENABLE) || t->deadline == HPET_NEVER);
		CHECK(!(t->config & HPET_TN_32BIT) || t->cmp <= UINT32_MAX);
	}
}

/* Nothing left due at this instant after two passes (a wrap's interrupt, then its match). */
static void settled(struct side *s)
{
	const struct hpet *d = s->c.obj;

	hpet_service(s->c.obj);
	hpet_service(s->c.obj);
	if (d->paused || !(d->config & HPET_CFG_ENABLE))
		return;
	for (unsigned int n = 0; n < HPET_TIMERS; n++)
		CHECK(d->t[n].deadline == HPET_NEVER || d->t[n].deadline > fz_now);
}

static size_t save(struct side *s, uint8_t *buf)
{
	struct bytes_out o = bytes_out_init(buf, REC_MAX);
	struct err err = ERR_INIT;
	size_t len;

	CHECK(s->c.ops->save(s->c.obj, &o, &err) == 0);
	CHECK(bytes_out_finish(&o, &len) == 0);
	return len;
}

static int restore(struct side *s, const uint8_t *rec, size_t len)
{
	struct err err = ERR_INIT;
	int ret = s->c.ops->restore(s->c.obj, rec, len, false, &err);

	CHECK(ret == 0 || ret == -ENODATA || ret == -EPROTO || ret == -EINVAL);
	if (!ret)
		CHECK(s->c.ops->restore(s->c.obj, rec, len, true, &err) == 0);
	return ret;
}

static void records(struct fz *in, unsigned int flips)
{
	static uint8_t rec[REC_MAX], again[REC_MAX], before[REC_MAX];
	size_t len = save(&a, rec), len2, blen;

	CHECK(restore(&b, rec, len) == 0);
	len2 = save(&b, again);
	CHECK(len2 == len && !memcmp(again, rec, len));
	for (unsigned int i = 0; i < flips && in->n; i++) {
		uint16_t at = fz_u16(in);

		rec[at % len] ^= fz_u8(in);
	}
	blen = save(&b, before);
	if (restore(&b, rec, len)) {
		len2 = save(&b, again);
		CHECK(len2 == blen && !memcmp(again, before, blen));
		return;
	}
	len2 = save(&b, again);
	CHECK(restore(&b, again, len2) == 0);
}

static void burst(struct side *s, struct fz *in)
{
	unsigned int n = fz_u8(in) % HPET_TIMERS;
	uint32_t cfg = fz_u32(in);
	uint64_t cmp = fz_u64(in), period = fz_u64(in);

	wr(s, 0x100 + 0x20 * n, 4, cfg | HPET_TN_SETVAL);
	wr(s, 0x108 + 0x20 * n, 8, cmp);
	wr(s, 0x108 + 0x20 * n, 8, period);
}

static void op(struct fz *in)
{
	uint8_t c = fz_u8(in);
	unsigned int w = 1u << (c >> 3 & 3);
	uint64_t off, ns;

	switch (c % 8) {
	case 0:
		rd(&a, fz_u16(in) % HPET_MMIO_SIZE / w * w, w);
		break;
	case 1:
		off = fz_u16(in) % HPET_MMIO_SIZE;
		wr(&a, off < HPET_MMIO_SIZE - w ? off : HPET_MMIO_SIZE - w, w, fz_u64(in));
		break;
	case 2:
		off = regs[fz_u8(in) % (sizeof(regs) / sizeof(regs[0]))];
		wr(&a, (c & 8) ? off & ~7ull : off, (c & 8) ? 8 : 4, fz_u64(in));
		break;
	case 3:
		ns = (uint64_t)fz_u32(in) << (c >> 3);
		fz_now = ns > (1ull << 62) - fz_now ? 1ull << 62 : fz_now + ns;
		hpet_service(a.c.obj);
		break;
	case 4:
		if (c & 8)
			a.c.ops->pause(a.c.obj);
		else
			a.c.ops->resume(a.c.obj);
		break;
	case 5:
		records(in, c >> 3);
		break;
	case 6:
		burst(&a, in);
		break;
	default:
		settled(&a);
		break;
	}
	invariants(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };

	log_set_level(LOG_ERR);
	fz_clock = (struct rl_clock){ clock_now, NULL };
	fz_now = 1000000000000ull;
	make(&a);
	make(&b);
	for (unsigned int i = 0; i < 1024 && in.n; i++)
		op(&in);
	settled(&a);
	invariants(&a);
	invariants(&b);
	unmake(&a);
	unmake(&b);
	return 0;
}
