/*
 * The user-mode (libslirp) backend driven from the guest's side of its
 * socketpair: hand-made Ethernet/IPv4 frames in, slirp's frames out, and
 * host sockets on 127.0.0.1 to see what the guest reaches. slirp runs as
 * the loop's poller; the test turns that poller's rounds itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include "virtio/net_slirp.h"

#define GUEST_IP 0x0a00020fu /* 10.0.2.15 */
#define HOST_IP 0x0a000202u  /* 10.0.2.2 */
#define LO_IP 0x7f000001u
#define MAX_FRAMES 256

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct rig {
	struct eventloop loop;
	struct net_be *be;
	int dev; /* the device's end: the guest's wire */
	uint8_t frames[MAX_FRAMES][2048];
	size_t len[MAX_FRAMES];
	unsigned int nframes;
};

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

static uint32_t get16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) << 16 | get16(p + 2);
}

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i < n; i += 2)
		sum += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rig_open(struct rig *r, const char *spec, unsigned int max_sockets)
{
	struct net_config cfg;
	char err[160];

	memset(r, 0, sizeof(*r));
	if (virtio_net_parse(spec, &cfg, err, sizeof(err)))
		fail_msg("'%s': %s", spec, err);
	cfg.max_sockets = max_sockets;
	assert_int_equal(eventloop_init(&r->loop), 0);
	if (net_slirp_open(&cfg, &r->loop, &r->be, err, sizeof(err)))
		fail_msg("net_slirp_open: %s", err);
	assert_int_equal(r->loop.npollers, 1);
	r->dev = r->be->fds[0];
}

static void rig_close(struct rig *r)
{
	r->be->ops->destroy(r->be);
	eventloop_destroy(&r->loop);
}

/* Runs slirp's rounds for ms, keeping what it sends to the guest. */
static void pump(struct rig *r, int ms)
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
		       (len = recv(r->dev, r->frames[r->nframes], sizeof(r->frames[0]),
				   MSG_DONTWAIT)) > 0)
			r->len[r->nframes++] = (size_t)len;
	} while (now_ms() < end);
}

static void send_frame(struct rig *r, const uint8_t *f, size_t len)
{
	assert_int_equal(send(r->dev, f, len, 0), (ssize_t)len);
}

/* Ethernet + IPv4 header from the guest; returns the frame's length. */
static size_t ipv4(uint8_t *f, uint8_t proto, uint32_t dst, size_t l4len)
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

static uint32_t pseudo(const uint8_t *f, size_t l4len)
{
	return sum16(f + 26, 8, f[23] + (uint32_t)l4len);
}

static void send_tcp(struct rig *r, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq,
		     uint32_t ack, uint8_t flags, const char *data)
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

static void send_syn(struct rig *r, uint32_t dst, uint16_t sport, uint16_t dport)
{
	send_tcp(r, dst, sport, dport, 1000, 0, 0x02, NULL);
}

/* With a checksum, which slirp checks: Hearth rewrites some of these. */
static void send_udp(struct rig *r, uint32_t dst, uint16_t sport, uint16_t dport,
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
static void send_arp(struct rig *r)
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
static const uint8_t *find_frame(struct rig *r, uint8_t proto, uint16_t dport)
{
	for (unsigned int i = 0; i < r->nframes; i++) {
		const uint8_t *f = r->frames[i];

		if (r->len[i] >= 42 && get16(f + 12) == 0x0800 && f[23] == proto &&
		    get16(f + 14 + (f[14] & 0xf) * 4 + 2) == dport)
			return f;
	}
	return NULL;
}

static int listen_on(int type, uint16_t *port)
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
static int accepted(int lfd)
{
	int n = 0, fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		close(fd);
		n++;
	}
	assert_int_equal(errno, EAGAIN);
	return n;
}

static int datagrams(int fd)
{
	char buf[64];
	int n = 0;

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		n++;
	return n;
}

