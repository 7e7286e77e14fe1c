/*
 * Hybrid vsock as a guest driver and host programs see it: the test plays
 * the guest's virtio-vsock driver on the rings and the host's programs on
 * real Unix sockets (vsock_uds_rig.h).
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "vsock_uds_rig.h"

static void test_identity(void **state)
{
	struct drv *d = *state;

	(void)state;
	assert_int_equal(rd(d, 0x008), VIRTIO_ID_VSOCK);
	assert_int_equal(cfg_rd(d, 0, 4), GUEST_CID);
	assert_int_equal(cfg_rd(d, 4, 4), 0);
	assert_int_equal(cfg_rd(d, 0, 8), GUEST_CID);
	wr(d, 0x030, 2);
	assert_int_equal(rd(d, 0x034), VU_QUEUE_SIZE);
	wr(d, 0x030, 3);
	assert_int_equal(rd(d, 0x034), 0);
	/* Listening before the guest runs, as a socket. */
	struct stat st;
	assert_int_equal(stat(d->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
}

/* A host client's CONNECT up to the OK line; returns the client and fills the ports. */
static int host_connect_ok(struct drv *d, uint32_t guest_port, uint32_t *local_port,
			   const char *early)
{
	char buf[64], want[64];
	struct vsock_hdr h;
	int fd = host_connect(d);

	snprintf(buf, sizeof(buf), "CONNECT %u\n%s", guest_port, early);
	host_send(fd, buf);
	settle(d);
	h = rx_expect(d, VSOCK_OP_REQUEST, NULL, 0);
	assert_int_equal(h.dst_port, guest_port);
	assert_true(h.src_port >= VU_FIRST_LOCAL_PORT);
	assert_int_equal(h.buf_alloc, VU_CONN_BUF);
	assert_int_equal(h.fwd_cnt, 0);
	/* Not a word to the client before the guest accepted. */
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), -1);
	*local_port = h.src_port;
	tx_op(d, guest_port, h.src_port, VSOCK_OP_RESPONSE);
	snprintf(want, sizeof(want), "OK %u\n", h.src_port);
	/* Exactly the line: what the client sends next is not read here. */
	assert_int_equal(host_recv(fd, buf, strlen(want)), (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
	return fd;
}

static void test_host_connect_relay(void **state)
{
	struct drv *d = *state;
	struct vsock_hdr h;
	uint32_t lp;
	char buf[256];
	int fd;

	rx_fill(d, 16);
	/* Bytes right behind the CONNECT line are the client's first data. */
	fd = host_connect_ok(d, 5000, &lp, "early");
	h = rx_expect(d, VSOCK_OP_RW, buf, sizeof(buf));
	assert_int_equal(h.len, 5);
	assert_memory_equal(buf, "early", 5);
	assert_int_equal(h.src_port, lp);
	assert_int_equal(h.dst_port, 5000);
	host_send(fd, "ping");
	settle(d);
	h = rx_expect(d, VSOCK_OP_RW, buf, sizeof(buf));
	assert_int_equal(h.len, 4);
	assert_memory_equal(buf, "ping", 4);
	/* Guest to host. */
	h = hdr(5000, lp, VSOCK_OP_RW);
	h.len = 4;
	tx_send(d, &h, "pong", 4);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "pong");
	assert_int_equal(counter(d, "rx_bytes"), 9);
	assert_int_equal(counter(d, "tx_bytes"), 4);
	/* Half-close from the host: the guest hears SHUTDOWN(SEND) and may still send. */
	shutdown(fd, SHUT_WR);
	settle(d);
	h = rx_expect(d, VSOCK_OP_SHUTDOWN, NULL, 0);
	assert_int_equal(h.flags, VSOCK_SHUT_SEND);
	h = hdr(5000, lp, VSOCK_OP_RW);
	h.len = 3;
	tx_send(d, &h, "bye", 3);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), 3);
	/* The guest closes: RST ends it, and the client reads EOF. */
	h = hdr(5000, lp, VSOCK_OP_SHUTDOWN);
	h.flags = VSOCK_SHUT_BOTH;
	tx_send(d, &h, NULL, 0);
	h = rx_expect(d, VSOCK_OP_RST, NULL, 0);
	assert_int_equal(h.src_port, lp);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), 0);
	assert_false(rx_get(d, &h, NULL, 0));
	close(fd);
}

static void test_host_connect_guest_refuses(void **state)
{
	struct drv *d = *state;
	struct vsock_hdr h;
	char buf[64];
	int fd;

	rx_fill(d, 4);
	fd = host_connect(d);
	host_send(fd, "connect 5001\n");
	settle(d);
	h = rx_expect(d, VSOCK_OP_REQUEST, NULL, 0);
	/* No listener in the guest: its RST closes the client without an OK. */
	tx_op(d, 5001, h.src_port, VSOCK_OP_RST);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), 0);
	assert_false(rx_get(d, &h, NULL, 0));
	close(fd);
}

static void test_host_client_gives_up(void **state)
{
	struct drv *d = *state;
	struct vsock_hdr h;
	int fd;

	rx_fill(d, 4);
	fd = host_connect(d);
	host_send(fd, "CONNECT 5002\n");
	settle(d);
	h = rx_expect(d, VSOCK_OP_REQUEST, NULL, 0);
	/* Gone before the guest answered: the guest gets an RST instead. */
	close(fd);
	settle(d);
	h = rx_expect(d, VSOCK_OP_RST, NULL, 0);
	assert_int_equal(h.dst_port, 5002);
	/* Its late RESPONSE finds nothing and is answered with RST too. */
	tx_op(d, 5002, h.src_port, VSOCK_OP_RESPONSE);
	rx_expect(d, VSOCK_OP_RST, NULL, 0);
}

