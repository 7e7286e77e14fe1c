/*
 * vhost-user-blk (vublk.h) on the shared front end (front.h): the disk's
 * features and queues, its config space, read again on PATCH. All of its
 * making before the guest can see the device, so a backend that cannot
 * serve it fails the PUT or the start with a line that names the socket
 * and the cause.
 */
#include "virtio/vublk.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/vhost_user/front.h"

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/*
 * The device bits passed on from the backend: those whose config fields
 * lie in the 60 bytes kept, and none the driver could write through
 * (CONFIG_WCE: the config space is read-only here).
 */
#define VUBLK_DEVICE_BITS                                                                    \
	((1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |                  \
	 (1ull << VIRTIO_BLK_F_GEOMETRY) | (1ull << VIRTIO_BLK_F_RO) |                       \
	 (1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |                    \
	 (1ull << VIRTIO_BLK_F_TOPOLOGY) | (1ull << VIRTIO_BLK_F_MQ) |                       \
	 (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES))

#define VUBLK_NUM_QUEUES_OFF 34u

#define VUBLK_PROTOCOL                                                                       \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |     \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIG))

/* GET_CONFIG into vb->config, the driver told the queues Hearth gave it. 0 or -errno. */
static int blk_read_config(struct vu_front *vb)
{
	uint8_t c[VU_FRONT_CONFIG_MAX];
	uint16_t nq;
	int ret = vhost_user_get_config(&vb->vu, 0, sizeof(c), c);

	if (ret)
		return ret;
	/* The driver is told the queues Hearth gave it, whatever the backend has. */
	nq = htole16((uint16_t)vb->dev.num_queues);
	memcpy(c + VUBLK_NUM_QUEUES_OFF, &nq, sizeof(nq));
	memcpy(vb->config, c, sizeof(c));
	return 0;
}

/* How many queues: the backend's, within Hearth's bound; one without MQ. */
static int vublk_queues(struct vu_front *vb, struct err *err)
{
	uint64_t n = 1;
	uint16_t cfg_nq;
	uint8_t c[VU_FRONT_CONFIG_MAX];
	int ret;

	vb->dev.num_queues = 1;
	if (!(vb->vu.features & (1ull << VIRTIO_BLK_F_MQ)))
		return 0;
	if (vb->vu.protocol & (1ull << VHOST_USER_PROTOCOL_F_MQ)) {
		ret = vhost_user_get_u64(&vb->vu, VHOST_USER_GET_QUEUE_NUM, &n);
		if (ret)
			return vu_front_fail(vb, err, ret, "GET_QUEUE_NUM");
	}
	ret = vhost_user_get_config(&vb->vu, 0, sizeof(c), c);
	if (ret)
		return vu_front_fail(vb, err, ret, "GET_CONFIG");
	memcpy(&cfg_nq, c + VUBLK_NUM_QUEUES_OFF, sizeof(cfg_nq));
	cfg_nq = le16toh(cfg_nq);
	if (cfg_nq && cfg_nq < n)
		n = cfg_nq;
	if (n > VIRTIO_MAX_QUEUES)
		n = VIRTIO_MAX_QUEUES;
	vb->dev.num_queues = n ? (unsigned int)n : 1;
	return 0;
}

static int vublk_negotiate(struct vu_front *vb, const struct vublk_config *cfg, struct err *err)
{
	int ret = vu_front_handshake(vb, VUBLK_PROTOCOL, err);

	if (ret)
		return ret;
	if (!(vb->vu.protocol & (1ull << VHOST_USER_PROTOCOL_F_CONFIG)))
		return err_set(err, true, -ENOTSUP, "vhost-user backend at '%s': it does not "
			       "share its config space (protocol feature CONFIG), which a block "
			       "device needs for its size", vb->socket);
	ret = vublk_queues(vb, err);
	if (ret)
		return ret;
	ret = blk_read_config(vb);
	if (ret)
		return vu_front_fail(vb, err, ret, "GET_CONFIG");
	vb->offered = vb->vu.features & VUBLK_DEVICE_BITS;
	/* Firecracker's "Unsafe": the guest is offered no flush. */
	if (cfg->cache == BLK_CACHE_UNSAFE)
		vb->offered &= ~(1ull << VIRTIO_BLK_F_FLUSH);
	return 0;
}

static const struct virtio_dev_ops vublk_ops = VU_FRONT_OPS(VIRTIO_ID_BLOCK);

bool virtio_vublk_is(const struct virtio_dev *dev)
{
	return dev->ops == &vublk_ops;
}


int virtio_vublk_refresh(struct virtio_dev *dev, struct err *err)
{
	struct vu_front *vb = dev->priv;
	int ret;

	pthread_mutex_lock(&dev->lock);
	ret = blk_read_config(vb);
	if (!ret && dev->activated && dev->signal_config)
		dev->signal_config(dev);
	pthread_mutex_unlock(&dev->lock);
	if (ret)
		return err_set(err, false, ret, "the vhost-user backend at '%s' did not give its "
			       "config: %s", vb->socket, strerror(-ret));
	return 0;
}


int virtio_vublk_create(const struct virtio_env *env, const struct vublk_config *cfg,
			struct virtio_dev **out, struct err *err)
{
	struct vu_front *vb;
	int ret = vu_front_new(env, cfg->socket, "disk", &vb, err);

	if (ret)
		return ret;
	vhost_user_op_begin(&vb->vu);
	ret = vublk_negotiate(vb, cfg, err);
	vhost_user_op_end(&vb->vu);
	if (ret) {
		vu_front_free(vb);
		return ret;
	}
	vb->dev.config_size = VU_FRONT_CONFIG_MAX;
	ret = vu_front_finish(vb, env, &vublk_ops, "virtio-blk (vhost-user)", err);
	if (!ret)
		*out = &vb->dev;
	return ret;
}

int virtio_vublk_probe(const char *socket, struct err *err)
{
	struct vhost_user vu;
	int ret = vhost_user_connect(&vu, socket, err);

	if (!ret)
		vhost_user_close(&vu);
	return ret;
}
