/*
 * What both transports' snapshot records share (transport.h): their
 * head, the queues, and the device's own record nested in them.
 */
#include "virtio/transport.h"

#include <errno.h>

int virtio_transport_save_device(struct virtio_dev *dev, struct bytes_out *o)
{
	size_t at = o->len;
	int ret;

	bytes_put_u32(o, 0);
	if (!dev->ops->save)
		return 0;
	ret = dev->ops->save(dev, o);
	if (ret)
		return ret;
	if (o->buf && at + 4 <= o->cap) {
		uint32_t n = (uint32_t)(o->len - at - 4);

		for (unsigned int i = 0; i < 4; i++)
			o->buf[at + i] = (uint8_t)(n >> (8 * i));
	}
	return 0;
}

int virtio_transport_get_device(const struct virtio_dev *dev, struct bytes_in *in,
				const uint8_t **rec, uint32_t *len)
{
	*len = bytes_get_u32(in);
	if (in->short_read || *len > bytes_in_left(in))
		return -ENODATA;
	*rec = in->p + in->off;
	in->off += *len;
	/* State a device without save would not have written, or none where it would. */
	if (!dev->ops->restore != !*len)
		return *len ? -EINVAL : -ENODATA;
	return 0;
}

void virtio_transport_save_head(const struct virtio_dev *dev, struct bytes_out *o,
				const char *tag, uint32_t version)
{
	bytes_put_tag(o, tag, version);
	bytes_put_u32(o, dev->ops->device_id);
	bytes_put_u32(o, dev->num_queues);
	bytes_put_u16(o, dev->queue_max);
}

int virtio_transport_get_head(const struct virtio_dev *dev, struct bytes_in *in,
			      const char *tag, uint32_t version)
{
	uint32_t device_id, num_queues;
	uint16_t queue_max;
	int ret = bytes_get_tag(in, tag, version);

	if (ret)
		return ret;
	device_id = bytes_get_u32(in);
	num_queues = bytes_get_u32(in);
	queue_max = bytes_get_u16(in);
	if (in->short_read)
		return -ENODATA;
	if (device_id != dev->ops->device_id || num_queues != dev->num_queues ||
	    queue_max != dev->queue_max)
		return -EINVAL;
	return 0;
}

int virtio_transport_get_queues(const struct virtio_dev *dev, struct bytes_in *in,
				struct virtq *vq)
{
	for (unsigned int q = 0; q < dev->num_queues; q++) {
		int ret = virtq_restore(&vq[q], dev->mem, in);

		if (ret)
			return ret;
		if (in->short_read)
			return -ENODATA; /* and vq[q] was left unwritten */
		if (vq[q].size > dev->queue_max)
			return -EINVAL;
	}
	return 0;
}

int virtio_transport_check_device(struct virtio_dev *dev, const struct virtq *vq,
				  uint32_t status, bool activated, const uint8_t *rec,
				  uint32_t len)
{
	int ret = 0;

	/* Against the queues as they will be: vhost checks its ring positions. */
	if (dev->ops->restore)
		ret = dev->ops->restore(dev, vq, rec, len, false);
	/* An activated record: what activate needs of the queues is there. */
	if (!ret && activated && !(status & VIRTIO_STATUS_NEEDS_RESET) && dev->ops->activate_check)
		ret = dev->ops->activate_check(dev, vq);
	return ret;
}

int virtio_transport_apply_device(struct virtio_dev *dev, const uint8_t *rec, uint32_t len)
{
	int ret = 0;

	/*
	 * Checked with the same bytes, so it only fails on the host's side
	 * (a user NIC's hostfwd port taken meanwhile): then the device, not the
	 * restore, is broken, and the driver is told so.
	 */
	if (dev->ops->restore && dev->ops->restore(dev, dev->vq, rec, len, true))
		virtio_dev_fail(dev, "device state could not be applied on restore");
	/* As DRIVER_OK does: the device takes up its queues (a backend, vhost). */
	if (dev->activated && !(dev->status & VIRTIO_STATUS_NEEDS_RESET) && dev->ops->activate) {
		ret = dev->ops->activate(dev);
		if (ret)
			virtio_dev_fail(dev, "device could not start after restore");
	}
	return ret;
}

void virtio_transport_restored(struct virtio_dev *dev)
{
	if (dev->ops->restored && dev->activated && !(dev->status & VIRTIO_STATUS_NEEDS_RESET))
		dev->ops->restored(dev);
}
