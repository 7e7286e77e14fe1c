/*
 * A qcow2 image's stack of handles (qdisk.h): the backing layers bottom
 * up, each over a dup of the descriptor blk/chain.c opened and locked,
 * then the top image over the image's own buffered descriptor. The
 * engine needs the page cache (its metadata I/O is not sector-aligned),
 * so under cache=none the top handle works on the image's buffered twin;
 * only the fast path's in-place I/O is then O_DIRECT (docs/devices.md).
 */
#include "virtio/blk/qdisk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

/* The layer under q's level (i: the first backing layer below it), or none. */
static struct qcow2_layer qdisk_below(const struct blk_qdisk *q, unsigned int i)
{
	if (i >= q->nlayers)
		return (struct qcow2_layer){ .kind = QCOW2_LAYER_NONE, .fd = -1 };
	if (q->layer_raw[i])
		return (struct qcow2_layer){ .kind = QCOW2_LAYER_RAW, .fd = q->layer_fd[i],
					     .size = q->layer_size[i] };
	return (struct qcow2_layer){ .kind = QCOW2_LAYER_QCOW2, .qcow2 = q->layer[i], .fd = -1 };
}

int blk_qdisk_file_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* The backing layers, bottom up: each opened read only over its dup and put under the one above. */
static int qdisk_open_layers(struct blk_qdisk *q, const struct blk_config *cfg, struct err *err)
{
	struct qcow2_opts ro = { .writable = false };
	int ret;

	for (unsigned int i = 0; i < cfg->nchain; i++) {
		q->layer_fd[i] = fcntl(cfg->chain_fd[i], F_DUPFD_CLOEXEC, 0);
		if (q->layer_fd[i] < 0)
			return err_set(err, false, -errno, "disk %s: %s", cfg->path, strerror(errno));
		q->layer_raw[i] = cfg->chain_raw[i];
		q->nlayers = i + 1;
	}
	for (unsigned int i = q->nlayers; i-- > 0;) {
		struct qcow2_layer below = qdisk_below(q, i + 1);

		/* A raw layer's size; a qcow2 layer's file's, which reads on the ring stay inside. */
		ret = blk_qdisk_file_size(q->layer_fd[i], &q->layer_size[i]);
		if (ret)
			return err_set(err, false, ret, "disk %s: backing layer %u: %s", cfg->path,
				       i + 1, strerror(-ret));
		if (q->layer_raw[i])
			continue;
		ret = qcow2_open(q->layer_fd[i], &ro, &q->layer[i], err);
		if (!ret)
			ret = qcow2_set_backing(q->layer[i], &below, err);
		if (ret)
			return err_prefix(err, ret, "disk %s: backing layer %u: ", cfg->path, i + 1);
	}
	return 0;
}

/* The top image's handle over q->fd, put over the first backing layer. */
static int qdisk_open_top(struct blk_qdisk *q, bool writable, struct err *err)
{
	struct qcow2_opts o = { .writable = writable };
	struct qcow2_layer below = qdisk_below(q, 0);
	int ret = qcow2_open(q->fd, &o, &q->top, err);

	if (!ret)
		ret = qcow2_set_backing(q->top, &below, err);
	if (ret) {
		qcow2_close(q->top);
		q->top = NULL;
		return ret;
	}
	q->writable = writable;
	return 0;
}

int blk_qdisk_open(struct blk_image *img, const struct blk_config *cfg, struct err *err)
{
	struct blk_qdisk *q = calloc(1, sizeof(*q));
	struct stat st;
	int ret;

	if (!q)
		return err_set(err, false, -ENOMEM, "disk %s: out of memory", cfg->path);
	img->qd = q;
	q->fd = img->fd_buffered >= 0 ? img->fd_buffered : img->fd;
	ret = qdisk_open_layers(q, cfg, err);
	if (!ret) {
		ret = qdisk_open_top(q, !cfg->readonly && !cfg->lock_later, err);
		if (ret)
			err_prefix(err, ret, "disk %s: ", cfg->path);
	}
	if (!ret && (fstat(q->fd, &st) < 0 || blk_qdisk_file_size(q->fd, &q->file_size)))
		ret = err_set(err, false, -errno, "disk %s: %s", cfg->path, strerror(errno));
	if (ret) {
		blk_qdisk_close(img);
		return ret;
	}
	/* The guest sees whole sectors, as QEMU shows it; the header's size is the disk's. */
	img->capacity = qcow2_info(q->top)->size / BLK_SECTOR;
	img->phys_exp = 0;
	while (img->phys_exp < 6 && (uint64_t)BLK_SECTOR << (img->phys_exp + 1) <=
	       (uint64_t)st.st_blksize)
		img->phys_exp++;
	return 0;
}

void blk_qdisk_close(struct blk_image *img)
{
	struct blk_qdisk *q = img->qd;

	if (!q)
		return;
	/* Top first: a handle's backing layer is its caller's, and outlives it. */
	qcow2_close(q->top);
	for (unsigned int i = 0; i < q->nlayers; i++) {
		qcow2_close(q->layer[i]);
		close(q->layer_fd[i]);
	}
	free(q);
	img->qd = NULL;
}

int blk_qdisk_hold(struct blk_image *img, bool hold, bool readonly)
{
	struct blk_qdisk *q = img->qd;
	struct err err = ERR_INIT;
	int ret = 0;

	if (!hold && q->top && q->writable) {
		/* The second makes the first's lowered refcounts durable too. */
		ret = qcow2_flush(q->top, &err);
		if (!ret)
			ret = qcow2_flush(q->top, &err);
		if (ret) {
			log_err("disk %s: %s", img->path, err.msg);
			return ret;
		}
	}
	qcow2_close(q->top);
	q->top = NULL;
	ret = qdisk_open_top(q, hold && !readonly, &err);
	if (ret)
		log_err("disk %s: reopening it: %s", img->path, err.msg);
	return ret;
}
