/*
 * libFuzzer target for virtio-pmem (src/virtio/pmem/): a hostile driver
 * program (fz_drv.h) against a pmem device backed by a memfd, its
 * flushes real fdatasyncs on the device's io_uring. A flush stays in
 * flight across the driver's steps (it may rewrite the ring, reset,
 * kick again) until a device step brings it back.
 *
 * Device step (opcode 5): a byte b, then by b % 4:
 *   0 the flush in flight comes back (waited for)
 *   1 save, then restore into itself: the record, then (u16 offset,
 *     u8 xor) applied to a copy, which is restored too if accepted
 *   2 pause or resume (b&8)
 *   3 a new rate limiter: ops bucket of (u8) size, or none when 0
 *
 * Checked besides ASan/UBSan: the requests waiting are within the queue
 * size; nothing waits without a flush in flight; a flush in flight always
 * comes back; a reset forgets what waited; a restore answers 0,
 * -ENODATA, -EPROTO or -EINVAL, and what an accepted one leaves saves
 * and restores to the same record.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fz_drv.h"
#include "util/log.h"
#include "virtio/pmem.h"
#include "virtio/pmem/priv.h"

static struct fz_drv drv;
static struct pmem *pm;

static void check_device(void)
{
	CHECK(pm->nwaiting <= PMEM_QUEUE_SIZE);
	CHECK(!pm->nwaiting || pm->inflight);
}

/* The flush in flight, if any, comes back now. */
static void finish_flush(void)
{
	int res;

	pthread_mutex_lock(&pm->dev.lock);
	if (pm->inflight) {
		CHECK(pmem_flush_reap(pm, &res, PMEM_WAIT_MS) == 1);
		pmem_flush_done(pm, res);
	}
	pthread_mutex_unlock(&pm->dev.lock);
}

static uint8_t *save(size_t *len)
{
	struct bytes_out o = bytes_out_growing();

	finish_flush();
	pthread_mutex_lock(&pm->dev.lock);
	/* Another flush may have started from the ring: a save then says -EBUSY. */
	while (pm->dev.ops->save(&pm->dev, &o) == -EBUSY) {
		pthread_mutex_unlock(&pm->dev.lock);
		finish_flush();
		pthread_mutex_lock(&pm->dev.lock);
	}
	pthread_mutex_unlock(&pm->dev.lock);
	CHECK(bytes_out_finish(&o, len) == 0);
	return o.buf;
}

static int restore(const uint8_t *in, size_t len, bool apply)
{
	int ret;

	pthread_mutex_lock(&pm->dev.lock);
	ret = pm->dev.ops->restore(&pm->dev, pm->dev.vq, in, len, apply);
	pthread_mutex_unlock(&pm->dev.lock);
	CHECK(ret == 0 || ret == -ENODATA || ret == -EPROTO || ret == -EINVAL);
	return ret;
}

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
	if (restore(copy, (at & 0x8000) ? at % (len + 1) : len, false) == 0)
		CHECK(restore(copy, (at & 0x8000) ? at % (len + 1) : len, true) == 0);
	free(copy);
	again = save(&len2);
	CHECK(restore(again, len2, false) == 0);
	CHECK(restore(again, len2, true) == 0);
	third = save(&len3);
	CHECK(len3 == len2 && !memcmp(third, again, len2));
	free(third);
	free(again);
	free(rec);
}

static void pmem_step(struct fz_drv *d, struct fz *in)
{
	uint8_t b = fz_u8(in), n;
	struct rl_config rl = { 0 };

	(void)d;
	switch (b % 4) {
	case 0:
		finish_flush();
		break;
	case 1:
		state_step(in);
		break;
	case 2:
		if (b & 8)
			virtio_dev_resume(&pm->dev);
		else
			virtio_dev_pause(&pm->dev);
		break;
	default:
		n = fz_u8(in);
		rl.ops = (struct rl_bucket_config){ .set = true, .size = n, .refill_time = 1 };
		virtio_pmem_set_limiter(&pm->dev, &rl);
		break;
	}
	check_device();
}

static void pmem_settle(struct fz_drv *d)
{
	(void)d;
	check_device();
}

static void setup(void)
{
	struct virtio_env env = { .mem = &drv.gm };
	struct pmem_config cfg = { .gpa = 1ull << 32, .size = PMEM_ALIGN, .file_len = 4096 };
	struct virtio_dev *dev;
	struct err err;

	log_set_level(LOG_ERR);
	fz_drv_ram(&drv);
	drv.gm.slots_fd = -1;
	cfg.fd = memfd_create("fuzz-pmem", MFD_CLOEXEC);
	CHECK(cfg.fd >= 0 && ftruncate(cfg.fd, 4096) == 0);
	CHECK(virtio_pmem_create(&env, &cfg, &dev, &err) == 0);
	close(cfg.fd);
	pm = dev->priv;
	drv.dev_step = pmem_step;
	drv.settle = pmem_settle;
	fz_drv_attach(&drv, dev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };

	if (!pm)
		setup();
	virtio_dev_resume(&pm->dev);
	virtio_pmem_set_limiter(&pm->dev, &(struct rl_config){
		.ops = { .set = true, .size = 0 } });
	fz_drv_run(&drv, &in);
	finish_flush();
	/* A reset forgets whatever waited. */
	fz_wr(&drv, 0x070, 0);
	CHECK(pm->nwaiting == 0);
	finish_flush();
	check_device();
	return 0;
}
