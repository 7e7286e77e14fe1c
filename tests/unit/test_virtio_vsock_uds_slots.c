/*
 * Hybrid vsock's connection slots (issue 18, item 8): host clients that
 * connect and never send their CONNECT line must not deny the guest its
 * connections, nor hold their own slots for good. The host and the guest
 * each have a cap, and a host client has VU_HANDSHAKE_MS to
 * complete its line. Time is the rig's clock, which only the test moves;
 * the device's timer is made to fire when the test says (no waiting).
 */
#include "vsock_uds_rig.h"

/* Host clients that connect and say nothing; each settles (so the backlog never fills). */
static void silent_clients(struct drv *d, int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		fds[i] = host_connect(d);
		settle(d);
	}
}

static void close_all(int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
}

/* Open (-1: nothing to read yet) or closed by the device (0: EOF). */
static ssize_t client_state(int fd)
{
	char buf[8];

	return host_recv(fd, buf, sizeof(buf));
}

/* The guest connects from port gp to the host service on port 6000; its socket. */
static int guest_connects(struct drv *d, int lfd, uint32_t gp)
{
	int fd;

	tx_op(d, gp, 6000, VSOCK_OP_REQUEST);
	rx_expect(d, VSOCK_OP_RESPONSE, NULL, 0);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	return fd;
}

/* A host client that sends its line and reaches the guest: the guest sees the REQUEST. */
static int host_reaches_guest(struct drv *d, uint32_t guest_port)
{
	char line[32];
	struct vsock_hdr h;
	int fd = host_connect(d);

	snprintf(line, sizeof(line), "CONNECT %u\n", guest_port);
	host_send(fd, line);
	settle(d);
	h = rx_expect(d, VSOCK_OP_REQUEST, NULL, 0);
	assert_int_equal(h.dst_port, guest_port);
	return fd;
}

static void test_silent_clients_leave_guest_room(void **state)
{
	struct drv *d = *state;
	static int fds[VU_MAX_CONNS];
	int lfd = host_listen(d, 6000), sfd;

	rx_fill(d, 8);
	/* As many silent clients as the device has slots in all. */
	silent_clients(d, fds, VU_MAX_CONNS);
	/* The guest still connects: the host's clients cannot take its slots. */
	sfd = guest_connects(d, lfd, 1);
	/* The host's cap held them: those past it were closed at once, the others wait. */
	for (unsigned int i = 0; i < VU_MAX_CONNS; i++)
		assert_int_equal(client_state(fds[i]), i < VU_MAX_HOST_CONNS ? -1 : 0);
	assert_int_equal(counter(d, "conns_refused"), VU_MAX_CONNS - VU_MAX_HOST_CONNS);
	close(sfd);
	close(lfd);
	close_all(fds, VU_MAX_CONNS);
}

static void test_guest_cap_leaves_host_room(void **state)
{
	struct drv *d = *state;
	static int sfds[VU_MAX_GUEST_CONNS];
	int lfd = host_listen(d, 6000), fd;

	rx_fill(d, 8);
	for (unsigned int i = 0; i < VU_MAX_GUEST_CONNS; i++)
		sfds[i] = guest_connects(d, lfd, 1000 + i);
	/* The guest's cap: its next connection is refused with a reset. */
	tx_op(d, 2000, 6000, VSOCK_OP_REQUEST);
	rx_expect(d, VSOCK_OP_RST, NULL, 0);
	assert_int_equal(counter(d, "conns_refused"), 1);
	/* A host client still reaches the guest. */
	fd = host_reaches_guest(d, 5000);
	close(fd);
	close(lfd);
	close_all(sfds, VU_MAX_GUEST_CONNS);
}

static void test_silent_client_times_out(void **state)
{
	struct drv *d = *state;
	static int fds[VU_MAX_HOST_CONNS + 1];
	int fd;

	rx_fill(d, 8);
	silent_clients(d, fds, VU_MAX_HOST_CONNS + 1);
	assert_int_equal(client_state(fds[VU_MAX_HOST_CONNS]), 0); /* past the cap */
	/* Just short of the limit, the timer finds nobody overdue. */
	clock_advance(d, VU_HANDSHAKE_MS - 1);
	fire_handshake_timer(d);
	for (unsigned int i = 0; i < VU_MAX_HOST_CONNS; i++)
		assert_int_equal(client_state(fds[i]), -1);
	assert_int_equal(counter(d, "handshakes_timed_out"), 0);
	/* At the limit, every silent client is closed... */
	clock_advance(d, 1);
	fire_handshake_timer(d);
	for (unsigned int i = 0; i < VU_MAX_HOST_CONNS; i++)
		assert_int_equal(client_state(fds[i]), 0);
	assert_int_equal(counter(d, "handshakes_timed_out"), VU_MAX_HOST_CONNS);
	/* ...and its slot serves the next client. */
	fd = host_reaches_guest(d, 5000);
	close(fd);
	close_all(fds, VU_MAX_HOST_CONNS + 1);
}

