/*
 * virtio-mmio transport (VIRTIO 1.2, 4.2) driven through its registers on
 * a bus, with a fake device that records what the transport asks of it.
 */
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

static uint64_t fake_features(struct virtio_dev *dev)
{
	(void)dev;
	return FAKE_FEATURES;
}

static void fake_read_config(struct virtio_dev *dev, uint32_t off, uint8_t *data,
			     unsigned int len)
{
	struct fake *f = dev->priv;

	if (off + len > sizeof(f->config)) {
		f->bad_config_calls++;
		return;
	}
	memcpy(data, f->config + off, len);
}

static void fake_write_config(struct virtio_dev *dev, uint32_t off, const uint8_t *data,
			      unsigned int len)
{
	struct fake *f = dev->priv;

	if (off + len > sizeof(f->config)) {
		f->bad_config_calls++;
		return;
	}
	memcpy(f->config + off, data, len);
}

static int fake_activate(struct virtio_dev *dev)
{
	struct fake *f = dev->priv;

	f->activates++;
	return f->activate_ret;
}

static void fake_reset(struct virtio_dev *dev)
{
	((struct fake *)dev->priv)->resets++;
}

/* Completes every chain with nothing written, as a trivial device would. */
static void fake_notify(struct virtio_dev *dev, unsigned int q)
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

static int setup(void **state)
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

static int teardown(void **state)
{
	struct fake *f = *state;

	virtio_mmio_destroy(f->t);
	virtio_dev_release(&f->dev);
	bus_destroy(&f->bus);
	guest_mem_destroy(&f->mem);
	free(f);
	return 0;
}

static uint64_t rdn(struct fake *f, uint64_t off, unsigned int len)
{
	uint8_t d[8];

	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BASE + off, d, len, false), 0);
	return bus_data_get(d, len);
}

static void wrn(struct fake *f, uint64_t off, uint64_t v, unsigned int len)
{
	uint8_t d[8];

	bus_data_put(d, len, v);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BASE + off, d, len, true), 0);
}

static uint32_t rd(struct fake *f, uint64_t off)
{
	return (uint32_t)rdn(f, off, 4);
}

static void wr(struct fake *f, uint64_t off, uint32_t v)
{
	wrn(f, off, v, 4);
}

static bool needs_reset(struct fake *f)
{
	return rd(f, STATUS) & S_NR;
}

/* 3.1.1 up to FEATURES_OK; returns the status read back. */
static uint32_t negotiate(struct fake *f, uint64_t features)
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

static uint64_t good_features(void)
{
	return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) | (1ull << 5);
}

static void setup_queue(struct fake *f, unsigned int q, uint32_t size, uint64_t desc)
{
	wr(f, QSEL, q);
	wr(f, QNUM, size);
	wr(f, QDESC_LO, (uint32_t)desc);
	wr(f, QDESC_HI, (uint32_t)(desc >> 32));
	wr(f, QDRV_LO, 0x8000 + 0x1000 * q);
	wr(f, QDEV_LO, 0x10000 + 0x1000 * q);
}

