/*
 * virtio-vsock's event queue (5.10.6.5), shared by hybrid vsock and
 * vhost-vsock (whose event queue stays Hearth's), and the state both
 * save: after a restore no connection survives (the host sockets belong
 * to the process that was snapshotted), so the guest is sent a transport
 * reset, as Firecracker does, and drops its connections and listens
 * again.
 */
#ifndef HEARTH_VIRTIO_VSOCK_EVENT_H
#define HEARTH_VIRTIO_VSOCK_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/device.h"

#define VSOCK_EVENT_TRANSPORT_RESET 0u
#define VSOCK_STATE_TAG "VSCK"
#define VSOCK_STATE_VERSION 1u

/*
 * dev->lock held, device running: pushes a transport reset into the event
 * queue evq using chain as scratch. 0, or -EAGAIN when the driver has no
 * event buffer posted (or the device is not running): try again when it
 * kicks the event queue.
 */
int vsock_event_send_reset(struct virtio_dev *dev, unsigned int evq, struct virtq_chain *chain);

/*
 * The record both vsock flavours save: the guest CID (which the driver
 * has cached: a restore into another CID is refused) and, for vhost, the
 * kernel's next avail index per ring (vhost keeps those, not our virtq).
 */
struct vsock_saved {
	uint64_t cid;
	uint8_t nbases;
	uint16_t base[2];
};

void vsock_state_put(struct bytes_out *o, const struct vsock_saved *s);
/* 0, -ENODATA, -EPROTO or -EINVAL (another CID than want_cid, another ring count). */
int vsock_state_get(const void *in, size_t len, uint64_t want_cid, uint8_t want_bases,
		    struct vsock_saved *s);

#endif