static void test_connect_line_in_pieces(void **state)
{
	struct drv *d = *state;
	struct vsock_hdr h;
	char buf[64];
	int fd;

	rx_fill(d, 8);
	fd = host_connect(d);
	host_send(fd, "CONN");
	settle(d);
	clock_advance(d, VU_HANDSHAKE_MS / 2);
	fire_handshake_timer(d);
	host_send(fd, "ECT 50");
	settle(d);
	clock_advance(d, VU_HANDSHAKE_MS / 2 - 1);
	fire_handshake_timer(d);
	assert_int_equal(client_state(fd), -1);
	/* The line completes a millisecond before it is due: the client is served. */
	host_send(fd, "00\n");
	settle(d);
	h = rx_expect(d, VSOCK_OP_REQUEST, NULL, 0);
	assert_int_equal(h.dst_port, 5000);
	/* Its handshake is over: no later firing closes it, however long the guest takes. */
	clock_advance(d, 10 * VU_HANDSHAKE_MS);
	fire_handshake_timer(d);
	h = hdr(5000, h.src_port, VSOCK_OP_RESPONSE);
	tx_send(d, &h, NULL, 0);
	assert_true(host_recv(fd, buf, sizeof(buf)) > 0);
	assert_int_equal(strncmp(buf, "OK ", 3), 0);
	host_send(fd, "hi");
	settle(d);
	rx_expect(d, VSOCK_OP_RW, buf, sizeof(buf));
	assert_memory_equal(buf, "hi", 2);
	assert_int_equal(counter(d, "handshakes_timed_out"), 0);
	close(fd);
}

/* The timer's remaining time: 0 when disarmed. */
static uint64_t timer_left_ns(struct drv *d)
{
	struct vsock_uds *vu = d->dev->priv;
	struct itimerspec its;

	assert_int_equal(timerfd_gettime(vu->hs_tfd, &its), 0);
	return (uint64_t)its.it_value.tv_sec * 1000000000ull + (uint64_t)its.it_value.tv_nsec;
}

static void test_timer_follows_the_next_deadline(void **state)
{
	struct drv *d = *state;
	int a, b;

	assert_int_equal(timer_left_ns(d), 0); /* nobody waits: not armed */
	a = host_connect(d);
	settle(d);
	assert_true(timer_left_ns(d) > 0);
	clock_advance(d, 3000);
	b = host_connect(d);
	settle(d);
	/* a is due: it goes; the timer is armed for b, due 3000 ms after a. */
	clock_advance(d, VU_HANDSHAKE_MS - 3000);
	fire_handshake_timer(d);
	assert_int_equal(client_state(a), 0);
	assert_int_equal(client_state(b), -1);
	assert_true(timer_left_ns(d) > 0);
	assert_true(timer_left_ns(d) <= 3000ull * 1000000ull);
	clock_advance(d, 3000);
	fire_handshake_timer(d);
	assert_int_equal(client_state(b), 0);
	assert_int_equal(timer_left_ns(d), 0);
	assert_int_equal(counter(d, "handshakes_timed_out"), 2);
	close(a);
	close(b);
}

static void test_restore_frees_host_slots(void **state)
{
	struct drv *d = *state;
	static int fds[VU_MAX_HOST_CONNS];
	uint8_t rec[64];
	struct bytes_out o = bytes_out_init(rec, sizeof(rec));
	size_t len;
	int fd;

	rx_fill(d, 8);
	silent_clients(d, fds, VU_MAX_HOST_CONNS);
	/* A restore drops the connections of the process that was snapshotted. */
	assert_int_equal(d->dev->ops->save(d->dev, &o), 0);
	assert_int_equal(bytes_out_finish(&o, &len), 0);
	assert_int_equal(d->dev->ops->restore(d->dev, d->dev->vq, rec, len, true), 0);
	for (unsigned int i = 0; i < VU_MAX_HOST_CONNS; i++)
		assert_int_equal(client_state(fds[i]), 0);
	/* Their slots are free, and the timer they armed finds nobody when it fires. */
	fd = host_reaches_guest(d, 5000);
	clock_advance(d, VU_HANDSHAKE_MS);
	fire_handshake_timer(d);
	assert_int_equal(client_state(fd), -1);
	assert_int_equal(counter(d, "handshakes_timed_out"), 0);
	close(fd);
	close_all(fds, VU_MAX_HOST_CONNS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_silent_clients_leave_guest_room, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_guest_cap_leaves_host_room, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_silent_client_times_out, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_connect_line_in_pieces, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_timer_follows_the_next_deadline, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_restore_frees_host_slots, rig_setup,
						rig_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
