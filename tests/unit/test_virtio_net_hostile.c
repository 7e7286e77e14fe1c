/*
 * virtio-net against a guest that races the device: it moves its avail
 * index while the device works. A vCPU can do that at any instant; to do
 * it deterministically the guest here acts from inside the device's own
 * steps: an RX buffer laid over its avail index (the device's copy of the
 * frame writes the new index), the backend's set_queues op (control
 * queue), and the backend write (TX).
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
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "mem/guest_mem.h"
#include "virtio/net.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define QSIZE 256u /* the device's maximum, the size of its per-frame arrays */
#define RING_GPA(q) (0x100000ull + (uint64_t)(q) * 0x10000)
#define AVAIL_GPA(q) (RING_GPA(q) + 0x4000)
#define USED_GPA(q) (RING_GPA(q) + 0x8000)
#define BUF_GPA 0x400000ull
#define F(bit) (1ull << (bit))
/* The device's per-call budgets (NET_TX_BUDGET, NET_CTRL_BUDGET in virtio/net/priv.h). */
#define TX_BUDGET 4096u
#define CTRL_BUDGET 64u

struct drv {
	struct guest_mem gm;
	struct bus bus;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	int peer[NET_MAX_QUEUE_PAIRS]; /* the "wire" ends */
	int be_fd[NET_MAX_QUEUE_PAIRS]; /* the device's ends */
	unsigned int nq;
	uint16_t avail_idx[8];
};

#include "mmio_driver.h"

/* What the racing guest does from inside the device, and what it saw. */
static struct {
	struct drv *d;
	unsigned int q;       /* queue it refills */
	uint16_t head;        /* the chain it publishes again */
	unsigned int refills; /* left to do */
	unsigned int done;    /* requests the device handled in this call */
	int tx_fd;            /* backend fd whose writes count as TX frames */
	unsigned int kicks;   /* kick_again calls */
	unsigned int kick_q;
} race;

static void fake_destroy(struct net_be *be)
{
	for (unsigned int i = 0; i < be->nqueues; i++)
		close(be->fds[i]);
	free(be);
}

static void avail_publish(struct drv *d, unsigned int q, uint16_t head);

/* Every VQ_PAIRS_SET reaches the backend: the guest refills meanwhile. */
static int fake_set_queues(struct net_be *be, unsigned int n)
{
	(void)be;
	(void)n;
	race.done++;
	if (race.d && race.refills) {
		race.refills--;
		avail_publish(race.d, race.q, race.head);
	}
	return 0;
}

static const struct net_be_ops fake_ops = { .set_queues = fake_set_queues,
					     .destroy = fake_destroy };

/*
 * The TX backend write, interposed: each frame the device sends is a
 * moment the guest, on its vCPU, publishes another. Other writes pass.
 */
ssize_t write(int fd, const void *buf, size_t len)
{
	if (race.tx_fd >= 0 && fd == race.tx_fd) {
		race.done++;
		if (race.refills) {
			race.refills--;
			avail_publish(race.d, race.q, race.head);
		}
		return (ssize_t)len;
	}
	return syscall(SYS_write, fd, buf, len);
}

static void count_kick(struct virtio_dev *dev, unsigned int q)
{
	(void)dev;
	race.kicks++;
	race.kick_q = q;
}

static void drv_open(struct drv *d, unsigned int pairs)
{
	struct virtio_env env = { .mem = &d->gm };
	struct virtio_host host = { .vm_fd = -1, .bus = &d->bus };
	struct net_config cfg;
	struct net_be *be = calloc(1, sizeof(*be));
	struct err err;

	memset(d, 0, sizeof(*d));
	memset(&race, 0, sizeof(race));
	race.tx_fd = -1;
	assert_int_equal(guest_mem_init(&d->gm, 64ull << 20), 0);
	bus_init(&d->bus);
	assert_int_equal(virtio_net_parse("user", &cfg, &err), 0);
	be->ops = &fake_ops;
	be->name = "fake";
	be->nqueues = pairs;
	for (unsigned int i = 0; i < pairs; i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
		be->fds[i] = d->be_fd[i] = sv[0];
		d->peer[i] = sv[1];
	}
	assert_int_equal(virtio_net_create_backend(&env, &cfg, be, &d->dev, &err), 0);
	assert_int_equal(mmio_attach(d->dev, &host, BASE, 5, &d->t), 0);
	d->dev->kick_again = count_kick;
	d->nq = 2 * pairs + (pairs > 1);
	race.d = d;
}