static void expect_parse_error(const char *spec, const char *needle)
{
	struct net_config cfg;
	char err[160] = "";

	assert_int_equal(virtio_net_parse(spec, &cfg, err, sizeof(err)), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("'%s': error '%s' lacks '%s'", spec, err, needle);
	assert_null(strchr(err, '\n'));
}

static void test_parse_host_loopback(void **state)
{
	struct net_config cfg;
	char err[160];

	(void)state;
	assert_int_equal(virtio_net_parse("user", &cfg, err, sizeof(err)), 0);
	assert_false(cfg.host_loopback);
	assert_int_equal(cfg.max_sockets, 0);
	assert_int_equal(virtio_net_parse("user,host-loopback=on", &cfg, err, sizeof(err)), 0);
	assert_true(cfg.host_loopback);
	assert_int_equal(virtio_net_parse("user,host-loopback=off", &cfg, err, sizeof(err)), 0);
	assert_false(cfg.host_loopback);
	assert_int_equal(virtio_net_parse("user,hostfwd=tcp:2222-:22,host-loopback=on,"
					  "mac=02:00:00:00:00:01", &cfg, err, sizeof(err)), 0);
	assert_true(cfg.host_loopback);
	assert_int_equal(cfg.nfwd, 1);
	assert_true(cfg.mac_set);
	/* The last one given wins, as for any repeated option. */
	assert_int_equal(virtio_net_parse("user,host-loopback=on,host-loopback=off", &cfg, err,
					  sizeof(err)), 0);
	assert_false(cfg.host_loopback);

	expect_parse_error("user,host-loopback=yes", "host-loopback='yes'");
	expect_parse_error("user,host-loopback=yes", "want on or off");
	expect_parse_error("user,host-loopback=", "host-loopback=''");
	expect_parse_error("user,host-loopback=ON", "'ON'");
	expect_parse_error("user,host-loopback=on,", "unknown option");
	expect_parse_error("user,host-loopback", "unknown option 'host-loopback'");
	expect_parse_error("tap=tap0,host-loopback=on", "unknown option");
}

/* An ICMP destination unreachable slirp sent the guest. */
static bool got_unreachable(struct rig *r)
{
	for (unsigned int i = 0; i < r->nframes; i++)
		if (r->len[i] >= 35 && get16(r->frames[i] + 12) == 0x0800 &&
		    r->frames[i][23] == IPPROTO_ICMP && r->frames[i][34] == 3)
			return true;
	return false;
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

static bool pump_until(struct rig *r, bool (*ready)(struct rig *, struct wait *), struct wait *w)
{
	int64_t end = now_ms() + WAIT_MS;

	do {
		pump(r, 10);
		if (ready(r, w))
			return true;
	} while (now_ms() < end);
	return false;
}

static bool ready_unreachable(struct rig *r, struct wait *w)
{
	(void)w;
	return got_unreachable(r);
}

static bool ready_frame(struct rig *r, struct wait *w)
{
	w->frame = find_frame(r, w->proto, w->port);
	return w->frame != NULL;
}

/* A TCP segment to w->port that carries data (not a bare ACK). */
static bool ready_tcp_data(struct rig *r, struct wait *w)
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

static bool ready_accepted(struct rig *r, struct wait *w)
{
	(void)r;
	w->n += accepted(w->fd);
	return w->n >= w->port;
}

static bool ready_datagrams(struct rig *r, struct wait *w)
{
	(void)r;
	w->n += datagrams(w->fd);
	return w->n >= w->port;
}

static bool ready_fd(struct rig *r, struct wait *w)
{
	struct pollfd p = { .fd = w->fd, .events = (short)w->n };

	(void)r;
	return poll(&p, 1, 0) == 1 && (p.revents & w->n);
}

static const uint8_t *wait_frame(struct rig *r, uint8_t proto, uint16_t port)
{
	struct wait w = { .proto = proto, .port = port };

	pump_until(r, proto == IPPROTO_TCP ? ready_tcp_data : ready_frame, &w);
	return w.frame;
}

static const uint8_t *wait_syn(struct rig *r, uint16_t port)
{
	struct wait w = { .proto = IPPROTO_TCP, .port = port };

	pump_until(r, ready_frame, &w);
	return w.frame;
}

/* Connections accepted on (or datagrams read from) fd once want arrived, or at WAIT_MS. */
static int wait_count(struct rig *r, int fd, int want, bool tcp)
{
	struct wait w = { .fd = fd, .port = (uint16_t)want };

	pump_until(r, tcp ? ready_accepted : ready_datagrams, &w);
	return w.n;
}

static bool wait_fd(struct rig *r, int fd, short events)
{
	struct wait w = { .fd = fd, .n = events };

	return pump_until(r, ready_fd, &w);
}

/*
 * The default: nothing on the host's 127.0.0.1 answers the guest, by any
 * address. 10.0.2.2 is slirp's own disable_host_loopback; 127.0.0.1 and
 * 0.0.0.0 written as the destination would pass slirp untouched (libslirp
 * 4.7 connects to them), so Hearth drops those frames itself.
 */
static void test_loopback_off_by_default(void **state)
{
	static const uint32_t dsts[] = { HOST_IP, LO_IP, 0 };
	struct rig *r = malloc(sizeof(*r));
	uint16_t tport, uport;
	int tl = listen_on(SOCK_STREAM, &tport), ul = listen_on(SOCK_DGRAM, &uport);

	(void)state;
	rig_open(r, "user", 0);
	send_arp(r);
	for (unsigned int i = 0; i < 3; i++) {
		send_syn(r, dsts[i], (uint16_t)(40000 + i), tport);
		send_udp(r, dsts[i], (uint16_t)(50000 + i), uport, (const uint8_t *)"x", 1);
		pump(r, 150);
		if (accepted(tl) || datagrams(ul))
			fail_msg("the guest reached 127.0.0.1 through %08x", dsts[i]);
		/* Refused, not silently: the guest hears at once that 10.0.2.2 is closed. */
		if (!i)
			assert_true(pump_until(r, ready_unreachable, NULL));
	}
	rig_close(r);
	close(tl);
	close(ul);
	free(r);
}

static void test_loopback_on(void **state)
{
	struct rig *r = malloc(sizeof(*r));
	uint16_t tport, uport;
	int tl = listen_on(SOCK_STREAM, &tport), ul = listen_on(SOCK_DGRAM, &uport);

	(void)state;
	rig_open(r, "user,host-loopback=on", 0);
	send_arp(r);
	send_syn(r, HOST_IP, 40000, tport);
	send_udp(r, HOST_IP, 50000, uport, (const uint8_t *)"x", 1);
	assert_int_equal(wait_count(r, tl, 1, true), 1);
	assert_int_equal(wait_count(r, ul, 1, false), 1);
	rig_close(r);
	close(tl);
	close(ul);
	free(r);
}

static uint16_t free_port(int type)
{
	uint16_t port;

	close(listen_on(type, &port));
	return port;
}

/* hostfwd binds on the host and connects into the guest: loopback off does not touch it. */
static void test_hostfwd_with_loopback_off(void **state)
{
	struct rig *r = malloc(sizeof(*r));
	uint16_t tp = free_port(SOCK_STREAM), up = free_port(SOCK_DGRAM);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(LO_IP) };
	char spec[96], buf[16];
	const uint8_t *syn, *data;
	uint32_t seq;
	uint16_t sport, oport;
	int c, u, other;

	(void)state;
	snprintf(spec, sizeof(spec), "user,hostfwd=tcp:%u-:80,hostfwd=udp:%u-:53", tp, up);
	rig_open(r, spec, 0);
	send_arp(r);
	pump(r, 20);

	/* TCP: the host connects, the guest answers, data flows both ways. */
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sa.sin_port = htons(tp);
	assert_true(connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	syn = wait_syn(r, 80);
	assert_non_null(syn);
	assert_int_equal(syn[47] & 0x12, 0x02);
	assert_int_equal(get32(syn + 26), HOST_IP); /* from the gateway, not 127.0.0.1 */
	sport = (uint16_t)get16(syn + 34);
	seq = get32(syn + 38);
	send_tcp(r, HOST_IP, 80, sport, 5000, seq + 1, 0x12, NULL);
	assert_true(wait_fd(r, c, POLLOUT)); /* connected through slirp */
	assert_int_equal(send(c, "ping", 4, 0), 4);
	r->nframes = 0;
	data = wait_frame(r, IPPROTO_TCP, 80);
	assert_non_null(data);
	assert_memory_equal(data + 54, "ping", 4);
	send_tcp(r, HOST_IP, 80, sport, 5001, seq + 5, 0x18, "pong");
	assert_true(wait_fd(r, c, POLLIN));
	assert_int_equal(recv(c, buf, sizeof(buf), MSG_DONTWAIT), 4);
	assert_memory_equal(buf, "pong", 4);
	close(c);

	/* UDP: the host's datagram reaches the guest's port 53. */
	u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sa.sin_port = htons(up);
	r->nframes = 0;
	assert_int_equal(sendto(u, "q", 1, 0, (struct sockaddr *)&sa, sizeof(sa)), 1);
	data = wait_frame(r, IPPROTO_UDP, 53);
	assert_non_null(data);
	assert_int_equal(data[42], 'q');
	assert_int_equal(get32(data + 26), HOST_IP);
	/* The guest's answer goes back to the host's socket. */
	send_udp(r, HOST_IP, 53, (uint16_t)get16(data + 34), (const uint8_t *)"a", 1);
	assert_true(wait_fd(r, u, POLLIN));
	assert_int_equal(recv(u, buf, sizeof(buf), MSG_DONTWAIT), 1);
	assert_int_equal(buf[0], 'a');
	/* Only to that peer: from the forward's port to another 10.0.2.2 port is refused. */
	other = listen_on(SOCK_DGRAM, &oport);
	send_udp(r, HOST_IP, 53, oport, (const uint8_t *)"a", 1);
	pump(r, 200);
	assert_int_equal(datagrams(other), 0);
	close(other);
	close(u);
	rig_close(r);
	free(r);
}

/* A DHCPDISCOVER: slirp answers it itself, whatever the socket count. */
static void send_dhcp_discover(struct rig *r)
{
	uint8_t b[300] = { 1, 1, 6, 0, 0x12, 0x34, 0x56, 0x78 };
	uint8_t f[512];
	size_t len = ipv4(f, IPPROTO_UDP, 0xffffffffu, 8 + sizeof(b));

	memcpy(b + 28, guest_mac, 6);
	memcpy(b + 236, (uint8_t[]){ 99, 130, 83, 99, 53, 1, 1, 255 }, 8);
	put16(f + 34, 68);
	put16(f + 36, 67);
	put16(f + 38, (uint32_t)(8 + sizeof(b)));
	put16(f + 40, 0);
	memcpy(f + 42, b, sizeof(b));
	send_frame(r, f, len);
}

/*
 * The cap: TCP connections and UDP flows both count; at the cap new ones
 * are dropped, DHCP goes on, and a closed connection frees a place.
 */
static void test_socket_cap(void **state)
{
	struct rig *r = malloc(sizeof(*r));
	uint16_t tport, uport;
	int tl = listen_on(SOCK_STREAM, &tport), ul = listen_on(SOCK_DGRAM, &uport);

	(void)state;
	rig_open(r, "user,host-loopback=on", 3);
	send_arp(r);
	for (uint16_t i = 0; i < 5; i++)
		send_syn(r, HOST_IP, (uint16_t)(40000 + i), tport);
	send_udp(r, HOST_IP, 50000, uport, (const uint8_t *)"x", 1);
	assert_int_equal(wait_count(r, tl, 3, true), 3);
	/* And no more: the other two SYNs and the datagram were dropped at the cap. */
	pump(r, 200);
	assert_int_equal(accepted(tl), 0);
	assert_int_equal(datagrams(ul), 0);

	/* The guest resets one connection: slirp closes its socket, a place is free. */
	send_tcp(r, HOST_IP, 40000, tport, 1001, 0, 0x04, NULL);
	pump(r, 100);
	send_udp(r, HOST_IP, 50000, uport, (const uint8_t *)"x", 1);
	assert_int_equal(wait_count(r, ul, 1, false), 1);
	/* The UDP flow took it: the next SYN is dropped; DHCP is still answered. */
	send_syn(r, HOST_IP, 40010, tport);
	pump(r, 200);
	assert_int_equal(accepted(tl), 0);
	r->nframes = 0;
	send_dhcp_discover(r);
	assert_non_null(wait_frame(r, IPPROTO_UDP, 68));
	rig_close(r);
	close(tl);
	close(ul);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_host_loopback),
		cmocka_unit_test(test_loopback_off_by_default),
		cmocka_unit_test(test_loopback_on),
		cmocka_unit_test(test_hostfwd_with_loopback_off),
		cmocka_unit_test(test_socket_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
