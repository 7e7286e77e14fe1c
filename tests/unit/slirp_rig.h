/*
 * Shared by the user-mode (libslirp) backend tests: the backend driven
 * as the device drives it (its send and recv ops; the MMDS stack's through
 * its socket), hand-made Ethernet/IPv4 frames
 * in, slirp's frames out, and host sockets on 127.0.0.1 to see what the
 * guest reaches. slirp runs as the loop's poller; the test turns that
 * poller's rounds itself.
 */
#ifndef HEARTH_TESTS_SLIRP_RIG_H
#define HEARTH_TESTS_SLIRP_RIG_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/eventloop.h"
#include "virtio/net.h"
#include "virtio/net/slirp.h"

#define GUEST_IP 0x0a00020fu /* 10.0.2.15 */
#define HOST_IP 0x0a000202u  /* 10.0.2.2 */
#define LO_IP 0x7f000001u
#define MAX_FRAMES 256

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct rig {
	struct eventloop loop;
	struct net_be *be;
	/* be's eventfd (readable while frames wait), or the MMDS stack's socket (no be) */
	int dev;
	uint8_t frames[MAX_FRAMES][8192]; /* room for test_large_mtu's frames */
	size_t len[MAX_FRAMES];
	unsigned int nframes;
};

static inline void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static inline uint32_t get16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t get32(const uint8_t *p)
{
	return get16(p) << 16 | get16(p + 2);
}

static inline uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i < n; i += 2)
		sum += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	return sum;
}

static inline uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void rig_open(struct rig *r, const char *spec, unsigned int max_sockets)
{
	struct net_config cfg;
	struct err err;

	memset(r, 0, sizeof(*r));
	if (virtio_net_parse(spec, &cfg, &err))
		fail_msg("'%s': %s", spec, err.msg);
	cfg.max_sockets = max_sockets;
	assert_int_equal(eventloop_init(&r->loop), 0);
	if (net_slirp_open(&cfg, &r->loop, &r->be, &err))
		fail_msg("net_slirp_open: %s", err.msg);
	assert_int_equal(r->loop.npollers, 1);
	r->dev = r->be->fds[0];
}

/* A frame for the guest: its length, or <= 0 when none waits. */
static inline ssize_t rig_recv(struct rig *r, void *buf, size_t len)
{
	if (r->be)
		return r->be->ops->recv(r->be, 0, buf, len);
	return recv(r->dev, buf, len, MSG_DONTWAIT);
}

static inline void rig_close(struct rig *r)
{
	r->be->ops->destroy(r->be);
	eventloop_destroy(&r->loop);
}

/* Runs slirp's rounds for ms, keeping what it sends to the guest. */
static inline void pump(struct rig *r, int ms)
{
	int64_t end = now_ms() + ms;
	struct eventloop_poller *p = &r->loop.pollers[0];

	do {
		unsigned int n;
		int timeout = -1, rc;
		struct pollfd *pfd = p->ops->prepare(p->opaque, &n, &timeout);
		ssize_t len;

		rc = poll(pfd, n, timeout < 0 || timeout > 10 ? 10 : timeout);
		p->ops->dispatch(p->opaque, rc < 0);
		while (r->nframes < MAX_FRAMES &&
		       (len = rig_recv(r, r->frames[r->nframes], sizeof(r->frames[0]))) > 0)
			r->len[r->nframes++] = (size_t)len;
	} while (now_ms() < end);
}

static inline void send_frame(struct rig *r, const uint8_t *f, size_t len)
{
	if (r->be)
		assert_int_equal(r->be->ops->send(r->be, 0, f, len), 0);
	else
		assert_int_equal(send(r->dev, f, len, 0), (ssize_t)len);
}

/* Ethernet + IPv4 header from the guest; returns the frame's length. */
static inline size_t ipv4(uint8_t *f, uint8_t proto, uint32_t dst, size_t l4len)
{
	uint8_t *ip = f + 14;

	memset(f, 0, 34);
	memcpy(f, (uint8_t[]){ 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 }, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, (uint32_t)(20 + l4len));
	ip[6] = 0x40; /* DF */
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, GUEST_IP);
	put32(ip + 16, dst);
	put16(ip + 10, fold(sum16(ip, 20, 0)));
	return 34 + l4len;
}

