/* virtio-mmio, version 2 (VIRTIO 1.2, 4.2). */
#ifndef HEARTH_VIRTIO_MMIO_H
#define HEARTH_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "virtio/device.h"

#define VIRTIO_MMIO_SIZE 0x1000u

/* What a transport needs from the VM. vm_fd < 0: no ioeventfd/irqfd (unit tests). */
struct virtio_host {
	int vm_fd;
	struct bus *bus;
	struct eventloop *loop;
	const struct guest_mem *mem;
	/* Unit tests: kick eventfds on the loop without a VM, as with an ioeventfd. */
	bool test_kick_fds;
};

struct virtio_mmio;

/* Registers dev at base with interrupt gsi. Returns 0 or -errno. */
int virtio_mmio_create(struct virtio_dev *dev, const struct virtio_host *host, uint64_t base,
		       uint32_t gsi, struct virtio_mmio **out);
void virtio_mmio_destroy(struct virtio_mmio *t);

/* The register file, for unit tests and the fallback notify path. */
extern const struct bus_region_ops virtio_mmio_bus_ops;
uint32_t virtio_mmio_interrupt_status(struct virtio_mmio *t);

/*
 * For vhost backends: returns queue q's ioeventfd (KVM signals it on
 * QueueNotify) and stops Hearth's I/O thread from watching it, so the host
 * kernel can take the kicks directly. -ENOENT without a fast path.
 */
int virtio_mmio_detach_kick(struct virtio_mmio *t, unsigned int q);

#endif
