/*
 * Internals of vhost-vsock shared by vhost.c (device, vhost setup) and
 * vhost_state.c (snapshots). Not for use outside src/virtio/vsock/.
 */
#ifndef HEARTH_VIRTIO_VSOCK_VHOST_PRIV_H
#define HEARTH_VIRTIO_VSOCK_VHOST_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "core/eventloop.h"
#include "util/err.h"
#include "virtio/device.h"
#include "virtio/vhost.h"
#include "virtio/vsock.h"

#define VSOCK_DEFAULT_PATH "/dev/vhost-vsock"
#define VSOCK_QUEUE_SIZE 256
#define VSOCK_NUM_QUEUES 3
#define VSOCK_VHOST_QUEUES 2 /* rx (0) and tx (1); the event queue (2) stays here */
#define VSOCK_CID_MIN 3ull
#define VSOCK_CID_MAX 0xfffffffeull /* 0xffffffff is VMADDR_CID_ANY */

/* 5.10.3. Only SEQPACKET: it changes nothing outside vhost and needs no extra queue. */
#define VSOCK_F_SEQPACKET 1
#define VSOCK_DEVICE_FEATURES (1ull << VSOCK_F_SEQPACKET)

/* The transport offers these on its own, so vhost must be able to honour them. */
#define VSOCK_TRANSPORT_FEATURES                                                             \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |                       \
	 (1ull << VIRTIO_F_INDIRECT_DESC))

/*
 * Test hook: where the vhost device lives and how it is driven, so the
 * unit tests can run without /dev/vhost-vsock. ioctl returns 0 or -errno.
 */
struct virtio_vsock_backend {
	const char *path;
	vhost_ioctl_fn ioctl;
};

int virtio_vsock_create_with(const struct virtio_env *env, const struct vsock_config *cfg,
			     const struct virtio_vsock_backend *be, struct virtio_dev **out,
			     struct err *err);

struct vsock {
	struct virtio_dev dev;
	struct eventloop *loop;
	struct virtio_vsock_backend be;
	uint64_t cid;
	/* Changed only with the hotplug region's lock held: mw reads it on the I/O thread. */
	int vhost_fd;
	struct vhost_mem_watch mw;
	uint64_t vhost_features;
	bool dirty; /* vhost state was touched since the last (re)open */
	struct vhost_call calls[VSOCK_VHOST_QUEUES];
	/* -1 until the first activation takes the transport's or makes one. */
	int kick_fd[VSOCK_VHOST_QUEUES];
	bool own_kick[VSOCK_VHOST_QUEUES]; /* no ioeventfd: we relay QueueNotify */
	uint64_t signals, kick_relays;     /* under dev.lock */
	bool reset_pending; /* restored: the guest is owed a transport reset event */
	struct virtq_chain chain;          /* the event queue's, for that event */
};

#define VSOCK_EVQ 2

/* vhost.c: the transport reset a restore left owed, once there is an event buffer. */
void vsock_send_pending_reset(struct vsock *vs);
/* vhost_state.c: the snapshot ops. dev->lock held. */
int vsock_state_save(struct virtio_dev *dev, struct bytes_out *o);
int vsock_state_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in,
			size_t len, bool apply);
void vsock_state_restored(struct virtio_dev *dev);

#endif
