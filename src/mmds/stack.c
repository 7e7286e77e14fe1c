/*
 * A NIC's MMDS stack (mmds.h): which guest frames are the MMDS's, the
 * policy they meet before libslirp does, and the libslirp instance that
 * answers them, run as a poller of the I/O thread's loop together with
 * the NIC's HTTP server.
 */
#include "mmds/stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "slirp/slirp_lib.h"

#include "util/log.h"
#include "mmds/http.h"
#include "slirp/slirp_glue.h"

#define MMDS_NET 0xa9fe0000u  /* 169.254.0.0/16, host order */
#define MMDS_MASK 0xffff0000u
#define MMDS_PORT 80
/* Room past the largest frame taken, so an oversize one is seen, not truncated. */
#define MMDS_FRAME_BUF (NET_MMDS_ETH_HLEN + NET_MMDS_MTU + 64)
/* slirp's ARP requests remembered, and for how long a reply is awaited. */
#define MMDS_ASKED 4
#define MMDS_ASK_MS 5000

struct net_mmds {
	struct slirp_glue glue; /* first: slirp's opaque is the stack (slirp_glue.h) */
	struct eventloop *loop; /* set while we are its poller */
	struct net_mmds_http *http;
	uint32_t ip_be, host_be;
	int dev_fd, sock; /* the socketpair: the device's end and slirp's */
	struct net_mmds_stats stats;
	/* Addresses slirp asked the guest's MAC of (its ARP requests), and when: replies to them are ours. */
	uint32_t asked_be[MMDS_ASKED];
	int64_t asked_ms[MMDS_ASKED];
	unsigned int asked_next;
	uint8_t frame[MMDS_FRAME_BUF];
};

static struct ratelimit mmds_rl = RATELIMIT_INIT(10);

/*
 * Out-of-order TCP a guest may make the stack's slirp hold (tcp_gate.h):
 * 8 segments a connection, 128 (at most 128 slirp mbufs of about 2 KiB)
 * in all. An MMDS request is a few segments sent in order.
 */
static const struct slirp_glue_budget mmds_budget = {
	.conns = 2 * NET_MMDS_MAX_CONNS,
	.per_conn = NET_MMDS_CONN_SEGS,
	.segs = NET_MMDS_SEGS,
	.bytes = NET_MMDS_SEGS * NET_MMDS_MTU,
};

bool net_mmds_addr_ok(uint32_t ip_be)
{
	uint32_t ip = ntohl(ip_be);

	return (ip & MMDS_MASK) == MMDS_NET && (ip & ~MMDS_MASK) && (ip & ~MMDS_MASK) != ~MMDS_MASK;
}

static uint32_t mmds_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* Whether slirp asked, within MMDS_ASK_MS, the MAC of ip_be. */
static bool mmds_asked(const struct net_mmds *s, uint32_t ip_be)
{
	int64_t now = slirp_glue_now_ns() / 1000000;

	for (unsigned int i = 0; i < MMDS_ASKED; i++)
		if (s->asked_ms[i] && s->asked_be[i] == ip_be && now - s->asked_ms[i] < MMDS_ASK_MS)
			return true;
	return false;
}

bool net_mmds_claims(const struct net_mmds *s, const uint8_t *f, size_t len)
{
	if (len < NET_MMDS_ETH_HLEN)
		return false;
	if (f[12] == 0x08 && f[13] == 0x06) {
		/*
		 * Ethernet/IPv4 ARP, as Firecracker's MMDS takes it: a request for
		 * the MMDS address, or a reply to a request slirp itself sent
		 * (to its address, from the address it asked about). Any other
		 * ARP is the backend's.
		 */
		uint32_t tip, sip;

		if (len < 42 || f[14] || f[15] != 1 || f[16] != 0x08 || f[17] || f[18] != 6 ||
		    f[19] != 4 || f[20])
			return false;
		sip = mmds_be32(f + 28);
		tip = mmds_be32(f + 38);
		return (f[21] == 1 && tip == s->ip_be) ||
		       (f[21] == 2 && tip == s->host_be && mmds_asked(s, sip));
	}
	if (f[12] == 0x08 && f[13] == 0x00)
		return len >= NET_MMDS_ETH_HLEN + 20 && (f[14] >> 4) == 4 && mmds_be32(f + 30) == s->ip_be;
	return false;
}

