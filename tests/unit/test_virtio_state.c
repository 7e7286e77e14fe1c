/*
 * Save and restore of the virtio-mmio transport and its virtqueues. A
 * device is caught with chains the driver published but the device has
 * not taken, and with completions in the used ring the driver has not
 * read yet; restored into a fresh device over a copy of guest RAM (as a
 * snapshot's memory file gives it), it carries on exactly as the
 * original does.
 */
#include "mmio_fake.h"
#include "state_check.h"
#include "virtio_record.h"

#define DESC 0x1000ull
#define AVAIL 0x8000ull  /* setup_queue's layout for queue 0 */
#define USED 0x10000ull
#define OUT_BUF 0x20000ull
#define IN_BUF 0x30000ull

static unsigned int budget = ~0u;

/* Completes at most `budget` chains, filling each one's writable part with its head. */
static void budget_notify(struct virtio_dev *dev, unsigned int q)
{
	struct fake *f = dev->priv;
	unsigned int done = 0;

	f->notifies[q]++;
	while (done < budget && virtq_pop(&dev->vq[q], &f->chain) > 0) {
		uint8_t fill[64];

		memset(fill, 0x5a ^ f->chain.head, sizeof(fill));
		virtq_buf_to_iov(f->chain.iov + f->chain.n_out, f->chain.n_in, 0, fill,
				 f->chain.in_len);
		assert_int_equal(virtq_push(&dev->vq[q], &f->chain, (uint32_t)f->chain.in_len), 0);
		done++;
	}
	virtio_dev_notify(dev, q);
}

static const struct virtio_dev_ops budget_ops = {
	.device_id = FAKE_ID,
	.get_features = fake_features,
	.read_config = fake_read_config,
	.write_config = fake_write_config,
	.activate = fake_activate,
	.reset = fake_reset,
	.queue_notify = budget_notify,
};

static uint64_t no_features(struct virtio_dev *dev)
{
	(void)dev;
	return 0;
}

static const struct virtio_dev_ops fewer_features_ops = {
	.device_id = FAKE_ID,
	.get_features = no_features,
	.queue_notify = budget_notify,
};

static const struct virtio_dev_ops other_id_ops = {
	.device_id = FAKE_ID + 1,
	.get_features = fake_features,
	.queue_notify = budget_notify,
};

static struct fake *fake_new(const struct virtio_dev_ops *ops)
{
	void *st;

	setup(&st);
	((struct fake *)st)->dev.ops = ops;
	return st;
}

static void fake_free(struct fake *f)
{
	void *st = f;

	teardown(&st);
}

static uint8_t *gp(struct fake *f, uint64_t gpa, uint64_t len)
{
	uint8_t *p = guest_mem_ptr(&f->mem, gpa, len);

	assert_non_null(p);
	return p;
}

