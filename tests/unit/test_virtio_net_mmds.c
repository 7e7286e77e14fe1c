/*
 * virtio-net with an MMDS stack, driven through the mmio registers: the
 * guest's frames for the MMDS go to the stack and never to the backend,
 * the stack's answers reach the guest's receive queue, and everything
 * else still goes to the backend.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "mmds/mmds.h"
#include "mem/guest_mem.h"
#include "virtio/net.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define QSIZE 16u
#define RING_GPA(q) (0x100000ull + (uint64_t)(q) * 0x10000)
#define BUF_GPA 0x400000ull
#define F(bit) (1ull << (bit))
#define MMDS_IP 0xa9fea9feu

struct drv {
	struct guest_mem gm;
	struct bus bus;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	struct eventloop loop;
	struct mmds *m;
	int peer; /* the backend's "wire" end */
	unsigned int nq;
	uint16_t avail_idx[8], next_desc[8];
	uint64_t next_buf;
};

#include "mmio_driver.h"

static void fake_destroy(struct net_be *be)
{
	close(be->fds[0]);
	free(be);
}

static const struct net_be_ops fake_ops = { .destroy = fake_destroy };

static void drv_open(struct drv *d)
{
	struct virtio_env env = { .mem = &d->gm, .loop = &d->loop };
	struct virtio_host host = { .vm_fd = -1, .bus = &d->bus, .loop = &d->loop };
	struct net_be *be = calloc(1, sizeof(*be));
	struct net_config cfg;
	struct err err;
	int sv[2];

	memset(d, 0, sizeof(*d));
	assert_int_equal(guest_mem_init(&d->gm, 64ull << 20), 0);
	bus_init(&d->bus);
	assert_int_equal(eventloop_init(&d->loop), 0);
	assert_int_equal(mmds_new(51200, &d->m), 0);
	assert_int_equal(virtio_net_parse("user", &cfg, &err), 0);
	cfg.mmds = d->m;
	cfg.mmds_ipv4 = htonl(MMDS_IP);
	be->ops = &fake_ops;
	be->name = "fake";
	be->nqueues = 1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	be->fds[0] = sv[0];
	d->peer = sv[1];
	if (virtio_net_create_backend(&env, &cfg, be, &d->dev, &err))
		fail_msg("virtio_net_create_backend: %s", err.msg);
	assert_int_equal(mmio_attach(d->dev, &host, BASE, 5, &d->t), 0);
	d->nq = 2;
	d->next_buf = BUF_GPA;
	mmio_init_queues(d, F(VIRTIO_NET_F_MAC), d->nq, QSIZE, RING_GPA(0));
}

static void drv_close(struct drv *d)
{
	mmio_detach_destroy(d->dev, d->t);
	/* The stack left the loop with its device. */
	assert_int_equal(d->loop.npollers, 0);
	close(d->peer);
	eventloop_destroy(&d->loop);
	mmds_free(d->m);
	bus_destroy(&d->bus);
	guest_mem_destroy(&d->gm);
}

/* One buffer on queue q; its guest address. */
static uint64_t post(struct drv *d, unsigned int q, uint32_t len, bool write)
{
	struct virtq_desc *desc = gp(d, RING_GPA(q), 16 * QSIZE);
	uint16_t *avail = gp(d, RING_GPA(q) + 0x4000, 6 + 2 * QSIZE);
	uint16_t head = d->next_desc[q] % QSIZE;
	uint64_t first = d->next_buf;

	desc[head] = (struct virtq_desc){ .addr = d->next_buf, .len = len,
					  .flags = write ? VIRTQ_DESC_F_WRITE : 0 };
	d->next_buf += (len + 4095) & ~4095ull;
	d->next_desc[q]++;
	avail[2 + d->avail_idx[q] % QSIZE] = head;
	__atomic_store_n(&avail[1], ++d->avail_idx[q], __ATOMIC_RELEASE);
	return first;
}

static uint16_t used_idx(struct drv *d, unsigned int q)
{
	return ((uint16_t *)gp(d, RING_GPA(q) + 0x8000, 4))[1];
}

/* The guest sends frame (a 12-byte header first, all zero). */
static void guest_send(struct drv *d, const uint8_t *frame, size_t len)
{
	uint64_t gpa = post(d, 1, (uint32_t)(12 + len), false);
	uint8_t *p = gp(d, gpa, 12 + len);

	memset(p, 0, 12);
	memcpy(p + 12, frame, len);
	wr(d, 0x050, 1);
}

static size_t arp_request(uint8_t *f, uint32_t tip)
{
	static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };

	memset(f, 0, 42);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	f[15] = 1;
	f[16] = 0x08;
	f[18] = 6;
	f[19] = 4;
	f[21] = 1;
	memcpy(f + 22, mac, 6);
	memcpy(f + 28, (uint8_t[]){ 172, 16, 0, 2 }, 4);
	tip = htonl(tip);
	memcpy(f + 38, &tip, 4);
	return 42;
}

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Turns the stack's rounds and the device's receive path until the guest got n frames. */
static bool wait_rx(struct drv *d, uint16_t n)
{
	struct eventloop_poller *p = &d->loop.pollers[0];
	int64_t end = ms_now() + 10000;

	do {
		unsigned int cnt;
		int timeout = -1, rc;
		struct pollfd *pfd = p->ops->prepare(p->opaque, &cnt, &timeout);

		rc = poll(pfd, cnt, 10);
		p->ops->dispatch(p->opaque, rc < 0);
		virtio_net_rx_poll(d->dev);
		if (used_idx(d, 0) >= n)
			return true;
	} while (ms_now() < end);
	return false;
}

static void test_mmds_frames_go_to_the_stack(void **state)
{
	struct drv *d = malloc(sizeof(*d));
	uint8_t f[64], out[64], *p;
	uint64_t rx;
	uint32_t mmds_be = htonl(MMDS_IP);
	static const uint8_t guest_ip[4] = { 172, 16, 0, 2 };

	(void)state;
	drv_open(d);
	assert_int_equal(d->loop.npollers, 1);
	rx = post(d, 0, 2048, true);
	/* A guest at 172.16.0.2 asks who has 169.254.169.254. */
	guest_send(d, f, arp_request(f, MMDS_IP));
	assert_int_equal(used_idx(d, 1), 1);
	assert_int_equal(recv(d->peer, out, sizeof(out), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	assert_true(wait_rx(d, 1));
	p = gp(d, rx, 12 + 42);
	assert_int_equal(p[12 + 21], 2);               /* an ARP reply */
	assert_memory_equal(p + 12 + 28, &mmds_be, 4);  /* from the MMDS address */
	assert_memory_equal(p + 12 + 38, guest_ip, 4);

	/* Anyone else's ARP still goes to the backend, as before. */
	guest_send(d, f, arp_request(f, 0xac100001u));
	assert_int_equal(recv(d->peer, out, sizeof(out), MSG_DONTWAIT), 42);
	drv_close(d);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mmds_frames_go_to_the_stack),
	};

	/* As Hearth's runner: libslirp writes to a closed Unix peer with plain send(). */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
