/*
 * The split between a virtio device and its transport. A device is an ops
 * table plus its state, and knows nothing of how it is attached; the
 * transport (virtio-mmio today) owns the registers, feature negotiation,
 * the status state machine, queue setup, notifications (ioeventfd) and
 * interrupts (irqfd), and reaches the device only through the ops.
 *
 * Lifecycle, in one place (src/vmm/devices.c builds; the registry tears
 * down through the transport's component, virtio_mmio_component):
 *
 *   virtio_X_create(env, ...)          the device; no guest can see it yet
 *   virtio_mmio_create(dev, host, ...) attach: registers, kicks, hooks
 *   ...                                the guest runs
 *   virtio_mmio_destroy(t)             detach first
 *   dev->ops->destroy(dev)             then the device
 *
 * Detaching first is what makes teardown safe: the transport holds a
 * pointer to the device (its kick handlers, its register window), never
 * the other way round. Once detached, the hooks below are NULL again, so
 * whatever the device still completes in its destroy (virtio-blk drains
 * io_uring) only writes guest RAM and interrupts no one. Both steps run
 * with the vCPUs stopped and on the I/O thread or while its loop is not
 * running, as creation does.
 */
#ifndef HEARTH_VIRTIO_DEVICE_H
#define HEARTH_VIRTIO_DEVICE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/eventloop.h"
#include "core/ratelimit.h"
#include "mem/guest_mem.h"
#include "util/bytes.h"
#include "virtio/queue.h"

#define VIRTIO_MAX_QUEUES 16

/* What a device needs from the VM, whatever transport it will sit on. */
struct virtio_env {
	struct eventloop *loop;       /* the I/O thread's; NULL in some unit tests */
	const struct guest_mem *mem;
	const struct rl_clock *clock; /* rate limiters', vsock handshakes'; NULL: CLOCK_MONOTONIC */
};

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
	/*
	 * Optional: whether activate could take up queues vq as they are, for
	 * the check of a restored record that says the device was activated,
	 * so that what the guest's side decides cannot fail the apply. 0, or
	 * -EINVAL. Only host-side steps may then fail activate.
	 */
	int (*activate_check)(const struct virtio_dev *dev, const struct virtq *vq);
	/* The driver reset the device: drop all in-flight state. */
	void (*reset)(struct virtio_dev *dev);
	/* The driver kicked queue q; runs on the I/O thread with dev->lock held. */
	void (*queue_notify)(struct virtio_dev *dev, unsigned int q);
	/* Frees the device and everything it owns; its transport is detached already. */
	void (*destroy)(struct virtio_dev *dev);
	/*
	 * Fills out with up to max of the device's counters and returns how
	 * many it filled. Takes dev->lock (counters change under it), so never
	 * call it with the lock held. NULL: the device counts nothing.
	 */
	unsigned int (*counters)(struct virtio_dev *dev, struct dev_counter *out, unsigned int max);
	/*
	 * Optional, dev->lock held: whatever serves the queues besides
	 * queue_notify stops (pause) and starts again (resume); vhost does.
	 * pause may also wait, within a bound, for what is in flight (a
	 * disk does): 0, or -errno when that did not finish (-EBUSY); the
	 * device counts as paused either way, and resume undoes it.
	 */
	int (*pause)(struct virtio_dev *dev);
	void (*resume)(struct virtio_dev *dev);
	/*
	 * Optional, dev->lock held, the device paused: its own state (a
	 * disk's, a NIC's), which the transport nests in its record
	 * (mmio/state.c). save appends one tagged record (util/bytes.h) to
	 * o; 0, or -EBUSY when the state cannot be taken now (I/O still in
	 * flight: never dropped). restore reads exactly [in, in+len) and is
	 * called twice: first with apply false, before the transport changes
	 * anything, to check (0, -ENODATA, -EPROTO, -EINVAL, changing
	 * nothing), then with apply true once the transport's state is back
	 * (queues enabled) and before activate. vq are the queues as the
	 * transport's record has them, already checked (queue_state.c): in
	 * the check they are not the device's yet, in the apply they are
	 * dev->vq; a device whose ring positions live elsewhere (vhost)
	 * checks its own against them. A device with work for the
	 * restored guest (vsock's transport reset) does it in restored,
	 * called after activate, with the guest's interrupt controller state
	 * already in KVM (the orchestration restores it first).
	 */
	int (*save)(struct virtio_dev *dev, struct bytes_out *o);
	int (*restore)(struct virtio_dev *dev, const struct virtq *vq, const void *in,
		       size_t len, bool apply);
	void (*restored)(struct virtio_dev *dev);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *priv;
	const char *name;
	unsigned int num_queues;
	uint16_t queue_max;
	uint32_t config_size;
	const struct guest_mem *mem;  /* from virtio_env */
	struct virtq vq[VIRTIO_MAX_QUEUES];
	uint64_t features;        /* negotiated */
	uint32_t status;
	bool activated;
	/* The VM is paused: nothing new is taken from the rings; in-flight I/O completes. */
	bool paused;
	/* Transport registers and queue processing; the device's, from virtio_dev_init. */
	pthread_mutex_t lock;
	/* The attached transport's own state; NULL while detached. Devices leave it alone. */
	void *transport;
	/*
	 * Filled by the transport on attach and cleared on detach: a device
	 * checks for NULL before each call, as it may run without one.
	 */
	void (*signal_used)(struct virtio_dev *dev, unsigned int q);
	void (*signal_config)(struct virtio_dev *dev);
	/*
	 * A device whose per-kick budget ran out with work left asks for
	 * queue_notify(dev, q) again on a later I/O-loop round, so one queue
	 * cannot keep the loop from signals and other devices.
	 */
	void (*kick_again)(struct virtio_dev *dev, unsigned int q);
	/*
	 * For a device whose queues another party serves (vhost): returns the
	 * fd the transport signals on each notification of queue q and stops
	 * delivering those to queue_notify, so that party can watch the fd
	 * itself. The fd stays the transport's (it closes it on detach); it
	 * may still be signalled on notifications the fast path missed.
	 * -ENOENT when there is no such fd. On the I/O thread, dev->lock held.
	 */
	int (*take_kick_fd)(struct virtio_dev *dev, unsigned int q);
	/*
	 * For the same party: an eventfd that raises queue q's interrupt
	 * when written, with no Hearth thread in between (virtio-pci: an
	 * irqfd on the queue's MSI-X vector, masking honoured; virtio-mmio:
	 * the device's irqfd, its used-buffer status bit then set until a
	 * reset), or -1 when
	 * the transport has none (the party's writes then go through the
	 * I/O thread: vhost_call). The fd stays the transport's and holds
	 * until the device is reset or detached. dev->lock held.
	 */
	int (*call_fd)(struct virtio_dev *dev, unsigned int q);
};