static inline uint32_t pseudo(const uint8_t *f, size_t l4len)
{
	return sum16(f + 26, 8, f[23] + (uint32_t)l4len);
}

static inline void send_tcp(struct rig *r, uint32_t dst, uint16_t sport, uint16_t dport,
			    uint32_t seq, uint32_t ack, uint8_t flags, const char *data)
{
	uint8_t f[256];
	size_t n = data ? strlen(data) : 0, len = ipv4(f, IPPROTO_TCP, dst, 20 + n);
	uint8_t *t = f + 34;

	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 65535);
	put16(t + 16, 0);
	put16(t + 18, 0);
	memcpy(t + 20, data ? data : "", n);
	put16(t + 16, fold(sum16(t, 20 + n, pseudo(f, 20 + n))));
	send_frame(r, f, len);
}

static inline void send_syn(struct rig *r, uint32_t dst, uint16_t sport, uint16_t dport)
{
	send_tcp(r, dst, sport, dport, 1000, 0, 0x02, NULL);
}

/* With a checksum, which slirp checks: Hearth rewrites some of these. */
static inline void send_udp(struct rig *r, uint32_t dst, uint16_t sport, uint16_t dport,
			    const uint8_t *data, size_t n)
{
	uint8_t f[512];
	size_t len = ipv4(f, IPPROTO_UDP, dst, 8 + n);
	uint16_t sum;

	put16(f + 34, sport);
	put16(f + 36, dport);
	put16(f + 38, (uint32_t)(8 + n));
	put16(f + 40, 0);
	memcpy(f + 42, data, n);
	sum = fold(sum16(f + 34, 8 + n, pseudo(f, 8 + n)));
	put16(f + 40, sum ? sum : 0xffff);
	send_frame(r, f, len);
}

/* A gratuitous ARP, so slirp knows the guest's MAC and sends to it at once. */
static inline void send_arp(struct rig *r)
{
	uint8_t f[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);
	put16(f + 16, 0x0800);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 1);
	memcpy(f + 22, guest_mac, 6);
	put32(f + 28, GUEST_IP);
	put32(f + 38, GUEST_IP);
	send_frame(r, f, sizeof(f));
}

/* A frame slirp sent to the guest: IPv4 proto to dport, or NULL. */
static inline const uint8_t *find_frame(struct rig *r, uint8_t proto, uint16_t dport)
{
	for (unsigned int i = 0; i < r->nframes; i++) {
		const uint8_t *f = r->frames[i];

		if (r->len[i] >= 42 && get16(f + 12) == 0x0800 && f[23] == proto &&
		    get16(f + 14 + (f[14] & 0xf) * 4 + 2) == dport)
			return f;
	}
	return NULL;
}

static inline int listen_on(int type, uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(LO_IP) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Connections the guest opened to a listener so far. */
static inline int accepted(int lfd)
{
	int n = 0, fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		close(fd);
		n++;
	}
	assert_int_equal(errno, EAGAIN);
	return n;
}

static inline int datagrams(int fd)
{
	char buf[64];
	int n = 0;

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		n++;
	return n;
}

/*
 * Positive checks pump until what they wait for has happened, up to
 * WAIT_MS, so a loaded machine cannot fail them; only checks that
 * something does NOT happen use a fixed pump() window.
 */
#define WAIT_MS 10000

struct wait {
	int fd;
	int n;
	uint8_t proto;
	uint16_t port;
	const uint8_t *frame;
};

static inline bool pump_until(struct rig *r, bool (*ready)(struct rig *, struct wait *),
			      struct wait *w)
{
	int64_t end = now_ms() + WAIT_MS;

	do {
		pump(r, 10);
		if (ready(r, w))
			return true;
	} while (now_ms() < end);
	return false;
}

