/*
 * The split between a virtio device and its transport. A device is an ops
 * table plus its state; the transport (virtio-mmio) owns the registers,
 * feature negotiation, the status state machine, queue setup,
 * notifications (ioeventfd) and interrupts (irqfd).
 */
#ifndef HEARTH_VIRTIO_DEVICE_H
#define HEARTH_VIRTIO_DEVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/guest_mem.h"
#include "virtio/queue.h"

#define VIRTIO_MAX_QUEUES 16

struct virtio_dev;

struct virtio_dev_ops {
	uint32_t device_id;
	/* Device-specific feature bits; the transport adds VERSION_1, EVENT_IDX, INDIRECT_DESC. */
	uint64_t (*get_features)(struct virtio_dev *dev);
	/* Config space, bounded by config_size; len is 1, 2, 4 or 8. */
	void (*read_config)(struct virtio_dev *dev, uint32_t offset, uint8_t *data, unsigned int len);
	void (*write_config)(struct virtio_dev *dev, uint32_t offset, const uint8_t *data,
			     unsigned int len);
	/* DRIVER_OK was set: queues are enabled. 0 or -errno (-> NEEDS_RESET). */
	int (*activate)(struct virtio_dev *dev);
	/* The driver reset the device: drop all in-flight state. */
	void (*reset)(struct virtio_dev *dev);
	/* The driver kicked queue q; runs on the I/O thread with dev->lock held. */
	void (*queue_notify)(struct virtio_dev *dev, unsigned int q);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *priv;
	const char *name;
	unsigned int num_queues;
	uint16_t queue_max;
	uint32_t config_size;
	const struct guest_mem *mem;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	uint64_t features;        /* negotiated */
	uint32_t status;
	bool activated;
	pthread_mutex_t lock;     /* transport registers and queue processing */
	void *transport;
	/* Filled by the transport. */
	void (*signal_used)(struct virtio_dev *dev, unsigned int q);
	void (*signal_config)(struct virtio_dev *dev);
	/*
	 * A device whose per-kick budget ran out with work left asks for
	 * queue_notify(dev, q) again on a later I/O-loop round, so one queue
	 * cannot keep the loop from signals and other devices. May be NULL.
	 */
	void (*kick_again)(struct virtio_dev *dev, unsigned int q);
};

/* After completing requests on q: interrupt the driver if it wants one. */
void virtio_dev_notify(struct virtio_dev *dev, unsigned int q);

/*
 * The guest broke the protocol: mark NEEDS_RESET, tell the driver, log
 * with a rate limit. The device stops processing until reset.
 */
void virtio_dev_fail(struct virtio_dev *dev, const char *why);

bool virtio_dev_has_feature(const struct virtio_dev *dev, unsigned int bit);

#endif
