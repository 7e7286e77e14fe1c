/*
 * virtio-net receive path: frames from the backend into the guest's RX
 * buffers, one frame at a time, mergeable (5.1.6.3.1) or not.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/net/priv.h"
#include "virtio/virtio.h"

static struct ratelimit net_rx_rl = RATELIMIT_INIT(10);

void net_poll_set(struct net_dev *nd, struct net_pair *p, bool on)
{
	/* vhost reads the TAP: a frame read here would be lost to the guest. */
	if (net_on_vhost(nd))
		on = false;
	if (p->polling == on)
		return;
	p->polling = on;
	if (p->registered)
		eventloop_modify(nd->loop, p->fd, on ? EPOLLIN : 0);
	if (p->idx == 0 && nd->mmds_registered)
		eventloop_modify(nd->loop, net_mmds_fd(nd->mmds), on ? EPOLLIN : 0);
}

static bool net_rx_ready(const struct net_dev *nd, const struct net_pair *p)
{
	/* Paused: the backend is not read (polling stops) until resume kicks RX. */
	return virtio_dev_running(&nd->dev) && p->idx < nd->cur_pairs &&
	       nd->dev.vq[2 * p->idx].enabled;
}

enum { RX_DONE, RX_NO_BUFFERS, RX_FAILED };

static int net_rx_fail(struct net_dev *nd, const char *why)
{
	virtio_dev_fail(&nd->dev, why);
	return RX_FAILED;
}

/*
 * Copies one frame (header included) into the guest's RX buffers. Chains
 * are published only once the frame is complete, so num_buffers is final
 * before the driver can see any of them.
 */
static int net_rx_deliver(struct net_dev *nd, unsigned int q, uint8_t *frame, size_t len)
{
	struct virtq *vq = &nd->dev.vq[q];
	bool mrg = net_has(nd, VIRTIO_NET_F_MRG_RXBUF);
	unsigned int n = 0;
	size_t off = 0;
	uint16_t end;
	int ret;

	/*
	 * The driver's index is read once per frame: nothing is used until the
	 * frame is complete, so a guest that kept publishing while we copy
	 * could otherwise feed this loop far past the queue (and heads[]).
	 */
	ret = virtq_read_avail(vq, &end);
	if (ret < 0)
		return net_rx_fail(nd, virtq_strerror(-ret));
	while (off < len) {
		struct virtq_chain *c = n ? nd->scratch : nd->first;
		size_t take;

		if (n >= vq->size || n >= NET_QUEUE_SIZE) {
			/* A full queue of these buffers cannot hold it, now or later. */
			vq->last_avail -= n;
			nd->stats.rx_dropped_oversize++;
			log_ratelimited(&net_rx_rl, LOG_DEBUG, "%s: %zu-byte frame > %u receive "
					"buffers; dropped", nd->name, len, n);
			return RX_DONE;
		}
		ret = virtq_pop_until(vq, c, end);
		if (ret < 0)
			return net_rx_fail(nd, virtq_strerror(-ret));
		if (ret == 0) {
			/* Give the buffers back; the frame waits for more. */
			vq->last_avail -= n;
			return RX_NO_BUFFERS;
		}
		if (c->n_out)
			return net_rx_fail(nd, "receive buffer has device-readable descriptors");
		if (mrg && c->in_len < NET_HDR_LEN)
			return net_rx_fail(nd, "mergeable receive buffer smaller than the header");
		if (!mrg && c->in_len < len) {
			/* Keep the buffer for a frame that fits. */
			vq->last_avail--;
			nd->stats.rx_dropped_oversize++;
			log_ratelimited(&net_rx_rl, LOG_DEBUG, "%s: %zu-byte frame > %" PRIu64
					"-byte receive buffer; dropped", nd->name, len, c->in_len);
			return RX_DONE;
		}
		take = len - off < c->in_len ? len - off : c->in_len;
		virtq_buf_to_iov(c->iov, c->n_in, 0, frame + off, take);
		nd->heads[n] = c->head;
		nd->lens[n] = (uint32_t)take;
		nd->in_lens[n] = (uint32_t)c->in_len;
		n++;
		off += take;
	}
	if (mrg) {
		uint16_t nb = (uint16_t)n;
		virtq_buf_to_iov(nd->first->iov, nd->first->n_in, 10, &nb, sizeof(nb));
	}
	for (unsigned int i = 0; i < n; i++) {
		nd->scratch->head = nd->heads[i];
		nd->scratch->in_len = nd->in_lens[i];
		virtq_push(vq, nd->scratch, nd->lens[i]);
	}
	nd->stats.rx_packets++;
	nd->stats.rx_bytes += len - NET_HDR_LEN;
	return RX_DONE;
}

