/*
 * Hybrid vsock: when a connection ends because of what the host peer did
 * after the guest had already closed (issue 18, item 1). The guest sends
 * more than the host peer reads, so the device holds the rest, then sends
 * SHUTDOWN with both flags; the connection may only end, with an RST,
 * once everything it holds is delivered, which happens inside the host
 * socket's EPOLLOUT (or EPOLLHUP) handler. Run under ASan, these caught
 * that handler using the connection after freeing it.
 */
#include <pthread.h>
#include <semaphore.h>

#include "vsock_uds_rig.h"

static char sink[VU_CONN_BUF];

/* A guest connection to the host service on port 6000; returns the service's socket. */
static int guest_connected(struct drv *d, int lfd, uint32_t guest_port)
{
	int fd;

	tx_op(d, guest_port, 6000, VSOCK_OP_REQUEST);
	rx_expect(d, VSOCK_OP_RESPONSE, NULL, 0);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	return fd;
}

static void guest_shutdown(struct drv *d, uint32_t src_port, uint32_t dst_port, uint32_t flags)
{
	struct vsock_hdr h = hdr(src_port, dst_port, VSOCK_OP_SHUTDOWN);

	h.flags = flags;
	tx_send(d, &h, NULL, 0);
}

/*
 * The host peer reads as a service does, the I/O loop turning between its
 * reads, up to EOF or until it has want bytes; returns what it read.
 */
static uint32_t host_read_all(struct drv *d, int fd, uint32_t want, bool to_eof)
{
	uint32_t got = 0;

	for (int i = 0; i < 10000; i++) {
		ssize_t n = host_recv(fd, sink, sizeof(sink));

		if (n == 0)
			return got;
		got += n > 0 ? (uint32_t)n : 0;
		if (!to_eof && got >= want)
			return got;
		settle(d);
	}
	fail_msg("the host peer never read %u bytes or EOF (got %u)", want, got);
	return 0;
}

/* What the guest hears now: credit updates, then exactly one op (RST or none: 0). */
static enum vsock_op guest_hears(struct drv *d, struct vsock_hdr *last)
{
	struct vsock_hdr h;

	while (rx_get(d, &h, NULL, 0)) {
		if (h.op == VSOCK_OP_CREDIT_UPDATE)
			continue;
		*last = h;
		assert_false(rx_get(d, &h, NULL, 0));
		return (enum vsock_op)last->op;
	}
	return VSOCK_OP_INVALID;
}

static void test_shut_both_then_service_reads(void **state)
{
	struct drv *d = *state;
	int lfd = host_listen(d, 6000), sfd;
	struct vsock_hdr h;
	uint32_t sent;

	rx_fill(d, 32);
	sfd = guest_connected(d, lfd, 1234);
	sent = fill_until_buffered(d, 1234, 6000);
	guest_shutdown(d, 1234, 6000, VSOCK_SHUT_BOTH);
	/* Data is still held for the service: no RST before it is delivered (5.10.6.5). */
	assert_int_equal(guest_hears(d, &h), VSOCK_OP_INVALID);
	/*
	 * The service reads: EPOLLOUT flushes what the device holds, and the
	 * flush that empties it ends the connection. All the data, then EOF.
	 */
	assert_int_equal(host_read_all(d, sfd, sent, true), sent);
	assert_int_equal(guest_hears(d, &h), VSOCK_OP_RST);
	assert_int_equal(h.src_port, 6000);
	assert_int_equal(h.dst_port, 1234);
	assert_int_equal(counter(d, "tx_bytes"), sent);
	assert_false(needs_reset(d));
	/* The device goes on: the same ports connect again. */
	close(sfd);
	sfd = guest_connected(d, lfd, 1234);
	close(sfd);
	close(lfd);
}

static void test_shut_both_then_client_reads(void **state)
{
	struct drv *d = *state;
	struct vsock_hdr h;
	uint32_t lp, sent;
	int fd;

	rx_fill(d, 32);
	fd = established(d, 5000, 65536, &lp);
	sent = fill_until_buffered(d, 5000, lp);
	guest_shutdown(d, 5000, lp, VSOCK_SHUT_BOTH);
	assert_int_equal(host_read_all(d, fd, sent, true), sent);
	assert_int_equal(guest_hears(d, &h), VSOCK_OP_RST);
	assert_int_equal(h.src_port, lp);
	assert_false(needs_reset(d));
	close(fd);
}

