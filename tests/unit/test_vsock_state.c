/*
 * Hybrid vsock across a snapshot: the record (the CID) round-trips and is
 * refused cut short, from another version, for another CID, leaving the
 * device as it was; a restored device drops its connections and sends
 * the guest a transport reset, at once when the driver has an event
 * buffer posted, else at the driver's next event-queue kick.
 */
#include "vsock_uds_rig.h"

#include "state_check.h"
#include "virtio_record.h"

static void ev_post(struct drv *d)
{
	uint32_t junk = 0xffffffffu;

	put_desc(d, VU_EVQ, d->ev_avail % QSIZE, 0x700000 + 8ull * (d->ev_avail % QSIZE), 8,
		 VIRTQ_DESC_F_WRITE, 0);
	memcpy(gp(d, 0x700000 + 8ull * (d->ev_avail % QSIZE), 4), &junk, 4);
	ring_add(d, VU_EVQ, &d->ev_avail, (uint16_t)(d->ev_avail % QSIZE));
}

/* The event the device wrote into event buffer i: 0 is TRANSPORT_RESET. */
static uint32_t ev_id(struct drv *d, unsigned int i)
{
	uint32_t id;

	memcpy(&id, gp(d, 0x700000 + 8ull * i, 4), 4);
	return id;
}

/* a's RAM into b (the memory file), then a's record into b. */
static int restore_into(struct drv *a, struct drv *b, const uint8_t *saved, size_t len)
{
	memcpy(gp(b, 0, RAM), gp(a, 0, RAM), RAM);
	return state_restore(&STATE_MMIO(b->t), saved, len);
}

static void test_round_trip_and_reset_event(void **state)
{
	void *sa, *sb;
	struct drv *a, *b;
	uint8_t *saved, *again;
	size_t len, again_len;
	uint32_t lp;
	char buf[8];
	int fd;

	(void)state;
	rig_setup(&sa);
	rig_setup(&sb);
	a = sa;
	b = sb;
	rx_fill(a, 8);
	fd = established(a, 5000, 65536, &lp);
	ev_post(a);
	kick(a, VU_EVQ);
	assert_int_equal(used_idx(a, VU_EVQ), 0); /* no event before the snapshot */
	virtio_dev_pause(a->dev);
	saved = state_save(&STATE_MMIO(a->t), &len);
	mmio_reset(b);
	state_check_refusals(&STATE_MMIO(b->t), saved, len);
	assert_int_equal(restore_into(a, b, saved, len), 0);
	/* The restored device sent the reset into the buffer the driver had posted. */
	assert_int_equal(used_idx(b, VU_EVQ), 1);
	assert_int_equal(ev_id(b, 0), 0);
	/* The original keeps its connection (it is the snapshotted process's). */
	virtio_dev_resume(a->dev);
	assert_int_equal(host_recv(fd, buf, sizeof(buf)), -1);
	/* Saved again, the restored one gives the same record but for the event it sent. */
	again = state_save(&STATE_MMIO(b->t), &again_len);
	assert_int_equal(again_len, len);
	free(again);
	close(fd);
	free(saved);
	rig_teardown(&sb);
	rig_teardown(&sa);
}

static void test_reset_waits_for_event_buffer(void **state)
{
	void *sa, *sb;
	struct drv *a, *b;
	uint8_t *saved;
	size_t len;

	(void)state;
	rig_setup(&sa);
	rig_setup(&sb);
	a = sa;
	b = sb;
	saved = state_save(&STATE_MMIO(a->t), &len);
	mmio_reset(b);
	assert_int_equal(restore_into(a, b, saved, len), 0);
	assert_int_equal(used_idx(b, VU_EVQ), 0);
	/* The driver posts an event buffer and kicks: the owed reset goes out, once. */
	b->ev_avail = a->ev_avail;
	ev_post(b);
	kick(b, VU_EVQ);
	assert_int_equal(used_idx(b, VU_EVQ), 1);
	assert_int_equal(ev_id(b, 0), 0);
	ev_post(b);
	kick(b, VU_EVQ);
	assert_int_equal(used_idx(b, VU_EVQ), 1);
	free(saved);
	rig_teardown(&sb);
	rig_teardown(&sa);
}

/* The device's own record, refused alone: another CID, another version, cut short. */
static void test_record_refusals(void **state)
{
	struct drv *d = *state;
	uint8_t rec[64];
	struct bytes_out o = bytes_out_init(rec, sizeof(rec));
	size_t len;

	assert_int_equal(d->dev->ops->save(d->dev, &o), 0);
	assert_int_equal(bytes_out_finish(&o, &len), 0);
	assert_memory_equal(rec, "VSCK", 4);
	assert_int_equal(d->dev->ops->restore(d->dev, d->dev->vq, rec, len, false), 0);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(d->dev->ops->restore(d->dev, d->dev->vq, rec, n, false), -ENODATA);
	rec[4]++;
	assert_int_equal(d->dev->ops->restore(d->dev, d->dev->vq, rec, len, false), -EPROTO);
	rec[4]--;
	rec[8]++; /* the CID */
	assert_int_equal(d->dev->ops->restore(d->dev, d->dev->vq, rec, len, true), -EINVAL);
	rec[8]--;
	rec[16] = 2; /* vhost's ring bases: another kind of vsock */
	assert_int_equal(d->dev->ops->restore(d->dev, d->dev->vq, rec, len, true), -EINVAL);
	/* Refused with apply: nothing owed to the guest. */
	assert_false(((struct vsock_uds *)d->dev->priv)->reset_pending);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_reset_event),
		cmocka_unit_test(test_reset_waits_for_event_buffer),
		cmocka_unit_test_setup_teardown(test_record_refusals, rig_setup, rig_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