/* Negotiated, queue 0 live, DRIVER_OK. */
static void bring_up(struct fake *f)
{
	assert_int_equal(negotiate(f, good_features()), S_ACK | S_DRV | S_FOK);
	setup_queue(f, 0, 16, 0x1000);
	wr(f, QREADY, 1);
	wr(f, STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(rd(f, STATUS), S_ACK | S_DRV | S_FOK | S_DOK);
}

static void test_identity_and_features(void **state)
{
	struct fake *f = *state;
	uint32_t lo, hi;

	assert_int_equal(rd(f, MAGIC), 0x74726976);
	assert_int_equal(rd(f, VERSION), 2);
	assert_int_equal(rd(f, DEVICE_ID), FAKE_ID);
	assert_int_not_equal(rd(f, VENDOR_ID), 0);
	assert_int_equal(rd(f, STATUS), 0);
	/* Read-only registers ignore writes. */
	wr(f, MAGIC, 0);
	wr(f, DEVICE_ID, 7);
	assert_int_equal(rd(f, MAGIC), 0x74726976);
	assert_int_equal(rd(f, DEVICE_ID), FAKE_ID);

	wr(f, DEV_FEAT_SEL, 0);
	lo = rd(f, DEV_FEAT);
	wr(f, DEV_FEAT_SEL, 1);
	hi = rd(f, DEV_FEAT);
	assert_int_equal(lo, (uint32_t)FAKE_FEATURES | (1u << VIRTIO_F_INDIRECT_DESC) |
				     (1u << VIRTIO_F_EVENT_IDX));
	assert_int_equal(hi, 1u << (VIRTIO_F_VERSION_1 - 32));
	wr(f, DEV_FEAT_SEL, 2);
	assert_int_equal(rd(f, DEV_FEAT), 0);
	wr(f, DEV_FEAT_SEL, 0xffffffffu);
	assert_int_equal(rd(f, DEV_FEAT), 0);
	assert_false(needs_reset(f));
}

static void test_negotiation_ok(void **state)
{
	struct fake *f = *state;

	assert_int_equal(negotiate(f, good_features()), S_ACK | S_DRV | S_FOK);
	assert_true(f->dev.features == good_features());
	assert_true(f->dev.vq[0].event_idx);
	assert_false(f->dev.vq[1].indirect);
	/* Feature bits are frozen once FEATURES_OK is set. */
	wr(f, DRV_FEAT_SEL, 0);
	wr(f, DRV_FEAT, 0);
	assert_true(needs_reset(f));
	assert_true(f->dev.features == good_features());
}

static void test_negotiation_refused(void **state)
{
	struct fake *f = *state;

	assert_int_equal(negotiate(f, good_features() | (1ull << 3)), S_ACK | S_DRV);
	assert_true(f->dev.features == 0);
	/* A driver pressing on with DRIVER_OK is broken. */
	wr(f, STATUS, S_ACK | S_DRV | S_DOK);
	assert_true(needs_reset(f));
	assert_int_equal(f->activates, 0);
	/* Unoffered high bits too. */
	assert_int_equal(negotiate(f, good_features() | (1ull << 40)), S_ACK | S_DRV);
	/* VERSION_1 is required (no legacy interface); alone it is enough. */
	assert_int_equal(negotiate(f, 1ull << 5), S_ACK | S_DRV);
	assert_false(needs_reset(f));
	assert_int_equal(negotiate(f, 1ull << VIRTIO_F_VERSION_1), S_ACK | S_DRV | S_FOK);
}

static void test_status_bits_cleared(void **state)
{
	struct fake *f = *state;

	wr(f, STATUS, S_ACK | S_DRV);
	wr(f, STATUS, S_ACK);
	assert_int_equal(rd(f, STATUS), S_ACK | S_DRV | S_NR);
	/* NEEDS_RESET sticks until a reset. */
	wr(f, STATUS, S_ACK | S_DRV);
	assert_true(needs_reset(f));
	wr(f, STATUS, 0);
	assert_int_equal(rd(f, STATUS), 0);
	/* DRIVER_OK without FEATURES_OK. */
	wr(f, STATUS, S_ACK | S_DRV | S_DOK);
	assert_true(needs_reset(f));
	assert_int_equal(f->activates, 0);
}

static void test_activate_failure(void **state)
{
	struct fake *f = *state;

	f->activate_ret = -EIO;
	assert_int_equal(negotiate(f, good_features()), S_ACK | S_DRV | S_FOK);
	wr(f, STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(f->activates, 1);
	assert_true(needs_reset(f));
	/* The device told the driver through a config interrupt. */
	assert_true(rd(f, INT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
}

static void test_reset_clears_everything(void **state)
{
	struct fake *f = *state;
	uint32_t gen = rd(f, CFG_GEN);

	bring_up(f);
	assert_int_equal(f->activates, 1);
	wr(f, QSEL, 1);
	wr(f, QNUM, 8); /* after DRIVER_OK: NEEDS_RESET + config interrupt */
	assert_true(needs_reset(f));
	assert_int_not_equal(rd(f, INT_STATUS), 0);
	assert_int_not_equal(rd(f, CFG_GEN), gen);

	f->resets = 0;
	wr(f, STATUS, 0);
	assert_int_equal(f->resets, 1);
	assert_int_equal(rd(f, STATUS), 0);
	assert_int_equal(rd(f, INT_STATUS), 0);
	assert_true(f->dev.features == 0);
	assert_false(f->dev.activated);
	wr(f, QSEL, 0);
	assert_int_equal(rd(f, QREADY), 0);
	assert_int_equal(f->dev.vq[0].size, 0);
	assert_false(f->dev.vq[0].event_idx);
	/* A kick now goes nowhere. */
	wr(f, QNOTIFY, 0);
	assert_int_equal(f->notifies[0], 0);
	/* And the device can be brought up again. */
	bring_up(f);
	assert_int_equal(f->activates, 2);
}

static void test_queue_sel_out_of_range(void **state)
{
	struct fake *f = *state;

	wr(f, QSEL, 0);
	assert_int_equal(rd(f, QNUM_MAX), FAKE_QMAX);
	wr(f, QSEL, 2);
	assert_int_equal(rd(f, QNUM_MAX), 0);
	assert_int_equal(rd(f, QREADY), 0);
	assert_false(needs_reset(f));
	wr(f, QNUM, 16);
	assert_true(needs_reset(f));

	wr(f, STATUS, 0);
	wr(f, QSEL, 0xffffffffu);
	assert_int_equal(rd(f, QNUM_MAX), 0);
	wr(f, QREADY, 1);
	assert_true(needs_reset(f));
}

static void test_queue_rewrite_while_ready(void **state)
{
	struct fake *f = *state;

	assert_int_equal(negotiate(f, good_features()), S_ACK | S_DRV | S_FOK);
	setup_queue(f, 0, 16, 0x1000);
	wr(f, QREADY, 1);
	assert_int_equal(rd(f, QREADY), 1);
	assert_false(needs_reset(f));
	wr(f, QDESC_LO, 0x2000);
	assert_true(needs_reset(f));
	assert_int_equal(f->dev.vq[0].desc_gpa, 0x1000);
	/* After DRIVER_OK even a queue that was never made ready is frozen. */
	bring_up(f);
	wr(f, QSEL, 1);
	wr(f, QDEV_LO, 0x20000);
	assert_true(needs_reset(f));
}

static void test_queue_ready_toggle(void **state)
{
	struct fake *f = *state;

	assert_int_equal(negotiate(f, good_features()), S_ACK | S_DRV | S_FOK);
	setup_queue(f, 1, 8, 0x3000);
	wr(f, QREADY, 1);
	assert_int_equal(rd(f, QREADY), 1);
	wr(f, QREADY, 0);
	assert_int_equal(rd(f, QREADY), 0);
	/* Not live any more, so the layout may change. */
	wr(f, QNUM, 4);
	assert_false(needs_reset(f));
	assert_int_equal(f->dev.vq[1].size, 4);
}

static void expect_bad_size(struct fake *f, uint32_t size)
{
	wr(f, STATUS, 0);
	wr(f, QSEL, 0);
	wr(f, QNUM, size);
	assert_true(needs_reset(f));
}

static void test_bad_queue_size(void **state)
{
	struct fake *f = *state;

	expect_bad_size(f, 0);
	expect_bad_size(f, 3);
	expect_bad_size(f, 48);
	expect_bad_size(f, FAKE_QMAX * 2);
	expect_bad_size(f, 0x10000);
	wr(f, STATUS, 0);
	wr(f, QNUM, FAKE_QMAX);
	wr(f, QNUM, 1);
	assert_false(needs_reset(f));
}

static void test_queue_ready_bad_ring(void **state)
{
	struct fake *f = *state;

	assert_int_equal(negotiate(f, good_features()), S_ACK | S_DRV | S_FOK);
	setup_queue(f, 0, 16, RAM - 0x80); /* desc table runs off the end of RAM */
	wr(f, QREADY, 1);
	assert_int_equal(rd(f, QREADY), 0);
	assert_true(needs_reset(f));

	assert_int_equal(negotiate(f, good_features()), S_ACK | S_DRV | S_FOK);
	setup_queue(f, 0, 16, 0x1008); /* misaligned */
	wr(f, QREADY, 1);
	assert_true(needs_reset(f));

	assert_int_equal(negotiate(f, good_features()), S_ACK | S_DRV | S_FOK);
	setup_queue(f, 0, 16, 0x100000000ull + 0x1000); /* high half set */
	wr(f, QREADY, 1);
	assert_true(needs_reset(f));

	/* Never given a size. */
	assert_int_equal(negotiate(f, good_features()), S_ACK | S_DRV | S_FOK);
	wr(f, QSEL, 1);
	wr(f, QREADY, 1);
	assert_true(needs_reset(f));
}

static void test_queue_notify(void **state)
{
	struct fake *f = *state;

	assert_int_equal(negotiate(f, good_features()), S_ACK | S_DRV | S_FOK);
	setup_queue(f, 0, 16, 0x1000);
	wr(f, QREADY, 1);
	/* Not activated yet. */
	wr(f, QNOTIFY, 0);
	assert_int_equal(f->notifies[0], 0);
	wr(f, STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	wr(f, QNOTIFY, 0);
	assert_int_equal(f->notifies[0], 1);
	/* Queue 1 exists but is not ready. */
	wr(f, QNOTIFY, 1);
	assert_int_equal(f->notifies[1], 0);
	assert_false(needs_reset(f));
	/* The upper half of the value is not part of the queue index. */
	wr(f, QNOTIFY, 0x10000);
	assert_int_equal(f->notifies[0], 2);
	/* A queue that does not exist. */
	wr(f, QNOTIFY, 7);
	assert_true(needs_reset(f));
	wr(f, QNOTIFY, 0);
	assert_int_equal(f->notifies[0], 2);
}

static void test_interrupts(void **state)
{
	struct fake *f = *state;
	struct virtq_desc d = { 0x40000, 64, VIRTQ_DESC_F_WRITE, 0 };
	uint16_t one = 1, zero = 0;
	uint32_t gen;

	bring_up(f);
	assert_int_equal(rd(f, INT_STATUS), 0);
	/* One request on queue 0: avail ring at 0x8000, used at 0x10000. */
	assert_int_equal(guest_mem_write(&f->mem, 0x1000, &d, sizeof(d)), 0);
	assert_int_equal(guest_mem_write(&f->mem, 0x8004, &zero, 2), 0);
	assert_int_equal(guest_mem_write(&f->mem, 0x8002, &one, 2), 0);
	wr(f, QNOTIFY, 0);
	assert_int_equal(rd(f, INT_STATUS), VIRTIO_MMIO_INT_VRING);
	assert_int_equal(virtio_mmio_interrupt_status(f->t), VIRTIO_MMIO_INT_VRING);
	/* A config change: the generation moves so drivers re-read (4.2.2). */
	gen = rd(f, CFG_GEN);
	f->dev.signal_config(&f->dev);
	assert_int_equal(rd(f, CFG_GEN), gen + 1);
	assert_int_equal(rd(f, INT_STATUS), VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	wr(f, INT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rd(f, INT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	wr(f, INT_ACK, 0xffffffffu);
	assert_int_equal(rd(f, INT_STATUS), 0);
	/* A kick with nothing new raises nothing (EVENT_IDX: used_event is 0). */
	wr(f, QNOTIFY, 0);
	assert_int_equal(rd(f, INT_STATUS), 0);
}

static void test_config_space(void **state)
{
	struct fake *f = *state;

	assert_int_equal(rd(f, CONFIG), 0x44332211);
	assert_int_equal(rd(f, CONFIG + 4), 0x88776655);
	assert_true(rdn(f, CONFIG, 8) == 0x8877665544332211ull);
	assert_int_equal(rdn(f, CONFIG + 7, 1), 0x88);
	assert_int_equal(rdn(f, CONFIG + 6, 2), 0x8877);
	/* Past the end, or straddling it: zeroes, and the device is not asked. */
	assert_int_equal(rd(f, CONFIG + 6), 0);
	assert_int_equal(rdn(f, CONFIG + 8, 1), 0);
	assert_true(rdn(f, CONFIG + 4, 8) == 0);
	assert_int_equal(rd(f, 0xffc), 0);
	wr(f, CONFIG + 6, 0xdeadbeef);
	wrn(f, CONFIG + 8, 0xff, 1);
	wrn(f, 0xff8, ~0ull, 8);
	assert_int_equal(f->bad_config_calls, 0);
	assert_memory_equal(f->config, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	wrn(f, CONFIG + 2, 0xabcd, 2);
	assert_int_equal(rd(f, CONFIG), 0xabcd2211);
	assert_false(needs_reset(f));
}

static void test_odd_register_access(void **state)
{
	struct fake *f = *state;

	assert_int_equal(rdn(f, MAGIC, 2), 0xffff);
	assert_int_equal(rdn(f, MAGIC, 1), 0xff);
	assert_true(rdn(f, MAGIC, 8) == ~0ull);
	assert_int_equal(rd(f, MAGIC + 1), 0xffffffffu);
	wrn(f, STATUS, S_ACK, 1);
	wrn(f, STATUS, S_ACK, 2);
	wrn(f, STATUS, S_ACK, 8);
	wr(f, STATUS + 2, S_ACK);
	assert_int_equal(rd(f, STATUS), 0);
	/* Holes in the register file read 0 and ignore writes. */
	assert_int_equal(rd(f, 0x0f0), 0);
	wr(f, 0x0f0, 1);
	assert_false(needs_reset(f));
}

static void test_create_rejects_bad_device(void **state)
{
	struct fake *f = *state;
	struct virtio_host host = { .vm_fd = -1, .bus = &f->bus };
	struct virtio_dev dev = { .ops = &fake_ops, .name = "bad", .num_queues = 0 };
	struct virtio_mmio *t = NULL;

	assert_int_equal(virtio_dev_init(&dev, &(struct virtio_env){ .mem = &f->mem }), 0);
	assert_int_equal(virtio_mmio_create(&dev, &host, BASE + 0x1000, 6, &t), -EINVAL);
	dev.num_queues = VIRTIO_MAX_QUEUES + 1;
	assert_int_equal(virtio_mmio_create(&dev, &host, BASE + 0x1000, 6, &t), -EINVAL);
	/* Overlapping an existing device. */
	dev.num_queues = 1;
	assert_int_equal(virtio_mmio_create(&dev, &host, BASE, 6, &t), -EEXIST);
	assert_null(t);
	assert_null(dev.transport); /* a failed attach leaves the device detached */
	virtio_dev_release(&dev);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity_and_features), T(test_negotiation_ok),
		T(test_negotiation_refused), T(test_status_bits_cleared),
		T(test_activate_failure), T(test_reset_clears_everything),
		T(test_queue_sel_out_of_range), T(test_queue_rewrite_while_ready),
		T(test_queue_ready_toggle), T(test_bad_queue_size),
		T(test_queue_ready_bad_ring), T(test_queue_notify), T(test_interrupts),
		T(test_config_space), T(test_odd_register_access),
		T(test_create_rejects_bad_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