/* Completes a checksum the guest left to the device (virtio-net's NEEDS_CSUM). */
static void mmds_csum(uint8_t *f, size_t len, size_t start, size_t off)
{
	uint32_t sum = 0;
	uint16_t c;

	for (size_t i = start; i < len; i += 2)
		sum += (uint32_t)f[i] << 8 | (i + 1 < len ? f[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	c = (uint16_t)~sum;
	f[start + off] = (uint8_t)(c >> 8);
	f[start + off + 1] = (uint8_t)c;
}

int net_mmds_tx(struct net_mmds *s, const struct net_mmds_offload *h, uint8_t *f, size_t len)
{
	int ret = 0;

	if (len > NET_MMDS_ETH_HLEN + NET_MMDS_MTU)
		ret = -EMSGSIZE;
	else if (h && h->gso)
		ret = -EMSGSIZE;
	if (!ret && h && h->needs_csum) {
		/* The device checked it fits: csum_start + csum_offset + 2 <= len. */
		mmds_csum(f, len, h->csum_start, h->csum_offset);
	}
	if (!ret && send(s->dev_fd, f, len, MSG_DONTWAIT) < 0)
		ret = -errno;
	if (ret) {
		s->stats.dropped_in++;
		log_ratelimited(&mmds_rl, LOG_DEBUG, "MMDS: guest frame of %zu bytes dropped: %s",
				len, strerror(-ret));
	}
	return ret;
}

/* libslirp's sockets now: its connection table, one line each after a heading. */
static unsigned int mmds_slirp_sockets(struct net_mmds *s)
{
	char *info = slirp_lib.connection_info(s->glue.slirp);
	unsigned int n = 0;

	if (!info)
		return NET_MMDS_MAX_CONNS; /* out of memory: take nothing new */
	for (const char *p = info; *p; p++)
		n += *p == '\n';
	free(info); /* glib's g_free is free() since 2.46 */
	return n ? n - 1 : 0;
}

/*
 * What slirp may have: ARP, and unfragmented TCP (fragments would sit in
 * slirp's reassembly queue; no MMDS request needs one). A SYN is taken
 * only while slirp holds fewer than NET_MMDS_MAX_CONNS sockets: each costs
 * slirp some 17 KiB of buffers from the SYN on, and a Unix connection
 * once it completes.
 */
static bool mmds_admit(struct net_mmds *s, const uint8_t *f, size_t len)
{
	size_t ihl;
	const uint8_t *tcp;

	if (f[12] == 0x08 && f[13] == 0x06)
		return true;
	if (!slirp_glue_admit(&s->glue, f, len)) {
		s->stats.out_of_order++;
		log_ratelimited(&mmds_rl, LOG_DEBUG, "MMDS: guest TCP segment out of order or "
				"over the reassembly budget: dropped");
		return false;
	}
	ihl = (size_t)(f[14] & 0xf) * 4;
	if (ihl < 20 || len < NET_MMDS_ETH_HLEN + ihl + 20 || f[23] != IPPROTO_TCP ||
	    (f[20] & 0x3f) || f[21])
		return false;
	tcp = f + NET_MMDS_ETH_HLEN + ihl;
	if ((tcp[13] & 0x12) != 0x02) /* not a SYN without ACK */
		return true;
	if (mmds_slirp_sockets(s) < NET_MMDS_MAX_CONNS)
		return true;
	s->stats.syn_refused++;
	log_ratelimited(&mmds_rl, LOG_DEBUG, "MMDS: guest SYN dropped: %u connections open",
			NET_MMDS_MAX_CONNS);
	return false;
}

/* Slirp callbacks: all run on the I/O thread, or before it starts. */

static ssize_t mmds_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_mmds *s = opaque;

	slirp_glue_sent(&s->glue, buf, len);
	if (len >= 42 && ((const uint8_t *)buf)[12] == 0x08 && ((const uint8_t *)buf)[13] == 0x06 &&
	    ((const uint8_t *)buf)[21] == 1) {
		s->asked_be[s->asked_next] = mmds_be32((const uint8_t *)buf + 38);
		s->asked_ms[s->asked_next] = slirp_glue_now_ns() / 1000000;
		s->asked_next = (s->asked_next + 1) % MMDS_ASKED;
	}
	/* Device queue full: drop, as slirp allows; TCP retransmits at its own pace. */
	if (send(s->sock, buf, len, MSG_DONTWAIT) < 0) {
		s->stats.dropped_out++;
	} else {
		s->stats.frames_out++;
		/* The device's end is in the loop's epoll set: have it looked at now. */
		if (s->loop)
			eventloop_poke(s->loop);
	}
	return (ssize_t)len;
}

static void mmds_guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	log_ratelimited(&mmds_rl, LOG_WARN, "MMDS: guest error: %s", msg);
}

