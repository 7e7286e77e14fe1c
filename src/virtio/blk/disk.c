/*
 * The disk backend: a raw image on io_uring. Each I/O is one SQE, tagged
 * with what the engine gave it; the ring is no deeper than the engine's
 * pool, so an I/O always finds an SQE. O_DIRECT needs aligned buffers and
 * offsets: an unaligned I/O goes to the buffered twin of the image.
 *
 * A reset drain: once the transport forgets the rings, no request from
 * before may touch guest memory again (its read data, status byte or used
 * entry would land in memory the driver has reused). The engine makes
 * them stale; the drain cancels what the kernel can still cancel and
 * waits until each one has come back, BLK_WAIT_MS at most (the I/O
 * thread waits; a ring that cannot deliver completions is polled), after
 * which the I/O is left counted in inflight (the device then refuses to
 * start until it is back).
 */
#include "virtio/blk/disk.h"

#include <errno.h>
#include <linux/falloc.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/blk/qdisk.h"
#include "virtio/blk/ring.h"
#include "virtio/spare_ring.h"

static struct ratelimit disk_rl = RATELIMIT_INIT(10);

/* A qcow2 image's backing files in the ring's layer slots (none for a raw image). */
static int disk_ring_layers(struct io_uring *ring, const struct blk_image *img)
{
	const struct blk_qdisk *q = img->qd;

	return blk_ring_set_layers(ring, q ? q->layer_fd : NULL, q ? q->nlayers : 0);
}

/* A ring of the disk's own: a disk made before the seal (at boot, by a restore). */
static int disk_ring_own(struct blk_disk *d, const char *path, struct err *err)
{
	int ret;

	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0)
		return err_set(err, false, -errno, "disk %s: completion eventfd: %s", path,
			       strerror(errno));
	d->ring = &d->own_ring;
	ret = blk_ring_init(d->ring, BLK_INFLIGHT, d->img.fd, d->img.fd_buffered, d->efd);
	if (ret)
		return err_set(err, false, ret, "disk %s: io_uring unavailable: %s", path,
			       strerror(-ret));
	ret = disk_ring_layers(d->ring, &d->img);
	if (ret)
		return err_set(err, false, ret, "disk %s: cannot register its backing files with "
			       "the io_uring ring: %s", path, strerror(-ret));
	return 0;
}

/*
 * A ring made at start for a disk plugged in after it (no thread may make
 * one then): the image goes in its empty slots, the one registration its
 * fence allows.
 */
static int disk_ring_spare(struct blk_disk *d, struct spare_ring *s, const char *path,
			   struct err *err)
{
	int ret = blk_ring_set_files(&s->ring, d->img.fd, d->img.fd_buffered);

	if (!ret) {
		ret = disk_ring_layers(&s->ring, &d->img);
		if (ret)
			blk_ring_set_files(&s->ring, -1, -1);
	}
	if (ret)
		return err_set(err, false, ret, "disk %s: cannot register it with the io_uring ring "
			       "made at start: %s", path, strerror(-ret));
	s->in_use = true;
	d->spare = s;
	d->ring = &s->ring;
	d->efd = s->efd;
	return 0;
}

int blk_disk_init(struct blk_disk *d, const struct blk_config *cfg, struct eventloop *loop,
		  const struct rl_clock *clock, const struct blk_disk_user *user,
		  struct err *err)
{
	int ret;

	memset(d, 0, sizeof(*d));
	d->efd = -1;
	d->user = *user;
	if (clock)
		d->clock = *clock;
	ret = blk_image_open(&d->img, cfg, err);
	if (ret)
		return ret;
	snprintf(d->name, sizeof(d->name), "virtio-blk %s", cfg->path);
	ret = cfg->ring ? disk_ring_spare(d, cfg->ring, cfg->path, err)
			: disk_ring_own(d, cfg->path, err);
	if (ret)
		return ret;
	d->ring_ready = true;
	ret = eventloop_add(loop, d->efd, EPOLLIN, blk_disk_on_event, d);
	if (ret)
		return err_set(err, false, ret, "disk %s: completion eventfd: %s", cfg->path,
			       strerror(-ret));
	d->loop = loop;
	return 0;
}

