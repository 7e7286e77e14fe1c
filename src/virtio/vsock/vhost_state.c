/*
 * vhost-vsock's snapshot state. The kernel serves rx and tx, so the
 * device-side ring position is vhost's, not our virtq's: save asks it
 * (VHOST_GET_VRING_BASE, with vhost stopped by the pause) and restore
 * puts it back into the virtq, from which activation hands it to the new
 * vhost instance (VHOST_SET_VRING_BASE). Connections live in the host
 * kernel of the snapshotted process and do not survive: the restored
 * guest gets a transport reset on the event queue, which stays Hearth's.
 * What vhost writes into guest memory is not in Hearth's dirty bitmap
 * (no VHOST_SET_LOG_BASE): diff snapshots must refuse vhost-vsock.
 */
#include <errno.h>
#include <linux/vhost.h>

#include "virtio/vsock/event.h"
#include "virtio/vsock/vhost_priv.h"

int vsock_state_save(struct virtio_dev *dev, struct bytes_out *o)
{
	struct vsock *vs = dev->priv;
	struct vsock_saved s = { .cid = vs->cid, .nbases = VSOCK_VHOST_QUEUES };

	for (unsigned int q = 0; q < VSOCK_VHOST_QUEUES; q++) {
		struct vhost_vring_state st = { .index = q };

		/* vhost never started (or reset since): the driver's own index stands. */
		if (vs->vhost_fd < 0 || !vs->dirty || !dev->activated || !dev->vq[q].enabled) {
			s.base[q] = dev->vq[q].last_avail;
			continue;
		}
		if (!dev->paused)
			return -EBUSY; /* vhost is still moving the rings */
		if (vs->be.ioctl(vs->vhost_fd, VHOST_GET_VRING_BASE, &st))
			return -EIO;
		s.base[q] = (uint16_t)st.num;
	}
	vsock_state_put(o, &s);
	return 0;
}

int vsock_state_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in,
			size_t len, bool apply)
{
	struct vsock *vs = dev->priv;
	struct vsock_saved s;
	int ret = vsock_state_get(in, len, vs->cid, VSOCK_VHOST_QUEUES, &s);

	if (ret)
		return ret;
	/*
	 * The bases go to vhost as they are: checked first as virtq_restore
	 * checks a queue's own position, against the restored rings.
	 */
	for (unsigned int q = 0; q < VSOCK_VHOST_QUEUES; q++)
		if (virtq_check_base(&vq[q], s.base[q]))
			return -EINVAL;
	if (!apply)
		return 0;
	for (unsigned int q = 0; q < VSOCK_VHOST_QUEUES; q++)
		dev->vq[q].last_avail = s.base[q];
	vs->reset_pending = true;
	return 0;
}

void vsock_state_restored(struct virtio_dev *dev)
{
	vsock_send_pending_reset(dev->priv);
}
