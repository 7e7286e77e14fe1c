/*
 * A qcow2 disk's I/O (qdisk.h): the fast path to the ring, the rest done
 * by the engine here on the I/O thread and posted back to the reap, and
 * the wait a discard or write-zeroes keeps for the ring to empty.
 */
#include "virtio/blk/qdisk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/log.h"

static struct ratelimit qio_rl = RATELIMIT_INIT(10);

static uint64_t qio_bytes(const struct blk_disk_io *io)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < io->niov; i++)
		n += io->iov[i].iov_len;
	return n;
}

/* An I/O that lets clusters go, which nothing mapped before it may outlive on the ring. */
static bool qio_frees(const struct blk_disk_io *io)
{
	return io->op == BLK_DISK_PUNCH || io->op == BLK_DISK_ZERO_RANGE;
}

/* The reap's turn: the disk's eventfd, as the ring's completions write it. */
static void qio_wake(struct blk_disk *d)
{
	uint64_t one = 1;

	if (write(d->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_ratelimited(&qio_rl, LOG_WARN, "%s: eventfd write: %s", d->name,
				strerror(errno));
}

static void qio_post(struct blk_disk *d, void *tag, int res)
{
	struct blk_qdisk *q = d->img.qd;

	q->posted[(q->posted_head + q->nposted) % BLK_INFLIGHT] = (struct blk_qposted){ tag, res };
	q->nposted++;
	d->inflight++;
	if (q->nposted == 1)
		qio_wake(d);
}

/*
 * Whether io's bytes are one extent of the top image's own clusters that
 * the ring may take at *host: written in place, or read inside the file.
 * A map that fails is the slow path's to report.
 */
static bool qio_fast(struct blk_qdisk *q, const struct blk_disk_io *io, uint64_t len,
		     uint64_t *host)
{
	struct err e = ERR_INIT;
	struct qcow2_map m;

	if (qcow2_map(q->top, io->offset, len, &m, &e) || m.kind != QCOW2_MAP_DATA || m.len < len)
		return false;
	if (io->op == BLK_DISK_WRITE && !m.in_place)
		return false;
	/* Past the file's end (a short last cluster) reads as zeros, which the ring would cut short. */
	if (m.host_off + len > q->file_size &&
	    (blk_qdisk_file_size(q->fd, &q->file_size) || m.host_off + len > q->file_size))
		return false;
	*host = m.host_off;
	return true;
}

/* A write from several segments, gathered so the engine allocates (and syncs) once. */
static int qio_write(struct blk_qdisk *q, const struct blk_disk_io *io, uint64_t len,
		     struct err *err)
{
	uint8_t *buf;
	size_t at = 0;
	int ret;

	if (io->niov == 1)
		return qcow2_write(q->top, io->offset, io->iov[0].iov_base, len, err);
	buf = malloc(len ? len : 1);
	if (!buf)
		return err_set(err, false, -ENOMEM, "out of memory for a %llu-byte write",
			       (unsigned long long)len);
	for (unsigned int i = 0; i < io->niov; i++) {
		memcpy(buf + at, io->iov[i].iov_base, io->iov[i].iov_len);
		at += io->iov[i].iov_len;
	}
	ret = qcow2_write(q->top, io->offset, buf, len, err);
	free(buf);
	return ret;
}

/*
 * Whether io's bytes are, below the top image, one extent of one backing
 * file's own data inside that file (or of a raw layer, inside its size):
 * the layer and the offset. Such a read (the overlay's unwritten
 * clusters) then goes to the ring as the top's own do, where the engine
 * would take one pread per segment, on this thread, one request after
 * another. A cluster the file ends inside (its tail reads as zeros) is
 * the engine's.
 */
static bool qio_below(struct blk_qdisk *q, uint64_t off, uint64_t len, unsigned int *layer,
		      uint64_t *host)
{
	struct err e = ERR_INIT;
	struct qcow2_map m;

	if (qcow2_map(q->top, off, len, &m, &e) || m.kind != QCOW2_MAP_BACKING || m.len < len)
		return false;
	for (unsigned int i = 0; i < q->nlayers; i++) {
		if (q->layer_raw[i]) {
			if (off + len > q->layer_size[i])
				return false;
			*layer = i;
			*host = off;
			return true;
		}
		if (off + len > qcow2_info(q->layer[i])->size ||
		    qcow2_map(q->layer[i], off, len, &m, &e) || m.len < len)
			return false;
		if (m.kind == QCOW2_MAP_DATA) {
			if (m.host_off + len > q->layer_size[i])
				return false;
			*layer = i;
			*host = m.host_off;
			return true;
		}
		if (m.kind != QCOW2_MAP_BACKING)
			return false;
	}
	return false;
}

static int qio_read(struct blk_qdisk *q, const struct blk_disk_io *io, struct err *err)
{
	uint64_t off = io->offset;
	int ret = 0;

	for (unsigned int i = 0; !ret && i < io->niov; i++) {
		ret = qcow2_read(q->top, off, io->iov[i].iov_base, io->iov[i].iov_len, err);
		off += io->iov[i].iov_len;
	}
	return ret;
}

/* The engine's part of io, now; its result posted. */
static void qio_slow(struct blk_disk *d, const struct blk_disk_io *io, uint64_t len)
{
	struct blk_qdisk *q = d->img.qd;
	struct err err = ERR_INIT;
	int ret;

	if (!q->top) {
		qio_post(d, io->tag, -EIO);
		return;
	}
	switch (io->op) {
	case BLK_DISK_READ:
		ret = qio_read(q, io, &err);
		break;
	case BLK_DISK_WRITE:
		ret = qio_write(q, io, len, &err);
		/* Writethrough: durable before it completes, as RWF_DSYNC makes a raw write. */
		if (!ret && io->dsync)
			ret = qcow2_flush(q->top, &err);
		break;
	case BLK_DISK_FLUSH:
		ret = qcow2_flush(q->top, &err);
		break;
	default:    /* PUNCH, ZERO_RANGE: both read as zeros afterwards */
		ret = qcow2_zero(q->top, io->offset, io->len, &err);
		break;
	}
	if (ret)
		log_ratelimited(&qio_rl, LOG_WARN, "%s: %s", d->name, err.msg);
	qio_post(d, io->tag, ret ? ret : (io->op == BLK_DISK_READ || io->op == BLK_DISK_WRITE)
				   ? (int)len : 0);
}

static int qio_run(struct blk_disk *d, const struct blk_disk_io *io)
{
	struct blk_qdisk *q = d->img.qd;
	uint64_t len = qio_bytes(io), host;
	unsigned int layer;
	int ret;

	if (q->nposted == BLK_INFLIGHT)
		return -EBUSY;
	if ((io->op == BLK_DISK_READ || io->op == BLK_DISK_WRITE) && q->top &&
	    qio_fast(q, io, len, &host)) {
		struct blk_disk_io raw = *io;

		raw.offset = host;
		ret = blk_disk_submit_raw(d, &raw);
		if (!ret) {
			q->fast++;
			q->nfast++;
		}
		return ret;
	}
	if (io->op == BLK_DISK_READ && q->top && qio_below(q, io->offset, len, &layer, &host)) {
		struct blk_disk_io below = *io;

		below.offset = host;
		ret = blk_disk_submit_layer(d, &below, layer);
		if (!ret) {
			q->fast++;
			q->nbelow++;
		}
		return ret;
	}
	q->nslow++;
	qio_slow(d, io, len);
	return 0;
}

int blk_qdisk_submit(struct blk_disk *d, const struct blk_disk_io *io)
{
	struct blk_qdisk *q = d->img.qd;

	/* Behind one that waits, everything waits: none may pass a discard it came after. */
	if (!q->ndeferred && !(qio_frees(io) && q->fast))
		return qio_run(d, io);
	if (q->ndeferred == BLK_INFLIGHT)
		return -EBUSY;
	q->deferred[(q->deferred_head + q->ndeferred) % BLK_INFLIGHT] = *io;
	q->ndeferred++;
	q->nwaited++;
	d->inflight++;
	return 0;
}

/* What waited, in order, until one must wait for the ring again (at most BLK_INFLIGHT). */
static void qio_run_deferred(struct blk_disk *d)
{
	struct blk_qdisk *q = d->img.qd;

	while (q->ndeferred) {
		struct blk_disk_io io = q->deferred[q->deferred_head];

		if (qio_frees(&io) && q->fast)
			break;
		q->deferred_head = (q->deferred_head + 1) % BLK_INFLIGHT;
		q->ndeferred--;
		d->inflight--;
		if (qio_run(d, &io))
			qio_post(d, io.tag, -EIO);
	}
}

void blk_qdisk_fast_done(struct blk_disk *d)
{
	struct blk_qdisk *q = d->img.qd;

	if (q->fast)
		q->fast--;
	if (!q->fast && q->ndeferred)
		qio_run_deferred(d);
}

bool blk_qdisk_reap(struct blk_disk *d)
{
	struct blk_qdisk *q = d->img.qd;
	/* A completion may post the request's next step: bounded, the rest on the next round. */
	unsigned int budget = 4 * BLK_INFLIGHT;
	bool answered = false;

	while (q->nposted && budget--) {
		struct blk_qposted p = q->posted[q->posted_head];

		q->posted_head = (q->posted_head + 1) % BLK_INFLIGHT;
		q->nposted--;
		d->inflight--;
		answered |= d->user.complete(d->user.ctx, p.tag, p.res);
	}
	if (q->nposted)
		qio_wake(d);
	return answered;
}

bool blk_qdisk_posted(const struct blk_disk *d)
{
	return d->img.qd && d->img.qd->nposted;
}

void blk_qdisk_cancel(struct blk_disk *d)
{
	struct blk_qdisk *q = d->img.qd;

	while (q && q->ndeferred) {
		struct blk_disk_io *io = &q->deferred[q->deferred_head];

		q->deferred_head = (q->deferred_head + 1) % BLK_INFLIGHT;
		q->ndeferred--;
		d->inflight--;
		qio_post(d, io->tag, -ECANCELED);
	}
}

void blk_qdisk_settle(struct blk_disk *d)
{
	struct blk_qdisk *q = d->img.qd;
	struct err err = ERR_INIT;

	if (q && q->top && q->writable && qcow2_flush(q->top, &err))
		log_err("%s: %s", d->name, err.msg);
}
