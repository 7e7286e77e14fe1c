/*
 * virtio-blk's pause and snapshot record. A request in flight is data the
 * guest was promised, so the pause lets each one complete into the rings
 * (which the memory file then holds) and save refuses while any is left
 * rather than drop it. Nothing is cancelled for a pause: a cancelled
 * request would have to be held outside the rings, where no snapshot
 * sees it. The wait is bounded instead (disk.h, BLK_WAIT_MS): past it
 * the pause fails, the VM runs on, and the requests complete as usual.
 *
 * The record keeps what the driver saw of the disk: its config space
 * (capacity, block size, write cache mode), whether it is read-only, and
 * its ID; a restore onto an image that no longer looks
 * the same (size, read-only, geometry) is refused, with a line saying
 * what differs, since the guest's filesystem cache would not match the
 * disk. The serial (ID) is taken from the record, so the guest reads the
 * one it read before.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "util/log.h"
#include "virtio/blk/priv.h"
#include "virtio/blk/qdisk.h"

#define BLK_STATE_TAG "VBLK"
#define BLK_STATE_VERSION 1u
#define BLK_CONFIG_MAX 64u
#define BLK_SIZE_MAX_OFF 8u       /* size_max in the config space (5.2.4) */

int virtio_blk_pause(struct virtio_dev *dev)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	bool completed = false;
	int ret = blk_disk_quiesce(&blk->disk, &completed);

	if (completed)
		blk_engine_notify(blk);
	/* A qcow2 image is left whole on disk: what a snapshot's copy of it holds. */
	if (!ret)
		blk_qdisk_settle(&blk->disk);
	if (!ret)
		return 0;
	/* The I/O thread waited long enough: the caller resumes, the I/O completes later. */
	log_err("%s: %u requests still in flight after %u s; the pause is refused",
		blk->disk.name, blk->disk.inflight, BLK_WAIT_MS / 1000);
	return -EBUSY;
}

int virtio_blk_save(struct virtio_dev *dev, struct bytes_out *o)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	uint8_t cfg[BLK_CONFIG_MAX] = { 0 };

	if (blk->disk.inflight)
		return -EBUSY;
	dev->ops->read_config(dev, 0, cfg, dev->config_size);
	bytes_put_tag(o, BLK_STATE_TAG, BLK_STATE_VERSION);
	bytes_put_u8(o, blk->readonly);
	bytes_put(o, blk->id, VIRTIO_BLK_ID_BYTES);
	bytes_put_u32(o, dev->config_size);
	bytes_put(o, cfg, dev->config_size);
	return 0;
}

int virtio_blk_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in,
		       size_t len, bool apply)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);
	struct bytes_in r = bytes_in_init(in, len);
	uint8_t saved[BLK_CONFIG_MAX], now[BLK_CONFIG_MAX], id[VIRTIO_BLK_ID_BYTES];
	uint8_t writeback, keep;
	uint64_t cap;
	uint32_t cfg_len;
	bool readonly;
	int ret = bytes_get_tag(&r, BLK_STATE_TAG, BLK_STATE_VERSION);

	(void)vq; /* no ring position of its own */
	if (ret)
		return ret;
	readonly = bytes_get_bool(&r);
	bytes_get(&r, id, sizeof(id));
	cfg_len = bytes_get_u32(&r);
	if (r.short_read)
		return -ENODATA;
	if (cfg_len != dev->config_size || cfg_len > BLK_CONFIG_MAX)
		return -EINVAL;
	bytes_get(&r, saved, cfg_len);
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	memcpy(&cap, saved, sizeof(cap)); /* le64 capacity, first in the config space */
	cap = le64toh(cap);
	writeback = saved[32]; /* the one field the driver writes (CONFIG_WCE) */
	if (writeback > 1)
		return -EINVAL;
	/* Compare with the image as it is now, in the saved cache mode. */
	keep = blk->writeback;
	blk->writeback = writeback;
	dev->ops->read_config(dev, 0, now, cfg_len);
	blk->writeback = keep;
	/*
	 * A record from before size_max was offered has 0 there: its driver
	 * never negotiated SIZE_MAX, and the limit holds for it all the same
	 * (engine.c answers it IOERR). Not a different disk.
	 */
	if (!memcmp(saved + BLK_SIZE_MAX_OFF, "\0\0\0\0", 4))
		memcpy(saved + BLK_SIZE_MAX_OFF, now + BLK_SIZE_MAX_OFF, 4);
	if (cap != blk->disk.img.capacity) {
		log_err("%s: the image has %llu sectors, the snapshot's disk had %llu: not the "
			"same disk", blk->disk.name, (unsigned long long)blk->disk.img.capacity,
			(unsigned long long)cap);
		return -EINVAL;
	}
	if (readonly != blk->readonly || memcmp(saved, now, cfg_len)) {
		log_err("%s: the disk's %s differs from the snapshot's", blk->disk.name,
			readonly != blk->readonly ? "read-only setting" : "geometry");
		return -EINVAL;
	}
	if (apply) {
		blk->writeback = writeback;
		/*
		 * The serial the guest read (GET_ID) is the saved one, whatever the
		 * restoring config says (a drive named on the command line has none,
		 * the same drive from a config file has its drive_id).
		 */
		memcpy(blk->id, id, sizeof(id));
	}
	return 0;
}
