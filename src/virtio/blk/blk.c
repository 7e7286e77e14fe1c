/*
 * virtio-blk (VIRTIO 1.2, 5.2) on a raw image, with the I/O on io_uring.
 *
 * Each request owns one slot of a fixed pool and has at most one SQE in
 * flight; the pool is no larger than the submission ring, so taking a slot
 * always yields an SQE. When the pool is empty we stop popping and resume
 * from the completion handler. Short transfers are resubmitted for the
 * remainder; nothing is acknowledged before its I/O has completed.
 *
 * Durability: both cache modes advertise FLUSH and a volatile write cache.
 * cache=writeback completes a write once it is in the host page cache;
 * cache=none (O_DIRECT) completes it once the host device took it, which
 * may still be a volatile disk cache and leaves allocating metadata
 * unwritten. So in both modes only a completed FLUSH (fdatasync) makes the
 * writes completed before it durable. A driver that did not negotiate
 * FLUSH, or set writeback to 0, gets writethrough: RWF_DSYNC on every write.
 */
#include "virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file.h"
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

/* ------------------------------------------------------------------ parsing */

static int blk_parse_fail(struct err *err, const char *fmt, const char *what)
{
	return err_set(err, true, -EINVAL, fmt, what);
}

int virtio_blk_parse(const char *spec, struct blk_config *cfg, struct err *err)
{
	const char *p = spec;
	char *path = NULL;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->cache = BLK_CACHE_WRITEBACK;
	if (!spec || !*spec)
		return blk_parse_fail(err, "empty spec%s", "");
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		const char *val = eq ? eq + 1 : NULL;
		size_t vlen = eq ? len - klen - 1 : 0;
		char key[32];

		snprintf(key, sizeof(key), "%.*s", (int)(klen < 31 ? klen : 31), p);
		if (len == 0) {
			ret = blk_parse_fail(err, "empty option in '%s'", spec);
			goto err_free;
		}
		if (klen == 4 && !strncmp(p, "path", 4) && val) {
			if (path || vlen == 0) {
				ret = blk_parse_fail(err, "%s", path ?
						     "path given twice" : "path is empty");
				goto err_free;
			}
			path = strndup(val, vlen);
			if (!path)
				return err_set(err, false, -ENOMEM, "out of memory");
		} else if (klen == 2 && !strncmp(p, "ro", 2) && !val) {
			cfg->readonly = true;
		} else if (klen == 2 && !strncmp(p, "id", 2) && val) {
			if (vlen > VIRTIO_BLK_ID_BYTES) {
				ret = blk_parse_fail(err,
						     "id is longer than %s bytes", "20");
				goto err_free;
			}
			memcpy(cfg->id, val, vlen);
			cfg->id[vlen] = '\0';
		} else if (klen == 5 && !strncmp(p, "cache", 5) && val) {
			if (vlen == 4 && !strncmp(val, "none", 4)) {
				cfg->cache = BLK_CACHE_NONE;
			} else if (vlen == 9 && !strncmp(val, "writeback", 9)) {
				cfg->cache = BLK_CACHE_WRITEBACK;
			} else {
				char bad[32];

				snprintf(bad, sizeof(bad), "%.*s", (int)(vlen < 31 ? vlen : 31), val);
				ret = blk_parse_fail(err, "cache must be none or "
						     "writeback, not '%s'", bad);
				goto err_free;
			}
		} else {
			/* bw= and ops= are the CLI's (cli/run_devices.c), taken out before here. */
			ret = blk_parse_fail(err, "unknown option '%s' (want path=FILE"
					     "[,ro][,id=NAME][,cache=none|writeback][,bw=LIMIT]"
					     "[,ops=LIMIT])", key);
			goto err_free;
		}
		p += len;
		if (*p == ',' && *++p == '\0') {
			ret = blk_parse_fail(err, "trailing comma in '%s'", spec);
			goto err_free;
		}
	}
	if (!path)
		return blk_parse_fail(err, "missing path=FILE in '%s'", spec);
	cfg->path = path;
	return 0;

err_free:
	free(path);
	return ret;
}

void virtio_blk_config_release(struct blk_config *cfg)
{
	if (cfg->opened) {
		if (cfg->fd_buffered >= 0)
			close(cfg->fd_buffered);
		close(cfg->fd);
		cfg->opened = false;
	}
	free((char *)cfg->path);
	cfg->path = NULL;
}

/* ------------------------------------------------------------ device ops */

static void virtio_blk_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);

	if (q != 0)
		return;
	if (virtio_blk_io_process(blk))
		virtio_dev_notify(dev, 0);
	virtio_blk_io_kick(blk);
}


