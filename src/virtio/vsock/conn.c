/*
 * Hybrid vsock, the host side: one Unix socket per connection, the
 * CONNECT handshake, credit flow control (5.10.6.3) and the relay of
 * bytes both ways. The guest can only make us hold VU_CONN_BUF bytes per
 * connection; a host client that floods us is simply not read while the
 * guest has no credit left.
 *
 * Connections end inside the handlers of guest packets and host socket
 * events; who may free one, and how its callers learn it: VU_MAY_FREE in
 * hybrid.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "virtio/vsock/hybrid.h"

struct ratelimit vu_rl = RATELIMIT_INIT(10);

static bool conn_wants_rx(const struct vu_conn *c)
{
	return c->pending ||
	       (vu_conn_wants_rw(c) && (vu_conn_credit(c) || !c->credit_requested));
}

static void conn_enqueue(struct vsock_uds *vu, struct vu_conn *c)
{
	if (c->queued || !conn_wants_rx(c))
		return;
	c->queued = true;
	c->next = NULL;
	if (vu->rx_tail)
		vu->rx_tail->next = c;
	else
		vu->rx_head = c;
	vu->rx_tail = c;
}

void vu_conn_dequeue(struct vsock_uds *vu, struct vu_conn *c)
{
	struct vu_conn **p = &vu->rx_head, *prev = NULL;

	if (!c->queued)
		return;
	while (*p && *p != c) {
		prev = *p;
		p = &(*p)->next;
	}
	if (*p)
		*p = c->next;
	if (vu->rx_tail == c)
		vu->rx_tail = prev;
	c->queued = false;
	c->next = NULL;
}

/* Polls for what the connection can use: never EPOLLIN while data waits unread. */
void vu_conn_update_events(struct vsock_uds *vu, struct vu_conn *c)
{
	uint32_t ev = 0;

	if (!c->registered)
		return;
	if (c->state == VU_HANDSHAKE ||
	    (c->state == VU_ESTABLISHED && !c->readable && !c->host_eof &&
	     !(c->peer_shut & VSOCK_SHUT_RCV)))
		ev |= EPOLLIN;
	if (c->buf_len)
		ev |= EPOLLOUT;
	if (ev != c->events && !eventloop_modify(vu->loop, c->fd, ev))
		c->events = ev;
}

void vu_conn_refresh(struct vsock_uds *vu, struct vu_conn *c)
{
	vu_conn_update_events(vu, c);
	conn_enqueue(vu, c);
}

void vu_conn_free(struct vsock_uds *vu, struct vu_conn *c)
{
	vu_conn_dequeue(vu, c);
	for (unsigned int i = 0; i < vu->nconns; i++) {
		if (vu->conns[i] == c) {
			vu->conns[i] = vu->conns[--vu->nconns];
			if (c->from_host)
				vu->nhost--;
			else
				vu->nguest--;
			break;
		}
	}
	if (c->registered)
		eventloop_remove(vu->loop, c->fd);
	close(c->fd);
	free(c->buf);
	free(c);
}

void vu_conns_free_all(struct vsock_uds *vu)
{
	while (vu->nconns)
		vu_conn_free(vu, vu->conns[vu->nconns - 1]);
	vu->rx_head = vu->rx_tail = NULL;
	vu->nrst = vu->rst_head = 0;
	vu->tx_blocked = false;
}

void vu_rst_queue(struct vsock_uds *vu, uint64_t src_cid, uint32_t local_port,
		  uint32_t peer_port)
{
	if (vu->nrst == VU_RST_BACKLOG) {
		/* Only when the guest gives no receive buffers for long: it will time out. */
		log_ratelimited(&vu_rl, LOG_DEBUG, "%s: reset backlog full; RST dropped", vu->dev.name);
		return;
	}
	vu->rst[(vu->rst_head + vu->nrst++) % VU_RST_BACKLOG] =
		(struct vu_rst){ src_cid, local_port, peer_port };
}

int vu_conn_reset(struct vsock_uds *vu, struct vu_conn *c)
{
	if (c->state != VU_HANDSHAKE)
		vu_rst_queue(vu, VSOCK_HOST_CID, c->local_port, c->peer_port);
	vu_conn_free(vu, c);
	return -ECONNRESET;
}