static void mmds_fd_noop(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void mmds_notify(void *opaque)
{
	/* Called from within a round of the I/O loop, which prepares again next. */
	(void)opaque;
}

static const SlirpCb mmds_slirp_cb = {
	.send_packet = mmds_send_packet,
	.guest_error = mmds_guest_error,
	.clock_get_ns = slirp_glue_clock,
	.timer_new = slirp_glue_timer_new,
	.timer_free = slirp_glue_timer_free,
	.timer_mod = slirp_glue_timer_mod,
	.register_poll_fd = mmds_fd_noop,
	.unregister_poll_fd = mmds_fd_noop,
	.notify = mmds_notify,
	.timer_new_opaque = slirp_glue_timer_new_opaque,
};

/* pfd: [0] guest frames, [1, 1 + NET_MMDS_HTTP_NPFD) the HTTP server, then slirp's sockets. */
#define MMDS_OWN_PFD (1 + NET_MMDS_HTTP_NPFD)

static struct pollfd *mmds_prepare(void *opaque, unsigned int *n, int *timeout_ms)
{
	struct net_mmds *s = opaque;

	s->glue.pfd[0] = (struct pollfd){ .fd = s->sock, .events = POLLIN };
	net_mmds_http_prepare(s->http, s->glue.pfd + 1, timeout_ms);
	return slirp_glue_prepare(&s->glue, MMDS_OWN_PFD, n, timeout_ms);
}

static void mmds_dispatch(void *opaque, bool poll_failed)
{
	struct net_mmds *s = opaque;

	slirp_glue_poll(&s->glue, poll_failed);
	/* Frames from the guest; bounded so slirp's sockets and the server are not starved. */
	for (int i = 0; !poll_failed && s->glue.pfd[0].revents && i < NET_MMDS_INPUT_BUDGET; i++) {
		ssize_t len = recv(s->sock, s->frame, sizeof(s->frame), MSG_DONTWAIT);

		if (len <= 0)
			break;
		/* net_mmds_tx passed only claimed frames of at most an MTU. */
		if (!mmds_admit(s, s->frame, (size_t)len)) {
			s->stats.dropped_in++;
			continue;
		}
		s->stats.frames_in++;
		slirp_lib.input(s->glue.slirp, s->frame, (int)len);
	}
	if (!poll_failed)
		net_mmds_http_dispatch(s->http, s->glue.pfd + 1);
	slirp_glue_run_timers(&s->glue);
	slirp_glue_trim(&s->glue, false);
}

static const struct eventloop_poller_ops mmds_poller = {
	.prepare = mmds_prepare,
	.dispatch = mmds_dispatch,
};

/* slirp's own addresses: the first two of 169.254.0.1, .2 and .3 that are not the MMDS's. */
static void mmds_addrs(uint32_t ip_be, struct in_addr *host, struct in_addr *dns)
{
	uint32_t a[2];
	unsigned int n = 0;

	for (uint32_t i = 1; n < 2; i++)
		if (htonl(MMDS_NET | i) != ip_be)
			a[n++] = htonl(MMDS_NET | i);
	host->s_addr = a[0];
	dns->s_addr = a[1];
}

static Slirp *mmds_slirp_new(struct net_mmds *s)
{
	SlirpConfig sc = {
		.version = SLIRP_CONFIG_VERSION_MAX < 4 ? SLIRP_CONFIG_VERSION_MAX : 4,
		.restricted = 1, /* nothing leaves: only the forward below answers */
		.in_enabled = true,
		.if_mtu = NET_MMDS_MTU,
		.if_mru = NET_MMDS_MTU,
		.disable_host_loopback = true,
	};

	sc.vnetwork.s_addr = htonl(MMDS_NET);
	sc.vnetmask.s_addr = htonl(MMDS_MASK);
	mmds_addrs(s->ip_be, &sc.vhost, &sc.vnameserver);
	s->host_be = sc.vhost.s_addr;
	/* Never reached (no DHCP frame is the stack's), but slirp wants one in its network. */
	sc.vdhcp_start.s_addr = htonl(MMDS_NET | 0xfe00u);
	if (sc.vdhcp_start.s_addr == s->ip_be)
		sc.vdhcp_start.s_addr = htonl(MMDS_NET | 0xfd00u);
	return slirp_lib.new_(&sc, &mmds_slirp_cb, s);
}

void net_mmds_close(struct net_mmds *s)
{
	if (!s)
		return;
	if (s->loop)
		eventloop_remove_poller(s->loop, s);
	if (s->glue.slirp)
		slirp_lib.cleanup(s->glue.slirp);
	slirp_glue_fini(&s->glue);
	net_mmds_http_close(s->http);
	if (s->dev_fd >= 0)
		close(s->dev_fd);
	if (s->sock >= 0)
		close(s->sock);
	free(s);
}

int net_mmds_open(struct mmds *m, uint32_t ip_be, struct eventloop *loop, struct net_mmds **out,
		  struct err *err)
{
	struct net_mmds *s = calloc(1, sizeof(*s));
	struct in_addr ip = { ip_be };
	int sv[2], ret;

	if (!s)
		return err_set(err, false, -ENOMEM, "MMDS: out of memory");
	s->dev_fd = s->sock = -1;
	s->ip_be = ip_be;
	if (!net_mmds_addr_ok(ip_be)) {
		ret = err_set(err, false, -EINVAL, "MMDS: %s is not a link-local address "
			      "(169.254.0.0/16)", inet_ntoa(ip));
		goto err_close;
	}
	if (!loop) {
		ret = err_set(err, false, -EINVAL, "MMDS: no I/O loop");
		goto err_close;
	}
	ret = slirp_glue_init(&s->glue, &mmds_budget, err);
	if (ret) {
		err_prefix(err, ret, "MMDS: ");
		goto err_close;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		ret = -errno;
		err_set(err, false, ret, "MMDS: %s", strerror(-ret));
		goto err_close;
	}
	s->dev_fd = sv[0];
	s->sock = sv[1];
	ret = net_mmds_http_open(m, &s->http, err);
	if (ret)
		goto err_close;
	s->glue.slirp = mmds_slirp_new(s);
	if (!s->glue.slirp) {
		ret = err_set(err, false, -ENOMEM, "MMDS: libslirp failed to start");
		goto err_close;
	}
	if (slirp_lib.add_unix(s->glue.slirp, net_mmds_http_path(s->http), &ip, MMDS_PORT) < 0) {
		ret = err_set(err, false, -EINVAL, "MMDS: libslirp refused the forward to %s:%d",
			      inet_ntoa(ip), MMDS_PORT);
		goto err_close;
	}
	ret = eventloop_add_poller(loop, &mmds_poller, s);
	if (ret) {
		err_set(err, false, ret, "MMDS: cannot join the I/O loop: %s", strerror(-ret));
		goto err_close;
	}
	s->loop = loop;
	*out = s;
	return 0;

err_close:
	net_mmds_close(s);
	return ret;
}

int net_mmds_fd(const struct net_mmds *s)
{
	return s->dev_fd;
}

void net_mmds_get_stats(const struct net_mmds *s, struct net_mmds_stats *st)
{
	*st = s->stats;
	st->held_segs = s->glue.gate.segs;
	st->held_bytes = s->glue.gate.bytes;
}

const char *net_mmds_socket(const struct net_mmds *s)
{
	return net_mmds_http_path(s->http);
}