static inline bool ready_frame(struct rig *r, struct wait *w)
{
	w->frame = find_frame(r, w->proto, w->port);
	return w->frame != NULL;
}

/* A TCP segment to w->port that carries data (not a bare ACK). */
static inline bool ready_tcp_data(struct rig *r, struct wait *w)
{
	for (unsigned int i = 0; i < r->nframes; i++) {
		const uint8_t *f = r->frames[i];
		size_t ihl = (f[14] & 0xfu) * 4;

		if (r->len[i] >= 14 + ihl + 20 && get16(f + 12) == 0x0800 && f[23] == IPPROTO_TCP &&
		    get16(f + 14 + ihl + 2) == w->port &&
		    get16(f + 16) > ihl + (size_t)(f[14 + ihl + 12] >> 4) * 4) {
			w->frame = f;
			return true;
		}
	}
	return false;
}

static inline bool ready_accepted(struct rig *r, struct wait *w)
{
	(void)r;
	w->n += accepted(w->fd);
	return w->n >= w->port;
}

static inline bool ready_datagrams(struct rig *r, struct wait *w)
{
	(void)r;
	w->n += datagrams(w->fd);
	return w->n >= w->port;
}

static inline bool ready_fd(struct rig *r, struct wait *w)
{
	struct pollfd p = { .fd = w->fd, .events = (short)w->n };

	(void)r;
	return poll(&p, 1, 0) == 1 && (p.revents & w->n);
}

static inline const uint8_t *wait_frame(struct rig *r, uint8_t proto, uint16_t port)
{
	struct wait w = { .proto = proto, .port = port };

	pump_until(r, proto == IPPROTO_TCP ? ready_tcp_data : ready_frame, &w);
	return w.frame;
}

static inline const uint8_t *wait_syn(struct rig *r, uint16_t port)
{
	struct wait w = { .proto = IPPROTO_TCP, .port = port };

	pump_until(r, ready_frame, &w);
	return w.frame;
}

/* Connections accepted on (or datagrams read from) fd once want arrived, or at WAIT_MS. */
static inline int wait_count(struct rig *r, int fd, int want, bool tcp)
{
	struct wait w = { .fd = fd, .port = (uint16_t)want };

	pump_until(r, tcp ? ready_accepted : ready_datagrams, &w);
	return w.n;
}

static inline bool wait_fd(struct rig *r, int fd, short events)
{
	struct wait w = { .fd = fd, .n = events };

	return pump_until(r, ready_fd, &w);
}

/* Heap bytes in use, arenas and mmapped blocks: what slirp's mbufs and buffers cost. */
static inline size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* One round of every poller on the loop, what they send the guest read and thrown away. */
static inline void pump_drain(struct rig *r)
{
	uint8_t buf[2048];

	for (unsigned int i = 0; i < r->loop.npollers; i++) {
		struct eventloop_poller *p = &r->loop.pollers[i];
		unsigned int n;
		int timeout = 0;
		struct pollfd *pfd = p->ops->prepare(p->opaque, &n, &timeout);

		poll(pfd, n, 0);
		p->ops->dispatch(p->opaque, false);
	}
	while (rig_recv(r, buf, sizeof(buf)) > 0)
		;
}

/*
 * The out-of-order flood: on each of n connections (sport0 + i, ACKed
 * at ack[i]), nseg 1-byte segments after a 1-byte hole at seq0, sent a
 * few at a time between rounds of the stack.
 */
static inline void flood_out_of_order(struct rig *r, uint32_t dst, uint16_t sport0,
				      uint16_t dport, unsigned int n, uint32_t seq0,
				      const uint32_t *ack, unsigned int nseg)
{
	for (unsigned int k = 0; k < nseg; k++) {
		for (unsigned int i = 0; i < n; i++)
			send_tcp(r, dst, (uint16_t)(sport0 + i), dport, seq0 + 1 + k, ack[i], 0x10,
				 "x");
		pump_drain(r);
	}
}

#endif
