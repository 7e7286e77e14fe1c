/* The vsock event queue and saved record (event.h). */
#include "virtio/vsock/event.h"

#include <errno.h>

int vsock_event_send_reset(struct virtio_dev *dev, unsigned int evq, struct virtq_chain *chain)
{
	struct virtq *vq = &dev->vq[evq];
	uint32_t id = VSOCK_EVENT_TRANSPORT_RESET;
	int ret;

	if (!virtio_dev_running(dev) || !vq->enabled)
		return -EAGAIN;
	ret = virtq_pop(vq, chain);
	if (ret < 0) {
		virtio_dev_fail(dev, virtq_strerror((enum virtq_error)-ret));
		return -EINVAL;
	}
	if (ret == 0)
		return -EAGAIN;
	if (chain->n_out || chain->in_len < sizeof(id)) {
		virtio_dev_fail(dev, "vsock event buffer too short");
		return -EINVAL;
	}
	virtq_buf_to_iov(chain->iov, chain->n_in, 0, &id, sizeof(id));
	ret = virtq_push(vq, chain, sizeof(id));
	virtio_dev_notify(dev, evq);
	return ret ? -EINVAL : 0;
}

void vsock_state_put(struct bytes_out *o, const struct vsock_saved *s)
{
	bytes_put_tag(o, VSOCK_STATE_TAG, VSOCK_STATE_VERSION);
	bytes_put_u64(o, s->cid);
	bytes_put_u8(o, s->nbases);
	for (unsigned int i = 0; i < s->nbases && i < 2; i++)
		bytes_put_u16(o, s->base[i]);
}

int vsock_state_get(const void *in, size_t len, uint64_t want_cid, uint8_t want_bases,
		    struct vsock_saved *s)
{
	struct bytes_in r = bytes_in_init(in, len);
	int ret = bytes_get_tag(&r, VSOCK_STATE_TAG, VSOCK_STATE_VERSION);

	if (ret)
		return ret;
	s->cid = bytes_get_u64(&r);
	s->nbases = bytes_get_u8(&r);
	if (r.short_read)
		return -ENODATA;
	/* Hybrid vsock saved into vhost or the other way round: another device. */
	if (s->nbases != want_bases)
		return -EINVAL;
	for (unsigned int i = 0; i < s->nbases; i++)
		s->base[i] = bytes_get_u16(&r);
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	return s->cid == want_cid ? 0 : -EINVAL;
}