/*
 * Reads one frame into p->buf with its header: pair 0 takes the MMDS
 * stack's first (a stack's output is bounded by what the guest sent it).
 * 1: got one, 0: none, -1: backend gone.
 */
static int net_rx_read(struct net_dev *nd, struct net_pair *p)
{
	size_t hdr = nd->be->vnet_hdr ? 0 : NET_HDR_LEN;
	uint16_t one = 1;
	ssize_t n = -1;

	if (p->idx == 0 && nd->mmds) {
		n = recv(net_mmds_fd(nd->mmds), p->buf + NET_HDR_LEN, NET_BUF_LEN - NET_HDR_LEN,
			 MSG_DONTWAIT);
		if (n > 0)
			hdr = NET_HDR_LEN;
	}
	if (n <= 0 && nd->be->ops->recv) {
		n = nd->be->ops->recv(nd->be, p->idx, p->buf + hdr, NET_BUF_LEN - hdr);
		if (n == -EMSGSIZE) {
			nd->stats.rx_dropped_oversize++;
			return 1;
		}
		if (n < 0)
			return n == -EAGAIN ? 0 : -1;
		/* An empty frame is a runt, not an end: the queue holds frames, not a stream. */
		if (n == 0)
			return 1;
	} else if (n <= 0) {
		n = read(p->fd, p->buf + hdr, NET_BUF_LEN - hdr);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
	}
	if (n == 0)
		return -1;
	if (hdr)
		memset(p->buf, 0, NET_HDR_LEN);
	n += (ssize_t)hdr;
	if ((size_t)n < NET_HDR_LEN + NET_FRAME_MIN ||
	    (size_t)n - NET_HDR_LEN > net_frame_limit(nd, NET_RX_BIG_FEATURES)) {
		nd->stats.rx_dropped_oversize += (size_t)n >= NET_HDR_LEN + NET_FRAME_MIN;
		return 1; /* nothing pending: the caller reads on */
	}
	memcpy(p->buf + 10, &one, sizeof(one)); /* num_buffers; MRG_RXBUF rewrites it */
	p->pending = (size_t)n;
	return 1;
}

void net_rx_process(struct net_dev *nd, struct net_pair *p)
{
	unsigned int q = 2 * p->idx, budget;
	struct virtq *vq = &nd->dev.vq[q];

	/* A blocked limiter stops reading the backend; its timer resumes us. */
	if (!net_rx_ready(nd, p) || virtio_limiter_blocked(&nd->rx_lim)) {
		net_poll_set(nd, p, false);
		return;
	}
	for (budget = NET_RX_BUDGET; budget; budget--) {
		int ret;

		if (!p->pending) {
			ret = net_rx_read(nd, p);
			if (ret < 0) {
				log_ratelimited(&net_rx_rl, LOG_WARN, "%s: backend queue %u closed",
						nd->name, p->idx);
				net_poll_set(nd, p, false);
				break;
			}
			if (ret == 0)
				break;
			if (!p->pending)
				continue;
		}
		/* The frame stays pending, the backend unread, until the timer. */
		if (!virtio_limiter_admit(&nd->rx_lim, p->pending)) {
			net_poll_set(nd, p, false);
			break;
		}
		ret = net_rx_deliver(nd, q, p->buf, p->pending);
		if (ret == RX_FAILED) {
			p->pending = 0;
			net_poll_set(nd, p, false);
			return;
		}
		if (ret == RX_NO_BUFFERS) {
			/* Not delivered: it is charged when it is. */
			virtio_limiter_refund(&nd->rx_lim, p->pending);
			/*
			 * Too few buffers for this frame: sleep until the driver adds
			 * more, not spin on the ones it has. Re-check to close the race.
			 */
			virtq_set_notify(vq, true);
			if (virtq_has_new(vq))
				continue;
			net_poll_set(nd, p, false);
			break;
		}
		p->pending = 0;
	}
	/*
	 * Frames left in the backend raise EPOLLIN again; one already read,
	 * waiting on buffers the driver added meanwhile, would not.
	 */
	if (!budget && p->pending && p->polling)
		net_call_again(nd, q);
	virtio_dev_notify(&nd->dev, q);
}
