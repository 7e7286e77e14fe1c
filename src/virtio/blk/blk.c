/*
 * virtio-blk (VIRTIO 1.2, 5.2): the device the driver sees, its config
 * space and lifecycle. Requests are the engine's (engine.c), their I/O
 * the disk backend's (disk.c: a raw image on io_uring).
 *
 * Durability: both cache modes advertise FLUSH and a volatile write cache.
 * cache=writeback completes a write once it is in the host page cache;
 * cache=none (O_DIRECT) completes it once the host device took it, which
 * may still be a volatile disk cache and leaves allocating metadata
 * unwritten. So in both modes only a completed FLUSH (fdatasync) makes the
 * writes completed before it durable. A driver that did not negotiate
 * FLUSH, or set writeback to 0, gets writethrough: RWF_DSYNC on every write.
 *
 * Firecracker's "Unsafe" cache (BLK_CACHE_UNSAFE) is the page cache with
 * no durability at all, as there: neither FLUSH nor CONFIG_WCE is offered
 * (Firecracker offers FLUSH for "Writeback" only), writes are never
 * RWF_DSYNC, and a flush a driver sends anyway completes at once, unsynced.
 */
#include "virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "util/log.h"
#include "virtio/blk/priv.h"
#include "virtio/virtio.h"

/* The config layout of 5.2.4 up to write_zeroes_may_unmap and its padding. */
struct blk_config_space {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

_Static_assert(sizeof(struct blk_config_space) == 60, "virtio_blk_config layout");
#define BLK_WRITEBACK_OFF 32u

static struct ratelimit blk_rl = RATELIMIT_INIT(10);

/* ------------------------------------------------------------ device ops */

static void virtio_blk_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);

	if (q >= dev->num_queues)
		return;
	if (blk_engine_process(blk, q))
		blk_engine_notify(blk);
	blk_disk_kick(&blk->disk);
}


static uint64_t virtio_blk_get_features(struct virtio_dev *dev)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	uint64_t f = (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
		     (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_TOPOLOGY);

	if (dev->num_queues > 1)
		f |= 1ull << VIRTIO_BLK_F_MQ;
	if (blk->readonly)
		return f | (1ull << VIRTIO_BLK_F_RO);
	f |= (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
	if (blk->unsafe)
		return f;
	return f | (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_CONFIG_WCE);
}

static void virtio_blk_read_config(struct virtio_dev *dev, uint32_t offset, uint8_t *data,
			    unsigned int len)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	struct blk_config_space c = {
		.capacity = htole64(blk->disk.img.capacity),
		.size_max = htole32(BLK_SIZE_MAX),
		.seg_max = htole32(BLK_SEG_MAX),
		.blk_size = htole32(BLK_SECTOR),
		.physical_block_exp = blk->disk.img.phys_exp,
		.min_io_size = htole16(1),
		.writeback = blk->writeback,
		.num_queues = htole16((uint16_t)dev->num_queues),
		.max_discard_sectors = htole32(BLK_MAX_RANGE_SECTORS),
		.max_discard_seg = htole32(BLK_MAX_RANGES),
		.discard_sector_alignment = htole32(1u << blk->disk.img.phys_exp),
		.max_write_zeroes_sectors = htole32(BLK_MAX_RANGE_SECTORS),
		.max_write_zeroes_seg = htole32(BLK_MAX_RANGES),
		.write_zeroes_may_unmap = 1,
	};

	if (offset <= sizeof(c) && len <= sizeof(c) - offset)
		memcpy(data, (uint8_t *)&c + offset, len);
}

static void virtio_blk_write_config(struct virtio_dev *dev, uint32_t offset,
				    const uint8_t *data, unsigned int len)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);

	/* Only writeback is writable, and only with CONFIG_WCE (5.2.4). */
	if (offset == BLK_WRITEBACK_OFF && len == 1 &&
	    virtio_dev_has_feature(dev, VIRTIO_BLK_F_CONFIG_WCE)) {
		blk->writeback = data[0] ? 1 : 0;
		return;
	}
	log_ratelimited(&blk_rl, LOG_WARN, "%s: ignored config write at %u", blk->disk.name, offset);
}

static int virtio_blk_activate(struct virtio_dev *dev)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);

	/*
	 * A reset's drain gave up (its log line says why): requests from
	 * before it may still write guest memory. Collect those that came
	 * back since; start only once none is left (else NEEDS_RESET).
	 */
	if (blk->disk.inflight) {
		blk_disk_kick(&blk->disk);
		blk_disk_reap(&blk->disk);
		if (blk->disk.inflight)
			return -EBUSY;
	}
	/* 5.2.5: with CONFIG_WCE but no FLUSH, start in writethrough. */
	if (virtio_dev_has_feature(dev, VIRTIO_BLK_F_CONFIG_WCE) &&
	    !virtio_dev_has_feature(dev, VIRTIO_BLK_F_FLUSH))
		blk->writeback = 0;
	return 0;
}

static void virtio_blk_reset(struct virtio_dev *dev)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);

	/*
	 * The transport forgets the rings after us: nothing in flight may
	 * land in them or in the buffers they named. From here on what is in
	 * flight is stale, and the drain waits for it (see disk.c).
	 */
	blk->gen++;
	blk_disk_drain(&blk->disk);
	blk->writeback = 1;
	/* Completions the driver was not told of went into rings it has dropped. */
	blk->done_queues = 0;
	blk->next_q = 0;
}

