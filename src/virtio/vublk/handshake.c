/*
 * vhost-user-blk's making (vublk.h): the connection, the features both
 * sides take, the config space; the first and last steps are
 * vhost-user-fs's too (vufs.c). All of it before the guest can see the
 * device, so a backend that cannot serve it fails the PUT or the start
 * with a line that names the socket and the cause.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/vublk/priv.h"

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

/* What Hearth's transports always offer, which the backend serves on the rings. */
#define VUBLK_NEEDED                                                                         \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |                       \
	 (1ull << VIRTIO_F_INDIRECT_DESC))

#define VUBLK_PROTOCOL                                                                       \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) |     \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIG))

int vublk_fail(struct vublk *vb, struct err *err, int ret, const char *what)
{
	const char *why = ret == -EPROTO ? "a malformed answer" :
			  ret == -ETIMEDOUT ? "no answer in time" :
			  ret == -EIO ? "refused" : strerror(-ret);

	return err_set(err, ret != -ENOMEM, ret, "vhost-user backend at '%s': %s: %s",
		       vb->socket, what, why);
}

int vublk_read_backend_config(struct vublk *vb)
{
	uint8_t c[VUBLK_CONFIG_SIZE];
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
static int vublk_queues(struct vublk *vb, struct err *err)
{
	uint64_t n = 1;
	uint16_t cfg_nq;
	uint8_t c[VUBLK_CONFIG_SIZE];
	int ret;

	vb->dev.num_queues = 1;
	if (!(vb->vu.features & (1ull << VIRTIO_BLK_F_MQ)))
		return 0;
	if (vb->vu.protocol & (1ull << VHOST_USER_PROTOCOL_F_MQ)) {
		ret = vhost_user_get_u64(&vb->vu, VHOST_USER_GET_QUEUE_NUM, &n);
		if (ret)
			return vublk_fail(vb, err, ret, "GET_QUEUE_NUM");
	}
	ret = vhost_user_get_config(&vb->vu, 0, sizeof(c), c);
	if (ret)
		return vublk_fail(vb, err, ret, "GET_CONFIG");
	memcpy(&cfg_nq, c + VUBLK_NUM_QUEUES_OFF, sizeof(cfg_nq));
	cfg_nq = le16toh(cfg_nq);
	if (cfg_nq && cfg_nq < n)
		n = cfg_nq;
	if (n > VIRTIO_MAX_QUEUES)
		n = VIRTIO_MAX_QUEUES;
	vb->dev.num_queues = n ? (unsigned int)n : 1;
	return 0;
}

int vublk_handshake(struct vublk *vb, uint64_t want, struct err *err)
{
	uint64_t proto = 0;
	int ret = vhost_user_get_u64(&vb->vu, VHOST_USER_GET_FEATURES, &vb->vu.features);

	if (ret)
		return vublk_fail(vb, err, ret, "GET_FEATURES");
	if ((vb->vu.features & VUBLK_NEEDED) != VUBLK_NEEDED)
		return err_set(err, true, -ENOTSUP, "vhost-user backend at '%s': it lacks "
			       "VERSION_1, EVENT_IDX or INDIRECT_DESC (features 0x%llx), which "
			       "Hearth's transports offer every driver", vb->socket,
			       (unsigned long long)vb->vu.features);
	if (vb->vu.features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
		ret = vhost_user_get_u64(&vb->vu, VHOST_USER_GET_PROTOCOL_FEATURES, &proto);
		if (ret)
			return vublk_fail(vb, err, ret, "GET_PROTOCOL_FEATURES");
		proto &= want;
		ret = vhost_user_set_u64(&vb->vu, VHOST_USER_SET_PROTOCOL_FEATURES, proto);
		if (ret)
			return vublk_fail(vb, err, ret, "SET_PROTOCOL_FEATURES");
		/* REPLY_ACK applies from the next request on. */
		vb->vu.protocol = proto;
	}
	ret = vhost_user_call(&vb->vu, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL, 0);
	if (ret)
		return vublk_fail(vb, err, ret, "SET_OWNER");
	return 0;
}

static int vublk_negotiate(struct vublk *vb, const struct vublk_config *cfg, struct err *err)
{
	int ret = vublk_handshake(vb, VUBLK_PROTOCOL, err);

	if (ret)
		return ret;
	if (!(vb->vu.protocol & (1ull << VHOST_USER_PROTOCOL_F_CONFIG)))
		return err_set(err, true, -ENOTSUP, "vhost-user backend at '%s': it does not "
			       "share its config space (protocol feature CONFIG), which a block "
			       "device needs for its size", vb->socket);
	ret = vublk_queues(vb, err);
	if (ret)
		return ret;
	ret = vublk_read_backend_config(vb);
	if (ret)
		return vublk_fail(vb, err, ret, "GET_CONFIG");
	vb->offered = vb->vu.features & VUBLK_DEVICE_BITS;
	/* Firecracker's "Unsafe": the guest is offered no flush. */
	if (cfg->cache == BLK_CACHE_UNSAFE)
		vb->offered &= ~(1ull << VIRTIO_BLK_F_FLUSH);
	return 0;
}

int vublk_new(const struct virtio_env *env, const char *socket, const char *noun,
	      struct vublk **out, struct err *err)
{
	struct vublk *vb = calloc(1, sizeof(*vb));
	int ret;

	if (!vb)
		return err_set(err, false, -ENOMEM, "out of memory");
	vb->vu.sock = -1;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		vb->kick[q] = -1;
		vb->call[q].fd = -1;
	}
	vb->loop = env->loop;
	vb->noun = noun;
	vb->drain_ms = VUBLK_DRAIN_MS;
	vb->socket = strdup(socket);
	if (!vb->socket) {
		free(vb);
		return err_set(err, false, -ENOMEM, "out of memory");
	}
	ret = vhost_user_connect(&vb->vu, socket, err);
	if (ret) {
		vublk_free(vb);
		return ret;
	}
	*out = vb;
	return 0;
}