/* Room on this side? Each has its own cap, so neither can crowd out the other. */
static bool conn_room(const struct vsock_uds *vu, bool from_host)
{
	return from_host ? vu->nhost < VU_MAX_HOST_CONNS : vu->nguest < VU_MAX_GUEST_CONNS;
}

/* A host client (VU_HANDSHAKE) or a guest's connection (VU_ESTABLISHED); NULL: refused. */
static struct vu_conn *conn_new(struct vsock_uds *vu, int fd, enum vu_state state)
{
	bool from_host = state == VU_HANDSHAKE;
	struct vu_conn *c;

	if (!conn_room(vu, from_host))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->vu = vu;
	c->fd = fd;
	c->state = state;
	c->from_host = from_host;
	c->events = from_host ? EPOLLIN : 0;
	if (eventloop_add(vu->loop, fd, c->events, vu->conn_event, c)) {
		free(c);
		return NULL;
	}
	c->registered = true;
	vu->conns[vu->nconns++] = c;
	if (from_host) {
		vu->nhost++;
		vu_handshake_start(vu, c);
	} else {
		vu->nguest++;
	}
	vu->conns_opened++;
	return c;
}

static struct vu_conn *conn_find(struct vsock_uds *vu, uint32_t local_port, uint32_t peer_port)
{
	for (unsigned int i = 0; i < vu->nconns; i++) {
		struct vu_conn *c = vu->conns[i];

		if (c->state != VU_HANDSHAKE && c->local_port == local_port &&
		    c->peer_port == peer_port)
			return c;
	}
	return NULL;
}

static bool port_in_use(struct vsock_uds *vu, uint32_t port)
{
	for (unsigned int i = 0; i < vu->nconns; i++)
		if (vu->conns[i]->state != VU_HANDSHAKE && vu->conns[i]->local_port == port)
			return true;
	return false;
}

/* A local port no connection uses: at most VU_MAX_CONNS are taken, so this ends. */
static uint32_t alloc_port(struct vsock_uds *vu)
{
	uint32_t p;

	do {
		p = vu->next_port++;
		if (vu->next_port < VU_FIRST_LOCAL_PORT)
			vu->next_port = VU_FIRST_LOCAL_PORT;
	} while (port_in_use(vu, p));
	return p;
}

/* Guest data the socket did not take: appended to the ring (fits: checked against credit). */
static void buf_append(struct vu_conn *c, const uint8_t *data, uint32_t len)
{
	uint32_t tail = (c->buf_head + c->buf_len) % VU_CONN_BUF;
	uint32_t first = len < VU_CONN_BUF - tail ? len : VU_CONN_BUF - tail;

	memcpy(c->buf + tail, data, first);
	memcpy(c->buf, data + first, len - first);
	c->buf_len += len;
}