/* The spare goes back for the next plugged disk, its slots emptied, unless I/O is left in it. */
static void disk_spare_let_go(struct blk_disk *d)
{
	bool quiet = !d->inflight && !blk_ring_set_files(d->ring, -1, -1) &&
		     !blk_ring_set_layers(d->ring, NULL, 0);

	spare_ring_let_go(d->spare, quiet);
}

void blk_disk_release(struct blk_disk *d)
{
	if (d->loop)
		eventloop_remove(d->loop, d->efd);
	if (d->ring_ready) {
		blk_disk_drain(d);
		if (d->spare)
			disk_spare_let_go(d);
		else
			io_uring_queue_exit(d->ring);
		d->ring_ready = false;
	}
	/* A spare's eventfd is the spare's. */
	if (!d->spare && d->efd >= 0)
		close(d->efd);
	d->spare = NULL;
	d->efd = -1;
	blk_image_close(&d->img);
}

static void disk_fix_sqe(struct blk_disk *d, struct io_uring_sqe *sqe)
{
	blk_ring_fix_sqe(sqe, d->img.fd, d->img.fd_buffered);
}

static bool disk_aligned(const struct blk_disk_io *io)
{
	if (io->offset % BLK_DIO_ALIGN)
		return false;
	for (unsigned int i = 0; i < io->niov; i++)
		if ((uintptr_t)io->iov[i].iov_base % BLK_DIO_ALIGN ||
		    io->iov[i].iov_len % BLK_DIO_ALIGN)
			return false;
	return true;
}

/*
 * A read or write of BLK_ASYNC_MIN or more through the page cache goes to
 * io_uring's workers (IOSQE_ASYNC) rather than being copied inline by the
 * io_uring_enter of the I/O thread: a 1 MiB copy is long enough that the
 * guest's queued requests are better copied side by side, on the host's
 * other CPUs, while the I/O thread serves kicks and interrupts. O_DIRECT
 * I/O is asynchronous in the kernel already, and small requests are
 * cheaper inline than handed over.
 */
static bool disk_copy_async(const struct blk_disk *d, const struct blk_disk_io *io, int fd)
{
	uint64_t len = 0;

	if (io->op != BLK_DISK_READ && io->op != BLK_DISK_WRITE)
		return false;
	if (d->img.direct && fd != d->img.fd_buffered)
		return false;
	for (unsigned int i = 0; i < io->niov && len < BLK_ASYNC_MIN; i++)
		len += io->iov[i].iov_len;
	return len >= BLK_ASYNC_MIN;
}

int blk_disk_submit_raw(struct blk_disk *d, const struct blk_disk_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(d->ring);
	int fd = d->img.direct && !disk_aligned(io) ? d->img.fd_buffered : d->img.fd;

	if (!sqe)
		return -EBUSY;
	switch (io->op) {
	case BLK_DISK_READ:
		io_uring_prep_readv(sqe, fd, io->iov, io->niov, io->offset);
		break;
	case BLK_DISK_WRITE:
		io_uring_prep_writev2(sqe, fd, io->iov, io->niov, io->offset,
				      io->dsync ? RWF_DSYNC : 0);
		break;
	case BLK_DISK_FLUSH:
		io_uring_prep_fsync(sqe, d->img.fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_DISK_PUNCH:
	case BLK_DISK_ZERO_RANGE:
		io_uring_prep_fallocate(sqe, d->img.fd, FALLOC_FL_KEEP_SIZE |
					(io->op == BLK_DISK_PUNCH ? FALLOC_FL_PUNCH_HOLE
								  : FALLOC_FL_ZERO_RANGE),
					io->offset, io->len);
		break;
	}
	disk_fix_sqe(d, sqe);
	if (disk_copy_async(d, io, fd))
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data(sqe, io->tag);
	d->inflight++;
	return 0;
}

int blk_disk_submit_layer(struct blk_disk *d, const struct blk_disk_io *io, unsigned int layer)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(d->ring);
	uint64_t len = 0;

	if (!sqe)
		return -EBUSY;
	io_uring_prep_readv(sqe, (int)BLK_RING_SLOT_LAYER(layer), io->iov, io->niov, io->offset);
	sqe->flags |= IOSQE_FIXED_FILE;
	/* A backing file is read through the page cache: a long copy goes to the workers. */
	for (unsigned int i = 0; i < io->niov && len < BLK_ASYNC_MIN; i++)
		len += io->iov[i].iov_len;
	if (len >= BLK_ASYNC_MIN)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_sqe_set_data(sqe, io->tag);
	d->inflight++;
	return 0;
}

