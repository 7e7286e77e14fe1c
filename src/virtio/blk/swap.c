/*
 * Live changes to a running virtio-blk disk (PATCH /drives/{id}): its rate
 * limiter, and the image behind it, swapped for another (a new
 * path_on_host) or sized again (the same path, after the host grew the
 * file). A swap never mixes the images inside one request: the requests
 * in flight finish on the old image, those the driver queued meanwhile
 * wait in the ring and run on the new one; then the driver gets a
 * config-change interrupt to read the new capacity.
 */
#include <errno.h>
#include <string.h>

#include "virtio/blk/priv.h"

void virtio_blk_set_limiter(struct virtio_dev *dev, const struct rl_config *cfg)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);

	pthread_mutex_lock(&dev->lock);
	virtio_limiter_update(&blk->lim, cfg);
	pthread_mutex_unlock(&dev->lock);
}

bool virtio_blk_same_image(struct virtio_dev *dev, const char *path)
{
	return blk_image_is(&virtio_blk_from_dev(dev)->disk.img, path);
}

/* Tells the driver (config change) and takes up the requests that waited. */
static void blk_after_change(struct virtio_blk *blk, bool completed)
{
	if (blk->dev.activated && blk->dev.signal_config)
		blk->dev.signal_config(&blk->dev);
	completed |= blk_engine_process_all(blk);
	blk_disk_kick(&blk->disk);
	if (completed)
		blk_engine_notify(blk);
}

int virtio_blk_refresh(struct virtio_dev *dev, struct err *err)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	int ret;

	pthread_mutex_lock(&dev->lock);
	ret = blk_image_resize(&blk->disk.img, err);
	if (!ret)
		blk_after_change(blk, false);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int virtio_blk_hold(struct virtio_dev *dev, bool hold, struct err *err)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	int ret;

	pthread_mutex_lock(&dev->lock);
	ret = blk_image_hold(&blk->disk.img, hold, blk->readonly);
	pthread_mutex_unlock(&dev->lock);
	if (ret == -EWOULDBLOCK)
		return err_set(err, false, ret, "disk %s is in use by another process",
			       blk->disk.img.path);
	return ret ? err_set(err, false, ret, "disk %s: %s its lock: %s", blk->disk.img.path,
			     hold ? "taking" : "letting go of", strerror(-ret)) : 0;
}

int virtio_blk_swap(struct virtio_dev *dev, const struct blk_config *cfg, struct err *err)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	struct blk_image next;
	bool completed = false;
	int ret;

	if (!cfg->opened)
		return err_set(err, false, -EINVAL, "disk %s: not opened", cfg->path);
	/* The model refuses it first (vm_config_check_drive_patch); never half done here. */
	if (blk->disk.img.qd || cfg->format == BLK_FORMAT_QCOW2)
		return err_set(err, true, -EOPNOTSUPP, "disk %s: a qcow2 drive's image is not "
			       "swapped (its format and backing chain are fixed when it is made)",
			       blk->disk.img.path);
	/* Everything that can fail first, so a failure leaves the old image in place. */
	ret = blk_image_open(&next, cfg, err);
	if (ret)
		return ret;
	pthread_mutex_lock(&dev->lock);
	ret = blk_disk_quiesce(&blk->disk, &completed);
	if (ret) {
		err_set(err, false, ret, "disk %s: %u requests in flight on %s did not complete "
			"within %u s (%s); the old image stays, try again", next.path,
			blk->disk.inflight, blk->disk.img.path, BLK_WAIT_MS / 1000,
			strerror(-ret));
		if (completed)
			blk_engine_notify(blk);
	} else {
		ret = blk_disk_switch(&blk->disk, &next, err);
		blk_after_change(blk, completed);
	}
	pthread_mutex_unlock(&dev->lock);
	/* The old image on success, the new one on failure; its lock goes with it. */
	blk_image_close(&next);
	return ret;
}