/* The driver publishes chain i: 16 bytes out, 32 bytes in, descriptors 2i and 2i+1. */
static void publish(struct fake *f, unsigned int i)
{
	struct virtq_desc d[2] = {
		{ OUT_BUF + 0x100 * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(2 * i + 1) },
		{ IN_BUF + 0x100 * i, 32, VIRTQ_DESC_F_WRITE, 0 },
	};
	uint16_t *avail = (uint16_t *)gp(f, AVAIL, 6 + 2 * 16);
	uint16_t idx = avail[1];

	memcpy(gp(f, DESC + 32 * i, 32), d, sizeof(d));
	avail[2 + idx % 16] = (uint16_t)(2 * i);
	__atomic_store_n(&avail[1], (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

/* Every register the driver can read, on both, the same. */
static void same_registers(struct fake *a, struct fake *b)
{
	static const uint64_t regs[] = { STATUS, INT_STATUS, CFG_GEN, DEV_FEAT };

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		assert_int_equal(rd(b, regs[i]), rd(a, regs[i]));
	for (uint32_t q = 0; q < 2; q++) {
		wr(a, QSEL, q);
		wr(b, QSEL, q);
		assert_int_equal(rd(b, QREADY), rd(a, QREADY));
		assert_int_equal(rd(b, QNUM_MAX), rd(a, QNUM_MAX));
	}
	assert_int_equal(rd(b, CONFIG), rd(a, CONFIG));
}

static void same_rings(struct fake *a, struct fake *b)
{
	assert_memory_equal(gp(b, USED, 6 + 8 * 16), gp(a, USED, 6 + 8 * 16), 6 + 8 * 16);
	assert_memory_equal(gp(b, IN_BUF, 0x800), gp(a, IN_BUF, 0x800), 0x800);
}

static void test_queue_mid_flight(void **state)
{
	struct fake *a = fake_new(&budget_ops), *b = fake_new(&budget_ops);
	uint16_t *used;
	uint8_t *saved;
	size_t len;

	(void)state;
	bring_up(a);
	wr(a, QSEL, 1);
	wr(a, DEV_FEAT_SEL, 1);
	for (unsigned int i = 0; i < 5; i++)
		publish(a, i);
	budget = 2;
	wr(a, QNOTIFY, 0);
	used = (uint16_t *)gp(a, USED, 4);
	/* Two completed and unread by the driver, three published and not taken. */
	assert_int_equal(used[1], 2);
	assert_int_equal(a->dev.vq[0].last_avail, 2);
	assert_int_equal(rd(a, INT_STATUS), VIRTIO_MMIO_INT_VRING);

	saved = state_save(&STATE_MMIO(a->t), &len);
	state_check_refusals(&STATE_MMIO(b->t), saved, len);
	/* Guest RAM comes from the snapshot's memory file. */
	memcpy(gp(b, 0, RAM), gp(a, 0, RAM), RAM);
	assert_int_equal(b->activates, 0);
	assert_int_equal(state_restore(&STATE_MMIO(b->t), saved, len), 0);
	assert_int_equal(b->activates, 1);
	assert_int_equal(virtio_mmio_interrupt_status(b->t), VIRTIO_MMIO_INT_VRING);
	same_registers(a, b);
	wr(a, QSEL, 0);
	wr(b, QSEL, 0);

	/* The driver acks and kicks; both finish the three at the same used slots. */
	budget = ~0u;
	for (struct fake *f = a; f; f = f == a ? b : NULL) {
		wr(f, INT_ACK, VIRTIO_MMIO_INT_VRING);
		wr(f, QNOTIFY, 0);
	}
	assert_int_equal(((uint16_t *)gp(b, USED, 4))[1], 5);
	same_rings(a, b);
	same_registers(a, b);
	/* And the ones published after the restore, too. */
	for (struct fake *f = a; f; f = f == a ? b : NULL) {
		wr(f, INT_ACK, VIRTIO_MMIO_INT_VRING);
		publish(f, 5);
		publish(f, 6);
		wr(f, QNOTIFY, 0);
	}
	assert_int_equal(((uint16_t *)gp(b, USED, 4))[1], 7);
	same_rings(a, b);
	same_registers(a, b);
	assert_false(needs_reset(b));
	free(saved);
	fake_free(a);
	fake_free(b);
}

static void test_fresh_device_round_trip(void **state)
{
	struct fake *a = fake_new(&budget_ops), *b = fake_new(&budget_ops);
	uint8_t *saved;
	size_t len;

	(void)state;
	/* Mid-negotiation: features accepted, queue 1 laid out but not ready. */
	assert_int_equal(negotiate(a, good_features()), S_ACK | S_DRV | S_FOK);
	setup_queue(a, 1, 8, 0x3000);
	saved = state_save(&STATE_MMIO(a->t), &len);
	assert_int_equal(state_restore(&STATE_MMIO(b->t), saved, len), 0);
	assert_int_equal(b->activates, 0);
	same_registers(a, b);
	/* The driver finishes on the restored one as it would have on the first. */
	wr(b, QSEL, 1);
	wr(b, QREADY, 1);
	wr(b, STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(rd(b, STATUS), S_ACK | S_DRV | S_FOK | S_DOK);
	assert_int_equal(b->dev.vq[1].desc_gpa, 0x3000);
	assert_int_equal(b->activates, 1);
	free(saved);
	fake_free(a);
	fake_free(b);
}

static void test_other_device_refused(void **state)
{
	struct fake *a = fake_new(&budget_ops), *c;
	uint8_t *saved;
	size_t len;

	(void)state;
	bring_up(a);
	saved = state_save(&STATE_MMIO(a->t), &len);

	c = fake_new(&other_id_ops);
	assert_int_equal(state_restore(&STATE_MMIO(c->t), saved, len), -EINVAL);
	fake_free(c);
	/* The driver accepted feature bit 5, which this one does not offer. */
	c = fake_new(&fewer_features_ops);
	assert_int_equal(state_restore(&STATE_MMIO(c->t), saved, len), -EINVAL);
	fake_free(c);
	c = fake_new(&budget_ops);
	c->dev.num_queues = 1;
	assert_int_equal(state_restore(&STATE_MMIO(c->t), saved, len), -EINVAL);
	c->dev.num_queues = 2;
	/* Rings the restored RAM cannot hold: queue 0's desc_gpa, past the end. */
	{
		size_t at = BYTES_HDR_SIZE + 4 + 4 + 2 + 8 + 4 + 1 + 8 + 8 + 4 + 4 + 4 + 4 + 4 + 2;
		struct bytes_out o = bytes_out_init(saved + at, 8);

		bytes_put_u64(&o, RAM);
		assert_int_equal(state_restore(&STATE_MMIO(c->t), saved, len), -EINVAL);
		assert_int_equal(rd(c, STATUS), 0);
	}
	fake_free(c);
	free(saved);
	fake_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_mid_flight),
		cmocka_unit_test(test_fresh_device_round_trip),
		cmocka_unit_test(test_other_device_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
