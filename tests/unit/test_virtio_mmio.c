/*
 * virtio-mmio transport (VIRTIO 1.2, 4.2), the device side of its
 * registers: identity, feature negotiation, the status state machine and
 * reset, config space, odd-sized accesses, creation, and a vhost
 * backend's calls straight to the irqfd.
 */
#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mmio_fake.h"
#include "virtio/mmio/priv.h"

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

/*
 * call_fd: a vhost backend signals the irqfd itself. The used-buffer bit
 * then reads as set, whatever the driver acks, until a reset; without an
 * irqfd there is no fd to give and the status stays the device's own.
 */
static void test_direct_calls(void **state)
{
	struct fake *f = *state;
	uint64_t v;
	int efd;

	bring_up(f);
	assert_non_null(f->dev.call_fd);
	assert_int_equal(f->dev.call_fd(&f->dev, 0), -1);
	assert_int_equal(rd(f, INT_STATUS), 0);

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(efd >= 0);
	f->t->irqfd = efd; /* what setup_fast_path makes with a VM */
	assert_int_equal(f->dev.call_fd(&f->dev, 1), efd);
	assert_int_equal(rd(f, INT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(f, INT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rd(f, INT_STATUS), VIRTIO_MMIO_INT_VRING);
	/* A configuration change shows beside it, signalled through the same fd. */
	f->dev.signal_config(&f->dev);
	assert_int_equal(rd(f, INT_STATUS), VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	wr(f, INT_ACK, VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(rd(f, INT_STATUS), VIRTIO_MMIO_INT_VRING);
	/* A reset ends it: the next driver starts with a quiet status. */
	wr(f, STATUS, 0);
	assert_int_equal(rd(f, INT_STATUS), 0);
	bring_up(f);
	assert_int_equal(rd(f, INT_STATUS), 0);
	/* teardown's virtio_mmio_destroy closes efd as the transport's irqfd. */
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity_and_features), T(test_negotiation_ok),
		T(test_negotiation_refused), T(test_status_bits_cleared),
		T(test_activate_failure), T(test_reset_clears_everything),
		T(test_config_space), T(test_odd_register_access),
		T(test_create_rejects_bad_device), T(test_direct_calls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