static void test_shut_both_then_client_closes(void **state)
{
	struct drv *d = *state;
	struct vsock_hdr h;
	uint32_t lp;
	int fd;

	rx_fill(d, 32);
	fd = established(d, 5000, 65536, &lp);
	fill_until_buffered(d, 5000, lp);
	guest_shutdown(d, 5000, lp, VSOCK_SHUT_BOTH);
	/*
	 * The client takes what its socket holds, the I/O loop idle meanwhile,
	 * and closes: the device's socket reports EPOLLHUP with EPOLLOUT (no
	 * error: nothing was left unread), and what the device still holds
	 * has nowhere to go.
	 */
	while (host_recv(fd, sink, sizeof(sink)) > 0)
		;
	close(fd);
	settle(d);
	assert_int_equal(guest_hears(d, &h), VSOCK_OP_RST);
	assert_int_equal(h.src_port, lp);
	assert_int_equal(h.dst_port, 5000);
	assert_false(needs_reset(d));
}

static void test_shut_both_then_service_closes_unread(void **state)
{
	struct drv *d = *state;
	int lfd = host_listen(d, 6000), sfd;
	struct vsock_hdr h;

	rx_fill(d, 32);
	sfd = guest_connected(d, lfd, 1234);
	fill_until_buffered(d, 1234, 6000);
	guest_shutdown(d, 1234, 6000, VSOCK_SHUT_BOTH);
	/* Closed with data unread: the device's socket reports an error. */
	close(sfd);
	settle(d);
	assert_int_equal(guest_hears(d, &h), VSOCK_OP_RST);
	assert_int_equal(h.src_port, 6000);
	assert_false(needs_reset(d));
	close(lfd);
}

static void test_shut_send_then_service_reads(void **state)
{
	struct drv *d = *state;
	int lfd = host_listen(d, 6000), sfd;
	struct vsock_hdr h;
	char buf[64];
	uint32_t sent;

	rx_fill(d, 32);
	sfd = guest_connected(d, lfd, 1234);
	sent = fill_until_buffered(d, 1234, 6000);
	/* Half-close: once all is delivered the service reads EOF, and may still answer. */
	guest_shutdown(d, 1234, 6000, VSOCK_SHUT_SEND);
	assert_int_equal(host_read_all(d, sfd, sent, true), sent);
	assert_int_equal(guest_hears(d, &h), VSOCK_OP_INVALID);
	host_send(sfd, "late");
	settle(d);
	h = rx_expect(d, VSOCK_OP_RW, buf, sizeof(buf));
	assert_int_equal(h.len, 4);
	assert_memory_equal(buf, "late", 4);
	/* The guest closes the rest: nothing is held, so RST at once. */
	guest_shutdown(d, 1234, 6000, VSOCK_SHUT_BOTH);
	assert_int_equal(guest_hears(d, &h), VSOCK_OP_RST);
	assert_false(needs_reset(d));
	close(sfd);
	close(lfd);
}

/*
 * One batch of the I/O loop holds the guest's kick, then a hang-up of an
 * old connection's host socket. The kick's packets end the old connection
 * (the guest's RST) and make a new one, whose socket takes the event
 * loop's slot the old one left; the hang-up after it in the batch was the
 * old connection's, and must not reach the new one.
 */
