/*
 * What every virtio device shares whatever its transport: the generic
 * state virtio_dev_init sets up and the helpers devices complete
 * requests and report driver errors with.
 */
#include "virtio/device.h"

#include "util/log.h"
#include "virtio/virtio.h"

static struct ratelimit device_rl = RATELIMIT_INIT(10);

int virtio_dev_init(struct virtio_dev *dev, const struct virtio_env *env)
{
	int ret;

	dev->mem = env->mem;
	virtio_dev_detach(dev);
	ret = pthread_mutex_init(&dev->lock, NULL);
	return ret ? -ret : 0;
}

void virtio_dev_release(struct virtio_dev *dev)
{
	pthread_mutex_destroy(&dev->lock);
}

void virtio_dev_detach(struct virtio_dev *dev)
{
	dev->transport = NULL;
	dev->signal_used = NULL;
	dev->signal_config = NULL;
	dev->kick_again = NULL;
	dev->take_kick_fd = NULL;
	dev->call_fd = NULL;
}

bool virtio_dev_has_feature(const struct virtio_dev *dev, unsigned int bit)
{
	return bit < 64 && (dev->features >> bit) & 1;
}

bool virtio_dev_running(const struct virtio_dev *dev)
{
	return dev->activated && !(dev->status & VIRTIO_STATUS_NEEDS_RESET) && !dev->paused;
}

int virtio_dev_pause(struct virtio_dev *dev)
{
	int ret = 0;

	pthread_mutex_lock(&dev->lock);
	if (!dev->paused) {
		dev->paused = true;
		if (dev->ops->pause)
			ret = dev->ops->pause(dev);
	}
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

void virtio_dev_resume(struct virtio_dev *dev)
{
	pthread_mutex_lock(&dev->lock);
	if (dev->paused) {
		dev->paused = false;
		if (dev->ops->resume)
			dev->ops->resume(dev);
		/*
		 * Kicks that came while paused were dropped: look at every
		 * enabled queue once, as a kick would have made us.
		 */
		for (unsigned int q = 0; q < dev->num_queues && virtio_dev_running(dev); q++)
			if (dev->vq[q].enabled)
				dev->ops->queue_notify(dev, q);
	}
	pthread_mutex_unlock(&dev->lock);
}

void virtio_dev_notify(struct virtio_dev *dev, unsigned int q)
{
	if (q < dev->num_queues && virtq_needs_interrupt(&dev->vq[q]) && dev->signal_used)
		dev->signal_used(dev, q);
}

void virtio_dev_fail(struct virtio_dev *dev, const char *why)
{
	if (dev->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	log_ratelimited(&device_rl, LOG_WARN, "%s: guest driver error: %s; device needs reset",
			dev->name, why);
	dev->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (dev->activated && dev->signal_config)
		dev->signal_config(dev);
}

unsigned int virtio_dev_counters(struct virtio_dev *dev, struct dev_counter *out,
				 unsigned int max)
{
	return dev->ops->counters ? dev->ops->counters(dev, out, max) : 0;
}