static void drv_close(struct drv *d)
{
	race.d = NULL;
	race.tx_fd = -1;
	mmio_detach_destroy(d->dev, d->t);
	for (unsigned int i = 0; i < NET_MAX_QUEUE_PAIRS; i++)
		if (d->peer[i] > 0)
			close(d->peer[i]);
	bus_destroy(&d->bus);
	guest_mem_destroy(&d->gm);
}

/* Driver initialisation (3.1.1) with QSIZE-entry queues, accepting features in mask. */
static void drv_init(struct drv *d, uint64_t mask)
{
	mmio_init_queues(d, mask, d->nq, QSIZE, RING_GPA(0));
	for (unsigned int q = 0; q < d->nq; q++)
		d->avail_idx[q] = 0;
}

static void desc_set(struct drv *d, unsigned int q, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc *desc = gp(d, RING_GPA(q), 16 * QSIZE);

	desc[i] = (struct virtq_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

/* A 4 KiB-spaced buffer per descriptor index, so chains never share memory. */
static uint64_t buf_of(unsigned int q, uint16_t i)
{
	return BUF_GPA + ((uint64_t)q * QSIZE + i) * 4096;
}

static void avail_set_idx(struct drv *d, unsigned int q, uint16_t idx)
{
	uint16_t *avail = gp(d, AVAIL_GPA(q), 6 + 2 * QSIZE);

	d->avail_idx[q] = idx;
	__atomic_store_n(&avail[1], idx, __ATOMIC_RELEASE);
}

static void avail_publish(struct drv *d, unsigned int q, uint16_t head)
{
	uint16_t *avail = gp(d, AVAIL_GPA(q), 6 + 2 * QSIZE);

	avail[2 + d->avail_idx[q] % QSIZE] = head;
	avail_set_idx(d, q, (uint16_t)(d->avail_idx[q] + 1));
}

static uint16_t used_idx(struct drv *d, unsigned int q)
{
	return ((uint16_t *)gp(d, USED_GPA(q), 4))[1];
}

static uint32_t used_len(struct drv *d, unsigned int q, unsigned int i)
{
	uint32_t *e = gp(d, USED_GPA(q) + 4 + 8 * (i % QSIZE), 8);

	return e[1];
}

static struct virtio_net_stats stats(struct drv *d)
{
	struct virtio_net_stats st;

	virtio_net_get_stats(d->dev, &st);
	return st;
}

static void send_buf(struct drv *d, const uint8_t *f, size_t len)
{
	assert_int_equal(send(d->peer[0], f, len, 0), (ssize_t)len);
}

static void expect_live(struct drv *d)
{
	assert_false(rd(d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

/*
 * RX descriptors: 0 is a 4-byte window on the avail ring's flags and idx
 * chained to 1 (8 bytes), so a 12-byte mergeable buffer whose copy sets
 * the index; 2 is a plain 12-byte buffer.
 */
static void rx_racing_descs(struct drv *d)
{
	desc_set(d, 0, 0, AVAIL_GPA(0), 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	desc_set(d, 0, 1, buf_of(0, 1), 8, VIRTQ_DESC_F_WRITE, 0);
	desc_set(d, 0, 2, buf_of(0, 2), 12, VIRTQ_DESC_F_WRITE, 0);
}

/* Frame bytes that land on the avail index when chunk k (12 bytes each, 0 the header) does. */
static void frame_set_idx(uint8_t *payload, unsigned int k, uint16_t idx)
{
	memset(payload + 12 * (k - 1), 0, 2);
	memcpy(payload + 12 * (k - 1) + 2, &idx, 2);
}

/*
 * The overflow: mergeable 12-byte buffers, and a guest that keeps
 * its index a queue ahead of the device while one 64 KiB frame (5464
 * buffers' worth) is copied. The device must stop at a queue's worth,
 * drop the frame, and keep working.
 */
static void test_rx_racing_guest_bounded(void **state)
{
	size_t len = NET_FRAME_MAX_BIG;
	uint8_t *frame = malloc(len), *hdr;
	struct drv d;

	(void)state;
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MRG_RXBUF));
	rx_racing_descs(&d);
	avail_publish(&d, 0, 2); /* the header's buffer */
	for (unsigned int i = 1; i < QSIZE; i++)
		avail_publish(&d, 0, 0);
	memset(frame, 0x5a, len);
	/* After taking chunk k the device is at k + 1; the guest moves to k + QSIZE. */
	for (unsigned int k = 1; 12 * (k - 1) + 4 <= len; k++)
		frame_set_idx(frame, k, (uint16_t)(k + QSIZE));
	send_buf(&d, frame, len);
	virtio_net_rx_poll(d.dev);
	expect_live(&d);
	assert_int_equal(used_idx(&d, 0), 0);
	assert_int_equal(stats(&d).rx_dropped_oversize, 1);
	assert_int_equal(stats(&d).rx_packets, 0);

	/* The guest rearms its ring with real buffers: the next frame goes through. */
	desc_set(&d, 0, 0, buf_of(0, 0), 2048, VIRTQ_DESC_F_WRITE, 0);
	avail_set_idx(&d, 0, QSIZE);
	send_buf(&d, frame, 100);
	virtio_net_rx_poll(d.dev);
	expect_live(&d);
	assert_int_equal(used_idx(&d, 0), 2);
	assert_int_equal(used_len(&d, 0, 0), 12);
	assert_int_equal(used_len(&d, 0, 1), 100);
	hdr = gp(&d, buf_of(0, 2), 12);
	assert_int_equal(hdr[10], 2); /* num_buffers */
	assert_int_equal(stats(&d).rx_packets, 1);
	free(frame);
	drv_close(&d);
}

/* Too few small buffers: the frame waits; a full queue of them: it can never fit. */
static void test_rx_full_queue_too_small(void **state)
{
	size_t len = NET_FRAME_MAX_BIG;
	uint8_t *frame = calloc(1, len);
	struct drv d;

	(void)state;
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MRG_RXBUF));
	for (uint16_t i = 0; i < QSIZE; i++)
		desc_set(&d, 0, i, buf_of(0, i), 64, VIRTQ_DESC_F_WRITE, 0);
	for (uint16_t i = 0; i < QSIZE - 1; i++)
		avail_publish(&d, 0, i);
	send_buf(&d, frame, len);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 0), 0);
	assert_int_equal(stats(&d).rx_dropped_oversize, 0);
	avail_publish(&d, 0, QSIZE - 1);
	wr(&d, 0x050, 0);
	expect_live(&d);
	assert_int_equal(used_idx(&d, 0), 0);
	assert_int_equal(stats(&d).rx_dropped_oversize, 1);
	/* The buffers were given back, not lost. */
	send_buf(&d, frame, 100);
	virtio_net_rx_poll(d.dev);
	assert_int_equal(used_idx(&d, 0), 2);
	assert_int_equal(stats(&d).rx_packets, 1);
	free(frame);
	drv_close(&d);
}

