/*
 * virtio-net on vhost-net (virtio/net/vhost.c), against a fake vhost that
 * records what it is told: which rings and TAP queues it gets, the
 * features it is told, the positions it hands back at a pause (a hostile
 * one included), and the way back to userspace when a rate limiter comes.
 * The "TAP" is a SEQPACKET socketpair carrying the 12-byte header.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/ratelimit.h"
#include "mem/guest_mem.h"
#include "virtio/net.h"
#include "virtio/net/tap.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define QSIZE 16u
#define RING_GPA(q) (0x100000ull + (uint64_t)(q) * 0x10000)
#define BUF_GPA 0x400000ull
#define F(bit) (1ull << (bit))
#define PAIRS 2

struct drv {
	struct guest_mem gm;
	struct bus bus;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	int tap[PAIRS], peer[PAIRS];
};

#include "mmio_driver.h"

/* One fake /dev/vhost-net instance: the fd the device opened, what it was told. */
struct inst {
	int fd;
	unsigned int owner;
	uint64_t features;
	struct vhost_vring_state num[2], base[2];
	struct vhost_vring_addr addr[2];
	int kick[2], call[2], backend[2];
	unsigned int backend_calls;
	uint16_t vhost_base[2]; /* what VHOST_GET_VRING_BASE answers */
};

static struct fake {
	uint64_t features;
	struct inst in[PAIRS];
	unsigned int n;
} fake;

static struct inst *inst_of(int fd)
{
	for (unsigned int i = 0; i < fake.n; i++)
		if (fake.in[i].fd == fd)
			return &fake.in[i];
	assert_true(fake.n < PAIRS);
	fake.in[fake.n].fd = fd;
	return &fake.in[fake.n++];
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	struct inst *in = inst_of(fd);
	struct vhost_vring_state *st = arg;
	struct vhost_vring_file *f = arg;
	struct vhost_vring_addr *a = arg;

	switch (req) {
	case VHOST_SET_OWNER:
		in->owner++;
		return 0;
	case VHOST_GET_FEATURES:
		*(uint64_t *)arg = fake.features;
		return 0;
	case VHOST_SET_FEATURES:
		in->features = *(uint64_t *)arg;
		return 0;
	case VHOST_SET_MEM_TABLE:
		return 0;
	case VHOST_SET_VRING_NUM:
		in->num[st->index] = *st;
		return 0;
	case VHOST_SET_VRING_BASE:
		in->base[st->index] = *st;
		return 0;
	case VHOST_GET_VRING_BASE:
		st->num = in->vhost_base[st->index];
		return 0;
	case VHOST_SET_VRING_ADDR:
		in->addr[a->index] = *a;
		return 0;
	case VHOST_SET_VRING_KICK:
		in->kick[f->index] = f->fd;
		return 0;
	case VHOST_SET_VRING_CALL:
		in->call[f->index] = f->fd;
		return 0;
	case VHOST_NET_SET_BACKEND:
		in->backend[f->index] = f->fd;
		in->backend_calls++;
		return 0;
	default:
		return -ENOTTY;
	}
}

#define ALL_VHOST                                                                            \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_INDIRECT_DESC) |         \
	 F(VIRTIO_NET_F_MRG_RXBUF) | F(VHOST_F_LOG_ALL) | F(VHOST_NET_F_VIRTIO_NET_HDR))

static void fake_destroy(struct net_be *be)
{
	for (unsigned int i = 0; i < be->nqueues; i++)
		close(be->fds[i]);
	free(be);
}

static const struct net_be_ops fake_ops = { .destroy = fake_destroy };

