/* virtio-vsock backed by the host kernel's vhost_vsock. */
#ifndef HEARTH_VIRTIO_VSOCK_H
#define HEARTH_VIRTIO_VSOCK_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "virtio/device.h"

struct vsock_config {
	uint64_t cid;             /* 3 .. 2^32-2 */
};

/* "cid=N" */
int virtio_vsock_parse(const char *spec, struct vsock_config *cfg, struct err *err);

/*
 * Opens /dev/vhost-vsock and claims the CID. Counters: "vhost_signals"
 * (vhost's completions turned into interrupts) and "kick_relays"
 * (notifications passed on to vhost without an ioeventfd); the data
 * itself never passes through Hearth.
 */
int virtio_vsock_create(const struct virtio_env *env, const struct vsock_config *cfg,
			struct virtio_dev **out, struct err *err);
void virtio_vsock_destroy(struct virtio_dev *dev);

#endif