/*
 * A guest whose index flips between two values as the device copies: each
 * attempt at the frame finds "new buffers" and tries again. The round
 * must end on its budget and ask to be called again, with the frame kept.
 */
static void test_rx_budget_calls_again(void **state)
{
	uint8_t frame[100];
	struct drv d;

	(void)state;
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MRG_RXBUF));
	rx_racing_descs(&d);
	avail_publish(&d, 0, 2);
	avail_publish(&d, 0, 0);
	avail_publish(&d, 0, 0);
	avail_set_idx(&d, 0, 2);
	memset(frame, 0x5a, sizeof(frame));
	frame_set_idx(frame, 1, 3);
	frame_set_idx(frame, 2, 2);
	send_buf(&d, frame, sizeof(frame));
	virtio_net_rx_poll(d.dev);
	expect_live(&d);
	assert_int_equal(race.kicks, 1);
	assert_int_equal(race.kick_q, 0);
	assert_int_equal(used_idx(&d, 0), 0);

	/* The guest settles down; the call it asked for delivers the kept frame. */
	desc_set(&d, 0, 0, buf_of(0, 0), 2048, VIRTQ_DESC_F_WRITE, 0);
	avail_set_idx(&d, 0, 3);
	wr(&d, 0x050, 0);
	expect_live(&d);
	assert_int_equal(used_idx(&d, 0), 2);
	assert_int_equal(used_len(&d, 0, 1), 100);
	assert_int_equal(stats(&d).rx_packets, 1);
	drv_close(&d);
}

