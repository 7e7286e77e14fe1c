/*
 * virtio-net's transmit path: each frame the guest queues is checked
 * (its header against the negotiated offloads, its length against the
 * limit) and copied once before the backend or the MMDS stack sees it.
 * Its own file, as the receive path is rx.c's: net.c keeps the device
 * model, the control queue and setup.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/net/priv.h"
#include "virtio/virtio.h"

/* Offloads in the header must have been negotiated, and must fit the frame. */
static bool net_tx_hdr_ok(const struct net_dev *nd, const struct virtio_net_hdr *h, size_t flen)
{
	unsigned int gso = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;

	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!net_has(nd, VIRTIO_NET_F_CSUM) ||
		    (size_t)h->csum_start + h->csum_offset + 2 > flen)
			return false;
	}
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) &&
	    (!net_has(nd, VIRTIO_NET_F_HOST_ECN) || gso == VIRTIO_NET_HDR_GSO_NONE))
		return false;
	if (gso == VIRTIO_NET_HDR_GSO_NONE)
		return true;
	if (!h->gso_size)
		return false;
	return (gso == VIRTIO_NET_HDR_GSO_TCPV4 && net_has(nd, VIRTIO_NET_F_HOST_TSO4)) ||
	       (gso == VIRTIO_NET_HDR_GSO_TCPV6 && net_has(nd, VIRTIO_NET_F_HOST_TSO6)) ||
	       (gso == VIRTIO_NET_HDR_GSO_UDP && net_has(nd, VIRTIO_NET_F_HOST_UFO));
}

static void net_tx_one(struct net_dev *nd, const struct net_pair *p, const struct virtq_chain *c)
{
	size_t flen = c->out_len - NET_HDR_LEN;
	struct virtio_net_hdr h;
	uint8_t *start = nd->txbuf;
	size_t len;
	ssize_t n;

	/* Copied once, so the guest cannot change what was checked. */
	virtq_iov_to_buf(c->iov, c->n_out, 0, &h, sizeof(h));
	if (flen < NET_FRAME_MIN || flen > net_frame_limit(nd, NET_TX_BIG_FEATURES) || !net_tx_hdr_ok(nd, &h, flen)) {
		nd->stats.tx_dropped++;
		log_ratelimited(&net_rl, LOG_DEBUG, "%s: bad or oversize %zu-byte frame dropped",
				nd->name, flen);
		return;
	}
	h.num_buffers = 0;
	memcpy(nd->txbuf, &h, sizeof(h));
	virtq_iov_to_buf(c->iov, c->n_out, NET_HDR_LEN, nd->txbuf + NET_HDR_LEN, flen);
	/* The MMDS's frames never reach the backend, as in Firecracker. */
	if (nd->mmds && net_mmds_claims(nd->mmds, nd->txbuf + NET_HDR_LEN, flen)) {
		struct net_mmds_offload o = {
			.needs_csum = h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM,
			.csum_start = h.csum_start,
			.csum_offset = h.csum_offset,
			.gso = (h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE,
		};

		if (net_mmds_tx(nd->mmds, &o, nd->txbuf + NET_HDR_LEN, flen)) {
			nd->stats.tx_dropped++;
			return;
		}
		nd->stats.tx_packets++;
		nd->stats.tx_bytes += flen;
		return;
	}
	/*
	 * Firecracker's tx_spoofed_mac_count: a frame for the backend whose
	 * source MAC is not the guest_mac configured, counted and still sent.
	 */
	if (nd->mac_set && memcmp(nd->txbuf + NET_HDR_LEN + 6, nd->mac, 6))
		nd->stats.tx_spoofed_mac++;
	if (!nd->be->vnet_hdr)
		start += NET_HDR_LEN;
	len = flen + (size_t)(nd->txbuf + NET_HDR_LEN - start);
	if (nd->be->ops->send)
		n = nd->be->ops->send(nd->be, p->idx, start, len);
	else
		n = write(p->fd, start, len) < 0 ? -errno : 0;
	if (n < 0) {
		/* A full backend queue drops like a congested wire; TCP recovers. */
		nd->stats.tx_dropped++;
		if (n != -EAGAIN && n != -ENOBUFS)
			log_ratelimited(&net_rl, LOG_WARN, "%s: backend write failed: %s",
					nd->name, strerror((int)-n));
		return;
	}
	nd->stats.tx_packets++;
	nd->stats.tx_bytes += flen;
}

void net_tx_process(struct net_dev *nd, unsigned int q)
{
	struct virtio_dev *dev = &nd->dev;
	struct virtq *vq = &dev->vq[q];
	struct virtq_chain *c = nd->scratch;
	unsigned int budget = NET_TX_BUDGET;

	while (budget && !virtio_limiter_blocked(&nd->tx_lim)) {
		virtq_set_notify(vq, false);
		while (budget && !virtio_limiter_blocked(&nd->tx_lim) && net_pop(nd, vq, c)) {
			budget--;
			if (c->n_in || c->out_len < NET_HDR_LEN) {
				virtio_dev_fail(dev, c->n_in ? "transmit chain has device-writable "
							       "descriptors"
							     : "transmit chain shorter than the header");
				return;
			}
			/* Held back: the frame stays in the ring until the limiter's timer. */
			if (!virtio_limiter_admit(&nd->tx_lim, c->out_len)) {
				virtq_unpop(vq);
				break;
			}
			net_tx_one(nd, &nd->pair[q / 2], c);
			virtq_push(vq, c, 0);
		}
		if (dev->status & VIRTIO_STATUS_NEEDS_RESET)
			return;
		if (virtio_limiter_blocked(&nd->tx_lim))
			break;
		if (!budget && virtq_has_work(vq)) {
			/*
			 * A guest that keeps the ring full would keep the I/O thread
			 * here; come back on a later round instead. Frames already
			 * published get no new kick, so notifications can stay off.
			 */
			net_call_again(nd, q);
			break;
		}
		virtq_set_notify(vq, true);
		if (!virtq_has_work(vq))
			break;
	}
	virtio_dev_notify(dev, q);
}
