/*
 * Shared by the virtio-mmio transport tests (VIRTIO 1.2, 4.2): the
 * transport on a bus, driven through its registers, with a fake device
 * that records what the transport asks of it.
 */
#ifndef HEARTH_TESTS_MMIO_FAKE_H
#define HEARTH_TESTS_MMIO_FAKE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/bus.h"
#include "mem/guest_mem.h"
#include "util/log.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define RAM (1ull << 20)
#define FAKE_ID 42
#define FAKE_FEATURES ((1ull << 0) | (1ull << 5))
#define FAKE_QMAX 64

#define MAGIC 0x000
#define VERSION 0x004
#define DEVICE_ID 0x008
#define VENDOR_ID 0x00c
#define DEV_FEAT 0x010
#define DEV_FEAT_SEL 0x014
#define DRV_FEAT 0x020
#define DRV_FEAT_SEL 0x024
#define QSEL 0x030
#define QNUM_MAX 0x034
#define QNUM 0x038
#define QREADY 0x044
#define QNOTIFY 0x050
#define INT_STATUS 0x060
#define INT_ACK 0x064
#define STATUS 0x070
#define QDESC_LO 0x080
#define QDESC_HI 0x084
#define QDRV_LO 0x090
#define QDEV_LO 0x0a0
#define CFG_GEN 0x0fc
#define CONFIG 0x100

#define S_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV VIRTIO_STATUS_DRIVER
#define S_FOK VIRTIO_STATUS_FEATURES_OK
#define S_DOK VIRTIO_STATUS_DRIVER_OK
#define S_NR VIRTIO_STATUS_NEEDS_RESET

struct fake {
	struct virtio_dev dev;
	struct virtio_mmio *t;
	struct bus bus;
	struct guest_mem mem;
	struct virtq_chain chain;
	uint8_t config[8];
	unsigned int notifies[2];
	unsigned int activates, resets, bad_config_calls;
	int activate_ret;
};

static inline uint64_t fake_features(struct virtio_dev *dev)
{
	(void)dev;
	return FAKE_FEATURES;
}

static inline void fake_read_config(struct virtio_dev *dev, uint32_t off, uint8_t *data,
				    unsigned int len)
{
	struct fake *f = dev->priv;

	if (off + len > sizeof(f->config)) {
		f->bad_config_calls++;
		return;
	}
	memcpy(data, f->config + off, len);
}

static inline void fake_write_config(struct virtio_dev *dev, uint32_t off, const uint8_t *data,
				     unsigned int len)
{
	struct fake *f = dev->priv;

	if (off + len > sizeof(f->config)) {
		f->bad_config_calls++;
		return;
	}
	memcpy(f->config + off, data, len);
}

static inline int fake_activate(struct virtio_dev *dev)
{
	struct fake *f = dev->priv;

	f->activates++;
	return f->activate_ret;
}

static inline void fake_reset(struct virtio_dev *dev)
{
	((struct fake *)dev->priv)->resets++;
}

/* Completes every chain with nothing written, as a trivial device would. */
static inline void fake_notify(struct virtio_dev *dev, unsigned int q)
{
	struct fake *f = dev->priv;
	int ret;

	f->notifies[q]++;
	while ((ret = virtq_pop(&dev->vq[q], &f->chain)) > 0)
		virtq_push(&dev->vq[q], &f->chain, 0);
	virtio_dev_notify(dev, q);
}

static const struct virtio_dev_ops fake_ops = {
	.device_id = FAKE_ID,
	.get_features = fake_features,
	.read_config = fake_read_config,
	.write_config = fake_write_config,
	.activate = fake_activate,
	.reset = fake_reset,
	.queue_notify = fake_notify,
};

static inline int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct virtio_host host = { .vm_fd = -1, .bus = &f->bus, .loop = NULL };

	log_set_level(LOG_ERR);
	assert_int_equal(guest_mem_init(&f->mem, RAM), 0);
	bus_init(&f->bus);
	f->dev.ops = &fake_ops;
	f->dev.priv = f;
	f->dev.name = "fake";
	f->dev.num_queues = 2;
	f->dev.queue_max = FAKE_QMAX;
	f->dev.config_size = sizeof(f->config);
	memcpy(f->config, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	assert_int_equal(virtio_dev_init(&f->dev, &(struct virtio_env){ .mem = &f->mem }), 0);
	assert_int_equal(virtio_mmio_create(&f->dev, &host, BASE, 5, &f->t), 0);
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fake *f = *state;

	virtio_mmio_destroy(f->t);
	virtio_dev_release(&f->dev);
	bus_destroy(&f->bus);
	guest_mem_destroy(&f->mem);
	free(f);
	return 0;
}

static inline uint64_t rdn(struct fake *f, uint64_t off, unsigned int len)
{
	uint8_t d[8];

	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BASE + off, d, len, false), 0);
	return bus_data_get(d, len);
}

static inline void wrn(struct fake *f, uint64_t off, uint64_t v, unsigned int len)
{
	uint8_t d[8];

	bus_data_put(d, len, v);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BASE + off, d, len, true), 0);
}

static inline uint32_t rd(struct fake *f, uint64_t off)
{
	return (uint32_t)rdn(f, off, 4);
}

static inline void wr(struct fake *f, uint64_t off, uint32_t v)
{
	wrn(f, off, v, 4);
}

static inline bool needs_reset(struct fake *f)
{
	return rd(f, STATUS) & S_NR;
}

/* 3.1.1 up to FEATURES_OK; returns the status read back. */
static inline uint32_t negotiate(struct fake *f, uint64_t features)
{
	wr(f, STATUS, 0);
	wr(f, STATUS, S_ACK);
	wr(f, STATUS, S_ACK | S_DRV);
	wr(f, DRV_FEAT_SEL, 0);
	wr(f, DRV_FEAT, (uint32_t)features);
	wr(f, DRV_FEAT_SEL, 1);
	wr(f, DRV_FEAT, (uint32_t)(features >> 32));
	wr(f, STATUS, S_ACK | S_DRV | S_FOK);
	return rd(f, STATUS);
}

static inline uint64_t good_features(void)
{
	return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) | (1ull << 5);
}

static inline void setup_queue(struct fake *f, unsigned int q, uint32_t size, uint64_t desc)
{
	wr(f, QSEL, q);
	wr(f, QNUM, size);
	wr(f, QDESC_LO, (uint32_t)desc);
	wr(f, QDESC_HI, (uint32_t)(desc >> 32));
	wr(f, QDRV_LO, 0x8000 + 0x1000 * q);
	wr(f, QDEV_LO, 0x10000 + 0x1000 * q);
}

/* Negotiated, queue 0 live, DRIVER_OK. */
static inline void bring_up(struct fake *f)
{
	assert_int_equal(negotiate(f, good_features()), S_ACK | S_DRV | S_FOK);
	setup_queue(f, 0, 16, 0x1000);
	wr(f, QREADY, 1);
	wr(f, STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(rd(f, STATUS), S_ACK | S_DRV | S_FOK | S_DOK);
}

#endif