/* Sends what the ring holds; 0, or -errno when the socket is broken. */
static int buf_flush(struct vu_conn *c)
{
	while (c->buf_len) {
		uint32_t chunk = VU_CONN_BUF - c->buf_head;
		ssize_t n;

		if (chunk > c->buf_len)
			chunk = c->buf_len;
		n = send(c->fd, c->buf + c->buf_head, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		c->buf_head = (c->buf_head + (uint32_t)n) % VU_CONN_BUF;
		c->buf_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	c->buf_head = 0;
	return 0;
}

/*
 * After the socket took guest data, or the buffer went with a hung-up
 * peer: a guest that used up its credit only learns it may go on from a
 * packet of ours, so send a CREDIT_UPDATE once half the buffer came free
 * since it last heard. A guest that closed and has everything delivered
 * is done: this is where its connection ends, so it may free c.
 */
static VU_MAY_FREE int conn_after_forward(struct vsock_uds *vu, struct vu_conn *c)
{
	if (c->fwd_cnt - c->fwd_cnt_sent >= VU_CONN_BUF / 2)
		c->pending |= VU_P_CREDIT_UPDATE;
	if (!c->buf_len && (c->peer_shut & VSOCK_SHUT_SEND)) {
		/* The guest closed and all it sent is delivered: end with RST (5.10.6.5). */
		if (c->peer_shut == VSOCK_SHUT_BOTH)
			return vu_conn_reset(vu, c);
		shutdown(c->fd, SHUT_WR);
	}
	return 0;
}

/* Guest data for the host socket, or for the buffer while it is full. May free c. */
static VU_MAY_FREE int conn_rw(struct vsock_uds *vu, struct vu_conn *c,
			       const struct virtq_chain *ch, uint32_t len)
{
	uint64_t payload = ch->out_len - VSOCK_HDR_LEN;
	uint32_t off = 0;
	ssize_t n;

	if (len > payload) {
		vu->bad_packets++;
		log_ratelimited(&vu_rl, LOG_WARN, "%s: RW packet says %u bytes, carries %llu; reset",
				vu->dev.name, len, (unsigned long long)payload);
		return vu_conn_reset(vu, c);
	}
	if (c->state != VU_ESTABLISHED || (c->peer_shut & VSOCK_SHUT_SEND))
		return vu_conn_reset(vu, c);
	if (len > VU_CONN_BUF - c->buf_len) {
		vu->bad_packets++;
		log_ratelimited(&vu_rl, LOG_WARN, "%s: guest sent past its credit; connection reset",
				vu->dev.name);
		return vu_conn_reset(vu, c);
	}
	virtq_iov_to_buf(ch->iov, ch->n_out, VSOCK_HDR_LEN, vu->bounce, len);
	vu->tx_bytes += len;
	if (!c->buf_len && len) {
		n = send(c->fd, vu->bounce, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return vu_conn_reset(vu, c);
		off = n > 0 ? (uint32_t)n : 0;
		c->fwd_cnt += off;
	}
	if (off < len) {
		if (!c->buf && !(c->buf = malloc(VU_CONN_BUF)))
			return vu_conn_reset(vu, c);
		buf_append(c, vu->bounce + off, len - off);
	}
	return conn_after_forward(vu, c);
}

/* The guest will send or receive no more. May free c. */
static VU_MAY_FREE int conn_shutdown(struct vsock_uds *vu, struct vu_conn *c, uint32_t flags)
{
	c->peer_shut |= flags & VSOCK_SHUT_BOTH;
	if (c->state != VU_ESTABLISHED)
		return vu_conn_reset(vu, c);
	return conn_after_forward(vu, c);
}

/* Once the guest accepted a host client's CONNECT: "OK <local port>\n", then data. May free c. */
static VU_MAY_FREE int conn_accepted(struct vsock_uds *vu, struct vu_conn *c)
{
	char line[VSOCK_LINE_MAX];
	int len = vsock_line_format(line, sizeof(line), "OK", c->local_port);

	if (c->state != VU_REQUESTED)
		return vu_conn_reset(vu, c);
	c->state = VU_ESTABLISHED;
	/* A fresh socket's buffer takes a short line whole; anything else is a dead client. */
	if (len < 0 || send(c->fd, line, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL) != len)
		return vu_conn_reset(vu, c);
	return 0;
}

/* The guest connects to the host: "<uds_path>_<port>" must be listening. */
static void conn_guest_connect(struct vsock_uds *vu, const struct vsock_hdr *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vu_conn *c;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", vu->path, h->dst_port);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* Non-blocking AF_UNIX connects finish at once, or fail (EAGAIN: backlog full). */
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto err_refuse;
	c = conn_new(vu, fd, VU_ESTABLISHED);
	if (!c)
		goto err_refuse;
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->pending = VU_P_RESPONSE;
	vu_conn_refresh(vu, c);
	return;

err_refuse:
	if (fd >= 0)
		close(fd);
	vu->conns_refused++;
	vu_rst_queue(vu, VSOCK_HOST_CID, h->dst_port, h->src_port);
}

void vu_conn_packet(struct vsock_uds *vu, const struct vsock_hdr *h,
		    const struct virtq_chain *ch)
{
	struct vu_conn *c;
	int ret = 0;

	if (h->src_cid != vu->cid) {
		/* Not from this guest's address: nothing sensible to answer. */
		vu->bad_packets++;
		log_ratelimited(&vu_rl, LOG_WARN, "%s: packet from CID %llu, not the guest's; dropped",
				vu->dev.name, (unsigned long long)h->src_cid);
		return;
	}
	if (h->op == VSOCK_OP_RST && h->dst_cid != VSOCK_HOST_CID)
		return;
	if (h->dst_cid != VSOCK_HOST_CID || h->type != VSOCK_TYPE_STREAM) {
		/* Nobody else is reachable, and only streams exist: refuse (5.10.6.4). */
		vu->bad_packets++;
		vu_rst_queue(vu, h->dst_cid, h->dst_port, h->src_port);
		return;
	}
	c = conn_find(vu, h->dst_port, h->src_port);
	if (!c) {
		if (h->op == VSOCK_OP_REQUEST && conn_room(vu, false)) {
			conn_guest_connect(vu, h);
		} else if (h->op != VSOCK_OP_RST) {
			if (h->op == VSOCK_OP_REQUEST)
				vu->conns_refused++;
			vu_rst_queue(vu, VSOCK_HOST_CID, h->dst_port, h->src_port);
		}
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (vu_conn_credit(c))
		c->credit_requested = false;
	switch (h->op) {
	case VSOCK_OP_RESPONSE:
		ret = conn_accepted(vu, c);
		break;
	case VSOCK_OP_RST:
		vu_conn_free(vu, c);
		return;
	case VSOCK_OP_SHUTDOWN:
		ret = conn_shutdown(vu, c, h->flags);
		break;
	case VSOCK_OP_RW:
		ret = conn_rw(vu, c, ch, h->len);
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= VU_P_CREDIT_UPDATE;
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		break;
	default:
		/* A second REQUEST on a live connection, or an op that does not exist. */
		vu->bad_packets++;
		ret = vu_conn_reset(vu, c);
		break;
	}
	/* This packet was c's owner: once it is freed, nothing more. */
	if (!ret)
		vu_conn_refresh(vu, c);
}

/*
 * A host client's CONNECT line, one byte at a time so its data stays in
 * the socket. May free c (a client that closes, or sends a bad line).
 */
static VU_MAY_FREE int conn_handshake(struct vsock_uds *vu, struct vu_conn *c)
{
	uint32_t port;
	size_t used;
	int ret = 0;

	while (!ret) {
		ssize_t n = recv(c->fd, c->line + c->line_len, 1, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			goto err_free;
		c->line_len++;
		ret = vsock_line_parse(c->line, c->line_len, "CONNECT", &port, &used);
	}
	if (ret < 0) {
		log_ratelimited(&vu_rl, LOG_DEBUG, "%s: bad CONNECT line from a host client; closed",
				vu->dev.name);
		goto err_free;
	}
	c->state = VU_REQUESTED;
	c->local_port = alloc_port(vu);
	c->peer_port = port;
	c->pending = VU_P_REQUEST;
	return 0;

err_free:
	/* The guest never heard of it: no RST. */
	vu_conn_free(vu, c);
	return -ECONNRESET;
}

VU_MAY_FREE int vu_conn_host_event(struct vsock_uds *vu, struct vu_conn *c, uint32_t events)
{
	if (events & EPOLLERR)
		return vu_conn_reset(vu, c);
	if (c->state == VU_HANDSHAKE)
		return conn_handshake(vu, c);
	if ((events & EPOLLHUP) && c->state == VU_REQUESTED)
		return vu_conn_reset(vu, c); /* the client gave up before the guest answered */
	if (events & EPOLLHUP) {
		/*
		 * Both ways shut: HUP would be reported on every round whatever
		 * we poll for, so stop polling; what is left is read to EOF, and
		 * guest data nobody will read is dropped.
		 */
		eventloop_remove(vu->loop, c->fd);
		c->registered = false;
		c->host_hup = true;
		c->buf_len = 0;
	}
	if (events & (EPOLLIN | EPOLLHUP))
		c->readable = true;
	if ((events & EPOLLOUT) && buf_flush(c))
		return vu_conn_reset(vu, c);
	/* The buffer drained or was dropped: credit, or the end of a closed guest's connection. */
	if (events & (EPOLLOUT | EPOLLHUP))
		return conn_after_forward(vu, c);
	return 0;
}

void vu_on_listen(void *opaque, uint32_t events)
{
	struct vsock_uds *vu = opaque;

	(void)events;
	pthread_mutex_lock(&vu->dev.lock);
	/* A bounded number per round; the listener stays readable for the rest. */
	for (unsigned int i = 0; i < 16; i++) {
		int fd = accept4(vu->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			break;
		if (!conn_new(vu, fd, VU_HANDSHAKE)) {
			vu->conns_refused++;
			log_ratelimited(&vu_rl, LOG_WARN, "%s: %u host connections open (or "
					"sending CONNECT); host client refused", vu->dev.name,
					vu->nhost);
			close(fd);
		}
	}
	pthread_mutex_unlock(&vu->dev.lock);
}