static uint64_t virtio_blk_get_features(struct virtio_dev *dev)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	uint64_t f = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_BLK_F_TOPOLOGY);

	if (blk->readonly)
		return f | (1ull << VIRTIO_BLK_F_RO);
	return f | (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_CONFIG_WCE) |
	       (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
}

void virtio_blk_read_config(struct virtio_dev *dev, uint32_t offset, uint8_t *data,
			    unsigned int len)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	struct blk_config_space c = {
		.capacity = htole64(blk->capacity),
		.seg_max = htole32(BLK_QUEUE_MAX - 2), /* header and status take two */
		.blk_size = htole32(BLK_SECTOR),
		.physical_block_exp = blk->phys_exp,
		.min_io_size = htole16(1),
		.writeback = blk->writeback,
		.num_queues = htole16(1),
		.max_discard_sectors = htole32(BLK_MAX_RANGE_SECTORS),
		.max_discard_seg = htole32(BLK_MAX_RANGES),
		.discard_sector_alignment = htole32(1u << blk->phys_exp),
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
	log_ratelimited(&blk_rl, LOG_WARN, "%s: ignored config write at %u", blk->name, offset);
}

static int virtio_blk_activate(struct virtio_dev *dev)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);

	/*
	 * A reset's drain gave up (its log line says why): requests from
	 * before it may still write guest memory. Collect those that came
	 * back since; start only once none is left (else NEEDS_RESET).
	 */
	if (blk->inflight) {
		virtio_blk_io_kick(blk);
		virtio_blk_io_reap(blk);
		if (blk->inflight)
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
	 * land in them or in the buffers they named (see drain.c).
	 */
	virtio_blk_io_drain(blk);
	blk->writeback = 1;
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
		{ "errors", st.errors },
		{ "rate_limiter_throttled", st.throttled },
	}, 7);
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

/*
 * Opens and locks the image; for cache=none also a buffered twin for
 * unaligned requests. Leaves *fd and *fd_buffered -1 or open on any return.
 */
static int blk_open_files(const struct blk_config *cfg, int *fd, int *fd_buffered, bool *direct,
			  struct err *err)
{
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	char self[64];
	bool no_direct = false;
	struct stat st;
	int ret;

