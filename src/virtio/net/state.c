/*
 * virtio-net's snapshot record: what the driver relies on (the MAC it
 * read, the queue pairs it switched on through the control queue), the
 * counters, and the backend's own state nested behind a length (libslirp's
 * for --net user, so the guest keeps its DHCP lease; a TAP has none
 * beyond its config). Frames read from the backend but not yet in a
 * guest buffer are not saved: the network may drop a frame, and TCP
 * sends it again. Rate limiter buckets start full on restore.
 */
#include <errno.h>
#include <string.h>

#include "virtio/net/priv.h"

#define NET_STATE_TAG "VNET"
#define NET_STATE_VERSION 1u

int net_state_save(struct virtio_dev *dev, struct bytes_out *o)
{
	struct net_dev *nd = dev->priv;
	const struct virtio_net_stats *st = &nd->stats;
	size_t at;
	int ret;

	bytes_put_tag(o, NET_STATE_TAG, NET_STATE_VERSION);
	bytes_put(o, nd->mac, sizeof(nd->mac));
	bytes_put_u32(o, nd->max_pairs);
	bytes_put_u32(o, nd->cur_pairs);
	bytes_put_u64(o, st->rx_packets);
	bytes_put_u64(o, st->rx_bytes);
	bytes_put_u64(o, st->rx_dropped_oversize);
	bytes_put_u64(o, st->tx_packets);
	bytes_put_u64(o, st->tx_bytes);
	bytes_put_u64(o, st->tx_dropped);
	/* The backend's record behind its length, patched in once known. */
	at = o->len;
	bytes_put_u32(o, 0);
	if (!nd->be->ops->save)
		return 0;
	ret = nd->be->ops->save(nd->be, o);
	if (ret)
		return ret;
	if (o->buf && at + 4 <= o->cap) {
		uint32_t n = (uint32_t)(o->len - at - 4);

		for (unsigned int i = 0; i < 4; i++)
			o->buf[at + i] = (uint8_t)(n >> (8 * i));
	}
	return 0;
}

int net_state_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in,
		      size_t len, bool apply)
{
	struct net_dev *nd = dev->priv;
	struct bytes_in r = bytes_in_init(in, len);
	struct virtio_net_stats st = { 0 };
	uint32_t max_pairs, cur_pairs, be_len;
	const uint8_t *be_state;
	uint8_t mac[6];
	int ret = bytes_get_tag(&r, NET_STATE_TAG, NET_STATE_VERSION);

	(void)vq; /* no ring position of its own */
	if (ret)
		return ret;
	bytes_get(&r, mac, sizeof(mac));
	max_pairs = bytes_get_u32(&r);
	cur_pairs = bytes_get_u32(&r);
	st.rx_packets = bytes_get_u64(&r);
	st.rx_bytes = bytes_get_u64(&r);
	st.rx_dropped_oversize = bytes_get_u64(&r);
	st.tx_packets = bytes_get_u64(&r);
	st.tx_bytes = bytes_get_u64(&r);
	st.tx_dropped = bytes_get_u64(&r);
	be_len = bytes_get_u32(&r);
	if (r.short_read || be_len > bytes_in_left(&r))
		return -ENODATA;
	be_state = r.p + r.off;
	r.off += be_len;
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	/* The driver cached the MAC and the pair count: another NIC would confuse it. */
	if (memcmp(mac, nd->mac, sizeof(mac)) || max_pairs != nd->max_pairs || cur_pairs < 1 ||
	    cur_pairs > max_pairs)
		return -EINVAL;
	/* State from another kind of backend (user-mode into a TAP, or back). */
	if (!be_len != !nd->be->ops->restore)
		return -EINVAL;
	if (be_len) {
		ret = nd->be->ops->restore(nd->be, be_state, be_len, apply);
		if (ret)
			return ret;
	}
	if (!apply)
		return 0;
	st.rx_throttled = nd->stats.rx_throttled;
	st.tx_throttled = nd->stats.tx_throttled;
	nd->stats = st;
	nd->restored_pairs = cur_pairs;
	return 0;
}

/* After activate, which starts with one pair as a new driver would: the pairs it had. */
void net_state_restored(struct virtio_dev *dev)
{
	struct net_dev *nd = dev->priv;

	if (nd->restored_pairs)
		net_set_pairs(nd, nd->restored_pairs);
	nd->restored_pairs = 0;
}
