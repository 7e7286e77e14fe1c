/*
 * Test-only: attaching a created device to virtio-mmio and tearing both
 * down, as src/vmm/devices.c does (see the lifecycle in
 * virtio/device.h). Devices know no transport, so every device test goes
 * through here.
 */
#ifndef HEARTH_TESTS_MMIO_ATTACH_H
#define HEARTH_TESTS_MMIO_ATTACH_H

#include <stddef.h>
#include <stdint.h>

#include "virtio/device.h"
#include "virtio/mmio.h"

/*
 * Attaches a created dev at base with gsi: 0, or the error with dev
 * destroyed (a device that cannot be attached is of no use to a test).
 */
static inline int mmio_attach(struct virtio_dev *dev, const struct virtio_host *host,
			      uint64_t base, uint32_t gsi, struct virtio_mmio **t)
{
	int ret = virtio_mmio_create(dev, host, base, gsi, t);

	if (ret) {
		*t = NULL;
		dev->ops->destroy(dev);
	}
	return ret;
}

/* The documented order: the transport first, then the device. Either may be NULL. */
static inline void mmio_detach_destroy(struct virtio_dev *dev, struct virtio_mmio *t)
{
	virtio_mmio_destroy(t);
	if (dev)
		dev->ops->destroy(dev);
}

#endif
