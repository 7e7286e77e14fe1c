/*
 * Hybrid vsock, host to guest: the packet a connection puts in the
 * guest's next receive buffer, control packets first, then data from its
 * host socket within the guest's credit (5.10.6.3). uds.c hands
 * out the buffers; conn.c owns the connections.
 */
#include <errno.h>
#include <sys/socket.h>

#include "virtio/vsock/hybrid.h"

/* Every packet of ours carries our buffer and fwd_cnt, so the guest's credit is current. */
static void conn_hdr(struct vsock_uds *vu, const struct vu_conn *c, struct vsock_hdr *h,
		     enum vsock_op op)
{
	*h = (struct vsock_hdr){ .src_cid = VSOCK_HOST_CID, .dst_cid = vu->cid,
				 .src_port = c->local_port, .dst_port = c->peer_port,
				 .type = VSOCK_TYPE_STREAM, .op = op,
				 .buf_alloc = VU_CONN_BUF, .fwd_cnt = c->fwd_cnt };
}

/*
 * Reads one packet's worth from the socket into the chain, its length
 * into *len (0: nothing now). May free c, when the socket broke.
 */
static VU_MAY_FREE int conn_fill_rw(struct vsock_uds *vu, struct vu_conn *c,
				    const struct virtq_chain *rc, struct vsock_hdr *h,
				    uint32_t *len)
{
	uint64_t room = rc->in_len - VSOCK_HDR_LEN;
	uint32_t want = vu_conn_credit(c);
	ssize_t n;

	*len = 0;
	if (!want) {
		if (c->credit_requested)
			return 0;
		/* The guest may not know we are waiting: ask once (5.10.6.3). */
		c->credit_requested = true;
		conn_hdr(vu, c, h, VSOCK_OP_CREDIT_REQUEST);
		*len = VSOCK_HDR_LEN;
		return 0;
	}
	if (want > room)
		want = (uint32_t)room;
	if (want > VU_CONN_BUF)
		want = VU_CONN_BUF;
	if (!want)
		return 0; /* a buffer with room for the header only: never for data */
	n = recv(c->fd, vu->bounce, want, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		c->readable = false;
		vu_conn_update_events(vu, c);
		return 0;
	}
	if (n < 0)
		return vu_conn_reset(vu, c);
	if (n == 0) {
		/* The client shut its side: no more data for the guest; half-close. */
		c->host_eof = true;
		c->shut_sent |= VSOCK_SHUT_SEND | (c->host_hup ? VSOCK_SHUT_RCV : 0);
		conn_hdr(vu, c, h, VSOCK_OP_SHUTDOWN);
		h->flags = c->shut_sent;
		*len = VSOCK_HDR_LEN;
		return 0;
	}
	conn_hdr(vu, c, h, VSOCK_OP_RW);
	h->len = (uint32_t)n;
	virtq_buf_to_iov(rc->iov, rc->n_in, VSOCK_HDR_LEN, vu->bounce, (size_t)n);
	c->rx_cnt += (uint32_t)n;
	vu->rx_bytes += (uint64_t)n;
	*len = VSOCK_HDR_LEN + (uint32_t)n;
	return 0;
}

int vu_conn_fill(struct vsock_uds *vu, struct vu_conn *c, const struct virtq_chain *rc,
		 uint32_t *len)
{
	static const struct { uint32_t bit; enum vsock_op op; } ctl[] = {
		{ VU_P_REQUEST, VSOCK_OP_REQUEST },
		{ VU_P_RESPONSE, VSOCK_OP_RESPONSE },
		{ VU_P_CREDIT_UPDATE, VSOCK_OP_CREDIT_UPDATE },
	};
	struct vsock_hdr h;
	int ret;

	*len = 0;
	vu_conn_dequeue(vu, c);
	for (unsigned int i = 0; i < sizeof(ctl) / sizeof(ctl[0]) && !*len; i++) {
		if (!(c->pending & ctl[i].bit))
			continue;
		c->pending &= ~ctl[i].bit;
		conn_hdr(vu, c, &h, ctl[i].op);
		*len = VSOCK_HDR_LEN;
	}
	if (!*len && vu_conn_wants_rw(c)) {
		ret = conn_fill_rw(vu, c, rc, &h, len);
		if (ret)
			return ret;
	}
	/*
	 * Nothing for this buffer: c stays off the list, or the caller would
	 * offer it the same buffer for ever; its next event or packet queues it.
	 */
	if (!*len)
		return 0;
	/* Every packet tells the guest our fwd_cnt: no separate update is owed. */
	c->fwd_cnt_sent = h.fwd_cnt;
	c->pending &= ~VU_P_CREDIT_UPDATE;
	virtq_buf_to_iov(rc->iov, rc->n_in, 0, &h, VSOCK_HDR_LEN);
	vu_conn_refresh(vu, c);
	return 0;
}
