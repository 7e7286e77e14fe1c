/*
 * virtio-net across a snapshot: the queue pairs the driver switched on
 * through the control queue stay on, the counters carry on, another MAC
 * or pair count is refused with the device untouched; with --net user,
 * libslirp's state goes into the record (slirp_state_save) and back
 * (slirp_state_load), and a version this libslirp cannot read, or user
 * state offered to another backend, is refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "util/log.h"
#include "virtio/net.h"
#include "virtio/net/priv.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define QSIZE 16u
#define RAM (16ull << 20)
#define RING_GPA(q) (0x100000ull + (uint64_t)(q) * 0x10000)
#define BUF_GPA 0x400000ull
#define F(bit) (1ull << (bit))

struct drv {
	struct guest_mem gm;
	struct bus bus;
	struct eventloop loop;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	int peer[NET_MAX_QUEUE_PAIRS];
	unsigned int pairs;
	uint16_t avail_idx[8];
};

#include "mmio_driver.h"
#include "state_check.h"
#include "virtio_record.h"

static void fake_destroy(struct net_be *be)
{
	for (unsigned int i = 0; i < be->nqueues; i++)
		close(be->fds[i]);
	free(be);
}

static const struct net_be_ops fake_ops = { .destroy = fake_destroy };

/* A NIC over socketpairs (pairs > 0) or over libslirp (pairs 0). */
static struct drv *drv_new(unsigned int pairs)
{
	struct drv *d = calloc(1, sizeof(*d));
	struct virtio_env env = { .mem = &d->gm, .loop = &d->loop };
	struct virtio_host host = { .vm_fd = -1, .bus = &d->bus, .loop = &d->loop };
	struct net_config cfg;
	struct err err;

	assert_non_null(d);
	assert_int_equal(guest_mem_init(&d->gm, RAM), 0);
	bus_init(&d->bus);
	assert_int_equal(eventloop_init(&d->loop), 0);
	assert_int_equal(virtio_net_parse("user", &cfg, &err), 0);
	if (pairs) {
		struct net_be *be = calloc(1, sizeof(*be));

		assert_non_null(be);
		be->ops = &fake_ops;
		be->name = "fake";
		be->nqueues = pairs;
		for (unsigned int i = 0; i < pairs; i++) {
			int sv[2];

			assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
			be->fds[i] = sv[0];
			d->peer[i] = sv[1];
		}
		assert_int_equal(virtio_net_create_backend(&env, &cfg, be, &d->dev, &err), 0);
	} else {
		assert_int_equal(virtio_net_create(&env, &cfg, &d->dev, &err), 0);
	}
	assert_int_equal(mmio_attach(d->dev, &host, BASE, 5, &d->t), 0);
	/* Devices get MACs by creation order; a restored VM creates them in the same order. */
	memcpy(((struct net_dev *)d->dev->priv)->mac, (const uint8_t[6]){ 2, 0x48, 0x52, 0, 0, 9 },
	       6);
	d->pairs = pairs ? pairs : 1;
	return d;
}

static void drv_free(struct drv *d)
{
	mmio_detach_destroy(d->dev, d->t);
	for (unsigned int i = 0; i < NET_MAX_QUEUE_PAIRS; i++)
		if (d->peer[i] > 0)
			close(d->peer[i]);
	eventloop_destroy(&d->loop);
	bus_destroy(&d->bus);
	guest_mem_destroy(&d->gm);
	free(d);
}

static uint16_t used_idx(struct drv *d, unsigned int q)
{
	return ((uint16_t *)gp(d, RING_GPA(q) + 0x8000, 4))[1];
}

/* One device-writable (or readable) buffer of len at chain slot n of queue q. */
static uint64_t post(struct drv *d, unsigned int q, uint32_t len, bool write)
{
	struct virtq_desc *desc = gp(d, RING_GPA(q), 16 * QSIZE);
	uint16_t *avail = gp(d, RING_GPA(q) + 0x4000, 6 + 2 * QSIZE);
	uint16_t slot = d->avail_idx[q] % QSIZE;
	uint64_t buf = BUF_GPA + ((uint64_t)q * QSIZE + slot) * 0x1000;

	desc[slot] = (struct virtq_desc){ buf, len, write ? VIRTQ_DESC_F_WRITE : 0, 0 };
	avail[2 + slot] = slot;
	__atomic_store_n(&avail[1], ++d->avail_idx[q], __ATOMIC_RELEASE);
	return buf;
}