static void test_stale_event_after_slot_reuse(void **state)
{
	struct drv *d = *state;
	int lfd = host_listen(d, 6000), sfd;
	struct vsock_hdr h;
	char buf[64];

	rx_fill(d, 32);
	sfd = guest_connected(d, lfd, 1234);
	h = hdr(1234, 6000, VSOCK_OP_RST);
	tx_queue(d, &h, VSOCK_HDR_LEN, NULL, 0);
	h = hdr(1235, 6000, VSOCK_OP_REQUEST);
	tx_queue(d, &h, VSOCK_HDR_LEN, NULL, 0);
	wr(d, 0x050, VU_TXQ);
	close(sfd);
	assert_int_equal(loop_round(d), 2);
	settle(d);
	rx_expect(d, VSOCK_OP_RESPONSE, NULL, 0);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	/* The new connection is served both ways. */
	host_send(sfd, "hello");
	settle(d);
	h = rx_expect(d, VSOCK_OP_RW, buf, sizeof(buf));
	assert_int_equal(h.dst_port, 1235);
	assert_int_equal(h.len, 5);
	assert_memory_equal(buf, "hello", 5);
	h = hdr(1235, 6000, VSOCK_OP_RW);
	h.len = 3;
	tx_send(d, &h, "bye", 3);
	assert_int_equal(host_recv(sfd, buf, sizeof(buf)), 3);
	assert_false(needs_reset(d));
	close(sfd);
	close(lfd);
}

struct busy_loop {
	struct drv *d;
	int pipe[2];
	sem_t entered, release;
	int reset_ret;
	bool reset_done;
};

/* A callback that keeps the I/O thread until the test lets it go. */
static void busy_cb(void *opaque, uint32_t events)
{
	struct busy_loop *b = opaque;
	char c;

	(void)events;
	assert_int_equal(read(b->pipe[0], &c, 1), 1);
	sem_post(&b->entered);
	sem_wait(&b->release);
}

static void *loop_main(void *arg)
{
	eventloop_run(&((struct busy_loop *)arg)->d->loop);
	return NULL;
}

static void *reset_main(void *arg)
{
	struct busy_loop *b = arg;

	b->reset_ret = virtio_vsock_uds_transport_reset(b->d->dev);
	__atomic_store_n(&b->reset_done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

static void stop_fn(void *arg)
{
	eventloop_stop(arg);
}

/*
 * A transport reset asked for from another thread (the API's) frees the
 * connections on the I/O thread, never while that thread is in a
 * callback that may hold one of them.
 */
static void test_transport_reset_waits_for_io_thread(void **state)
{
	struct drv *d = *state;
	struct vsock_uds *vu = d->dev->priv;
	struct busy_loop b = { .d = d };
	pthread_t loop_thread, resetter;
	uint32_t lp;
	char buf[8];
	int fd;

	rx_fill(d, 8);
	fd = established(d, 5000, 65536, &lp);
	assert_int_equal(vu->nconns, 1);
	assert_int_equal(pipe(b.pipe), 0);
	sem_init(&b.entered, 0, 0);
	sem_init(&b.release, 0, 0);
	assert_int_equal(eventloop_add(&d->loop, b.pipe[0], EPOLLIN, busy_cb, &b), 0);
	assert_int_equal(pthread_create(&loop_thread, NULL, loop_main, &b), 0);
	assert_int_equal(write(b.pipe[1], "x", 1), 1);
	sem_wait(&b.entered);
	assert_int_equal(pthread_create(&resetter, NULL, reset_main, &b), 0);
	usleep(100 * 1000);
	/* The I/O thread is busy: the reset waits for it, the connection lives. */
	assert_false(__atomic_load_n(&b.reset_done, __ATOMIC_SEQ_CST));
	assert_int_equal(vu->nconns, 1);
	sem_post(&b.release);
	pthread_join(resetter, NULL);
	assert_int_equal(b.reset_ret, -EAGAIN); /* no event buffer posted */
	assert_int_equal(vu->nconns, 0);
	assert_int_equal(eventloop_call_sync(&d->loop, stop_fn, &d->loop), 0);
	pthread_join(loop_thread, NULL);
	d->loop.stop = false;
	/* This thread is the loop's again for the rest of the test. */
	eventloop_claim(&d->loop);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), 0);
	close(fd);
	eventloop_remove(&d->loop, b.pipe[0]);
	close(b.pipe[0]);
	close(b.pipe[1]);
	sem_destroy(&b.entered);
	sem_destroy(&b.release);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shut_both_then_service_reads, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_shut_both_then_client_reads, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_shut_both_then_client_closes, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_shut_both_then_service_closes_unread, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_shut_send_then_service_reads, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_stale_event_after_slot_reuse, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_transport_reset_waits_for_io_thread, rig_setup,
						rig_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
