/*
 * libFuzzer target for virtio-balloon (src/virtio/balloon/, and
 * src/mem/guest_mem_discard.c under it): a hostile driver program
 * (fz_drv.h) against a balloon offering every feature (statistics,
 * deflate on OOM, free page hinting and reporting), so the driver's
 * accepted features decide which queue is which. Its RAM is mapped
 * anonymous (page numbers inside it are really given back, with
 * MADV_DONTNEED).
 *
 * Device step (opcode 5): a byte b, then by b % 8:
 *   0 the statistics timer fires      1 a new target (u32 MiB)
 *   2 a hinting run starts (ack: b&8)  3 the hinting run stops
 *   4 hinting status, statistics read 5 a new statistics interval (u16)
 *   6 save, then restore into itself: the record, then (u16 offset,
 *     u8 xor) applied to a copy, which is restored too if accepted
 *   7 pause or resume (b&8)
 *
 * Checked besides ASan/UBSan: every range given back is page-aligned and
 * inside RAM (madvise is the target's own, which looks); the count of
 * pages in the balloon is the map's; statistics tags stay within those
 * known; a held statistics buffer's head is inside its queue; the host's
 * calls answer 0 or -EINVAL; a restore answers 0, -ENODATA, -EPROTO or
 * -EINVAL, a refused one changes nothing, and what an accepted one leaves
 * saves and restores to the same record.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fz_drv.h"
#include "util/log.h"
#include "virtio/balloon.h"
#include "virtio/balloon/priv.h"

static struct fz_drv drv;
static struct balloon *bal;

/* Every discard goes through here: it must name whole pages of RAM, nothing else. */
int madvise(void *addr, size_t len, int advice)
{
	if (advice == MADV_DONTNEED && drv.ram) {
		uintptr_t a = (uintptr_t)addr, lo = (uintptr_t)drv.ram;

		CHECK(a >= lo && a - lo <= FZ_RAM && len <= FZ_RAM - (a - lo));
		CHECK(!(a & 0xfff) && !(len & 0xfff) && len);
	}
	return (int)syscall(SYS_madvise, addr, len, advice);
}

static void check_device(void)
{
	uint64_t count = 0;
	int q = balloon_queue(bal, BALLOON_Q_STATS);

	for (uint64_t i = 0; i < (bal->map_pages + 63) / 64; i++)
		count += (uint64_t)__builtin_popcountll(bal->map[i]);
	CHECK(count == bal->inflated && bal->inflated <= bal->map_pages);
	CHECK(!(bal->stats_present >> BALLOON_STAT_COUNT));
	CHECK(!bal->stats_held || (q >= 0 && bal->stats_head < bal->dev.vq[q].size));
}

static uint8_t *save(size_t *len)
{
	struct bytes_out o = bytes_out_growing();

	pthread_mutex_lock(&bal->dev.lock);
	CHECK(bal->dev.ops->save(&bal->dev, &o) == 0);
	pthread_mutex_unlock(&bal->dev.lock);
	CHECK(bytes_out_finish(&o, len) == 0);
	return o.buf;
}

static int restore(const uint8_t *in, size_t len, bool apply)
{
	int ret;

	pthread_mutex_lock(&bal->dev.lock);
	ret = bal->dev.ops->restore(&bal->dev, bal->dev.vq, in, len, apply);
	pthread_mutex_unlock(&bal->dev.lock);
	CHECK(ret == 0 || ret == -ENODATA || ret == -EPROTO || ret == -EINVAL);
	return ret;
}

/* Save, restore into itself, and a mutated copy: refused changes nothing, accepted round-trips. */
static void state_step(struct fz *in)
{
	size_t len, len2, len3;
	uint8_t *rec = save(&len), *copy, *again, *third;
	uint16_t at = fz_u16(in);
	uint8_t x = fz_u8(in);

	CHECK(restore(rec, len, false) == 0);
	CHECK(restore(rec, len, true) == 0);
	copy = malloc(len ? len : 1);
	memcpy(copy, rec, len);
	if (len)
		copy[at % len] ^= x;
	free(rec);
	rec = save(&len);
	if (restore(copy, (at & 0x8000) ? at % (len + 1) : len, false) == 0)
		CHECK(restore(copy, (at & 0x8000) ? at % (len + 1) : len, true) == 0);
	free(copy);
	again = save(&len2);
	if (restore(again, len2, false) == 0) {
		CHECK(restore(again, len2, true) == 0);
		third = save(&len3);
		CHECK(len3 == len2 && !memcmp(third, again, len2));
		free(third);
	}
	free(again);
	free(rec);
}

static void balloon_step(struct fz_drv *d, struct fz *in)
{
	uint8_t b = fz_u8(in);
	struct balloon_stats st;
	struct balloon_hint_status hs;
	struct err err;
	int ret = 0;

	(void)d;
	switch (b % 8) {
	case 0:
		virtio_balloon_stats_poll(&bal->dev);
		break;
	case 1:
		ret = virtio_balloon_set_target(&bal->dev, fz_u32(in) % 2048, &err);
		break;
	case 2:
		ret = virtio_balloon_hint_start(&bal->dev, b & 8, &err);
		break;
	case 3:
		ret = virtio_balloon_hint_stop(&bal->dev, &err);
		break;
	case 4:
		ret = virtio_balloon_hint_status(&bal->dev, &hs, &err);
		CHECK(ret == 0);
		ret = virtio_balloon_get_stats(&bal->dev, &st, &err);
		CHECK(ret == 0 && st.present == bal->stats_present);
		break;
	case 5:
		ret = virtio_balloon_set_stats_interval(&bal->dev, fz_u16(in), &err);
		break;
	case 6:
		state_step(in);
		break;
	default:
		if (b & 8)
			virtio_dev_resume(&bal->dev);
		else
			virtio_dev_pause(&bal->dev);
		break;
	}
	CHECK(ret == 0 || ret == -EINVAL);
	check_device();
}

static void balloon_settle(struct fz_drv *d)
{
	(void)d;
	check_device();
}

static void setup(void)
{
	const struct balloon_config cfg = { .amount_mib = 1, .deflate_on_oom = true,
					    .stats_polling_interval_s = 1,
					    .free_page_hinting = true, .free_page_reporting = true };
	struct virtio_env env = { .mem = &drv.gm };
	struct virtio_dev *dev;
	struct err err;
	void *ram;

	log_set_level(LOG_ERR);
	/* Anonymous, not a static array: a discarded page must read as zeros again. */
	ram = mmap(NULL, FZ_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ram != MAP_FAILED);
	drv.gm.regions[0] = (struct guest_region){ 0, FZ_RAM, ram };
	drv.gm.nregions = 1;
	drv.gm.ram_bytes = FZ_RAM;
	drv.gm.slots_fd = -1;
	CHECK(virtio_balloon_create(&env, &cfg, &dev, &err) == 0);
	bal = balloon_from_dev(dev);
	drv.dev_step = balloon_step;
	drv.settle = balloon_settle;
	fz_drv_attach(&drv, dev);
	drv.ram = ram;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };

	if (!bal)
		setup();
	virtio_dev_resume(&bal->dev);
	fz_drv_run(&drv, &in);
	/* A reset forgets every page in the balloon and the buffer held. */
	fz_wr(&drv, 0x070, 0);
	CHECK(bal->inflated == 0 && !bal->stats_held);
	check_device();
	return 0;
}