/* A two-pair "TAP" NIC; on vhost when attach_path is given. */
static int drv_open(struct drv *d, const char *attach_path, bool required, struct err *err)
{
	struct virtio_env env = { .mem = &d->gm };
	struct virtio_host host = { .vm_fd = -1, .bus = &d->bus };
	struct net_config cfg;
	struct net_be *be = calloc(1, sizeof(*be));
	int ret;

	memset(d, 0, sizeof(*d));
	memset(&fake.in, 0, sizeof(fake.in));
	fake.n = 0;
	assert_int_equal(guest_mem_init(&d->gm, 64ull << 20), 0);
	bus_init(&d->bus);
	assert_int_equal(virtio_net_parse("tap=fake0", &cfg, err), 0);
	be->ops = &fake_ops;
	be->name = "fake0";
	be->nqueues = PAIRS;
	be->vnet_hdr = true;
	be->offload_features = F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM);
	for (unsigned int i = 0; i < PAIRS; i++) {
		int sv[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
		be->fds[i] = d->tap[i] = sv[0];
		d->peer[i] = sv[1];
	}
	assert_int_equal(virtio_net_create_backend(&env, &cfg, be, &d->dev, err), 0);
	ret = attach_path ? virtio_net_attach_vhost(d->dev, attach_path, fake_ioctl, required,
						    err) : 0;
	assert_int_equal(mmio_attach(d->dev, &host, BASE, 5, &d->t), 0);
	return ret;
}

static void drv_close(struct drv *d)
{
	mmio_detach_destroy(d->dev, d->t);
	for (unsigned int i = 0; i < PAIRS; i++)
		close(d->peer[i]);
	bus_destroy(&d->bus);
	guest_mem_destroy(&d->gm);
}

static void drv_start(struct drv *d)
{
	mmio_init_queues(d, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_CSUM) |
			    F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_MRG_RXBUF) |
			    F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ) | F(VIRTIO_F_EVENT_IDX),
			 2 * PAIRS + 1, QSIZE, RING_GPA(0));
}

/* One RX buffer on queue q's ring (descriptor n), published. */
static void post_rx(struct drv *d, unsigned int q, uint16_t n)
{
	struct virtq_desc *desc = gp(d, RING_GPA(q), 16 * QSIZE);
	uint16_t *avail = gp(d, RING_GPA(q) + 0x4000, 6 + 2 * QSIZE);

	desc[n] = (struct virtq_desc){ .addr = BUF_GPA + n * 4096ull, .len = 2048,
				       .flags = VIRTQ_DESC_F_WRITE };
	avail[2 + n] = n;
	__atomic_store_n(&avail[1], (uint16_t)(n + 1), __ATOMIC_RELEASE);
}

static uint16_t *used_idx(struct drv *d, unsigned int q)
{
	return &((uint16_t *)gp(d, RING_GPA(q) + 0x8000, 4))[1];
}

/* A frame from the "wire" with the TAP's virtio header in front. */
static void send_frame(struct drv *d, unsigned int pair)
{
	uint8_t f[12 + 60] = { 0 };

	memset(f + 12, 0xab, 60);
	assert_int_equal(send(d->peer[pair], f, sizeof(f), 0), (ssize_t)sizeof(f));
}

static void test_rings_and_taps_to_vhost(void **state)
{
	struct drv d;
	struct err err;
	uint64_t v;

	(void)state;
	fake.features = ALL_VHOST;
	assert_int_equal(drv_open(&d, "/dev/null", true, &err), 0);
	assert_int_equal(fake.n, PAIRS);
	assert_int_equal(fake.in[0].backend_calls, 0); /* nothing before DRIVER_OK */
	drv_start(&d);
	assert_true(virtio_net_on_vhost(d.dev));
	for (unsigned int i = 0; i < PAIRS; i++) {
		struct inst *in = &fake.in[i];

		assert_int_equal(in->owner, 1);
		/* Only what vhost knows; the offloads are the TAP's and the header is its own. */
		assert_int_equal(in->features, F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) |
				 F(VIRTIO_NET_F_MRG_RXBUF));
		for (unsigned int r = 0; r < 2; r++) {
			unsigned int q = 2 * i + r;

			assert_int_equal(in->num[r].num, QSIZE);
			assert_int_equal(in->base[r].num, 0);
			assert_ptr_equal((void *)(uintptr_t)in->addr[r].desc_user_addr,
					 gp(&d, RING_GPA(q), 16));
			assert_ptr_equal((void *)(uintptr_t)in->addr[r].used_user_addr,
					 gp(&d, RING_GPA(q) + 0x8000, 4));
			assert_int_equal(in->backend[r], d.tap[i]);
			assert_true(in->kick[r] >= 0 && in->call[r] >= 0);
		}
	}
	/* The TAP is vhost's: a frame on it is not read here. */
	post_rx(&d, 0, 0);
	send_frame(&d, 0);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(*used_idx(&d, 0), 0);
	assert_int_equal(recv(d.tap[0], (char[128]){ 0 }, 128, MSG_DONTWAIT), 72);
	/* No ioeventfd here: a QueueNotify is relayed to vhost's kick eventfd. */
	while (read(fake.in[1].kick[1], &v, sizeof(v)) > 0)
		;
	wr(&d, 0x050, 3);
	assert_int_equal(read(fake.in[1].kick[1], &v, sizeof(v)), (ssize_t)sizeof(v));
	assert_false(needs_reset(&d));
	drv_close(&d);
}

