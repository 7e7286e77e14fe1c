/*
 * The transport's state, shared by mmio.c (the registers) and
 * state.c (its save and restore). Nothing else includes this.
 */
#ifndef HEARTH_VIRTIO_MMIO_PRIV_H
#define HEARTH_VIRTIO_MMIO_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/device.h"
#include "virtio/kicks.h"
#include "virtio/mmio.h"
#include "virtio/transport.h"
#include "virtio/virtio.h"

struct virtio_mmio {
	struct virtio_dev *dev;
	struct virtio_host host;
	uint64_t base;
	uint32_t gsi;
	int irqfd;
	struct virtio_kicks kicks;
	struct virtio_tstate ts;
	uint32_t interrupt_status; /* atomic: set by the I/O thread, acked by vCPUs */
	/*
	 * Atomic: a vhost backend signals the irqfd itself (call_fd), so the
	 * used-buffer bit reads as set until the device is reset.
	 */
	bool vring_direct;
	uint32_t config_generation;
};
/* First: the component ops both transports share read it there (transport.h). */
_Static_assert(offsetof(struct virtio_mmio, dev) == 0, "the device pointer first");

/* Device and transport features together, as DeviceFeatures shows them. */
uint64_t virtio_mmio_offered(struct virtio_mmio *t);
/* Sets interrupt status bits and signals the irqfd. */
void virtio_mmio_raise(struct virtio_mmio *t, uint32_t bits);

/* state.c: the component's save and restore (virtio_mmio_component). */
int mmio_state_save(void *obj, struct bytes_out *o, struct err *err);
int mmio_state_restore(void *obj, const void *in, size_t len, bool apply, struct err *err);

#endif
