/* virtio-rng backed by getrandom(). */
#ifndef HEARTH_VIRTIO_RNG_H
#define HEARTH_VIRTIO_RNG_H

#include <stddef.h>

#include "virtio/device.h"

/* Counters: "requests" and "bytes" completed. */
int virtio_rng_create(const struct virtio_env *env, struct virtio_dev **out, char *err,
		      size_t errlen);
void virtio_rng_destroy(struct virtio_dev *dev);

#endif