int blk_disk_submit(struct blk_disk *d, const struct blk_disk_io *io)
{
	return d->img.qd ? blk_qdisk_submit(d, io) : blk_disk_submit_raw(d, io);
}

void blk_disk_kick(struct blk_disk *d)
{
	int ret = io_uring_submit(d->ring);

	/* Unsubmitted SQEs stay queued and go with the next submit. */
	if (ret < 0 && ret != -EAGAIN && ret != -EBUSY && ret != -EINTR)
		log_ratelimited(&disk_rl, LOG_ERR, "%s: io_uring submit failed: %s", d->name,
				strerror(-ret));
}

bool blk_disk_reap(struct blk_disk *d)
{
	struct io_uring_cqe *cqe;
	bool answered = false;

	/* A qcow2 disk's results the engine posted (qdisk.h), then the ring's. */
	if (d->img.qd)
		answered = blk_qdisk_reap(d);
	while (io_uring_peek_cqe(d->ring, &cqe) == 0) {
		void *tag = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(d->ring, cqe);
		if (!tag)
			continue;   /* a drain's cancel request reports on itself */
		d->inflight--;
		if (d->img.qd)
			blk_qdisk_fast_done(d);
		answered |= d->user.complete(d->user.ctx, tag, res);
	}
	return answered;
}