	*fd = *fd_buffered = -1;
	*direct = false;
	/* O_NONBLOCK until the type is checked: a FIFO with no writer would hang open(). */
	if (cfg->cache == BLK_CACHE_NONE) {
		*fd = open(cfg->path, flags | O_NONBLOCK | O_DIRECT);
		if (*fd >= 0)
			*direct = true;
		else if (errno == EINVAL)
			no_direct = true;
		else
			goto err_open;
	}
	if (*fd < 0)
		*fd = open(cfg->path, flags | O_NONBLOCK);
	if (*fd < 0)
		goto err_open;
	ret = file_check_type(*fd, true, &st, err);
	if (ret) {
		err->usage = true;
		return err_prefix(err, ret, "disk %s: ", cfg->path);
	}
	/* Only now: a FIFO refuses O_DIRECT too, and its error is the one to show. */
	if (no_direct)
		log_warn("disk %s: O_DIRECT not supported by its filesystem; "
			 "cache=none falls back to the page cache", cfg->path);
	if (flock(*fd, (cfg->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		int e = errno;

		if (e == EWOULDBLOCK)
			return err_set(err, true, -e, "disk %s is in use by another process",
				       cfg->path);
		return err_set(err, false, -e, "disk %s: cannot lock: %s", cfg->path, strerror(e));
	}
	if (*direct) {
		/* Reopen through our fd, so both name the same inode. */
		snprintf(self, sizeof(self), "/proc/self/fd/%d", *fd);
		*fd_buffered = open(self, flags);
		if (*fd_buffered < 0) {
			ret = -errno;
			return err_set(err, false, ret, "disk %s: cannot reopen: %s", cfg->path,
				       strerror(-ret));
		}
	}
	return 0;

err_open:
	ret = -errno;
	return err_set(err, true, ret, "cannot open disk %s: %s", cfg->path, strerror(-ret));
}

int virtio_blk_open(struct blk_config *cfg, struct err *err)
{
	int fd, fd_buffered, ret;
	bool direct;

	if (cfg->opened)
		return 0;
	ret = blk_open_files(cfg, &fd, &fd_buffered, &direct, err);
	if (ret) {
		if (fd_buffered >= 0)
			close(fd_buffered);
		if (fd >= 0)
			close(fd);
		return ret;
	}
	cfg->fd = fd;
	cfg->fd_buffered = fd_buffered;
	cfg->direct = direct;
	cfg->opened = true;
	return 0;
}

/* The device's own descriptors: dups of the opened config's (they share its lock). */
static int blk_open(struct virtio_blk *blk, const struct blk_config *cfg, struct err *err)
{
	if (!cfg->opened)
		return blk_open_files(cfg, &blk->fd, &blk->fd_buffered, &blk->direct, err);
	blk->direct = cfg->direct;
	blk->fd = fcntl(cfg->fd, F_DUPFD_CLOEXEC, 0);
	if (blk->fd >= 0 && cfg->fd_buffered >= 0)
		blk->fd_buffered = fcntl(cfg->fd_buffered, F_DUPFD_CLOEXEC, 0);
	if (blk->fd < 0 || (cfg->fd_buffered >= 0 && blk->fd_buffered < 0)) {
		int ret = -errno;

		return err_set(err, false, ret, "disk %s: %s", cfg->path, strerror(-ret));
	}
	return 0;
}

static int blk_setup_ring(struct virtio_blk *blk, struct eventloop *loop, struct err *err)
{
	int ret;

	blk->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (blk->efd < 0) {
		ret = -errno;
		goto err_msg;
	}
	ret = virtio_blk_ring_init(blk, blk->efd);
	if (ret)
		return err_set(err, false, ret, "disk %s: io_uring unavailable: %s", blk->path,
			       strerror(-ret));
	blk->ring_ready = true;
	ret = eventloop_add(loop, blk->efd, EPOLLIN, virtio_blk_io_complete, blk);
	if (ret)
		goto err_msg;
	blk->loop = loop;
	return 0;

err_msg:
	return err_set(err, false, ret, "disk %s: completion eventfd: %s", blk->path,
		       strerror(-ret));
}

int virtio_blk_create(const struct virtio_env *env, const struct blk_config *cfg,
		      struct virtio_dev **out, struct err *err)
{
	struct virtio_blk *blk;
	int ret;

	if (!cfg->path || !env->loop)
		return err_set(err, false, -EINVAL, "disk: no path or no event loop");
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return err_set(err, false, -ENOMEM, "disk %s: out of memory", cfg->path);
	/* First, so that virtio_blk_destroy can undo any step below. */
	ret = virtio_dev_init(&blk->dev, env);
	if (ret) {
		free(blk);
		return err_set(err, false, ret, "disk %s: %s", cfg->path, strerror(-ret));
	}
	blk->fd = blk->fd_buffered = blk->efd = blk->lim.tfd = -1;
	blk->readonly = cfg->readonly;
	blk->writeback = 1;
	memcpy(blk->id, cfg->id, strnlen(cfg->id, VIRTIO_BLK_ID_BYTES));
	blk->path = strdup(cfg->path);
	blk->reqs = calloc(BLK_INFLIGHT, sizeof(*blk->reqs));
	blk->zero_buf = aligned_alloc(BLK_DIO_ALIGN, BLK_ZERO_BUF);
	if (!blk->path || !blk->reqs || !blk->zero_buf) {
		ret = err_set(err, false, -ENOMEM, "disk %s: out of memory", cfg->path);
		goto err_free;
	}
	memset(blk->zero_buf, 0, BLK_ZERO_BUF);
	for (unsigned int i = 0; i < BLK_INFLIGHT; i++) {
		blk->reqs[i].next_free = blk->free_list;
		blk->free_list = &blk->reqs[i];
	}
	snprintf(blk->name, sizeof(blk->name), "virtio-blk %s", cfg->path);

	ret = blk_open(blk, cfg, err);
	if (ret)
		goto err_free;
	ret = virtio_blk_size(blk->fd, blk->path, &blk->capacity, &blk->phys_exp, err);
	if (ret)
		goto err_free;
	ret = virtio_limiter_init(&blk->lim, env, &blk->dev, virtio_blk_resume, NULL);
	if (ret) {
		err_set(err, false, ret, "disk %s: rate limiter timer: %s", cfg->path,
			strerror(-ret));
		goto err_free;
	}
	ret = blk_setup_ring(blk, env->loop, err);
	if (ret)
		goto err_free;

	blk->dev.ops = &virtio_blk_ops;
	blk->dev.priv = blk;
	blk->dev.name = blk->name;
	blk->dev.num_queues = 1;
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
	if (blk->loop)
		eventloop_remove(blk->loop, blk->efd);
	/*
	 * The transport is detached by now (virtio/device.h): what the drain
	 * still reaps lands in guest RAM at most and signals no one.
	 */
	if (blk->ring_ready) {
		virtio_blk_io_drain(blk);
		io_uring_queue_exit(&blk->ring);
	}
	if (blk->efd >= 0)
		close(blk->efd);
	if (blk->fd_buffered >= 0)
		close(blk->fd_buffered);
	if (blk->fd >= 0)
		close(blk->fd);
	free(blk->zero_buf);
	free(blk->reqs);
	free(blk->path);
	virtio_dev_release(&blk->dev);
	free(blk);
}