static uint8_t set_pairs(struct drv *d, uint16_t n)
{
	unsigned int q = 2 * d->pairs;
	struct virtq_desc *desc = gp(d, RING_GPA(q), 16 * QSIZE);
	uint16_t *avail = gp(d, RING_GPA(q) + 0x4000, 6 + 2 * QSIZE);
	uint16_t slot = (uint16_t)(2 * (d->avail_idx[q] % (QSIZE / 2)));
	uint64_t buf = BUF_GPA + 0x200000;
	uint8_t cmd[4] = { VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, (uint8_t)n,
			   (uint8_t)(n >> 8) };

	memcpy(gp(d, buf, 4), cmd, 4);
	*(uint8_t *)gp(d, buf + 8, 1) = 0xee;
	desc[slot] = (struct virtq_desc){ buf, 4, VIRTQ_DESC_F_NEXT, (uint16_t)(slot + 1) };
	desc[slot + 1] = (struct virtq_desc){ buf + 8, 1, VIRTQ_DESC_F_WRITE, 0 };
	avail[2 + d->avail_idx[q] % QSIZE] = slot;
	__atomic_store_n(&avail[1], ++d->avail_idx[q], __ATOMIC_RELEASE);
	wr(d, 0x050, q);
	return *(uint8_t *)gp(d, buf + 8, 1);
}

static int restore_from(struct drv *a, struct drv *b, const uint8_t *rec, size_t len)
{
	memcpy(gp(b, 0, RAM), gp(a, 0, RAM), RAM);
	return state_restore(&STATE_MMIO(b->t), rec, len);
}

static void test_pairs_and_counters(void **state)
{
	struct drv *a = drv_new(2), *b = drv_new(2), *c;
	uint8_t frame[60] = { 0 }, *rec, *again;
	size_t len, again_len;

	(void)state;
	log_set_level(LOG_ERR);
	mmio_init_queues(a, F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_MQ), 5,
			 QSIZE, RING_GPA(0));
	assert_int_equal(set_pairs(a, 2), VIRTIO_NET_OK);
	post(a, 2, 2048, true);
	assert_int_equal(send(a->peer[1], frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	virtio_net_rx_poll(a->dev);
	assert_int_equal(used_idx(a, 2), 1);
	virtio_dev_pause(a->dev);
	rec = state_save(&STATE_MMIO(a->t), &len);
	state_check_refusals(&STATE_MMIO(b->t), rec, len);
	assert_int_equal(restore_from(a, b, rec, len), 0);
	again = state_save(&STATE_MMIO(b->t), &again_len);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, rec, len);
	free(again);
	/* Pair 2 is still on: a frame on its wire reaches queue 2 of the restored NIC. */
	memcpy(b->avail_idx, a->avail_idx, sizeof(a->avail_idx));
	post(b, 2, 2048, true);
	assert_int_equal(send(b->peer[1], frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	virtio_net_rx_poll(b->dev);
	assert_int_equal(used_idx(b, 2), 2);
	assert_false(needs_reset(b));

	/* Another MAC: refused, untouched. */
	c = drv_new(2);
	((struct net_dev *)c->dev->priv)->mac[5] = 1;
	assert_int_equal(restore_from(a, c, rec, len), -EINVAL);
	assert_int_equal(rd(c, 0x070), 0);
	drv_free(c);
	/* A NIC of another shape (one pair, no control queue): refused. */
	c = drv_new(0);
	assert_int_equal(restore_from(a, c, rec, len), -EINVAL);
	drv_free(c);
	free(rec);
	drv_free(b);
	drv_free(a);
}

/* Offset of the slirp record in a user-mode NIC's record: VNET's fixed part, then its length. */
#define SLIRP_AT (BYTES_HDR_SIZE + 6 + 4 + 4 + 6 * 8 + 4)

static void test_user_mode_slirp_state(void **state)
{
	struct drv *a = drv_new(0), *b = drv_new(0), *f = drv_new(1);
	uint8_t *rec, *copy;
	size_t len;

	(void)state;
	mmio_init_queues(a, F(VIRTIO_NET_F_MAC), 2, QSIZE, RING_GPA(0));
	rec = state_save(&STATE_DEV(a->dev), &len);
	assert_memory_equal(rec, "VNET", 4);
	assert_true(len > SLIRP_AT + BYTES_HDR_SIZE + 4);
	assert_memory_equal(rec + SLIRP_AT, "SLRP", 4);
	/* libslirp takes back what it wrote. */
	assert_int_equal(state_restore(&STATE_DEV(b->dev), rec, len), 0);
	/* Cut short anywhere, another version of ours: refused before libslirp sees it. */
	state_check_refusals(&STATE_DEV(b->dev), rec, len);
	copy = malloc(len);
	memcpy(copy, rec, len);
	/* A libslirp state version newer than this libslirp's. */
	copy[SLIRP_AT + BYTES_HDR_SIZE] = 0xff;
	assert_int_equal(state_restore(&STATE_DEV(b->dev), copy, len), -EPROTO);
	free(copy);
	/* A NIC without libslirp: refused. */
	assert_int_equal(state_restore(&STATE_DEV(f->dev), rec, len), -EINVAL);
	free(rec);
	drv_free(f);
	drv_free(b);
	drv_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs_and_counters),
		cmocka_unit_test(test_user_mode_slirp_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
