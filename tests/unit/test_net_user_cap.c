/*
 * The user-mode (libslirp) backend's socket cap (max_sockets): what
 * counts, what is dropped at the cap, and what frees a place.
 */
#include "slirp_rig.h"

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
		cmocka_unit_test(test_socket_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
