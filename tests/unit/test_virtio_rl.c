/*
 * Rate limiters on virtio-net (TX and RX) and virtio-rng, driven through
 * the mmio registers over real rings; kicks run inline and the I/O loop
 * (the limiters' timers, the backend) is dispatched by the test. The
 * limiters run on a fake clock: the test moves time, the timer only says
 * when to look again.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "util/log.h"
#include "virtio/net.h"
#include "virtio/rng.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define QSIZE 16u
#define RING_GPA(q) (0x100000ull + (uint64_t)(q) * 0x10000)
#define BUF_GPA 0x400000ull
#define MS 1000000ull
#define FRAME 60u

struct drv {
	struct guest_mem gm;
	struct bus bus;
	struct eventloop loop;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	int peer;
	uint16_t avail_idx[3], next_desc[3];
	uint64_t next_buf;
};

#include "mmio_driver.h"

static uint64_t fake_now = 1000 * MS;

static uint64_t fake_clock(void *opaque)
{
	(void)opaque;
	return fake_now;
}

static const struct rl_clock clk = { fake_clock, NULL };

static void fake_destroy(struct net_be *be)
{
	close(be->fds[0]);
	free(be);
}

static const struct net_be_ops fake_be_ops = { .destroy = fake_destroy };

static struct drv *drv_new(bool net)
{
	struct drv *d = calloc(1, sizeof(*d));
	struct virtio_env env = { .loop = &d->loop, .mem = &d->gm, .clock = &clk };
	/* No loop for the transport: kicks run inline, as a test wants them. */
	struct virtio_host host = { .vm_fd = -1, .bus = &d->bus };
	struct err err;

	log_set_level(LOG_ERR);
	assert_int_equal(guest_mem_init(&d->gm, 64ull << 20), 0);
	bus_init(&d->bus);
	assert_int_equal(eventloop_init(&d->loop), 0);
	d->peer = -1;
	if (net) {
		struct net_be *be = calloc(1, sizeof(*be));
		struct net_config cfg;
		int sv[2];

		assert_int_equal(virtio_net_parse("user", &cfg, &err), 0);
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
		*be = (struct net_be){ .ops = &fake_be_ops, .name = "fake", .nqueues = 1 };
		be->fds[0] = sv[0];
		d->peer = sv[1];
		assert_int_equal(virtio_net_create_backend(&env, &cfg, be, &d->dev, &err), 0);
	} else {
		assert_int_equal(virtio_rng_create(&env, &d->dev, &err), 0);
	}
	assert_int_equal(mmio_attach(d->dev, &host, BASE, 5, &d->t), 0);
	mmio_init_queues(d, 0, net ? 2 : 1, QSIZE, RING_GPA(0));
	d->next_buf = BUF_GPA;
	return d;
}

static void drv_free(struct drv *d)
{
	mmio_detach_destroy(d->dev, d->t);
	if (d->peer >= 0)
		close(d->peer);
	eventloop_destroy(&d->loop);
	bus_destroy(&d->bus);
	guest_mem_destroy(&d->gm);
	free(d);
}

/* One buffer on queue q, device-writable or not. */
static void post(struct drv *d, unsigned int q, uint32_t len, bool write)
{
	struct virtq_desc *desc = gp(d, RING_GPA(q), 16 * QSIZE);
	uint16_t *avail = gp(d, RING_GPA(q) + 0x4000, 6 + 2 * QSIZE);
	uint16_t head = d->next_desc[q]++ % QSIZE;

	desc[head] = (struct virtq_desc){ .addr = d->next_buf, .len = len,
					  .flags = write ? VIRTQ_DESC_F_WRITE : 0 };
	memset(gp(d, d->next_buf, len), 0, len);
	d->next_buf += 4096;
	avail[2 + d->avail_idx[q] % QSIZE] = head;
	__atomic_store_n(&avail[1], ++d->avail_idx[q], __ATOMIC_RELEASE);
}

static uint16_t used_idx(struct drv *d, unsigned int q)
{
	return ((uint16_t *)gp(d, RING_GPA(q) + 0x8000, 4))[1];
}

static void kick(struct drv *d, unsigned int q)
{
	wr(d, 0x050, q);
}

/* One loop round, waiting (5 s at most: a hang, not a speed limit) for something to be ready. */
static void loop_round(struct drv *d)
{
	struct epoll_event evs[8];
	int n = epoll_wait(d->loop.epfd, evs, 8, 5000);

	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		struct eventloop_handler *h = evs[i].data.ptr;

		h->cb(h->opaque, evs[i].events);
	}
}

static bool loop_idle(struct drv *d)
{
	struct epoll_event ev;

	return epoll_wait(d->loop.epfd, &ev, 1, 0) == 0;
}

