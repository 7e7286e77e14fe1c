/* virtio-vsock backed by the host kernel's vhost_vsock. */
#ifndef HEARTH_VIRTIO_VSOCK_H
#define HEARTH_VIRTIO_VSOCK_H

#include <stddef.h>
#include <stdint.h>

#include "virtio/device.h"
#include "virtio/mmio.h"

struct vsock_config {
	uint64_t cid;             /* 3 .. 2^32-2 */
};

/* "cid=N" */
int virtio_vsock_parse(const char *spec, struct vsock_config *cfg, char *err, size_t errlen);

int virtio_vsock_create(const struct virtio_host *host, const struct vsock_config *cfg,
			uint64_t base, uint32_t gsi, struct virtio_dev **out, char *err,
			size_t errlen);
void virtio_vsock_destroy(struct virtio_dev *dev);

#endif
