/*
 * The user-mode (libslirp) backend and the host's loopback: the
 * host-loopback option, what the guest can reach on 127.0.0.1 with it off
 * and on, and hostfwd, which loopback off leaves alone.
 */
#include <errno.h>
#include <stdio.h>

#include "slirp_rig.h"

static void expect_parse_error(const char *spec, const char *needle)
{
	struct net_config cfg;
	struct err err;

	assert_int_equal(virtio_net_parse(spec, &cfg, &err), -EINVAL);
	if (!strstr(err.msg, needle))
		fail_msg("'%s': error '%s' lacks '%s'", spec, err.msg, needle);
	assert_null(strchr(err.msg, '\n'));
}

static void test_parse_host_loopback(void **state)
{
	struct net_config cfg;
	struct err err;

	(void)state;
	assert_int_equal(virtio_net_parse("user", &cfg, &err), 0);
	assert_false(cfg.host_loopback);
	assert_int_equal(cfg.max_sockets, 0);
	assert_int_equal(virtio_net_parse("user,host-loopback=on", &cfg, &err), 0);
	assert_true(cfg.host_loopback);
	assert_int_equal(virtio_net_parse("user,host-loopback=off", &cfg, &err), 0);
	assert_false(cfg.host_loopback);
	assert_int_equal(virtio_net_parse("user,hostfwd=tcp:2222-:22,host-loopback=on,"
					  "mac=02:00:00:00:00:01", &cfg, &err), 0);
	assert_true(cfg.host_loopback);
	assert_int_equal(cfg.nfwd, 1);
	assert_true(cfg.mac_set);
	/* The last one given wins, as for any repeated option. */
	assert_int_equal(virtio_net_parse("user,host-loopback=on,host-loopback=off", &cfg, &err), 0);
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

static bool ready_unreachable(struct rig *r, struct wait *w)
{
	(void)w;
	return got_unreachable(r);
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

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* One round of slirp's poller, leaving what it sends the guest queued. */
static int round_no_drain(struct rig *r, int cap_ms)
{
	struct eventloop_poller *p = &r->loop.pollers[0];
	unsigned int n;
	int timeout = -1;
	struct pollfd *pfd = p->ops->prepare(p->opaque, &n, &timeout);

	poll(pfd, n, timeout < 0 || timeout > cap_ms ? cap_ms : timeout);
	p->ops->dispatch(p->opaque, false);
	return timeout;
}

/*
 * The device's side of the backend: its eventfd is readable exactly
 * while frames wait for it, and a frame the device gave slirp keeps
 * the loop's next round from sleeping.
 */
static void test_device_side(void **state)
{
	struct rig *r = malloc(sizeof(*r));
	uint16_t up = free_port(SOCK_DGRAM);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(LO_IP),
				  .sin_port = htons(up) };
	uint8_t buf[2048];
	char spec[64], got[4] = { 0 };
	unsigned int n = 0;
	int64_t end;
	ssize_t len;
	int u;

	(void)state;
	snprintf(spec, sizeof(spec), "user,hostfwd=udp:%u-:53", up);
	rig_open(r, spec, 0);
	send_arp(r);
	pump(r, 20);
	assert_false(readable(r->dev));

	u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	for (const char *d = "abc"; *d; d++)
		assert_int_equal(sendto(u, d, 1, 0, (struct sockaddr *)&sa, sizeof(sa)), 1);
	for (end = now_ms() + 2000; !readable(r->dev) && now_ms() < end;)
		round_no_drain(r, 10);
	assert_true(readable(r->dev));
	for (end = now_ms() + 100; now_ms() < end;)
		round_no_drain(r, 10);
	while ((len = r->be->ops->recv(r->be, 0, buf, sizeof(buf))) > 0) {
		/* Still readable while any frame waits, the last one included. */
		if (n < 3 && len >= 43 && get16(buf + 36) == 53)
			got[n++] = (char)buf[42];
	}
	assert_int_equal(len, -EAGAIN);
	assert_string_equal(got, "abc");
	assert_false(readable(r->dev));

	/* The guest's answer, handed over by the device: the next round must not sleep. */
	send_udp(r, HOST_IP, 53, (uint16_t)get16(buf + 34), (const uint8_t *)"z", 1);
	assert_int_equal(round_no_drain(r, 1000), 0);
	for (end = now_ms() + 2000; !readable(u) && now_ms() < end;)
		round_no_drain(r, 10);
	assert_int_equal(recv(u, buf, sizeof(buf), MSG_DONTWAIT), 1);
	assert_int_equal(buf[0], 'z');
	close(u);
	rig_close(r);
	free(r);
}

/*
 * The MTU slirp and the guest share is 65520 (the wire is this process):
 * offered to the guest, a 6000-byte datagram crosses whole both ways,
 * neither fragmented nor dropped as too large.
 */
static void test_large_mtu(void **state)
{
	struct rig *r = malloc(sizeof(*r));
	uint16_t up = free_port(SOCK_DGRAM), gport;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(LO_IP),
				  .sin_port = htons(up) };
	static uint8_t big[6000], f[6100], got[8192];
	const uint8_t *d;
	char spec[64];
	size_t len;
	int u;

	(void)state;
	memset(big, 0x6b, sizeof(big));
	snprintf(spec, sizeof(spec), "user,hostfwd=udp:%u-:53", up);
	rig_open(r, spec, 0);
	assert_int_equal(r->be->mtu, 65520);
	send_arp(r);
	pump(r, 20);
	u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_int_equal(sendto(u, big, sizeof(big), 0, (struct sockaddr *)&sa, sizeof(sa)),
			 (ssize_t)sizeof(big));
	r->nframes = 0;
	d = wait_frame(r, IPPROTO_UDP, 53);
	assert_non_null(d);
	/* One frame, not fragments: the whole datagram, no more-fragments flag. */
	assert_int_equal(get16(d + 16), 20 + 8 + sizeof(big));
	assert_int_equal(get16(d + 20) & 0x3fff, 0);
	gport = (uint16_t)get16(d + 34);

	/* The guest's answer, as large, reaches the host's socket whole. */
	len = ipv4(f, IPPROTO_UDP, HOST_IP, 8 + sizeof(big));
	put16(f + 34, 53);
	put16(f + 36, gport);
	put16(f + 38, (uint32_t)(8 + sizeof(big)));
	put16(f + 40, 0); /* no checksum, which IPv4 UDP allows */
	memcpy(f + 42, big, sizeof(big));
	send_frame(r, f, len);
	assert_true(wait_fd(r, u, POLLIN));
	assert_int_equal(recv(u, got, sizeof(got), MSG_DONTWAIT), (ssize_t)sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	close(u);
	rig_close(r);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_host_loopback),
		cmocka_unit_test(test_loopback_off_by_default),
		cmocka_unit_test(test_loopback_on),
		cmocka_unit_test(test_hostfwd_with_loopback_off),
		cmocka_unit_test(test_device_side),
		cmocka_unit_test(test_large_mtu),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