void vublk_free(struct vublk *vb)
{
	vhost_user_close(&vb->vu);
	free(vb->socket);
	free(vb);
}

int vublk_finish(struct vublk *vb, const struct virtio_env *env,
		 const struct virtio_dev_ops *ops, const char *name, struct err *err)
{
	int ret;

	vb->dev.ops = ops;
	vb->dev.priv = vb;
	vb->dev.name = name;
	vb->dev.queue_max = VUBLK_QUEUE_MAX;
	ret = virtio_dev_init(&vb->dev, env);
	if (ret) {
		err_set(err, false, ret, "vhost-user %s: %s", vb->noun, strerror(-ret));
		vublk_free(vb);
		return ret;
	}
	for (unsigned int q = 0; q < vb->dev.num_queues; q++) {
		vublk_on_call_count(vb, q);
		ret = vhost_call_open(&vb->call[q], env->loop);
		if (ret) {
			err_set(err, false, ret, "vhost-user %s: call eventfd: %s", vb->noun,
				strerror(-ret));
			goto err_dev;
		}
	}
	ret = vublk_watch(vb);
	if (ret) {
		err_set(err, false, ret, "vhost-user %s: watching its socket: %s", vb->noun,
			strerror(-ret));
		goto err_dev;
	}
	return 0;

err_dev:
	/* The ops' destroy undoes the calls, the watch and the device. */
	ops->destroy(&vb->dev);
	return ret;
}

int virtio_vublk_create(const struct virtio_env *env, const struct vublk_config *cfg,
			struct virtio_dev **out, struct err *err)
{
	struct vublk *vb;
	int ret = vublk_new(env, cfg->socket, "disk", &vb, err);

	if (ret)
		return ret;
	vhost_user_op_begin(&vb->vu);
	ret = vublk_negotiate(vb, cfg, err);
	vhost_user_op_end(&vb->vu);
	if (ret) {
		vublk_free(vb);
		return ret;
	}
	vb->dev.config_size = VUBLK_CONFIG_SIZE;
	ret = vublk_finish(vb, env, &vublk_ops, "virtio-blk (vhost-user)", err);
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
