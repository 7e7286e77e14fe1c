/*
 * virtio-mmio, version 2 (VIRTIO 1.2, 4.2): one transport a virtio device
 * can be attached to. The device is created first (it needs no transport)
 * and destroyed last; see the lifecycle in virtio/device.h.
 */
#ifndef HEARTH_VIRTIO_MMIO_H
#define HEARTH_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "virtio/device.h"

#define VIRTIO_MMIO_SIZE 0x1000u

/* What the transport needs from the VM. vm_fd < 0: no ioeventfd/irqfd (unit tests). */
struct virtio_host {
	int vm_fd;
	struct bus *bus;
	struct eventloop *loop;
	/* Unit tests: kick eventfds on the loop without a VM, as with an ioeventfd. */
	bool test_kick_fds;
};

struct virtio_mmio;

/*
 * Attaches dev (set up with virtio_dev_init) at base with interrupt gsi:
 * registers its window on the bus, watches its kicks and fills its hooks.
 * Returns 0 or -errno; on failure dev is left as it was, detached.
 */
int virtio_mmio_create(struct virtio_dev *dev, const struct virtio_host *host, uint64_t base,
		       uint32_t gsi, struct virtio_mmio **out);
/*
 * Detaches: stops watching and closes the kick fds (also those handed out
 * by take_kick_fd) and the irqfd, and clears dev's hooks. dev stays
 * usable for its own destroy, which comes after this, never before: the
 * transport points at the device. The bus keeps the window (the bus has
 * no unregister), so no vCPU may run any more.
 */
void virtio_mmio_destroy(struct virtio_mmio *t);

/*
 * The transport's state and its queues' to and from a versioned buffer
 * (util/bytes.h's convention): status, features offered and accepted,
 * selectors, each queue's layout, readiness and indices, interrupt
 * status, config generation. The device's own state is its own. Restore
 * is for a paused device built from the same config: another device
 * type, queue count or a feature set that no longer covers the accepted
 * one is -EINVAL, and nothing changes on any failure. A device that was
 * live is activated again (its activate's -errno, and NEEDS_RESET, when
 * it cannot start), and pending interrupt status is signalled again.
 * Takes dev->lock; on the I/O thread, or with it not running.
 */
#define VIRTIO_MMIO_STATE_VERSION 2u
int virtio_mmio_save(struct virtio_mmio *t, void *out, size_t *len);
int virtio_mmio_restore(struct virtio_mmio *t, const void *in, size_t len);

/* The register file, for unit tests and the fallback notify path. */
extern const struct bus_region_ops virtio_mmio_bus_ops;
uint32_t virtio_mmio_interrupt_status(struct virtio_mmio *t);

#endif
