/*
 * libFuzzer target for hybrid vsock (src/virtio/vsock/uds.c,
 * conn.c): the guest's TX packets (and the RX and event queues)
 * from a hostile driver program (fz_drv.h), interleaved with what the
 * host side does, with real Unix sockets in a private temporary
 * directory. Guest CID 3. Host programs listen on "<uds>_5000" and
 * "<uds>_52", so the guest's connections to those ports get through and
 * carry data; others are refused. The host programs read only when the
 * input says so, and the device's sockets get a small send buffer (as
 * from a host whose services read slowly), so guest data backs up into
 * the device's own buffer after a few KiB. When the I/O loop turns, and
 * which events its callbacks see, is the input's too.
 *
 * Device step (opcode 5): a byte b, then (when there is a host socket: the
 * clients and the accepted ones) a byte picking one, then by b % 16:
 *   0  a host client connects to the uds and writes a line:
 *      "CONNECT <port>\n" (port 5000, or from the input with b & 0x40)
 *      or, with b & 0x80, raw bytes from the input
 *   1  the host socket writes bytes from the input
 *   2  the host socket shuts down its writing side
 *   3  the host socket closes
 *   4  the host socket reads up to (u8 + 1) * 256 bytes: a slow reader;
 *      with b & 0x80 (and no u8) it catches up instead: reads all there
 *      is, the loop turning between its reads, until no more comes
 *   5  the host socket shuts down its reading side
 *   6  one round of the I/O loop as the input says: at most 1 + u8 % 16
 *      events, in epoll's order or (b & 0x40) the reverse, each event set
 *      masked by the next byte (bits 0-4: EPOLLIN, EPOLLOUT, EPOLLERR,
 *      EPOLLHUP, EPOLLRDHUP; 0: all), so a callback sees EPOLLOUT without
 *      the EPOLLHUP that came with it, or a later callback's events after
 *      an earlier one changed the sockets
 *   7  modes, from the next byte: bit 0 holds the loop (kicks and steps
 *      no longer turn it; only step 6 and the end of the input do),
 *      bit 1 makes the host programs read all they are sent at every
 *      round, bits 2-3 set the device sockets' send buffer (4 KiB, the
 *      default; 16 KiB; 64 KiB; the system's, for sockets made from then on)
 *   8  the guest sends a well-formed packet and kicks (when its transmit
 *      queue is set up), so sequences of packets need not be built from
 *      descriptors and RAM pokes: op (u8 % 8), ports (u8: the guest's is
 *      1234, 1235, 5000 or 5001 by bits 0-1, the host's 5000, 52, or the
 *      first or second local port of host clients by bits 2-3), flags
 *      (u8), len (u16) bytes of data from guest RAM, fwd_cnt (u32);
 *      buf_alloc is 64 KiB
 *   9  the guest posts 1 + u8 % 8 receive buffers of 4 KiB and kicks
 *  10  time passes on the device's clock: u16 ms, or with b & 0x80 the
 *      whole CONNECT limit (VU_HANDSHAKE_MS); then the handshake timer
 *      fires, its handler running when the loop next turns (so, held,
 *      where step 6 says), and host clients whose line is overdue are
 *      closed
 *   otherwise nothing
 * Every step but 6 ends with the I/O loop settling, unless it is held.
 * Each input starts with the loop not held, no auto-read and 4 KiB.
 *
 * Checked besides ASan/UBSan: the I/O loop goes idle when it settles (a
 * handler that stays ready would spin the I/O thread), and after every
 * callback the device's list of connections with something for the guest
 * holds only live connections, each once, ending at its tail, and each
 * side's count is its connections' and within its cap.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "fz_drv.h"
#include "util/log.h"
#include "virtio/vsock_uds.h"
#include "virtio/vsock/hybrid.h"

#define HOST_FDS 16
#define LISTENERS 2
#define ROUND_EVENTS 16
/* Step 8's packet: header then data, one descriptor, at the top of RAM. */
#define PKT_GPA (FZ_RAM - VSOCK_HDR_LEN - 0x10000u)
/* Step 9's receive buffers, clear of the rings. */
#define RXBUF_GPA 0x10000u

static struct fz_drv drv;
static struct eventloop loop;
static struct vsock_uds *vu;
static char uds[64];
static int listeners[LISTENERS] = { -1, -1 };
static int host[HOST_FDS];
static unsigned int nhost;
static bool ready;
static uint8_t sink[VU_CONN_BUF];
/* The input's modes (step 7). */
static bool hold, auto_read;
static int sndbuf;
/* The device's clock: only step 10 moves it. */
static uint64_t now_ns;

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

