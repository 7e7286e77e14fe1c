/*
 * Hybrid vsock against a hostile or careless guest and host: credit in
 * both directions, malformed packets, the host's connection cap, per-kick
 * budgets, resets and teardown with connections open (run under ASan).
 */
#include "vsock_uds_rig.h"

static void test_credit_to_guest(void **state)
{
	struct drv *d = *state;
	static char blob[20000], got[RXBUF_LEN];
	uint32_t lp, rx = 0, fwd = 0;
	struct vsock_hdr h;
	int fd;

	rx_fill(d, 32);
	fd = established(d, 5000, 3000, &lp);
	memset(blob, 'x', sizeof(blob));
	assert_int_equal(send(fd, blob, sizeof(blob), 0), (ssize_t)sizeof(blob));
	settle(d);
	/*
	 * The guest never gets more than buf_alloc - (rx_cnt - fwd_cnt): here
	 * 3000 bytes, then a CREDIT_REQUEST, then silence however much waits.
	 */
	for (int round = 0; round < 4; round++) {
		while (rx_get(d, &h, got, sizeof(got))) {
			if (h.op == VSOCK_OP_CREDIT_REQUEST)
				break;
			assert_int_equal(h.op, VSOCK_OP_RW);
			rx += h.len;
			assert_true(rx - fwd <= 3000);
		}
		assert_int_equal(h.op, VSOCK_OP_CREDIT_REQUEST);
		assert_int_equal(rx - fwd, 3000);
		assert_false(rx_get(d, &h, NULL, 0));
		/* The guest's application read 3000 bytes: more may come. */
		fwd += 3000;
		h = hdr(5000, lp, VSOCK_OP_CREDIT_UPDATE);
		h.buf_alloc = 3000;
		h.fwd_cnt = fwd;
		tx_send(d, &h, NULL, 0);
	}
	/* The last update let 3000 more through. */
	while (rx_get(d, &h, got, sizeof(got)) && h.op == VSOCK_OP_RW)
		rx += h.len;
	assert_int_equal(h.op, VSOCK_OP_CREDIT_REQUEST);
	assert_int_equal(rx, 15000);
	assert_int_equal(counter(d, "rx_bytes"), 15000);
	/* A guest claiming to have read more than it got earns nothing extra. */
	h = hdr(5000, lp, VSOCK_OP_CREDIT_UPDATE);
	h.buf_alloc = 3000;
	h.fwd_cnt = fwd + 100000;
	tx_send(d, &h, NULL, 0);
	assert_false(rx_get(d, &h, NULL, 0));
	close(fd);
}

static void test_credit_from_guest(void **state)
{
	struct drv *d = *state;
	static char sink[VU_CONN_BUF];
	struct vsock_hdr h;
	uint32_t lp;
	int fd;

	rx_fill(d, 32);
	fd = established(d, 5000, 65536, &lp);
	fill_until_buffered(d, 5000, lp);
	/* One byte past the credit: the connection is reset, not buffered. */
	h = hdr(5000, lp, VSOCK_OP_RW);
	h.len = 1;
	tx_send(d, &h, "x", 1);
	rx_expect(d, VSOCK_OP_RST, NULL, 0);
	assert_int_equal(counter(d, "bad_packets"), 1);
	while (host_recv(fd, sink, sizeof(sink)) > 0)
		;
	close(fd);
}

static void test_credit_update_when_drained(void **state)
{
	struct drv *d = *state;
	static char sink[VU_CONN_BUF];
	uint32_t lp, sent, got = 0;
	struct vsock_hdr h;
	bool update = false;
	int fd;
	ssize_t n;

	rx_fill(d, 32);
	fd = established(d, 5000, 65536, &lp);
	sent = fill_until_buffered(d, 5000, lp);
	/* The client reads everything: the guest is told it may go on. */
	for (int i = 0; i < 10000 && got < sent; i++) {
		n = host_recv(fd, sink, sizeof(sink));
		got += n > 0 ? (uint32_t)n : 0;
		settle(d);
	}
	assert_int_equal(got, sent);
	while (rx_get(d, &h, NULL, 0)) {
		assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
		update = true;
	}
	assert_true(update);
	/* The last one says all was taken, so the guest has its whole credit back. */
	assert_true(sent - h.fwd_cnt < VU_CONN_BUF / 2);
	close(fd);
}

