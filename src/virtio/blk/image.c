/*
 * Opening, locking and sizing images (a qcow2 image's chain: chain.c; its
 * handles: qdisk.c). A writable image is locked
 * exclusively with flock, a read-only one shared, so two VMs never write
 * one image; the lock lives as long as the last descriptor on it. Images
 * are opened when the config is read (virtio_blk_open, before KVM is
 * touched), and the disk works on dups of those descriptors.
 *
 * The lock is on a description of its own (lock_fd), never on one the
 * disk's io_uring registers: a ring lets go of its files only when its
 * teardown has run, after the process is gone, so a VM killed with
 * SIGKILL would leave its image "in use" to the next VM started on it.
 */
#include "virtio/blk/image.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file.h"
#include "util/log.h"
#include "virtio/blk/chain.h"
#include "virtio/blk/qdisk.h"

/*
 * Opens and locks the image; for cache=none also a buffered twin for
 * unaligned requests. Leaves *fd, *fd_buffered and *lock_fd -1 or open on
 * any return.
 */
static int image_open_files(const struct blk_config *cfg, int *fd, int *fd_buffered,
			    int *lock_fd, bool *direct, struct err *err)
{
	int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	char self[64];
	bool no_direct = false;
	struct stat st, lst;
	int ret;

	*fd = *fd_buffered = *lock_fd = -1;
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
	/*
	 * A description no ring will hold: the path again, not /proc/self/fd
	 * (a drive swapped after the sandbox's pivot has no /proc), so it
	 * must still name the inode *fd has.
	 */
	*lock_fd = open(cfg->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (*lock_fd < 0) {
		ret = -errno;
		return err_set(err, false, ret, "disk %s: cannot reopen: %s", cfg->path,
			       strerror(-ret));
	}
	if (fstat(*lock_fd, &lst) < 0 || lst.st_dev != st.st_dev || lst.st_ino != st.st_ino)
		return err_set(err, true, -ESTALE, "disk %s was replaced while it was opened",
			       cfg->path);
	if (!cfg->lock_later && flock(*lock_fd, (cfg->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
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

static void close_fds(int fd, int fd_buffered, int lock_fd)
{
	if (fd_buffered >= 0)
		close(fd_buffered);
	if (fd >= 0)
		close(fd);
	if (lock_fd >= 0)
		close(lock_fd);
}

int virtio_blk_open(struct blk_config *cfg, struct err *err)
{
	int fd, fd_buffered, lock_fd, ret;
	bool direct;

	if (cfg->opened)
		return 0;
	ret = image_open_files(cfg, &fd, &fd_buffered, &lock_fd, &direct, err);
	if (ret) {
		close_fds(fd, fd_buffered, lock_fd);
		return ret;
	}
	cfg->fd = fd;
	cfg->fd_buffered = fd_buffered;
	cfg->lock_fd = lock_fd;
	cfg->direct = direct;
	cfg->opened = true;
	/* A qcow2 image's backing files now too, while every path still opens. */
	ret = cfg->format == BLK_FORMAT_QCOW2 ? blk_chain_open(cfg, err) : 0;
	if (ret) {
		close_fds(fd, fd_buffered, lock_fd);
		cfg->opened = false;
	}
	return ret;
}

void virtio_blk_config_release(struct blk_config *cfg)
{
	if (cfg->opened) {
		blk_chain_close(cfg);
		close_fds(cfg->fd, cfg->fd_buffered, cfg->lock_fd);
		cfg->opened = false;
	}
	for (unsigned int i = 0; i < cfg->nbacking; i++) {
		free(cfg->backing[i]);
		cfg->backing[i] = NULL;
	}
	cfg->nbacking = 0;
	free((char *)cfg->path);
	cfg->path = NULL;
	free((char *)cfg->socket);
	cfg->socket = NULL;
}

/* The size of the image behind fd (a regular file or block device), in sectors. */
static int image_size(int fd, const char *path, uint64_t *capacity, uint8_t *phys_exp,
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
		bytes = (uint64_t)st.st_size;   /* a regular file: image_open_files checked */
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

int blk_image_open(struct blk_image *img, const struct blk_config *cfg, struct err *err)
{
	int ret;

	memset(img, 0, sizeof(*img));
	img->fd = img->fd_buffered = img->lock_fd = -1;
	img->path = strdup(cfg->path);
	if (!img->path)
		return err_set(err, false, -ENOMEM, "disk %s: out of memory", cfg->path);
	if (!cfg->opened) {
		ret = image_open_files(cfg, &img->fd, &img->fd_buffered, &img->lock_fd,
				       &img->direct, err);
		if (ret)
			goto err_close;
	} else {
		img->direct = cfg->direct;
		img->fd = fcntl(cfg->fd, F_DUPFD_CLOEXEC, 0);
		if (img->fd >= 0 && cfg->fd_buffered >= 0)
			img->fd_buffered = fcntl(cfg->fd_buffered, F_DUPFD_CLOEXEC, 0);
		if (img->fd >= 0)
			img->lock_fd = fcntl(cfg->lock_fd, F_DUPFD_CLOEXEC, 0);
		if (img->fd < 0 || img->lock_fd < 0 ||
		    (cfg->fd_buffered >= 0 && img->fd_buffered < 0)) {
			ret = -errno;
			err_set(err, false, ret, "disk %s: %s", cfg->path, strerror(-ret));
			goto err_close;
		}
	}
	/* A qcow2 image is sized by its header (blk_qdisk_open), a raw one by its file. */
	if (cfg->format == BLK_FORMAT_QCOW2)
		ret = cfg->opened ? blk_qdisk_open(img, cfg, err)
				  : err_set(err, false, -EINVAL, "disk %s: a qcow2 image is opened "
					    "with its chain first (virtio_blk_open)", cfg->path);
	else
		ret = image_size(img->fd, img->path, &img->capacity, &img->phys_exp, err);
	if (ret)
		goto err_close;
	return 0;

err_close:
	blk_image_close(img);
	return ret;
}

int blk_image_resize(struct blk_image *img, struct err *err)
{
	if (img->qd)
		return err_set(err, true, -EOPNOTSUPP, "disk %s: a qcow2 image's size is its "
			       "header's, read when it was opened", img->path);
	return image_size(img->fd, img->path, &img->capacity, &img->phys_exp, err);
}

bool blk_image_is(const struct blk_image *img, const char *path)
{
	struct stat a, b;

	return stat(path, &a) == 0 && fstat(img->fd, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

int blk_image_hold(struct blk_image *img, bool hold, bool readonly)
{
	int ret;

	/* Nothing more written here before the lock goes; nothing taken before it is held. */
	if (img->qd && !hold) {
		ret = blk_qdisk_hold(img, false, readonly);
		if (ret)
			return ret;
	}
	if (img->lock_fd >= 0 &&
	    flock(img->lock_fd, !hold ? LOCK_UN : (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
		return -errno;
	return img->qd && hold ? blk_qdisk_hold(img, true, readonly) : 0;
}

void blk_image_close(struct blk_image *img)
{
	/* The qcow2 stack first: its last flush writes while the lock is still held. */
	blk_qdisk_close(img);
	/* The lock goes now, whoever else still holds a dup of lock_fd. */
	if (img->lock_fd >= 0)
		flock(img->lock_fd, LOCK_UN);
	close_fds(img->fd, img->fd_buffered, img->lock_fd);
	img->fd = img->fd_buffered = img->lock_fd = -1;
	free(img->path);
	img->path = NULL;
}
