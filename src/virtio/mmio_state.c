/*
 * The virtio-mmio transport's save and restore: everything its registers
 * show the driver, and each queue's state (queue_state.c). A restored
 * transport answers every register read as the saved one did, and its
 * queues carry on from the same indices over the same guest RAM.
 */
#include <errno.h>
#include <string.h>

#include "util/bytes.h"
#include "virtio/mmio.h"
#include "virtio/mmio_priv.h"
#include "virtio/queue.h"

#define MMIO_TAG "VMMI"

/* The status bits a driver can set (2.1), and NEEDS_RESET, which we set. */
#define STATUS_SAVED                                                                         \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK |        \
	 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

int virtio_mmio_save(struct virtio_mmio *t, void *out, size_t *len)
{
	struct virtio_dev *dev = t->dev;
	struct bytes_out o = bytes_out_init(out, *len);

	pthread_mutex_lock(&dev->lock);
	bytes_put_tag(&o, MMIO_TAG, VIRTIO_MMIO_STATE_VERSION);
	/* What the device was, so a restore into another kind is refused. */
	bytes_put_u32(&o, dev->ops->device_id);
	bytes_put_u32(&o, dev->num_queues);
	bytes_put_u16(&o, dev->queue_max);
	bytes_put_u64(&o, virtio_mmio_offered(t));
	/* The driver's view. */
	bytes_put_u32(&o, dev->status);
	bytes_put_u8(&o, dev->activated);
	bytes_put_u64(&o, dev->features);
	bytes_put_u64(&o, t->driver_features);
	bytes_put_u32(&o, t->device_features_sel);
	bytes_put_u32(&o, t->driver_features_sel);
	bytes_put_u32(&o, t->queue_sel);
	bytes_put_u32(&o, __atomic_load_n(&t->interrupt_status, __ATOMIC_SEQ_CST));
	bytes_put_u32(&o, __atomic_load_n(&t->config_generation, __ATOMIC_SEQ_CST));
	for (unsigned int i = 0; i < dev->num_queues; i++)
		virtq_save(&dev->vq[i], &o);
	pthread_mutex_unlock(&dev->lock);
	return bytes_out_finish(&o, len);
}

struct mmio_saved {
	uint32_t status;
	bool activated;
	uint64_t features, driver_features;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint32_t interrupt_status, config_generation;
	struct virtq vq[VIRTIO_MAX_QUEUES];
};

static int mmio_parse(struct virtio_mmio *t, struct mmio_saved *v, const void *in, size_t len)
{
	struct virtio_dev *dev = t->dev;
	struct bytes_in r = bytes_in_init(in, len);
	uint32_t device_id, num_queues;
	uint16_t queue_max;
	int ret = bytes_get_tag(&r, MMIO_TAG, VIRTIO_MMIO_STATE_VERSION);

	if (ret)
		return ret;
	device_id = bytes_get_u32(&r);
	num_queues = bytes_get_u32(&r);
	queue_max = bytes_get_u16(&r);
	(void)bytes_get_u64(&r); /* offered then: what counts is what the driver took */
	v->status = bytes_get_u32(&r);
	v->activated = bytes_get_bool(&r);
	v->features = bytes_get_u64(&r);
	v->driver_features = bytes_get_u64(&r);
	v->device_features_sel = bytes_get_u32(&r);
	v->driver_features_sel = bytes_get_u32(&r);
	v->queue_sel = bytes_get_u32(&r);
	v->interrupt_status = bytes_get_u32(&r);
	v->config_generation = bytes_get_u32(&r);
	if (r.short_read)
		return -ENODATA;
	if (device_id != dev->ops->device_id || num_queues != dev->num_queues ||
	    queue_max != dev->queue_max)
		return -EINVAL;
	for (unsigned int i = 0; i < num_queues; i++) {
		ret = virtq_restore(&v->vq[i], dev->mem, &r);
		if (ret)
			return ret;
		if (r.short_read)
			return -ENODATA; /* and v->vq[i] was left unwritten */
		if (v->vq[i].size > queue_max)
			return -EINVAL;
	}
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	/* A guest driving features this device no longer offers would break. */
	if ((v->features & ~virtio_mmio_offered(t)) || (v->status & ~STATUS_SAVED) ||
	    (v->activated && !(v->status & VIRTIO_STATUS_DRIVER_OK)) ||
	    (v->interrupt_status & ~(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG)))
		return -EINVAL;
	return 0;
}

int virtio_mmio_restore(struct virtio_mmio *t, const void *in, size_t len)
{
	struct virtio_dev *dev = t->dev;
	struct mmio_saved v;
	int ret = mmio_parse(t, &v, in, len);

	if (ret)
		return ret;
	pthread_mutex_lock(&dev->lock);
	dev->status = v.status;
	dev->activated = v.activated;
	dev->features = v.features;
	t->driver_features = v.driver_features;
	t->device_features_sel = v.device_features_sel;
	t->driver_features_sel = v.driver_features_sel;
	t->queue_sel = v.queue_sel;
	__atomic_store_n(&t->config_generation, v.config_generation, __ATOMIC_SEQ_CST);
	memcpy(dev->vq, v.vq, sizeof(v.vq[0]) * dev->num_queues);
	/* As DRIVER_OK does: the device takes up its queues (a backend, vhost). */
	if (dev->activated && !(dev->status & VIRTIO_STATUS_NEEDS_RESET) && dev->ops->activate) {
		ret = dev->ops->activate(dev);
		if (ret)
			virtio_dev_fail(dev, "device could not start after restore");
	}
	/*
	 * Signalled again rather than only stored: an interrupt lost between
	 * save and restore would leave the driver waiting forever, while an
	 * extra one costs it a read of InterruptStatus.
	 */
	__atomic_store_n(&t->interrupt_status, 0, __ATOMIC_SEQ_CST);
	if (v.interrupt_status)
		virtio_mmio_raise(t, v.interrupt_status);
	pthread_mutex_unlock(&dev->lock);
	return ret < 0 ? ret : 0;
}