static void test_hostile_packets(void **state)
{
	struct drv *d = *state;
	struct vsock_hdr h;
	uint32_t lp;
	char buf[64];
	int fd;

	rx_fill(d, 32);
	/* Wrong source CID: dropped without an answer. */
	h = hdr(1, 6000, VSOCK_OP_REQUEST);
	h.src_cid = 7;
	tx_send(d, &h, NULL, 0);
	assert_false(rx_get(d, &h, NULL, 0));
	/* Another destination, another type, an RW for no connection: RST. */
	h = hdr(1, 6000, VSOCK_OP_REQUEST);
	h.dst_cid = 5;
	tx_send(d, &h, NULL, 0);
	h = rx_expect(d, VSOCK_OP_RST, NULL, 0);
	assert_int_equal(h.src_cid, 5);
	h = hdr(1, 6000, VSOCK_OP_REQUEST);
	h.type = 2;
	tx_send(d, &h, NULL, 0);
	rx_expect(d, VSOCK_OP_RST, NULL, 0);
	tx_op(d, 1, 6000, VSOCK_OP_RW);
	rx_expect(d, VSOCK_OP_RST, NULL, 0);
	/* An RST for nothing is not answered. */
	tx_op(d, 1, 6000, VSOCK_OP_RST);
	assert_false(rx_get(d, &h, NULL, 0));
	assert_int_equal(counter(d, "bad_packets"), 3);
	/* On a live connection: an RW longer than its data resets it. */
	fd = established(d, 5000, 65536, &lp);
	h = hdr(5000, lp, VSOCK_OP_RW);
	h.len = 100;
	tx_send(d, &h, "short", 5);
	rx_expect(d, VSOCK_OP_RST, NULL, 0);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), 0);
	close(fd);
	/* So does an op that does not exist, and a second REQUEST. */
	fd = established(d, 5001, 65536, &lp);
	tx_op(d, 5001, lp, 99);
	rx_expect(d, VSOCK_OP_RST, NULL, 0);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), 0);
	close(fd);
	fd = established(d, 5002, 65536, &lp);
	tx_op(d, 5002, lp, VSOCK_OP_REQUEST);
	rx_expect(d, VSOCK_OP_RST, NULL, 0);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), 0);
	close(fd);
	assert_false(needs_reset(d));
}

static void test_short_header(void **state)
{
	struct drv *d = *state;
	struct vsock_hdr h = hdr(1, 6000, VSOCK_OP_REQUEST);

	/* A chain that cannot hold a header is a broken driver (5.10.6.2). */
	tx_queue(d, &h, VSOCK_HDR_LEN - 1, NULL, 0);
	kick(d, VU_TXQ);
	assert_true(needs_reset(d));
}

static void test_rx_buffer_readable(void **state)
{
	struct drv *d = *state;

	/* A receive buffer the device may not write is a broken driver too. */
	put_desc(d, VU_RXQ, 0, RXBUF, RXBUF_LEN, 0, 0);
	ring_add(d, VU_RXQ, &d->rx_avail, 0);
	kick(d, VU_RXQ);
	tx_op(d, 1, 6000, VSOCK_OP_RW); /* something to send */
	assert_true(needs_reset(d));
}

/* The host's cap. Both caps, and the room each leaves the other: test_virtio_vsock_uds_slots.c */
static void test_conn_cap(void **state)
{
	struct drv *d = *state;
	static int fds[VU_MAX_HOST_CONNS + 1];
	char buf[8];

	for (unsigned int i = 0; i <= VU_MAX_HOST_CONNS; i++) {
		fds[i] = host_connect(d);
		settle(d);
	}
	/* The one past the cap is closed at once; the others wait for their line. */
	assert_int_equal(host_recv(fds[VU_MAX_HOST_CONNS], buf, sizeof(buf)), 0);
	assert_int_equal(host_recv(fds[0], buf, sizeof(buf)), -1);
	assert_int_equal(counter(d, "conns_refused"), 1);
	for (unsigned int i = 0; i <= VU_MAX_HOST_CONNS; i++)
		close(fds[i]);
	settle(d);
	/* Closed clients free their slots. */
	int fd = host_connect(d);
	settle(d);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), -1);
	close(fd);
}