static void test_pause_takes_vhost_position(void **state)
{
	struct drv d;
	struct err err;

	(void)state;
	fake.features = ALL_VHOST;
	assert_int_equal(drv_open(&d, "/dev/null", true, &err), 0);
	drv_start(&d);
	for (uint16_t n = 0; n < 3; n++)
		post_rx(&d, 0, n);
	/* vhost took two of the three buffers; stopped, it has used all it took. */
	*used_idx(&d, 0) = 2;
	fake.in[0].vhost_base[0] = 2;
	assert_int_equal(virtio_dev_pause(d.dev), 0);
	assert_int_equal(fake.in[0].backend[0], -1);
	assert_int_equal(fake.in[0].backend[1], -1);
	/* Resume hands vhost the position it gave back, through the virtq. */
	virtio_dev_resume(d.dev);
	assert_int_equal(fake.in[0].base[0].num, 2);
	assert_int_equal(fake.in[0].backend[0], d.tap[0]);
	assert_false(needs_reset(&d));

	/* A vhost claiming more than the guest made available: the device asks for a reset. */
	fake.in[0].vhost_base[0] = 9;
	assert_int_equal(virtio_dev_pause(d.dev), 0);
	assert_true(needs_reset(&d));
	virtio_dev_resume(d.dev);
	assert_int_equal(fake.in[0].backend[0], -1);
	drv_close(&d);
}

static void test_limiter_leaves_vhost(void **state)
{
	struct rl_config rx = { .bandwidth = { .set = true, .size = 1u << 20,
					       .refill_time = 100 } };
	struct drv d;
	struct err err;

	(void)state;
	fake.features = ALL_VHOST;
	assert_int_equal(drv_open(&d, "/dev/null", true, &err), 0);
	drv_start(&d);
	post_rx(&d, 0, 0);
	post_rx(&d, 0, 1);
	/* vhost filled the first buffer before the limiter came. */
	*used_idx(&d, 0) = 1;
	fake.in[0].vhost_base[0] = 1;
	virtio_net_set_limiters(d.dev, &rx, NULL);
	assert_false(virtio_net_on_vhost(d.dev));
	assert_int_equal(fake.in[0].backend[0], -1);
	/* From here the TAP is read here, into the next buffer vhost left. */
	send_frame(&d, 0);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(*used_idx(&d, 0), 2);
	assert_false(needs_reset(&d));
	drv_close(&d);
}

static void test_vhost_refusals(void **state)
{
	struct drv d;
	struct err err;

	(void)state;
	fake.features = ALL_VHOST & ~F(VIRTIO_NET_F_MRG_RXBUF);
	assert_int_equal(drv_open(&d, "/dev/null", true, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "lacks virtio features 0x8000"));
	drv_close(&d);
	/* auto: the NIC is served here, and works. */
	assert_int_equal(drv_open(&d, "/dev/null", false, &err), 0);
	drv_start(&d);
	assert_false(virtio_net_on_vhost(d.dev));
	post_rx(&d, 0, 0);
	send_frame(&d, 0);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(*used_idx(&d, 0), 1);
	drv_close(&d);
	fake.features = ALL_VHOST;
	assert_int_equal(drv_open(&d, "/nonexistent/vhost-net", true, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "modprobe vhost_net"));
	drv_close(&d);
}

