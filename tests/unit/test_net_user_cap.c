/*
 * The user-mode (libslirp) backend's socket cap (max_sockets): what
 * counts, what is dropped at the cap, and what frees a place.
 */
#include "slirp_rig.h"

#include "virtio/net/slirp_guard.h"

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

/*
 * F1 of the third audit, on --net user: out-of-order 1-byte segments on
 * 32 connections to a host peer. The in-order gate keeps slirp's
 * reassembly queues to its budget (at most 1024 segments in all), and
 * the connections still carry data in order afterwards.
 */
static void test_out_of_order_flood(void **state)
{
	struct rig *r = malloc(sizeof(*r));
	uint16_t tport;
	int tl = listen_on(SOCK_STREAM, &tport), peer[32];
	uint32_t ack[32];
	size_t before, after;
	char buf[16];

	(void)state;
	rig_open(r, "user,host-loopback=on", 0);
	send_arp(r);
	for (unsigned int i = 0; i < 32; i++) {
		struct wait w = { .proto = IPPROTO_TCP, .port = (uint16_t)(44000 + i) };

		r->nframes = 0;
		send_syn(r, HOST_IP, (uint16_t)(44000 + i), tport);
		assert_true(pump_until(r, ready_frame, &w));
		ack[i] = get32(w.frame + 38) + 1;
		send_tcp(r, HOST_IP, (uint16_t)(44000 + i), tport, 1001, ack[i], 0x10, NULL);
	}
	pump(r, 50);
	for (unsigned int i = 0; i < 32; i++) {
		peer[i] = accept4(tl, NULL, NULL, SOCK_CLOEXEC);
		assert_true(peer[i] >= 0);
	}
	malloc_trim(0);
	before = heap_in_use();
	flood_out_of_order(r, HOST_IP, 44000, tport, 32, 1001, ack, 2000);
	after = heap_in_use();
	print_message("net-user flood: 32 x 2000 segments, heap %zu -> %zu bytes\n", before, after);
	/* 1024 held segments of an mbuf each at most, and slack. */
	assert_true(after < before + 1024 * 4096 + (256 << 10));
	/* In order, data still goes through: the hole filled, the peer reads it. */
	r->nframes = 0;
	send_tcp(r, HOST_IP, 44000, tport, 1001, ack[0], 0x18, "hello");
	assert_true(wait_fd(r, peer[0], POLLIN));
	assert_true(recv(peer[0], buf, sizeof(buf), 0) >= 5);
	assert_int_equal(memcmp(buf, "hello", 5), 0);
	for (unsigned int i = 0; i < 32; i++)
		close(peer[i]);
	close(tl);
	rig_close(r);
	free(r);
}

/* IP fragments reach slirp's reassembly at most NET_SLIRP_FRAGS_PER_S a second. */
static void test_fragment_rate(void **state)
{
	struct net_slirp_guard g;
	struct net_config cfg;
	struct err err;
	uint8_t f[128];
	size_t len;
	unsigned int passed = 0;
	int64_t start;

	(void)state;
	assert_int_equal(virtio_net_parse("user", &cfg, &err), 0);
	net_slirp_guard_init(&g, &cfg, htonl(HOST_IP), htonl(GUEST_IP), htonl(0x0a000203u));
	/* Within one second (tried again if the clock turned mid-way). */
	do {
		start = now_ms() / 1000;
		g.frag_second = 0;
		passed = 0;
		for (unsigned int i = 0; i < 3 * NET_SLIRP_FRAGS_PER_S; i++) {
			len = ipv4(f, IPPROTO_UDP, 0x08080808u, 64);
			put16(f + 18, i); /* a new datagram each */
			f[20] = 0x20;     /* MF */
			passed += net_slirp_guard_input(&g, f, len);
		}
	} while (now_ms() / 1000 != start);
	assert_int_equal(passed, NET_SLIRP_FRAGS_PER_S);
	/* Whole datagrams are not counted. */
	len = ipv4(f, IPPROTO_UDP, 0x08080808u, 64);
	assert_true(net_slirp_guard_input(&g, f, len));
	net_slirp_guard_fini(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socket_cap),
		cmocka_unit_test(test_out_of_order_flood),
		cmocka_unit_test(test_fragment_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
