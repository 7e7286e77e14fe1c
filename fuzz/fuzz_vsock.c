/*
 * libFuzzer target for hybrid vsock (src/virtio/vsock_uds.c,
 * vsock_conn.c): the guest's TX packets (and the RX and event queues)
 * from a hostile driver program (fz_drv.h), with real Unix sockets on the
 * host side in a private temporary directory. Guest CID 3. A host program
 * listens on "<uds>_5000" and "<uds>_52", so the guest's connections to
 * those ports get through and carry data; others are refused.
 *
 * Device step (opcode 5): a byte b, then
 *   b % 5 == 0  a host client connects to the uds and writes a line:
 *               "CONNECT <port>\n" (port 5000 or from the input) or raw
 *               bytes from the input
 *   b % 5 == 1  a host socket (the clients and the accepted ones) writes
 *               bytes from the input
 *   b % 5 == 2  a host socket shuts down its writing side
 *   b % 5 == 3  a host socket closes
 *   otherwise   nothing; every step ends with the I/O loop settling
 *
 * Checked besides ASan/UBSan: the I/O loop goes idle after every step
 * (a handler that stays ready would spin the I/O thread).
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "fz_drv.h"
#include "util/log.h"
#include "virtio/vsock_uds.h"
#include "virtio/vsock_uds_priv.h"

#define HOST_FDS 16
#define LISTENERS 2

static struct fz_drv drv;
static struct eventloop loop;
static char uds[64];
static int listeners[LISTENERS] = { -1, -1 };
static int host[HOST_FDS];
static unsigned int nhost;
static bool ready;
static uint8_t sink[VU_CONN_BUF];

static void host_add(int fd)
{
	if (nhost < HOST_FDS)
		host[nhost++] = fd;
	else
		close(fd);
}

static void host_drop(unsigned int i)
{
	close(host[i]);
	host[i] = host[--nhost];
}

/* The host programs: accept what the guest connected, read what it sent. */
static void host_serve(void)
{
	int fd;

	for (unsigned int l = 0; l < LISTENERS; l++)
		while ((fd = accept4(listeners[l], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
			host_add(fd);
	for (unsigned int i = 0; i < nhost; i++)
		while (recv(host[i], sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
}

/* Rounds of the I/O loop, as tests/unit/vsock_uds_rig.h turns it. */
static void vsock_settle(struct fz_drv *d)
{
	(void)d;
	for (int round = 0; round < 1000; round++) {
		struct epoll_event evs[16];
		int n;

		host_serve();
		n = epoll_wait(loop.epfd, evs, 16, 0);
		CHECK(n >= 0);
		if (n == 0)
			return;
		for (int i = 0; i < n; i++) {
			struct eventloop_handler *h = evs[i].data.ptr;

			if (h->fd >= 0)
				h->cb(h->opaque, evs[i].events);
		}
	}
	CHECK(!"the I/O loop never went idle");
}

static void vsock_step(struct fz_drv *d, struct fz *in)
{
	uint8_t b = fz_u8(in), buf[256];
	unsigned int i = nhost ? fz_u8(in) % nhost : 0;
	size_t n;

	switch (b % 5) {
	case 0: {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		CHECK(fd >= 0);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uds);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			close(fd);
			break;
		}
		if (b & 0x80)
			n = fz_take(in, buf, fz_u8(in) % sizeof(buf));
		else
			n = (size_t)snprintf((char *)buf, sizeof(buf), "CONNECT %u\n",
					     b & 0x40 ? fz_u32(in) : 5000u);
		(void)!send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		host_add(fd);
		break;
	}
	case 1:
		n = fz_take(in, buf, fz_u8(in));
		if (nhost)
			(void)!send(host[i], buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	case 2:
		if (nhost)
			shutdown(host[i], SHUT_WR);
		break;
	case 3:
		if (nhost)
			host_drop(i);
		break;
	}
	vsock_settle(d);
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(fd, 512) == 0);
	return fd;
}

static char dir[] = "/tmp/hearth-fuzz-vsock-XXXXXX";

/* libFuzzer ends with exit(): leave no sockets behind in /tmp. */
static void cleanup(void)
{
	char path[96];

	snprintf(path, sizeof(path), "%s_5000", uds);
	unlink(path);
	snprintf(path, sizeof(path), "%s_52", uds);
	unlink(path);
	unlink(uds);
	rmdir(dir);
}

static void setup(void)
{
	struct virtio_env env = { .loop = &loop, .mem = &drv.gm };
	char path[96], err[256];
	struct vsock_uds_config cfg = { .cid = 3 };
	struct virtio_dev *dev;

	log_set_level(LOG_ERR);
	fz_drv_ram(&drv);
	CHECK(eventloop_init(&loop) == 0);
	CHECK(mkdtemp(dir));
	atexit(cleanup);
	snprintf(uds, sizeof(uds), "%s/v", dir);
	snprintf(path, sizeof(path), "%s_5000", uds);
	listeners[0] = listen_at(path);
	snprintf(path, sizeof(path), "%s_52", uds);
	listeners[1] = listen_at(path);
	cfg.uds_path = uds;
	CHECK(virtio_vsock_uds_create(&env, &cfg, &dev, err, sizeof(err)) == 0);
	drv.dev_step = vsock_step;
	drv.settle = vsock_settle;
	fz_drv_attach(&drv, dev);
	ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };

	if (!ready)
		setup();
	fz_drv_run(&drv, &in);
	/* The reset drops every connection; the host side forgets its own. */
	fz_wr(&drv, 0x070, 0);
	vsock_settle(&drv);
	while (nhost)
		host_drop(0);
	vsock_settle(&drv);
	return 0;
}