/* The host programs: accept what the guest connected; read all only in auto-read. */
static void host_serve(void)
{
	int fd;

	for (unsigned int l = 0; l < LISTENERS; l++)
		while ((fd = accept4(listeners[l], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
			host_add(fd);
	for (unsigned int i = 0; auto_read && i < nhost; i++)
		while (recv(host[i], sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
}

/* The device's sockets send no more than sndbuf ahead of their reader (0: as made). */
static void device_sockets(void)
{
	for (unsigned int i = 0; sndbuf && i < vu->nconns; i++)
		setsockopt(vu->conns[i]->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
}

/* The receive list: live connections (in conns[]), each marked queued, once, up to rx_tail. */
static void vsock_check(void)
{
	const struct vu_conn *c, *last = NULL;
	unsigned int listed = 0, queued = 0, from_host = 0;

	for (unsigned int i = 0; i < vu->nconns; i++)
		queued += vu->conns[i]->queued;
	for (c = vu->rx_head; c; c = c->next) {
		bool live = false;

		CHECK(++listed <= vu->nconns);
		for (unsigned int i = 0; i < vu->nconns && !live; i++)
			live = vu->conns[i] == c;
		CHECK(live);
		CHECK(c->queued);
		last = c;
	}
	CHECK(last == vu->rx_tail);
	CHECK(listed == queued);
	for (unsigned int i = 0; i < vu->nconns; i++) {
		CHECK(vu->conns[i]->from_host || vu->conns[i]->state != VU_HANDSHAKE);
		from_host += vu->conns[i]->from_host;
	}
	CHECK(from_host == vu->nhost && vu->nconns - from_host == vu->nguest);
	CHECK(vu->nhost <= VU_MAX_HOST_CONNS && vu->nguest <= VU_MAX_GUEST_CONNS);
}

/*
 * One round of the I/O loop, one batch as eventloop_dispatch runs it, but
 * with at most max events, maybe in reverse, each set masked by mask.
 */
static int loop_round(int max, bool reverse, uint32_t mask)
{
	struct epoll_event evs[ROUND_EVENTS];
	int n;

	host_serve();
	device_sockets();
	n = epoll_wait(loop.epfd, evs, max, 0);
	CHECK(n >= 0);
	eventloop_batch_begin(&loop);
	for (int k = 0; k < n; k++) {
		const struct epoll_event *e = &evs[reverse ? n - 1 - k : k];
		struct eventloop_handler *h = e->data.ptr;
		uint32_t events = e->events & mask;

		/* A callback may have removed this handler already. */
		if (h->fd >= 0 && events)
			h->cb(h->opaque, events);
		vsock_check();
	}
	eventloop_batch_end(&loop);
	return n;
}

/* Rounds until nothing is ready, as tests/unit/vsock_uds_rig.h turns them. */
static void loop_settle(void)
{
	for (int round = 0; round < 1000; round++)
		if (!loop_round(ROUND_EVENTS, false, ~0u))
			return;
	CHECK(!"the I/O loop never went idle");
}

/* After every kick and step: the loop turns, unless the input holds it. */
static void vsock_settle(struct fz_drv *d)
{
	(void)d;
	vsock_check(); /* the kick ran the device inline */
	if (!hold) {
		loop_settle();
		return;
	}
	host_serve();
	device_sockets();
}

static uint32_t round_mask(uint8_t m)
{
	static const uint32_t bits[] = { EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDHUP };
	uint32_t mask = 0;

	if (!m)
		return ~0u;
	for (unsigned int i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (m & (1u << i))
			mask |= bits[i];
	return mask;
}

static void host_client(struct fz *in, uint8_t b)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	uint8_t buf[256];
	size_t n;

	CHECK(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uds);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return;
	}
	if (b & 0x80)
		n = fz_take(in, buf, fz_u8(in) % sizeof(buf));
	else
		n = (size_t)snprintf((char *)buf, sizeof(buf), "CONNECT %u\n",
				     b & 0x40 ? fz_u32(in) : 5000u);
	(void)!send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	host_add(fd);
}

/* A host program reads all the device sends it, as long as it sends (bounded). */
static void host_catch_up(int fd)
{
	for (int round = 0; round < 256; round++) {
		bool got = false;

		while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			got = true;
		if (!got || hold)
			return;
		loop_settle();
	}
}

/* The driver publishes descriptor head on queue q (as fz_drv's AVAIL) and kicks. */
static void guest_publish(struct fz_drv *d, unsigned int q, uint16_t head)
{
	uint64_t ring = (uint64_t)q * FZ_QSTRIDE;
	uint16_t idx = d->avail_idx[q];

	memcpy(d->ram + ring + 0x1000 + 4 + 2u * (idx % d->qsize[q]), &head, 2);
	d->avail_idx[q] = ++idx;
	memcpy(d->ram + ring + 0x1000 + 2, &idx, 2);
}

static void guest_desc(struct fz_drv *d, unsigned int q, uint16_t i, uint32_t addr,
		       uint32_t len, uint16_t flags)
{
	struct virtq_desc desc = { addr, len, flags, 0 };

	memcpy(d->ram + (uint64_t)q * FZ_QSTRIDE + 16u * i, &desc, sizeof(desc));
}

static void guest_packet(struct fz_drv *d, struct fz *in)
{
	static const uint32_t guest_ports[] = { 1234, 1235, 5000, 5001 };
	static const uint32_t host_ports[] = { 5000, 52, VU_FIRST_LOCAL_PORT,
					       VU_FIRST_LOCAL_PORT + 1 };
	uint8_t op = fz_u8(in) % 8, ports = fz_u8(in);
	struct vsock_hdr h = { .src_cid = 3, .dst_cid = VSOCK_HOST_CID,
			       .src_port = guest_ports[ports & 3],
			       .dst_port = host_ports[(ports >> 2) & 3],
			       .type = VSOCK_TYPE_STREAM, .op = op, .flags = fz_u8(in),
			       .buf_alloc = VU_CONN_BUF };
	uint16_t qs = d->qsize[VU_TXQ], head;

	h.len = fz_u16(in);
	h.fwd_cnt = fz_u32(in);
	if (!qs)
		return;
	head = d->avail_idx[VU_TXQ] % qs;
	memcpy(d->ram + PKT_GPA, &h, VSOCK_HDR_LEN);
	guest_desc(d, VU_TXQ, head, PKT_GPA, VSOCK_HDR_LEN + h.len, 0);
	guest_publish(d, VU_TXQ, head);
	fz_wr(d, 0x050, VU_TXQ);
}

static void guest_rx_buffers(struct fz_drv *d, unsigned int n)
{
	uint16_t qs = d->qsize[VU_RXQ], head;

	for (unsigned int k = 0; qs && k < n; k++) {
		head = d->avail_idx[VU_RXQ] % qs;
		guest_desc(d, VU_RXQ, head, RXBUF_GPA + 0x1000u * k, 0x1000, VIRTQ_DESC_F_WRITE);
		guest_publish(d, VU_RXQ, head);
	}
	if (qs)
		fz_wr(d, 0x050, VU_RXQ);
}

static uint64_t fz_now(void *opaque)
{
	(void)opaque;
	return now_ns;
}

/* Step 10: time passes, and the timer fires now, whatever it was armed for. */
static void time_passes(struct fz *in, uint8_t b)
{
	struct itimerspec past = { .it_value = { 0, 1 } };
	uint64_t ms = b & 0x80 ? VU_HANDSHAKE_MS : fz_u16(in);

	now_ns += ms * 1000000ull;
	CHECK(timerfd_settime(vu->hs_tfd, TFD_TIMER_ABSTIME, &past, NULL) == 0);
}

static void vsock_modes(uint8_t m)
{
	static const int sizes[] = { 4096, 16384, 65536, 0 };

	hold = m & 1;
	auto_read = m & 2;
	sndbuf = sizes[(m >> 2) & 3];
}

static void vsock_step(struct fz_drv *d, struct fz *in)
{
	uint8_t b = fz_u8(in), buf[256];
	unsigned int i = nhost ? fz_u8(in) % nhost : 0;
	size_t n;

	switch (b % 16) {
	case 0:
		host_client(in, b);
		break;
	case 1:
		n = fz_take(in, buf, fz_u8(in));
		if (nhost)
			(void)!send(host[i], buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	case 2:
	case 5:
		if (nhost)
			shutdown(host[i], b % 16 == 2 ? SHUT_WR : SHUT_RD);
		break;
	case 3:
		if (nhost)
			host_drop(i);
		break;
	case 4:
		if (b & 0x80) {
			if (nhost)
				host_catch_up(host[i]);
			break;
		}
		n = ((size_t)fz_u8(in) + 1) * 256;
		if (nhost)
			(void)!recv(host[i], sink, n, MSG_DONTWAIT);
		break;
	case 6: {
		int max = 1 + fz_u8(in) % ROUND_EVENTS;

		loop_round(max, b & 0x40, round_mask(fz_u8(in)));
		return;
	}
	case 7:
		vsock_modes(fz_u8(in));
		break;
	case 8:
		guest_packet(d, in);
		break;
	case 9:
		guest_rx_buffers(d, 1 + fz_u8(in) % 8u);
		break;
	case 10:
		time_passes(in, b);
		break;
	default:
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
	static const struct rl_clock clock = { fz_now, NULL };
	struct virtio_env env = { .loop = &loop, .mem = &drv.gm, .clock = &clock };
	char path[96];
	struct err err;
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
	CHECK(virtio_vsock_uds_create(&env, &cfg, &dev, &err) == 0);
	vu = dev->priv;
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
	vsock_modes(0);
	fz_drv_run(&drv, &in);
	/* Whatever the input held back happens now, then the reset drops every connection. */
	hold = false;
	loop_settle();
	fz_wr(&drv, 0x070, 0);
	loop_settle();
	/* The host side forgets its own. */
	while (nhost)
		host_drop(0);
	loop_settle();
	return 0;
}
