/*
 * libFuzzer target for virtio-net (src/virtio/net/net.c, rx.c): TX
 * frames, RX delivery into the guest's buffers (mergeable or not, as the
 * driver negotiates MRG_RXBUF) and the control queue, driven by a hostile
 * driver program (fz_drv.h). The backend is a fake: two queue pairs, each
 * a SEQPACKET socketpair whose far end this target holds, offering every
 * offload, so the device has MQ and a control queue (queue 4).
 *
 * Device step (opcode 5): a byte b, then
 *   b & 3 == 0  a frame from the backend: pair, length, bytes (padded
 *               with zeros); then the device's RX poll, as on EPOLLIN
 *   b & 3 == 1  toggle whether the backend carries the virtio header
 *   b & 3 == 2  toggle an in-process backend (its send and recv ops,
 *               as user-mode networking has) for the socketpairs: the
 *               frames of step 0 go into its FIFO, bounded by its cap;
 *               then the RX poll
 *   b & 3 == 3  the RX poll alone
 *
 * Checked besides ASan/UBSan: every frame the device hands the backend
 * is at least an Ethernet header and at most the largest legal frame.
 */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fz_drv.h"
#include "util/frameq.h"
#include "util/log.h"
#include "virtio/net.h"
#include "virtio/net/priv.h"

#define PAIRS 2

static struct fz_drv drv;
static struct net_be be;
static int far[PAIRS];
static bool ready;
static uint8_t frame[NET_BUF_LEN + 64];
/* The in-process backend's FIFOs, per pair. */
static struct frameq to_guest[PAIRS], from_guest[PAIRS];

static void fake_destroy(struct net_be *b)
{
	(void)b;
}

static int fake_set_offload(struct net_be *b, uint64_t features)
{
	(void)b;
	(void)features;
	return 0;
}

static const struct net_be_ops fake_ops = { .set_offload = fake_set_offload,
					    .destroy = fake_destroy };

static int inproc_send(struct net_be *b, unsigned int p, const void *f, size_t len)
{
	(void)b;
	CHECK(p < PAIRS);
	return frameq_push(&from_guest[p], f, len);
}

static ssize_t inproc_recv(struct net_be *b, unsigned int p, void *buf, size_t len)
{
	(void)b;
	CHECK(p < PAIRS);
	return frameq_pop(&to_guest[p], buf, len);
}

static const struct net_be_ops inproc_ops = { .set_offload = fake_set_offload,
					      .destroy = fake_destroy,
					      .send = inproc_send,
					      .recv = inproc_recv };

static void check_size(size_t n)
{
	size_t hdr = be.vnet_hdr ? NET_HDR_LEN : 0;

	CHECK(n >= hdr + NET_FRAME_MIN);
	CHECK(n <= hdr + NET_FRAME_MAX_BIG);
}

/* Takes every frame the device wrote to the backend, checking each one's size. */
static void net_drain(struct fz_drv *d)
{
	(void)d;
	for (unsigned int i = 0; i < PAIRS; i++) {
		ssize_t n;

		while ((n = recv(far[i], frame, sizeof(frame), MSG_DONTWAIT)) >= 0)
			check_size((size_t)n);
		while ((n = frameq_pop(&from_guest[i], frame, sizeof(frame))) != -EAGAIN) {
			CHECK(n >= 0);
			check_size((size_t)n);
		}
	}
}

static void net_step(struct fz_drv *d, struct fz *in)
{
	uint8_t b = fz_u8(in);

	if ((b & 3) == 0) {
		unsigned int p = (b >> 2) % PAIRS;
		size_t len = fz_u16(in) % sizeof(frame);

		memset(frame, 0, len);
		fz_take(in, frame, len);
		if (be.ops == &inproc_ops)
			(void)frameq_push(&to_guest[p], frame, len);
		else
			(void)!send(far[p], frame, len, MSG_DONTWAIT);
	} else if ((b & 3) == 1) {
		be.vnet_hdr = !be.vnet_hdr;
		return;
	} else if ((b & 3) == 2) {
		be.ops = be.ops == &inproc_ops ? &fake_ops : &inproc_ops;
	}
	virtio_net_rx_poll(d->dev);
}

static void setup(void)
{
	struct virtio_env env = { .mem = &drv.gm };
	struct net_config cfg = { .backend = NET_TAP };
	struct virtio_dev *dev;
	struct err err;

	log_set_level(LOG_ERR);
	fz_drv_ram(&drv);
	be = (struct net_be){
		.ops = &fake_ops,
		.name = "fuzz",
		.nqueues = PAIRS,
		.vnet_hdr = true,
		.offload_features = (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) |
				    NET_RX_BIG_FEATURES | NET_TX_BIG_FEATURES |
				    (1ull << VIRTIO_NET_F_HOST_ECN) | (1ull << VIRTIO_NET_F_GUEST_ECN),
		.mtu = 1500,
	};
	for (unsigned int i = 0; i < PAIRS; i++) {
		int sv[2];

		frameq_init(&to_guest[i], 256u << 10);
		frameq_init(&from_guest[i], 256u << 10);
		CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
		be.fds[i] = sv[0];
		far[i] = sv[1];
	}
	CHECK(virtio_net_create_backend(&env, &cfg, &be, &dev, &err) == 0);
	drv.dev_step = net_step;
	drv.settle = net_drain;
	fz_drv_attach(&drv, dev);
	ready = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };

	if (!ready)
		setup();
	be.vnet_hdr = true;
	be.ops = &fake_ops;
	fz_drv_run(&drv, &in);
	fz_wr(&drv, 0x070, 0);
	/* Nothing carries over: frames the device left in the backend go too. */
	net_drain(&drv);
	for (unsigned int i = 0; i < PAIRS; i++) {
		while (recv(be.fds[i], frame, sizeof(frame), MSG_DONTWAIT) >= 0)
			;
		frameq_clear(&to_guest[i]);
	}
	return 0;
}