/*
 * Sets up what every device owns: its lock, its guest memory and no
 * transport. The device fills ops, priv, name and its queue geometry
 * itself. 0 or -errno; on success virtio_dev_release undoes it.
 */
int virtio_dev_init(struct virtio_dev *dev, const struct virtio_env *env);
void virtio_dev_release(struct virtio_dev *dev);

/* For a transport letting go of dev: clears the hooks and the transport pointer. */
void virtio_dev_detach(struct virtio_dev *dev);

/* After completing requests on q: interrupt the driver if it wants one. */
void virtio_dev_notify(struct virtio_dev *dev, unsigned int q);

/*
 * The guest broke the protocol: mark NEEDS_RESET, tell the driver, log
 * with a rate limit. The device stops processing until reset.
 */
void virtio_dev_fail(struct virtio_dev *dev, const char *why);

bool virtio_dev_has_feature(const struct virtio_dev *dev, unsigned int bit);

/* Activated, not NEEDS_RESET and not paused: the device may take new requests. */
bool virtio_dev_running(const struct virtio_dev *dev);

/*
 * The control plane's pause: from here on no request is taken from the
 * rings (kicks are read and dropped; resume looks at every queue again),
 * while requests already taken complete into them. Takes dev->lock; on
 * the I/O thread. 0, or ops->pause's -errno (-EBUSY: requests still in
 * flight after its bound): the device is paused all the same, and the
 * caller resumes it rather than leave the VM half paused.
 */
int virtio_dev_pause(struct virtio_dev *dev);
void virtio_dev_resume(struct virtio_dev *dev);

/* ops->counters, or 0 for a device without counters. */
unsigned int virtio_dev_counters(struct virtio_dev *dev, struct dev_counter *out,
				 unsigned int max);

#endif
