/* virtio-rng backed by getrandom(). */
#ifndef HEARTH_VIRTIO_RNG_H
#define HEARTH_VIRTIO_RNG_H

#include <stddef.h>

#include "util/err.h"
#include "virtio/device.h"

/*
 * Counters: "requests" and "bytes" completed, "rate_limiter_throttled"
 * (requests the limiter held back).
 */
int virtio_rng_create(const struct virtio_env *env, struct virtio_dev **out, struct err *err);
void virtio_rng_destroy(struct virtio_dev *dev);
/* Applies a rate limiter configuration (core/ratelimit.h), live; on the I/O thread. */
void virtio_rng_set_limiter(struct virtio_dev *dev, const struct rl_config *cfg);

#endif