static uint64_t counter(struct drv *d, const char *name)
{
	struct dev_counter c[16];
	unsigned int n = virtio_dev_counters(d->dev, c, 16);

	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].value;
	fail_msg("no counter %s", name);
	return 0;
}

static unsigned int frames_out(struct drv *d)
{
	uint8_t buf[2048];
	unsigned int n = 0;

	while (recv(d->peer, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

static void test_net_tx(void **state)
{
	struct drv *d = drv_new(true);
	struct rl_config two = { .ops = { true, 2, 0, 1000 } };

	(void)state;
	virtio_net_set_limiters(d->dev, NULL, &two);
	for (int i = 0; i < 5; i++)
		post(d, 1, 12 + FRAME, false);
	kick(d, 1);
	assert_int_equal(frames_out(d), 2);
	assert_int_equal(used_idx(d, 1), 2);
	assert_int_equal(counter(d, "tx_rate_limiter_throttled"), 1);
	/* The timer fires; with no time passed there are no tokens yet. */
	loop_round(d);
	assert_int_equal(used_idx(d, 1), 2);
	assert_int_equal(counter(d, "tx_rate_limiter_throttled"), 2);
	fake_now += 1000 * MS;
	loop_round(d);
	assert_int_equal(frames_out(d), 2);
	assert_int_equal(used_idx(d, 1), 4);
	fake_now += 1000 * MS;
	loop_round(d);
	assert_int_equal(frames_out(d), 1);
	assert_int_equal(used_idx(d, 1), 5);
	assert_int_equal(counter(d, "tx_packets"), 5);
	assert_int_equal(counter(d, "rx_rate_limiter_throttled"), 0);
	drv_free(d);
}

static void test_net_rx(void **state)
{
	struct drv *d = drv_new(true);
	/* Bytes count the virtio header: one frame and a half per refill. */
	struct rl_config bw = { .bandwidth = { true, (12 + FRAME) * 3 / 2, 0, 1000 } };
	uint8_t frame[FRAME];

	(void)state;
	virtio_net_set_limiters(d->dev, &bw, NULL);
	memset(frame, 0xab, sizeof(frame));
	for (int i = 0; i < 3; i++) {
		post(d, 0, 2048, true);
		assert_int_equal(send(d->peer, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	}
	kick(d, 0);
	assert_int_equal(used_idx(d, 0), 1);
	assert_int_equal(counter(d, "rx_rate_limiter_throttled"), 1);
	fake_now += 1000 * MS;
	loop_round(d);
	assert_int_equal(used_idx(d, 0), 2);
	fake_now += 1000 * MS;
	while (used_idx(d, 0) < 3)
		loop_round(d);
	assert_int_equal(counter(d, "rx_packets"), 3);
	assert_int_equal(*(uint8_t *)gp(d, BUF_GPA + 2 * 4096 + 12, 1), 0xab);
	drv_free(d);
}

/* Without a limiter nothing waits and no timer is armed. */
static void test_net_unlimited(void **state)
{
	struct drv *d = drv_new(true);
	uint8_t frame[FRAME] = { 0 };

	(void)state;
	for (int i = 0; i < 8; i++) {
		post(d, 1, 12 + FRAME, false);
		post(d, 0, 2048, true);
		assert_int_equal(send(d->peer, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	}
	kick(d, 1);
	kick(d, 0);
	assert_int_equal(used_idx(d, 1), 8);
	assert_int_equal(used_idx(d, 0), 8);
	assert_int_equal(frames_out(d), 8);
	assert_true(loop_idle(d));
	drv_free(d);
}

static void test_rng(void **state)
{
	struct drv *d = drv_new(false);
	struct rl_config bw = { .bandwidth = { true, 300, 0, 1000 } };

	(void)state;
	virtio_rng_set_limiter(d->dev, &bw);
	for (int i = 0; i < 7; i++)
		post(d, 0, 100, true);
	kick(d, 0);
	assert_int_equal(used_idx(d, 0), 3);
	assert_int_equal(counter(d, "rate_limiter_throttled"), 1);
	fake_now += 1000 * MS;
	loop_round(d);
	assert_int_equal(used_idx(d, 0), 6);
	assert_int_equal(counter(d, "bytes"), 600);
	/* Turned off live: the rest go at once. */
	bw.bandwidth.size = 0;
	virtio_rng_set_limiter(d->dev, &bw);
	assert_int_equal(used_idx(d, 0), 7);
	post(d, 0, 100, true);
	kick(d, 0);
	assert_int_equal(used_idx(d, 0), 8);
	drv_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_tx),
		cmocka_unit_test(test_net_rx),
		cmocka_unit_test(test_net_unlimited),
		cmocka_unit_test(test_rng),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
