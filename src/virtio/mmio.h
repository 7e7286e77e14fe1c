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
#include "core/component.h"
#include "core/eventloop.h"
#include "core/irq.h"
#include "virtio/device.h"

#define VIRTIO_MMIO_SIZE 0x1000u

/* What the transport needs from the VM. vm_fd < 0: no ioeventfd/irqfd (unit tests). */
struct virtio_host {
	int vm_fd;
	struct bus *bus;
	struct eventloop *loop;
	/* The VM's MSI routes (virtio-pci's irqfds); NULL: messages through KVM_SIGNAL_MSI. */
	struct irq_routes *routes;
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
 * The attached device as one component (core/component.h), obj the
 * struct virtio_mmio: pause and resume stop and start the device taking
 * requests (virtio_dev_pause); counters are the device's; destroy
 * detaches the transport, then destroys the device.
 *
 * Its record ("VMMI" 2, mmio/state.c) is the transport's state and its
 * queues' (status, features offered and accepted, selectors, each queue's
 * layout, readiness and indices, interrupt status, config generation),
 * with the device's own record nested. A restore is for a paused device
 * built from the same config: another device type, queue count or a
 * feature set that no longer covers the accepted one is -EINVAL. Its
 * check checks the device's record too; its apply activates a device
 * that was live (NEEDS_RESET when it cannot start, and the activate's
 * -errno) and signals pending interrupt status again. Takes dev->lock;
 * on the I/O thread, or with it not running.
 */
#define VIRTIO_MMIO_STATE_VERSION 2u
extern const struct component_ops virtio_mmio_component;
/* The device attached (a component's obj is the transport). */
struct virtio_dev *virtio_mmio_device(struct virtio_mmio *t);

/* The register file, for unit tests and the fallback notify path. */
extern const struct bus_region_ops virtio_mmio_bus_ops;
uint32_t virtio_mmio_interrupt_status(struct virtio_mmio *t);

#endif