static void test_tx_budget(void **state)
{
	struct drv *d = *state;
	uint16_t before;

	/* More RSTs than one kick may take: the rest waits for a later round. */
	for (unsigned int i = 0; i < VU_KICK_PACKETS - 1 + 10; i++) {
		struct vsock_hdr h = hdr(i, 6000, VSOCK_OP_RST);

		tx_queue(d, &h, VSOCK_HDR_LEN, NULL, 0);
	}
	before = used_idx(d, VU_TXQ);
	wr(d, 0x050, VU_TXQ);
	loop_round(d); /* the kick */
	assert_int_equal((uint16_t)(used_idx(d, VU_TXQ) - before), VU_KICK_PACKETS);
	settle(d);     /* the re-armed kick */
	assert_int_equal((uint16_t)(used_idx(d, VU_TXQ) - before), VU_KICK_PACKETS - 1 + 10);
}

static void test_reset_and_transport_reset(void **state)
{
	struct drv *d = *state;
	uint32_t lp, elem[2], id = 0xffffffff;
	char buf[8];
	int fd;

	rx_fill(d, 8);
	fd = established(d, 5000, 65536, &lp);
	/* The transport-reset event: connections dropped, event id 0 written. */
	put_desc(d, VU_EVQ, 0, 0x700000, 8, VIRTQ_DESC_F_WRITE, 0);
	memcpy(gp(d, 0x700000, 4), &id, 4);
	ring_add(d, VU_EVQ, &d->ev_avail, 0);
	kick(d, VU_EVQ);
	assert_int_equal(used_idx(d, VU_EVQ), 0);
	assert_int_equal(virtio_vsock_uds_transport_reset(d->dev), 0);
	assert_int_equal(used_idx(d, VU_EVQ), 1);
	memcpy(elem, gp(d, RING(VU_EVQ) + 0x8000 + 4, 8), 8);
	assert_int_equal(elem[1], 4);
	memcpy(&id, gp(d, 0x700000, 4), 4);
	assert_int_equal(id, 0);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), 0);
	close(fd);
	assert_int_equal(virtio_vsock_uds_transport_reset(d->dev), -EAGAIN);
	/* A driver reset drops connections as well. */
	fd = established(d, 5001, 65536, &lp);
	mmio_reset(d);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), 0);
	close(fd);
}

static void test_destroy_with_open_conns(void **state)
{
	struct drv *d = *state;
	static char chunk[8192];
	int lfd = host_listen(d, 6000), fds[3], small = 4096;
	struct vsock_hdr h;
	uint32_t lp;

	rx_fill(d, 8);
	fds[0] = established(d, 5000, 65536, &lp);
	setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	/* Buffered guest data, a handshake in progress, a guest-initiated one. */
	for (int i = 0; i < 8; i++) {
		h = hdr(5000, lp, VSOCK_OP_RW);
		h.len = sizeof(chunk);
		tx_send(d, &h, chunk, sizeof(chunk));
	}
	fds[1] = host_connect(d);
	host_send(fds[1], "CONN");
	tx_op(d, 77, 6000, VSOCK_OP_REQUEST);
	fds[2] = accept(lfd, NULL, NULL);
	assert_true(fds[2] >= 0);
	settle(d);
	/* rig_teardown destroys the device now; ASan checks nothing leaks. */
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_credit_to_guest, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_credit_from_guest, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_credit_update_when_drained, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_packets, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_short_header, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_rx_buffer_readable, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_conn_cap, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_tx_budget, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_transport_reset, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_with_open_conns, rig_setup,
						rig_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
