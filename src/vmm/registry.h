/*
 * The device registry: every device of a VM, legacy or virtio, under an
 * id ("com1", "rootfs", "eth0" ...), with the resources it occupies, its
 * ops and its counters. Teardown, metrics, pause and snapshots walk it
 * instead of knowing each device.
 */
#ifndef HEARTH_VMM_REGISTRY_H
#define HEARTH_VMM_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/counters.h"
#include "vmm/config.h"

enum dev_kind { DEV_LEGACY, DEV_VIRTIO };

struct dev_resources {
	uint64_t mmio_base;       /* 0: none */
	uint32_t mmio_size;
	uint16_t pio_base;        /* 0: none */
	uint16_t pio_size;
	int gsi;                  /* -1: none */
};

struct dev_ops {
	/* Frees the device; its transport (if any) is gone already. */
	void (*destroy)(void *dev);
	/* Up to max counters into out; returns how many. NULL: none. */
	unsigned int (*counters)(void *dev, struct dev_counter *out, unsigned int max);
	/*
	 * The control plane's pause: stop taking work from the guest (in-flight
	 * I/O completes) and take it up again. Virtio devices have them (the io
	 * thread serves their rings while the vCPUs are parked); NULL: parking
	 * the vCPUs is enough. Callers check.
	 */
	int (*pause)(void *dev);
	int (*resume)(void *dev);
	/*
	 * save: *len in is out's room (0 with out NULL asks the size), out
	 * the bytes written; 0, or -ENOSPC with the size needed in *len.
	 * restore: 0, -ENODATA (truncated), -EPROTO (another version) or
	 * -EINVAL, with the device unchanged on failure. The device is
	 * paused. The format is the device's own (util/bytes.h). NULL: the
	 * device cannot be saved, and snapshot/create refuses the VM.
	 */
	int (*save)(void *dev, void *out, unsigned long *len);
	int (*restore)(void *dev, const void *in, unsigned long len);
};

/* How a device is attached to the guest; destroyed before the device. */
struct dev_transport_ops {
	const char *name;         /* "virtio-mmio" */
	void (*destroy)(void *transport);
};

struct dev_entry {
	char id[VM_ID_MAX + 1];
	enum dev_kind kind;
	const char *type;         /* "serial", "virtio-blk" ... static */
	struct dev_resources res;
	const struct dev_ops *ops;
	void *dev;
	const struct dev_transport_ops *transport_ops;
	void *transport;          /* NULL: none (legacy devices sit on the bus themselves) */
};

struct registry {
	struct dev_entry *entries;
	unsigned int n, cap;
};

void registry_init(struct registry *r);
/* Frees every device, newest first (transport, then device). */
void registry_destroy(struct registry *r);

/*
 * Adds a device that is fully built. -EEXIST when the id is taken,
 * -ENOMEM. On failure nothing is added and the caller still owns dev.
 */
int registry_add(struct registry *r, const char *id, enum dev_kind kind, const char *type,
		 const struct dev_resources *res, const struct dev_ops *ops, void *dev);
/* Records the transport of the newest entry, which then owns it. */
void registry_set_transport(struct registry *r, const struct dev_transport_ops *ops,
			    void *transport);

struct dev_entry *registry_find(struct registry *r, const char *id);

/*
 * Every device's pause (resume) op, in order; devices without one are
 * skipped. All are called even after a failure; returns the first -errno.
 * On the I/O thread.
 */
int registry_pause(struct registry *r);
int registry_resume(struct registry *r);
struct dev_entry *registry_find_kind(struct registry *r, enum dev_kind kind, const char *type,
				     unsigned int nth);

unsigned int registry_counters(const struct dev_entry *e, struct dev_counter *out,
			       unsigned int max);

#endif