void blk_disk_on_event(void *opaque, uint32_t events)
{
	struct blk_disk *d = opaque;
	uint64_t v;

	(void)events;
	if (read(d->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_ratelimited(&disk_rl, LOG_WARN, "%s: eventfd read: %s", d->name,
				strerror(errno));
	d->user.ready(d->user.ctx);
}

/*
 * SQEs we queued that the kernel has not consumed (a submit failed) would
 * start with the next submit, after the reset, on buffers the driver has
 * taken back. Turn them into NOPs: they complete at once and return their
 * I/O. liburing keeps them between the kernel's SQ head and sqe_tail.
 */
static void disk_neuter_queued(struct blk_disk *d)
{
	struct io_uring_sq *sq = &d->ring->sq;
	unsigned int n = io_uring_sq_ready(d->ring);

	for (unsigned int pos = sq->sqe_tail - n; pos != sq->sqe_tail; pos++) {
		struct io_uring_sqe *sqe = &sq->sqes[pos & sq->ring_mask];
		__u64 data = sqe->user_data;

		io_uring_prep_nop(sqe);
		disk_fix_sqe(d, sqe);
		sqe->user_data = data;
	}
}

/*
 * Asks the kernel to cancel everything in flight, so the wait is only as
 * long as I/O the device has already started. Its own CQE carries no tag
 * (reap skips it). No free SQE means every I/O is a queued one, a NOP by
 * now: nothing to cancel.
 */
static void disk_cancel(struct blk_disk *d)
{
#ifdef IORING_ASYNC_CANCEL_ANY
	struct io_uring_sqe *sqe = io_uring_get_sqe(d->ring);

	if (!sqe)
		return;
	/* A kernel before 5.19 answers -EINVAL; the wait then takes longer. */
	io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY);
	disk_fix_sqe(d, sqe);
	io_uring_sqe_set_data(sqe, NULL);
#else
	(void)d;
#endif
}

/*
 * Waits for the I/O in flight, reaping each result, until none is left
 * or BLK_WAIT_MS passed on the disk's clock, in rounds of at most
 * BLK_WAIT_ROUND_MS. A ring that cannot be waited on (io_uring_enter
 * failing) is polled instead. 0, -ETIMEDOUT, or -errno when even poll
 * fails; why says what stopped it for a log line. *answered: complete
 * answered a request.
 */
static int disk_wait(struct blk_disk *d, bool *answered, char *why, size_t why_len)
{
	uint64_t start = rl_clock_now(&d->clock), spent;
	int enter_err = 0, ret;

	while (d->inflight) {
		struct pollfd pfd = { .fd = d->ring->ring_fd, .events = POLLIN };
		struct __kernel_timespec ts = { 0 };
		struct io_uring_cqe *cqe;
		uint64_t ms;

		spent = (rl_clock_now(&d->clock) - start) / 1000000u;
		if (spent >= BLK_WAIT_MS) {
			snprintf(why, why_len, "%s%s%snot back within %u s",
				 enter_err ? "io_uring: " : "",
				 enter_err ? strerror(-enter_err) : "", enter_err ? "; " : "",
				 BLK_WAIT_MS / 1000);
			return -ETIMEDOUT;
		}
		ms = BLK_WAIT_MS - spent < BLK_WAIT_ROUND_MS ? BLK_WAIT_MS - spent
							     : BLK_WAIT_ROUND_MS;
		/* Results the engine posted are there already: no wait for them. */
		if (blk_qdisk_posted(d)) {
			*answered |= blk_disk_reap(d);
			continue;
		}
		/* What is queued (a failed submit, the drain's NOPs and cancel) goes in. */
		if (io_uring_sq_ready(d->ring))
			io_uring_submit(d->ring);
		if (!enter_err) {
			ts.tv_nsec = (long long)ms * 1000000;
			ret = io_uring_wait_cqe_timeout(d->ring, &cqe, &ts);
			/* ETIME: the round passed; EAGAIN, EBUSY: short of memory or CQ room. */
			if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN &&
			    ret != -EBUSY) {
				enter_err = ret;
				log_ratelimited(&disk_rl, LOG_WARN,
						"%s: waiting for I/O failed (%s); polling the ring",
						d->name, strerror(-ret));
			}
		}
		if (enter_err && poll(&pfd, 1, (int)ms) < 0 && errno != EINTR) {
			ret = -errno;
			snprintf(why, why_len, "poll: %s", strerror(-ret));
			return ret;
		}
		*answered |= blk_disk_reap(d);
	}
	return 0;
}

void blk_disk_drain(struct blk_disk *d)
{
	bool answered = false;
	char why[128];

	if (!d->inflight)
		return;
	blk_qdisk_cancel(d);
	disk_neuter_queued(d);
	disk_cancel(d);
	if (disk_wait(d, &answered, why, sizeof(why)))
		log_err("%s: %u requests still in flight after a reset (%s); the disk will not "
			"start again until they complete", d->name, d->inflight, why);
}

int blk_disk_quiesce(struct blk_disk *d, bool *completed)
{
	char why[128];
	int ret = disk_wait(d, completed, why, sizeof(why));

	if (ret)
		log_ratelimited(&disk_rl, LOG_WARN, "%s: %u requests still in flight (%s)",
				d->name, d->inflight, why);
	return ret;
}

int blk_disk_switch(struct blk_disk *d, struct blk_image *next, struct err *err)
{
	struct blk_image old;
	int ret = blk_ring_set_files(d->ring, next->fd, next->fd_buffered);

	if (!ret) {
		ret = disk_ring_layers(d->ring, next);
		/* The old image's files back in, layers and all: it stays. */
		if (ret && !blk_ring_set_files(d->ring, d->img.fd, d->img.fd_buffered))
			disk_ring_layers(d->ring, &d->img);
	}
	if (ret)
		return err_set(err, false, ret, "disk %s: cannot register it with the I/O ring "
			       "(%s); the old image stays", next->path, strerror(-ret));
	old = d->img;
	d->img = *next;
	*next = old;
	snprintf(d->name, sizeof(d->name), "virtio-blk %s", d->img.path);
	return 0;
}