static unsigned int virtio_blk_counters(struct virtio_dev *dev, struct dev_counter *out,
					unsigned int max)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	struct blk_stats st;

	pthread_mutex_lock(&dev->lock);
	st = blk->stats;
	st.throttled = blk->lim.throttled;
	pthread_mutex_unlock(&dev->lock);
	return dev_counters_copy(out, max, (const struct dev_counter[]){
		{ "read_requests", st.read_requests },
		{ "read_bytes", st.read_bytes },
		{ "write_requests", st.write_requests },
		{ "write_bytes", st.write_bytes },
		{ "flush_requests", st.flush_requests },
		{ "flush_ignored", st.flush_ignored },
		{ "errors", st.errors },
		{ "rate_limiter_throttled", st.throttled },
	}, 8);
}

static const struct virtio_dev_ops virtio_blk_ops = {
	.device_id = VIRTIO_ID_BLOCK,
	.get_features = virtio_blk_get_features,
	.read_config = virtio_blk_read_config,
	.write_config = virtio_blk_write_config,
	.activate = virtio_blk_activate,
	.reset = virtio_blk_reset,
	.queue_notify = virtio_blk_queue_notify,
	.destroy = virtio_blk_destroy,
	.counters = virtio_blk_counters,
	.pause = virtio_blk_pause,
	.save = virtio_blk_save,
	.restore = virtio_blk_restore,
};

/* ---------------------------------------------------------- create/destroy */

int virtio_blk_create(const struct virtio_env *env, const struct blk_config *cfg,
		      struct virtio_dev **out, struct err *err)
{
	struct blk_disk_user user;
	struct virtio_blk *blk;
	int ret;

	if (!cfg->path || !env->loop)
		return err_set(err, false, -EINVAL, "disk: no path or no event loop");
	if (cfg->queues > BLK_MAX_QUEUES)
		return err_set(err, true, -EINVAL, "disk %s: %u queues, more than %u", cfg->path,
			       cfg->queues, BLK_MAX_QUEUES);
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return err_set(err, false, -ENOMEM, "disk %s: out of memory", cfg->path);
	/* First, so that virtio_blk_destroy can undo any step below. */
	ret = virtio_dev_init(&blk->dev, env);
	if (ret) {
		free(blk);
		return err_set(err, false, ret, "disk %s: %s", cfg->path, strerror(-ret));
	}
	blk->disk.efd = blk->disk.img.fd = blk->disk.img.fd_buffered = blk->lim.tfd = -1;
	blk->disk.img.lock_fd = -1;
	blk->readonly = cfg->readonly;
	blk->unsafe = cfg->cache == BLK_CACHE_UNSAFE;
	blk->writeback = 1;
	memcpy(blk->id, cfg->id, strnlen(cfg->id, VIRTIO_BLK_ID_BYTES));
	blk->reqs = calloc(BLK_INFLIGHT, sizeof(*blk->reqs));
	/*
	 * Write-zeroes' source: a read-only anonymous mapping reads as the
	 * kernel's zero page, which no VM pays for (a zeroed heap buffer cost
	 * each disk 64 KiB of RSS). Page-aligned, so O_DIRECT takes it too.
	 */
	blk->zero_buf = mmap(NULL, BLK_ZERO_BUF, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (blk->zero_buf == MAP_FAILED)
		blk->zero_buf = NULL;
	if (!blk->reqs || !blk->zero_buf) {
		ret = err_set(err, false, -ENOMEM, "disk %s: out of memory", cfg->path);
		goto err_free;
	}
	ret = virtio_limiter_init(&blk->lim, env, &blk->dev, blk_engine_resume, NULL);
	if (ret) {
		err_set(err, false, ret, "disk %s: rate limiter timer: %s", cfg->path,
			strerror(-ret));
		goto err_free;
	}
	user = (struct blk_disk_user){ blk_engine_ready, blk_engine_complete, blk };
	ret = blk_disk_init(&blk->disk, cfg, env->loop, env->clock, &user, err);
	if (ret)
		goto err_free;

	blk->dev.ops = &virtio_blk_ops;
	blk->dev.priv = blk;
	blk->dev.name = blk->disk.name;
	blk->dev.num_queues = cfg->queues ? cfg->queues : 1;
	blk->dev.queue_max = BLK_QUEUE_MAX;
	blk->dev.config_size = sizeof(struct blk_config_space);
	*out = &blk->dev;
	return 0;

err_free:
	virtio_blk_destroy(&blk->dev);
	return ret;
}

void virtio_blk_destroy(struct virtio_dev *dev)
{
	struct virtio_blk *blk = dev ? virtio_blk_from_dev(dev) : NULL;

	if (!blk)
		return;
	virtio_limiter_release(&blk->lim);
	/*
	 * The transport is detached by now (virtio/device.h): what the disk's
	 * drain still reaps is stale, and lands in guest RAM at most.
	 */
	blk->gen++;
	blk_disk_release(&blk->disk);
	if (blk->zero_buf)
		munmap(blk->zero_buf, BLK_ZERO_BUF);
	free(blk->reqs);
	virtio_dev_release(&blk->dev);
	free(blk);
}