static void test_bad_lines(void **state)
{
	static const char *const lines[] = {
		"HELLO 5\n", "CONNECT\n", "CONNECT 4294967296\n", "CONNECT 5 6\n",
		"CONNECT                                   5\n",
	};
	struct drv *d = *state;
	struct vsock_hdr h;
	char buf[64];

	rx_fill(d, 4);
	for (unsigned int i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		int fd = host_connect(d);

		host_send(fd, lines[i]);
		settle(d);
		if (host_recv(fd, buf, sizeof(buf)) != 0)
			fail_msg("'%s' was not refused", lines[i]);
		close(fd);
	}
	/* A line in pieces is fine. */
	int fd = host_connect(d);
	host_send(fd, "CONN");
	settle(d);
	host_send(fd, "ECT 7");
	settle(d);
	assert_false(rx_get(d, &h, NULL, 0));
	host_send(fd, "\n");
	settle(d);
	h = rx_expect(d, VSOCK_OP_REQUEST, NULL, 0);
	assert_int_equal(h.dst_port, 7);
	close(fd);
}

static void test_guest_connect(void **state)
{
	struct drv *d = *state;
	int lfd = host_listen(d, 6000), cfd;
	struct vsock_hdr h;
	char buf[64];

	rx_fill(d, 4);
	tx_op(d, 1234, 6000, VSOCK_OP_REQUEST);
	h = rx_expect(d, VSOCK_OP_RESPONSE, NULL, 0);
	assert_int_equal(h.src_port, 6000);
	assert_int_equal(h.dst_port, 1234);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	h = hdr(1234, 6000, VSOCK_OP_RW);
	h.len = 5;
	tx_send(d, &h, "hello", 5);
	assert_int_equal(host_recv(cfd, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "hello");
	host_send(cfd, "world");
	settle(d);
	h = rx_expect(d, VSOCK_OP_RW, buf, sizeof(buf));
	assert_int_equal(h.len, 5);
	assert_memory_equal(buf, "world", 5);
	/* The guest resets: the host service reads EOF. */
	tx_op(d, 1234, 6000, VSOCK_OP_RST);
	assert_int_equal(host_recv(cfd, buf, sizeof(buf)), 0);
	assert_false(rx_get(d, &h, NULL, 0));
	/* The host service closes: SHUTDOWN with both flags. */
	tx_op(d, 1235, 6000, VSOCK_OP_REQUEST);
	rx_expect(d, VSOCK_OP_RESPONSE, NULL, 0);
	close(cfd);
	cfd = accept(lfd, NULL, NULL);
	close(cfd);
	settle(d);
	h = rx_expect(d, VSOCK_OP_SHUTDOWN, NULL, 0);
	assert_int_equal(h.flags, VSOCK_SHUT_BOTH);
	close(lfd);
}

static void test_guest_connect_no_listener(void **state)
{
	struct drv *d = *state;
	struct vsock_hdr h;

	rx_fill(d, 4);
	tx_op(d, 1234, 6001, VSOCK_OP_REQUEST);
	h = rx_expect(d, VSOCK_OP_RST, NULL, 0);
	assert_int_equal(h.src_port, 6001);
	assert_int_equal(h.dst_port, 1234);
	assert_int_equal(counter(d, "conns_refused"), 1);
	assert_int_equal(counter(d, "rst_sent"), 1);
}

static void test_uds_path_taken(void **state)
{
	struct virtio_env env = { .loop = NULL, .mem = NULL };
	struct vsock_uds_config cfg = { .cid = GUEST_CID };
	struct drv *d = *state;
	struct virtio_dev *dev = NULL;
	char path[160];
	struct err err;
	int fd;

	env.loop = &d->loop;
	env.mem = &d->gm;
	/* Someone serves on it (this rig's device): refused, and left alone. */
	cfg.uds_path = d->path;
	assert_int_equal(virtio_vsock_uds_create(&env, &cfg, &dev, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, "another process is serving on it"));
	assert_int_equal(access(d->path, F_OK), 0);
	/* A file that is not a socket is not ours to replace. */
	snprintf(path, sizeof(path), "%s/file", d->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	cfg.uds_path = path;
	assert_int_equal(virtio_vsock_uds_create(&env, &cfg, &dev, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, "not a socket"));
	assert_int_equal(unlink(path), 0);
	/* A stale socket (bound, nobody listening) is replaced, and removed at destroy. */
	struct sockaddr_un sa;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	rig_sockaddr(&sa, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(virtio_vsock_uds_create(&env, &cfg, &dev, &err), 0);
	close(fd);
	virtio_vsock_uds_destroy(dev);
	assert_int_not_equal(access(path, F_OK), 0);
	/* A CID or path out of range. */
	cfg.cid = 2;
	assert_int_equal(virtio_vsock_uds_create(&env, &cfg, &dev, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_relay, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_guest_refuses, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_host_client_gives_up, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_guest_connect, rig_setup, rig_teardown),
		cmocka_unit_test_setup_teardown(test_guest_connect_no_listener, rig_setup,
						rig_teardown),
		cmocka_unit_test_setup_teardown(test_uds_path_taken, rig_setup, rig_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
