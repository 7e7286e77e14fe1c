/*
 * virtio-fs over vhost-user (fs.h) on the shared front end (front.h): the
 * config space and the handshake that are its own.
 */
#include "virtio/fs.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "virtio/virtio.h"
#include "virtio/vhost_user/front.h"

/* struct virtio_fs_config: tag[36], le32 num_request_queues (no NOTIFICATION offered). */
#define FS_CONFIG_SIZE 40u
#define FS_NRQ_OFF 36u
/* The high-priority queue (FORGET, interrupts) and one request queue, as virtiofsd serves. */
#define FS_QUEUES 2u

#define FS_PROTOCOL                                                                        \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK))

static const struct virtio_dev_ops fs_ops = VU_FRONT_OPS(VIRTIO_ID_FS);

bool virtio_fs_is(const struct virtio_dev *dev)
{
	return dev->ops == &fs_ops;
}

int virtio_fs_check_tag(const char *tag, struct err *err)
{
	size_t n = tag ? strlen(tag) : 0;

	if (!n)
		return err_set(err, true, -EINVAL, "a virtio-fs device needs a tag (what the "
			       "guest mounts: mount -t virtiofs TAG DIR)");
	if (n > VIRTIO_FS_TAG_MAX)
		return err_set(err, true, -EINVAL, "virtio-fs tag '%.40s...' is %zu bytes; at "
			       "most %u", tag, n, VIRTIO_FS_TAG_MAX);
	for (size_t i = 0; i < n; i++)
		if (tag[i] <= ' ' || tag[i] > '~')
			return err_set(err, true, -EINVAL, "virtio-fs tag '%s': byte %zu is not "
				       "printable ASCII without spaces", tag, i);
	return 0;
}

/* How many queues the backend serves: at least the two virtio-fs needs. */
static int fs_queues(struct vu_front *vb, struct err *err)
{
	uint64_t n = FS_QUEUES;
	int ret;

	if (vb->vu.protocol & (1ull << VHOST_USER_PROTOCOL_F_MQ)) {
		ret = vhost_user_get_u64(&vb->vu, VHOST_USER_GET_QUEUE_NUM, &n);
		if (ret)
			return vu_front_fail(vb, err, ret, "GET_QUEUE_NUM");
	}
	if (n < FS_QUEUES)
		return err_set(err, true, -ENOTSUP, "vhost-user backend at '%s': it serves %llu "
			       "queue(s); virtio-fs needs %u (high-priority and requests)",
			       vb->socket, (unsigned long long)n, FS_QUEUES);
	vb->dev.num_queues = FS_QUEUES;
	return 0;
}

int virtio_fs_create(const struct virtio_env *env, const struct virtio_fs_config *cfg,
		       struct virtio_dev **out, struct err *err)
{
	uint32_t nrq = htole32(FS_QUEUES - 1);
	struct vu_front *vb;
	int ret = virtio_fs_check_tag(cfg->tag, err);

	if (ret)
		return ret;
	ret = vu_front_new(env, cfg->socket, "file system", &vb, err);
	if (ret)
		return ret;
	vhost_user_op_begin(&vb->vu);
	ret = vu_front_handshake(vb, FS_PROTOCOL, err);
	if (!ret)
		ret = fs_queues(vb, err);
	vhost_user_op_end(&vb->vu);
	if (ret) {
		vu_front_free(vb);
		return ret;
	}
	/* No device bits: NOTIFICATION (bit 0) needs a queue Hearth does not give. */
	vb->offered = 0;
	memset(vb->config, 0, sizeof(vb->config));
	memcpy(vb->config, cfg->tag, strlen(cfg->tag));
	memcpy(vb->config + FS_NRQ_OFF, &nrq, sizeof(nrq));
	vb->dev.config_size = FS_CONFIG_SIZE;
	ret = vu_front_finish(vb, env, &fs_ops, "virtio-fs (vhost-user)", err);
	if (!ret)
		*out = &vb->dev;
	return ret;
}
