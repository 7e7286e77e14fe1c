/*
 * The image behind a running virtio-blk disk: sizing it, and swapping it
 * for another (PATCH /drives/{id} with a new path_on_host) or re-reading
 * its size (the same path, after the host grew the file). A swap never
 * mixes the images inside one request: the requests in flight finish on
 * the old image, those the driver queued meanwhile wait in the ring and
 * run on the new one; then the driver gets a config-change interrupt to
 * read the new capacity.
 */
#include "virtio/blk/priv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

int virtio_blk_size(int fd, const char *path, uint64_t *capacity, uint8_t *phys_exp,
		    struct err *err)
{
	uint64_t bytes;
	struct stat st;
	uint8_t exp;
	int ret;

	if (fstat(fd, &st) < 0) {
		ret = -errno;
		return err_set(err, false, ret, "disk %s: %s", path, strerror(-ret));
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
			ret = -errno;
			return err_set(err, false, ret, "disk %s: cannot size: %s", path,
				       strerror(-ret));
		}
	} else {
		bytes = (uint64_t)st.st_size;   /* a regular file: blk_open_files checked */
	}
	if (bytes % BLK_SECTOR)
		log_warn("disk %s: size %" PRIu64 " is not a multiple of 512; the last %" PRIu64
			 " bytes are not visible to the guest", path, bytes, bytes % BLK_SECTOR);
	*capacity = bytes / BLK_SECTOR;
	/* Hint the host's block size as the physical one (topology, 5.2.4). */
	for (exp = 0; exp < 6 && ((uint64_t)BLK_SECTOR << (exp + 1)) <= (uint64_t)st.st_blksize;)
		exp++;
	*phys_exp = exp;
	return 0;
}

void virtio_blk_set_limiter(struct virtio_dev *dev, const struct rl_config *cfg)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);

	pthread_mutex_lock(&dev->lock);
	virtio_limiter_update(&blk->lim, cfg);
	pthread_mutex_unlock(&dev->lock);
}

bool virtio_blk_same_image(struct virtio_dev *dev, const char *path)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	struct stat a, b;

	return stat(path, &a) == 0 && fstat(blk->fd, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

int virtio_blk_quiesce(struct virtio_blk *blk, bool *completed)
{
	struct __kernel_timespec ts = { .tv_nsec = BLK_DRAIN_POLL_MS * 1000000ll };
	unsigned int idle = 0;

	while (blk->inflight) {
		struct io_uring_cqe *cqe;
		unsigned int before = blk->inflight;
		int ret;

		io_uring_submit(&blk->ring);
		ret = io_uring_wait_cqe_timeout(&blk->ring, &cqe, &ts);
		if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN)
			return ret;
		*completed |= virtio_blk_io_reap(blk);
		if (blk->inflight == before && ++idle >= BLK_DRAIN_POLLS)
			return -ETIMEDOUT;
		if (blk->inflight != before)
			idle = 0;
	}
	return 0;
}

/* Tells the driver (config change) and takes up the requests that waited. */
static void blk_after_change(struct virtio_blk *blk, bool completed)
{
	if (blk->dev.activated && blk->dev.signal_config)
		blk->dev.signal_config(&blk->dev);
	completed |= virtio_blk_io_process(blk);
	virtio_blk_io_kick(blk);
	if (completed)
		virtio_dev_notify(&blk->dev, 0);
}

int virtio_blk_refresh(struct virtio_dev *dev, struct err *err)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	bool completed = false;
	uint64_t cap;
	uint8_t exp;
	int ret;

	pthread_mutex_lock(&dev->lock);
	ret = virtio_blk_size(blk->fd, blk->path, &cap, &exp, err);
	if (!ret) {
		blk->capacity = cap;
		blk->phys_exp = exp;
		blk_after_change(blk, completed);
	}
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int virtio_blk_swap(struct virtio_dev *dev, const struct blk_config *cfg, struct err *err)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	int fd = -1, fd_buffered = -1, old_fd, old_buffered;
	bool completed = false;
	char *path, *old_path;
	uint64_t cap;
	uint8_t exp;
	int ret;

	if (!cfg->opened)
		return err_set(err, false, -EINVAL, "disk %s: not opened", cfg->path);
	/* Everything that can fail first, so a failure leaves the old image in place. */
	path = strdup(cfg->path);
	fd = fcntl(cfg->fd, F_DUPFD_CLOEXEC, 0);
	if (fd >= 0 && cfg->fd_buffered >= 0)
		fd_buffered = fcntl(cfg->fd_buffered, F_DUPFD_CLOEXEC, 0);
	if (!path || fd < 0 || (cfg->fd_buffered >= 0 && fd_buffered < 0)) {
		ret = path ? -errno : -ENOMEM;
		err_set(err, false, ret, "disk %s: %s", cfg->path, strerror(-ret));
		goto err_close;
	}
	ret = virtio_blk_size(fd, path, &cap, &exp, err);
	if (ret)
		goto err_close;
	pthread_mutex_lock(&dev->lock);
	ret = virtio_blk_quiesce(blk, &completed);
	if (ret) {
		err_set(err, false, ret, "disk %s: the requests in flight on %s did not complete "
			"(%s); the old image stays", cfg->path, blk->path, strerror(-ret));
		if (completed)
			virtio_dev_notify(dev, 0);
		pthread_mutex_unlock(&dev->lock);
		goto err_close;
	}
	ret = virtio_blk_ring_set_files(blk, fd, fd_buffered);
	if (ret) {
		err_set(err, false, ret, "disk %s: cannot register it with the I/O ring (%s); the "
			"old image stays", cfg->path, strerror(-ret));
		blk_after_change(blk, completed);
		pthread_mutex_unlock(&dev->lock);
		goto err_close;
	}
	old_fd = blk->fd;
	old_buffered = blk->fd_buffered;
	old_path = blk->path;
	blk->fd = fd;
	blk->fd_buffered = fd_buffered;
	blk->direct = cfg->direct;
	blk->path = path;
	blk->capacity = cap;
	blk->phys_exp = exp;
	snprintf(blk->name, sizeof(blk->name), "virtio-blk %s", path);
	blk_after_change(blk, completed);
	pthread_mutex_unlock(&dev->lock);
	/* The old image's lock goes with its last descriptor. */
	if (old_buffered >= 0)
		close(old_buffered);
	close(old_fd);
	free(old_path);
	return 0;

err_close:
	if (fd_buffered >= 0)
		close(fd_buffered);
	if (fd >= 0)
		close(fd);
	free(path);
	return ret;
}