/*
 * Kicks queue q as the I/O loop would, again on each kick_again, and
 * checks no call handles more than budget requests. Returns the calls.
 */
static unsigned int run_rounds(struct drv *d, unsigned int q, unsigned int budget)
{
	unsigned int calls = 0, kicks;

	do {
		kicks = race.kicks;
		race.done = 0;
		wr(d, 0x050, q);
		calls++;
		if (race.done > budget)
			fail_msg("call %u handled %u requests; the budget is %u", calls, race.done,
				 budget);
		assert_true(calls < 100);
	} while (race.kicks != kicks);
	if (race.kicks)
		assert_int_equal(race.kick_q, q);
	return calls;
}

static void test_ctrl_refilling_guest_budgeted(void **state)
{
	unsigned int ctrl = 4, total = QSIZE + 3 * CTRL_BUDGET + 5;
	uint8_t *cmd;
	struct drv d;

	(void)state;
	drv_open(&d, 2);
	drv_init(&d, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ));
	desc_set(&d, ctrl, 0, buf_of(ctrl, 0), 4, VIRTQ_DESC_F_NEXT, 1);
	desc_set(&d, ctrl, 1, buf_of(ctrl, 1), 1, VIRTQ_DESC_F_WRITE, 0);
	cmd = gp(&d, buf_of(ctrl, 0), 4);
	memcpy(cmd, (uint8_t[]){ VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, 2, 0 }, 4);
	for (unsigned int i = 0; i < QSIZE; i++)
		avail_publish(&d, ctrl, 0);
	race.q = ctrl;
	race.refills = total - QSIZE;
	assert_true(run_rounds(&d, ctrl, CTRL_BUDGET) > 1);
	expect_live(&d);
	assert_int_equal(used_idx(&d, ctrl), total);
	assert_int_equal(*(uint8_t *)gp(&d, buf_of(ctrl, 1), 1), VIRTIO_NET_OK);
	drv_close(&d);
}

static void test_tx_refilling_guest_budgeted(void **state)
{
	unsigned int total = 3 * TX_BUDGET + 100, calls;
	struct drv d;

	(void)state;
	drv_open(&d, 1);
	drv_init(&d, F(VIRTIO_NET_F_MAC));
	desc_set(&d, 1, 0, buf_of(1, 0), 12 + 60, 0, 0);
	memset(gp(&d, buf_of(1, 0), 72), 0, 12);
	for (unsigned int i = 0; i < QSIZE; i++)
		avail_publish(&d, 1, 0);
	race.q = 1;
	race.refills = total - QSIZE;
	race.tx_fd = d.be_fd[0];
	calls = run_rounds(&d, 1, TX_BUDGET);
	if (used_idx(&d, 1) != (uint16_t)total)
		fail_msg("%u of %u frames sent in %u calls; the rest wait for a kick that the "
			 "guest need not send", used_idx(&d, 1), total, calls);
	assert_int_equal(calls, 4);
	expect_live(&d);
	assert_int_equal(stats(&d).tx_packets, total);
	drv_close(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_racing_guest_bounded),
		cmocka_unit_test(test_rx_full_queue_too_small),
		cmocka_unit_test(test_rx_budget_calls_again),
		cmocka_unit_test(test_ctrl_refilling_guest_budgeted),
		cmocka_unit_test(test_tx_refilling_guest_budgeted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
