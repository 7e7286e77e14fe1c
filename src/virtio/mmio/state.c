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
#include "virtio/mmio/priv.h"
#include "virtio/queue.h"

#define MMIO_TAG "VMMI"

int mmio_state_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct virtio_mmio *t = obj;
	struct virtio_dev *dev = t->dev;
	int ret;

	pthread_mutex_lock(&dev->lock);
	virtio_transport_save_head(dev, o, MMIO_TAG, VIRTIO_MMIO_STATE_VERSION);
	bytes_put_u64(o, virtio_mmio_offered(t));
	/* The driver's view. */
	bytes_put_u32(o, dev->status);
	bytes_put_u8(o, dev->activated);
	bytes_put_u64(o, dev->features);
	bytes_put_u64(o, t->ts.driver_features);
	bytes_put_u32(o, t->ts.device_features_sel);
	bytes_put_u32(o, t->ts.driver_features_sel);
	bytes_put_u32(o, t->ts.queue_sel);
	bytes_put_u32(o, __atomic_load_n(&t->interrupt_status, __ATOMIC_SEQ_CST));
	bytes_put_u32(o, __atomic_load_n(&t->config_generation, __ATOMIC_SEQ_CST));
	for (unsigned int i = 0; i < dev->num_queues; i++)
		virtq_save(&dev->vq[i], o);
	ret = virtio_transport_save_device(dev, o);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

struct mmio_saved {
	uint32_t status;
	bool activated;
	uint64_t features, driver_features;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint32_t interrupt_status, config_generation;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	const uint8_t *dev_state; /* inside the record */
	uint32_t dev_len;
};

static int mmio_parse(struct virtio_mmio *t, struct mmio_saved *v, const void *in, size_t len)
{
	struct virtio_dev *dev = t->dev;
	struct bytes_in r = bytes_in_init(in, len);
	int ret = virtio_transport_get_head(dev, &r, MMIO_TAG, VIRTIO_MMIO_STATE_VERSION);

	if (ret)
		return ret;
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
	ret = virtio_transport_get_queues(dev, &r, v->vq);
	if (!ret)
		ret = virtio_transport_get_device(dev, &r, &v->dev_state, &v->dev_len);
	if (ret)
		return ret;
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	if (v->interrupt_status & ~(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG))
		return -EINVAL;
	return virtio_transport_check_saved(dev, v->status, v->activated, v->features);
}

int mmio_state_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct virtio_mmio *t = obj;
	struct virtio_dev *dev = t->dev;
	struct mmio_saved v;
	int ret = mmio_parse(t, &v, in, len);

	if (ret)
		return ret;
	pthread_mutex_lock(&dev->lock);
	/* The device's record is checked before anything changes, applied after the queues. */
	if (!apply) {
		ret = virtio_transport_check_device(dev, v.vq, v.status, v.activated, v.dev_state,
						    v.dev_len);
		pthread_mutex_unlock(&dev->lock);
		return ret;
	}
	dev->status = v.status;
	dev->activated = v.activated;
	dev->features = v.features;
	t->ts.driver_features = v.driver_features;
	t->ts.device_features_sel = v.device_features_sel;
	t->ts.driver_features_sel = v.driver_features_sel;
	t->ts.queue_sel = v.queue_sel;
	__atomic_store_n(&t->config_generation, v.config_generation, __ATOMIC_SEQ_CST);
	memcpy(dev->vq, v.vq, sizeof(v.vq[0]) * dev->num_queues);
	ret = virtio_transport_apply_device(dev, v.dev_state, v.dev_len);
	/*
	 * Signalled again rather than only stored: an interrupt lost between
	 * save and restore would leave the driver waiting forever, while an
	 * extra one costs it a read of InterruptStatus.
	 */
	__atomic_store_n(&t->interrupt_status, 0, __ATOMIC_SEQ_CST);
	if (v.interrupt_status)
		virtio_mmio_raise(t, v.interrupt_status);
	virtio_transport_restored(dev);
	pthread_mutex_unlock(&dev->lock);
	if (ret < 0)
		return err_set(err, false, ret, "the device could not start again: %s",
			       strerror(-ret));
	return 0;
}