static void test_parse_vhost(void **state)
{
	struct net_config cfg;
	struct err err;

	(void)state;
	assert_int_equal(virtio_net_parse("tap=t0", &cfg, &err), 0);
	assert_int_equal(cfg.vhost, NET_VHOST_AUTO);
	assert_int_equal(virtio_net_parse("tap=t0,vhost=on", &cfg, &err), 0);
	assert_int_equal(cfg.vhost, NET_VHOST_ON);
	assert_int_equal(virtio_net_parse("tap=t0,vhost=off", &cfg, &err), 0);
	assert_int_equal(cfg.vhost, NET_VHOST_OFF);
	assert_int_equal(virtio_net_parse("tap=t0,vhost=yes", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "vhost='yes': want on, off or auto"));
	assert_int_equal(virtio_net_parse("user,vhost=on", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown option 'vhost=on' for user"));
	/* queues=N: a TAP's queue pairs, 0 (one per vCPU) unless given. */
	assert_int_equal(cfg.queues, 0);
	assert_int_equal(virtio_net_parse("tap=t0,queues=1,vhost=on", &cfg, &err), 0);
	assert_int_equal(cfg.queues, 1);
	assert_int_equal(virtio_net_parse("tap=t0,queues=4", &cfg, &err), 0);
	assert_int_equal(cfg.queues, 4);
	for (unsigned int i = 0; i < 5; i++) {
		static const char *const bad[] = { "0", "5", "-1", "", "2x" };
		char spec[32];

		snprintf(spec, sizeof(spec), "tap=t0,queues=%s", bad[i]);
		assert_int_equal(virtio_net_parse(spec, &cfg, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "want 1 to 4"));
	}
	assert_int_equal(virtio_net_parse("user,queues=2", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown option 'queues=2' for user"));
}

/* A persistent TAP, as `ip tuntap add NAME mode tap [multi_queue]` makes one. */
static int make_tap(const char *name, bool mq)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (mq)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* How many queues net_tap_open gives for pairs on tap name; -errno when it fails. */
static int tap_queues(const char *name, unsigned int pairs)
{
	struct net_be *be = NULL;
	struct err err;
	int ret = net_tap_open(name, pairs, &be, &err);

	if (ret)
		return ret;
	ret = (int)be->nqueues;
	be->ops->destroy(be);
	return ret;
}

/*
 * queues=1 (or one vCPU) on a TAP made multi_queue takes one queue of it
 * (without IFF_MULTI_QUEUE the kernel refuses such a TAP), and two pairs
 * on a single-queue TAP fall back to one. Runs in a network namespace of
 * its own, in a child: each bit of its exit status is one failed check.
 */
static void test_tap_queue_kinds(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	if (access("/dev/net/tun", R_OK | W_OK))
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int bad = 0;

		if (unshare(CLONE_NEWNET))
			_exit(77);
		if (make_tap("mq0", true) || make_tap("sq0", false))
			_exit(77);
		bad |= (tap_queues("mq0", 1) != 1) << 0;
		bad |= (tap_queues("mq0", 2) != 2) << 1;
		bad |= (tap_queues("sq0", 2) != 1) << 2;
		bad |= (tap_queues("sq0", 1) != 1) << 3;
		_exit(bad);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rings_and_taps_to_vhost),
		cmocka_unit_test(test_pause_takes_vhost_position),
		cmocka_unit_test(test_limiter_leaves_vhost),
		cmocka_unit_test(test_vhost_refusals),
		cmocka_unit_test(test_parse_vhost),
		cmocka_unit_test(test_tap_queue_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
