/*
 * virtio-blk reset drain. Once the transport forgets the rings, no request
 * from before may touch guest memory again: its read data, status byte or
 * used entry would land in memory the driver has reused. So a reset makes
 * every request in flight stale (a new generation), cancels what the
 * kernel can still cancel and waits until each one has come back. Waiting
 * is bounded by the device's I/O; a ring that cannot deliver completions
 * is polled for a bounded time, after which the device refuses to start
 * until the stale requests are back.
 */
#include "virtio/blk/priv.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"

static struct ratelimit blk_drain_rl = RATELIMIT_INIT(10);

/*
 * SQEs we queued that the kernel has not consumed (a submit failed) would
 * start with the next submit, after the reset, on buffers the driver has
 * taken back. Turn them into NOPs: they complete at once and return their
 * request. liburing keeps them between the kernel's SQ head and sqe_tail.
 */
static void blk_drain_neuter_queued(struct virtio_blk *blk)
{
	struct io_uring_sq *sq = &blk->ring.sq;
	unsigned int n = io_uring_sq_ready(&blk->ring);

	for (unsigned int pos = sq->sqe_tail - n; pos != sq->sqe_tail; pos++) {
		struct io_uring_sqe *sqe = &sq->sqes[pos & sq->ring_mask];
		__u64 data = sqe->user_data;

		io_uring_prep_nop(sqe);
		virtio_blk_ring_fix_sqe(blk, sqe);
		sqe->user_data = data;
	}
}

/*
 * Asks the kernel to cancel everything in flight, so the wait is only as
 * long as I/O the device has already started. Its own CQE carries no
 * request (reap skips it). No free SQE means all of the pool's requests
 * are queued ones, which are NOPs by now: nothing to cancel.
 */
static void blk_drain_cancel(struct virtio_blk *blk)
{
#ifdef IORING_ASYNC_CANCEL_ANY
	struct io_uring_sqe *sqe = io_uring_get_sqe(&blk->ring);

	if (!sqe)
		return;
	/* A kernel before 5.19 answers -EINVAL; the wait then takes longer. */
	io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY);
	virtio_blk_ring_fix_sqe(blk, sqe);
	io_uring_sqe_set_data(sqe, NULL);
#else
	(void)blk;
#endif
}

/* Waits up to one poll period on the ring; 0 or -errno (poll itself failed). */
static int blk_drain_poll(struct virtio_blk *blk)
{
	struct pollfd pfd = { .fd = blk->ring.ring_fd, .events = POLLIN };

	/* The ring may have recovered: the NOPs and the cancel still have to go in. */
	if (io_uring_sq_ready(&blk->ring))
		io_uring_submit(&blk->ring);
	if (poll(&pfd, 1, BLK_DRAIN_POLL_MS) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

void virtio_blk_io_drain(struct virtio_blk *blk)
{
	unsigned int idle = 0, before;
	int enter_err = 0, ret;
	char why[96];

	/* From here on, whatever is in flight belongs to the rings being forgotten. */
	blk->gen++;
	if (!blk->inflight)
		return;
	blk_drain_neuter_queued(blk);
	blk_drain_cancel(blk);
	snprintf(why, sizeof(why), "no completion in %d s",
		 BLK_DRAIN_POLLS * BLK_DRAIN_POLL_MS / 1000);
	while (blk->inflight) {
		before = blk->inflight;
		if (!enter_err) {
			/* Blocks until the device completes something. */
			ret = io_uring_submit_and_wait(&blk->ring, 1);
			if (ret >= 0 || ret == -EINTR) {
				virtio_blk_io_reap(blk);
				continue;
			}
			/* EAGAIN, EBUSY: short of memory or CQ room; poll, reap, retry. */
			if (ret != -EAGAIN && ret != -EBUSY) {
				enter_err = ret;
				log_ratelimited(&blk_drain_rl, LOG_WARN,
						"%s: waiting for I/O failed (%s); polling the ring",
						blk->name, strerror(-ret));
			}
		}
		ret = blk_drain_poll(blk);
		if (ret) {
			snprintf(why, sizeof(why), "poll: %s", strerror(-ret));
			break;
		}
		virtio_blk_io_reap(blk);
		if (blk->inflight == before && ++idle >= BLK_DRAIN_POLLS)
			break;
	}
	if (blk->inflight)
		log_err("%s: %u requests still in flight after a reset (%s%s%s%s); the disk "
			"will not start again until they complete", blk->name, blk->inflight,
			enter_err ? "io_uring: " : "", enter_err ? strerror(-enter_err) : "",
			enter_err ? "; " : "", why);
}
