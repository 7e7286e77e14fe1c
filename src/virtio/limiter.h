/*
 * A device's rate limiter on the I/O thread: the token buckets of
 * core/ratelimit.h plus the timerfd that wakes the device when a blocked
 * limiter may go on. A device asks before it takes a request; when the
 * answer is no it leaves the request in the ring and stops taking from
 * that queue, and resume() runs (on the loop, dev->lock held) once the
 * timer fires. Nothing sleeps.
 */
#ifndef HEARTH_VIRTIO_LIMITER_H
#define HEARTH_VIRTIO_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ratelimit.h"
#include "virtio/device.h"

struct virtio_limiter {
	struct rate_limiter rl;
	struct virtio_dev *dev;
	struct eventloop *loop;   /* NULL: no timer (unit tests without a loop) */
	int tfd;
	void (*resume)(struct virtio_dev *dev, void *arg);
	void *arg;
	uint64_t throttled;       /* requests refused; under dev->lock */
};

/*
 * Unlimited until virtio_limiter_update. The timerfd is made now, even
 * for a limiter that never limits, so a later update cannot fail for
 * want of a file descriptor. 0 or -errno.
 */
int virtio_limiter_init(struct virtio_limiter *l, const struct virtio_env *env,
			struct virtio_dev *dev, void (*resume)(struct virtio_dev *, void *),
			void *arg);
void virtio_limiter_release(struct virtio_limiter *l);

/*
 * May a request of bytes (and one op) go now? dev->lock held. False when
 * it may not: the caller leaves it in the ring and stops; the timer is armed.
 */
bool virtio_limiter_admit(struct virtio_limiter *l, uint64_t bytes);
/* Gives back what an admitted request cost, when it could not be carried out after all. */
void virtio_limiter_refund(struct virtio_limiter *l, uint64_t bytes);
/* True while blocked: take nothing from the queue until resume(). */
bool virtio_limiter_blocked(const struct virtio_limiter *l);

/*
 * Applies cfg (buckets left unset keep their state). A blocked limiter is
 * woken at once, so the new rate applies now rather than when the old
 * timer would have fired. dev->lock held, on the I/O thread.
 */
void virtio_limiter_update(struct virtio_limiter *l, const struct rl_config *cfg);

#endif
