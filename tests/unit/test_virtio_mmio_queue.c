/*
 * virtio-mmio transport (VIRTIO 1.2, 4.2), its queues: selection, size,
 * ring addresses and readiness, notifications, and interrupts.
 */
#include "mmio_fake.h"

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

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_queue_sel_out_of_range), T(test_queue_rewrite_while_ready),
		T(test_queue_ready_toggle), T(test_bad_queue_size),
		T(test_queue_ready_bad_ring), T(test_queue_notify), T(test_interrupts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
