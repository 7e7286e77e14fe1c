/*
 * virtio-fs over vhost-user (vufs.h): the config space and the handshake
 * that are its own; the ops are vhost-user-blk's (vublk/vublk.c).
 */
#include "virtio/vufs.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "virtio/virtio.h"
#include "virtio/vublk/priv.h"

/* struct virtio_fs_config: tag[36], le32 num_request_queues (no NOTIFICATION offered). */
#define VUFS_CONFIG_SIZE 40u
#define VUFS_NRQ_OFF 36u
/* The high-priority queue (FORGET, interrupts) and one request queue, as virtiofsd serves. */
#define VUFS_QUEUES 2u

#define VUFS_PROTOCOL                                                                        \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK))

static const struct virtio_dev_ops vufs_ops = {
	.device_id = VIRTIO_ID_FS,
	.get_features = vublk_get_features,
	.read_config = vublk_read_config,
	.write_config = vublk_write_config,
	.activate = vublk_activate,
	.reset = vublk_reset,
	.queue_notify = vublk_queue_notify,
	.destroy = vublk_destroy,
	.counters = vublk_counters,
	.pause = vublk_pause,
	.resume = vublk_resume,
};

bool virtio_vufs_is(const struct virtio_dev *dev)
{
	return dev->ops == &vufs_ops;
}

int virtio_vufs_check_tag(const char *tag, struct err *err)
{
	size_t n = tag ? strlen(tag) : 0;

	if (!n)
		return err_set(err, true, -EINVAL, "a virtio-fs device needs a tag (what the "
			       "guest mounts: mount -t virtiofs TAG DIR)");
	if (n > VUFS_TAG_MAX)
		return err_set(err, true, -EINVAL, "virtio-fs tag '%.40s...' is %zu bytes; at "
			       "most %u", tag, n, VUFS_TAG_MAX);
	for (size_t i = 0; i < n; i++)
		if (tag[i] <= ' ' || tag[i] > '~')
			return err_set(err, true, -EINVAL, "virtio-fs tag '%s': byte %zu is not "
				       "printable ASCII without spaces", tag, i);
	return 0;
}

/* How many queues the backend serves: at least the two virtio-fs needs. */
static int vufs_queues(struct vublk *vb, struct err *err)
{
	uint64_t n = VUFS_QUEUES;
	int ret;

	if (vb->vu.protocol & (1ull << VHOST_USER_PROTOCOL_F_MQ)) {
		ret = vhost_user_get_u64(&vb->vu, VHOST_USER_GET_QUEUE_NUM, &n);
		if (ret)
			return vublk_fail(vb, err, ret, "GET_QUEUE_NUM");
	}
	if (n < VUFS_QUEUES)
		return err_set(err, true, -ENOTSUP, "vhost-user backend at '%s': it serves %llu "
			       "queue(s); virtio-fs needs %u (high-priority and requests)",
			       vb->socket, (unsigned long long)n, VUFS_QUEUES);
	vb->dev.num_queues = VUFS_QUEUES;
	return 0;
}

int virtio_vufs_create(const struct virtio_env *env, const struct vufs_config *cfg,
		       struct virtio_dev **out, struct err *err)
{
	uint32_t nrq = htole32(VUFS_QUEUES - 1);
	struct vublk *vb;
	int ret = virtio_vufs_check_tag(cfg->tag, err);

	if (ret)
		return ret;
	ret = vublk_new(env, cfg->socket, "file system", &vb, err);
	if (ret)
		return ret;
	vhost_user_op_begin(&vb->vu);
	ret = vublk_handshake(vb, VUFS_PROTOCOL, err);
	if (!ret)
		ret = vufs_queues(vb, err);
	vhost_user_op_end(&vb->vu);
	if (ret) {
		vublk_free(vb);
		return ret;
	}
	/* No device bits: NOTIFICATION (bit 0) needs a queue Hearth does not give. */
	vb->offered = 0;
	memset(vb->config, 0, sizeof(vb->config));
	memcpy(vb->config, cfg->tag, strlen(cfg->tag));
	memcpy(vb->config + VUFS_NRQ_OFF, &nrq, sizeof(nrq));
	vb->dev.config_size = VUFS_CONFIG_SIZE;
	ret = vublk_finish(vb, env, &vufs_ops, "virtio-fs (vhost-user)", err);
	if (!ret)
		*out = &vb->dev;
	return ret;
}
