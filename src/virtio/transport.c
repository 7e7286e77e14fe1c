/*
 * The part of a virtio transport that is the same on every bus
 * (transport.h).
 */
#include "virtio/transport.h"

#include <errno.h>
#include <inttypes.h>

#include "util/log.h"
#include "virtio/virtio.h"

static struct ratelimit transport_rl = RATELIMIT_INIT(10);

uint64_t virtio_transport_offered(const struct virtio_dev *dev)
{
	return dev->ops->get_features((struct virtio_dev *)dev) | VIRTIO_TRANSPORT_FEATURES;
}

void virtio_transport_reset(struct virtio_dev *dev, struct virtio_tstate *ts)
{
	if (dev->ops->reset)
		dev->ops->reset(dev);
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtq_reset(&dev->vq[i]);
	dev->features = 0;
	dev->status = 0;
	dev->activated = false;
	*ts = (struct virtio_tstate){ 0 };
}

/* FEATURES_OK is only kept when the driver asked for what we offered. */
static uint32_t accept_features(struct virtio_dev *dev, struct virtio_tstate *ts,
				uint32_t status)
{
	uint64_t want = ts->driver_features, offered = virtio_transport_offered(dev);

	if ((want & ~offered) || !(want & (1ull << VIRTIO_F_VERSION_1))) {
		log_ratelimited(&transport_rl, LOG_WARN,
				"%s: driver asked for unoffered features 0x%" PRIx64 "; refused",
				dev->name, want & ~offered);
		return status & ~VIRTIO_STATUS_FEATURES_OK;
	}
	dev->features = want;
	for (unsigned int i = 0; i < dev->num_queues; i++) {
		dev->vq[i].event_idx = virtio_dev_has_feature(dev, VIRTIO_F_EVENT_IDX);
		dev->vq[i].indirect = virtio_dev_has_feature(dev, VIRTIO_F_INDIRECT_DESC);
	}
	return status;
}

void virtio_transport_write_status(struct virtio_dev *dev, struct virtio_tstate *ts,
				   uint32_t v)
{
	uint32_t old = dev->status;

	/*
	 * Bits 2.1 does not define are not kept: a status the restore of a
	 * snapshot would refuse must never be the device's.
	 */
	v &= VIRTIO_STATUS_DRIVER_BITS;
	/* The driver may only add bits (3.1.1); anything else is a broken driver. */
	if ((old & ~v) & ~VIRTIO_STATUS_NEEDS_RESET) {
		virtio_dev_fail(dev, "status bits cleared without a reset");
		return;
	}
	v |= old & VIRTIO_STATUS_NEEDS_RESET;
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK))
		v = accept_features(dev, ts, v);
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		if (!(v & VIRTIO_STATUS_FEATURES_OK)) {
			dev->status = v;
			virtio_dev_fail(dev, "DRIVER_OK without FEATURES_OK");
			return;
		}
		dev->status = v;
		dev->activated = true;
		if (dev->ops->activate && dev->ops->activate(dev))
			virtio_dev_fail(dev, "device could not start");
		return;
	}
	dev->status = v;
}

struct virtq *virtio_transport_queue(struct virtio_dev *dev, const struct virtio_tstate *ts)
{
	return ts->queue_sel < dev->num_queues ? &dev->vq[ts->queue_sel] : NULL;
}

bool virtio_transport_layout_writable(struct virtio_dev *dev, const struct virtq *vq)
{
	if (vq->enabled || (dev->status & VIRTIO_STATUS_DRIVER_OK)) {
		virtio_dev_fail(dev, "queue registers rewritten while the queue is live");
		return false;
	}
	return true;
}

bool virtio_transport_size_ok(struct virtio_dev *dev, uint32_t size)
{
	if (size == 0 || size > dev->queue_max || (size & (size - 1))) {
		virtio_dev_fail(dev, "queue size not a power of two within the maximum");
		return false;
	}
	return true;
}

void virtio_transport_enable(struct virtio_dev *dev, struct virtq *vq)
{
	enum virtq_error e;

	if (vq->enabled)
		return;
	if (!vq->size) {
		virtio_dev_fail(dev, "queue enabled before its size was set");
		return;
	}
	e = virtq_enable(vq, dev->mem);
	if (e != VIRTQ_OK)
		virtio_dev_fail(dev, virtq_strerror(e));
}

int virtio_transport_check_saved(const struct virtio_dev *dev, uint32_t status, bool activated,
				 uint64_t features)
{
	/* A guest driving features this device no longer offers would break. */
	if ((features & ~virtio_transport_offered(dev)) || (status & ~VIRTIO_STATUS_SAVED) ||
	    (activated && !(status & VIRTIO_STATUS_DRIVER_OK)))
		return -EINVAL;
	return 0;
}

int virtio_transport_pause(void *transport)
{
	return virtio_dev_pause(*(struct virtio_dev **)transport);
}

int virtio_transport_resume(void *transport)
{
	virtio_dev_resume(*(struct virtio_dev **)transport);
	return 0;
}

unsigned int virtio_transport_counters(void *transport, struct dev_counter *out,
				       unsigned int max)
{
	return virtio_dev_counters(*(struct virtio_dev **)transport, out, max);
}
