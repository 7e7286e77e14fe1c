/*
 * virtio-pmem behind its virtio-mmio registers, the test playing a
 * possibly hostile driver (the rings and helpers are balloon_fixture.h's,
 * which any one-queue device can use): the config space, FLUSH requests
 * answered after a real fdatasync on the device's io_uring and shared by
 * the requests one kick finds, the refusals (NEEDS_RESET for a malformed
 * request, EIO for an unknown type), a ring changed while a flush is in
 * flight, reset and pause with a flush in flight, the rate limiter, and
 * the snapshot record with crafted ones.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "balloon_fixture.h"
#include "virtio/pmem.h"
#include "virtio/pmem/priv.h"
#include "virtio/spare_ring.h"

#define PM_GPA 0x200000000ull
#define PM_SIZE (2ull << 20)
#define PM_FILE_LEN 5000u
#define TYPE(i) (BUF + 0x100ull * (i))
#define RESP(i) (BUF + 0x100ull * (i) + 0x10)

static int backing_fd(void)
{
	char path[] = "/tmp/hearth-pmem-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, PM_FILE_LEN), 0);
	return fd;
}

static struct pmem_config pm_cfg(int fd)
{
	return (struct pmem_config){ .fd = fd, .gpa = PM_GPA, .size = PM_SIZE,
				     .file_len = PM_FILE_LEN };
}

static void start_pmem(struct fx *f, const struct pmem_config *cfg)
{
	struct virtio_host host = { .vm_fd = -1, .bus = &f->bus };
	struct virtio_env env = { .mem = &f->mem };
	struct err err = ERR_INIT;

	assert_int_equal(virtio_pmem_create(&env, cfg, &f->dev, &err), 0);
	assert_int_equal(mmio_attach(f->dev, &host, BASE, 5, &f->t), 0);
}

static void up(struct fx *f)
{
	int fd = backing_fd();
	struct pmem_config cfg = pm_cfg(fd);

	start_pmem(f, &cfg);
	close(fd);  /* the device has its own */
	bring_up(f, 0, 1);
}

/* A request as Linux's driver makes one: the type readable at i, the status writable at i+1. */
static void request(struct fx *f, unsigned int i, uint32_t type)
{
	memcpy(hva(f, TYPE(i), 4), &type, 4);
	memset(hva(f, RESP(i), 4), 0xee, 4);
	put_desc(f, 0, i, TYPE(i), 4, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	put_desc(f, 0, i + 1, RESP(i), 4, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0, (uint16_t)i);
}

static struct pmem *pm(struct fx *f)
{
	return f->dev->priv;
}

/* The flush in flight comes back, as the I/O loop would see it. */
static void complete(struct fx *f)
{
	struct pollfd pfd = { .fd = pm(f)->efd, .events = POLLIN };

	uint64_t done = pm(f)->c[PC_FLUSHES] + pm(f)->c[PC_FLUSH_FAILS];

	/* The eventfd may still count a flush a pause already reaped: until this one is back. */
	assert_true(pm(f)->inflight);
	for (int i = 0; i < 1000 && pm(f)->c[PC_FLUSHES] + pm(f)->c[PC_FLUSH_FAILS] == done;
	     i++) {
		assert_int_equal(poll(&pfd, 1, 10000), 1);
		pmem_on_flush_event(pm(f), EPOLLIN);
	}
	assert_int_equal(pm(f)->c[PC_FLUSHES] + pm(f)->c[PC_FLUSH_FAILS], done + 1);
}

static uint32_t used_len(struct fx *f, unsigned int n)
{
	uint32_t v;

	memcpy(&v, hva(f, RING(0) + 0x2000 + 4 + 8ull * n + 4, 4), 4);
	return v;
}

static void test_config_space(void **state)
{
	struct fx *f = *state;
	uint8_t d[8];
	uint64_t v;

	up(f);
	assert_int_equal(rd(f, 0x008), VIRTIO_ID_PMEM);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BASE + CONFIG, d, 8, false), 0);
	memcpy(&v, d, 8);
	assert_int_equal(v, PM_GPA);
	assert_int_equal(rd(f, CONFIG + 8), (uint32_t)PM_SIZE);
	assert_int_equal(rd(f, CONFIG + 12), 0);
	/* Read only: a write changes nothing and is counted. */
	wr(f, CONFIG, 0x1234);
	assert_int_equal(rd(f, CONFIG + 4), 2);
	assert_int_equal(rd(f, CONFIG), 0);
	assert_int_equal(counter(f, "cfg_fails"), 1);
	assert_false(needs_reset(f));
}

static void test_flush(void **state)
{
	struct fx *f = *state;

	up(f);
	request(f, 0, PMEM_REQ_FLUSH);
	kick(f, 0);
	/* Not answered until the fdatasync is back. */
	assert_int_equal(used_idx(f, 0), 0);
	complete(f);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(get32(f, RESP(0)), PMEM_RESP_OK);
	assert_int_equal(used_len(f, 0), 4);
	assert_int_equal(counter(f, "flushes"), 1);
	assert_int_equal(counter(f, "requests"), 1);
	assert_false(pm(f)->inflight);
}

/* The requests one kick finds share one flush; those that come meanwhile get the next. */
static void test_flush_shared_and_next(void **state)
{
	struct fx *f = *state;

	up(f);
	request(f, 0, PMEM_REQ_FLUSH);
	request(f, 2, PMEM_REQ_FLUSH);
	request(f, 4, PMEM_REQ_FLUSH);
	kick(f, 0);
	request(f, 6, PMEM_REQ_FLUSH);
	kick(f, 0);   /* in flight: left in the ring */
	assert_int_equal(used_idx(f, 0), 0);
	complete(f);
	assert_int_equal(used_idx(f, 0), 3);
	assert_int_equal(counter(f, "flushes"), 1);
	for (unsigned int i = 0; i < 6; i += 2)
		assert_int_equal(get32(f, RESP(i)), PMEM_RESP_OK);
	assert_int_equal(get32(f, RESP(6)), 0xeeeeeeee);
	/* The completion took the waiting one for a flush of its own. */
	complete(f);
	assert_int_equal(used_idx(f, 0), 4);
	assert_int_equal(get32(f, RESP(6)), PMEM_RESP_OK);
	assert_int_equal(counter(f, "flushes"), 2);
}

static void test_unknown_type_eio(void **state)
{
	struct fx *f = *state;

	up(f);
	request(f, 0, 7);
	kick(f, 0);
	assert_false(pm(f)->inflight);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(get32(f, RESP(0)), PMEM_RESP_EIO);
	assert_int_equal(counter(f, "event_fails"), 1);
	assert_false(needs_reset(f));
	/* And the device goes on. */
	request(f, 2, PMEM_REQ_FLUSH);
	kick(f, 0);
	complete(f);
	assert_int_equal(get32(f, RESP(2)), PMEM_RESP_OK);
}

/* A status split over descriptors is still four bytes: taken. */
static void test_split_status(void **state)
{
	struct fx *f = *state;

	up(f);
	memset(hva(f, TYPE(0), 4), 0, 4);
	memset(hva(f, RESP(0), 8), 0xee, 8);
	put_desc(f, 0, 0, TYPE(0), 4, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 0, 1, RESP(0), 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, 0, 2, RESP(0) + 4, 3, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0, 0);
	kick(f, 0);
	complete(f);
	assert_int_equal(*hva(f, RESP(0), 1), 0);
	assert_int_equal(*hva(f, RESP(0) + 1, 1), 0xee);
	assert_int_equal(*hva(f, RESP(0) + 4, 1), 0);
	assert_int_equal(*hva(f, RESP(0) + 6, 1), 0);
	assert_int_equal(*hva(f, RESP(0) + 7, 1), 0xee);
}

/* Each malformed shape: NEEDS_RESET, nothing flushed, no status written. */
static void test_malformed(void **state)
{
	static const struct { uint32_t tlen, slen; uint16_t sflags; bool chain; } bad[] = {
		{ 8, 4, VIRTQ_DESC_F_WRITE, true },   /* type too long */
		{ 2, 4, VIRTQ_DESC_F_WRITE, true },   /* type too short */
		{ 4, 2, VIRTQ_DESC_F_WRITE, true },   /* status too short */
		{ 4, 8, VIRTQ_DESC_F_WRITE, true },   /* status too long */
		{ 4, 4, 0, true },                    /* status readable */
		{ 4, 0, 0, false },                   /* no status */
	};
	struct fx *f = *state;

	up(f);
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		bring_up(f, 0, 1);
		memset(hva(f, RESP(0), 8), 0xee, 8);
		put_desc(f, 0, 0, TYPE(0), bad[k].tlen, bad[k].chain ? VIRTQ_DESC_F_NEXT : 0, 1);
		put_desc(f, 0, 1, RESP(0), bad[k].slen, bad[k].sflags, 0);
		offer(f, 0, 0);
		kick(f, 0);
		if (!needs_reset(f))
			fail_msg("malformed request %zu taken", k);
		assert_false(pm(f)->inflight);
		assert_int_equal(get32(f, RESP(0)), 0xeeeeeeee);
	}
	assert_int_equal(counter(f, "flushes"), 0);
}

/*
 * The guest rewrites the ring and the descriptors while its flush is in
 * flight: the answer goes where the request said when it was taken, once.
 */
static void test_ring_changed_in_flight(void **state)
{
	struct fx *f = *state;
	uint16_t idx;

	up(f);
	request(f, 0, PMEM_REQ_FLUSH);
	kick(f, 0);
	put_desc(f, 0, 1, RESP(5), 4, 0, 0);             /* the status now readable, elsewhere */
	put_desc(f, 0, 0, 0xffffffff000ull, 4, 0, 0);    /* the type outside RAM */
	memset(hva(f, RESP(5), 4), 0xee, 4);
	complete(f);
	assert_int_equal(get32(f, RESP(0)), PMEM_RESP_OK);
	assert_int_equal(get32(f, RESP(5)), 0xeeeeeeee);
	assert_int_equal(used_idx(f, 0), 1);
	assert_false(needs_reset(f));
	/* Now the avail index jumps past the queue: refused as the queue's error. */
	idx = (uint16_t)(f->avail_idx[0] + QSIZE + 5);
	memcpy(hva(f, RING(0) + 0x1000 + 2, 2), &idx, 2);
	kick(f, 0);
	assert_true(needs_reset(f));
	assert_false(pm(f)->inflight);
}

/* A reset with a flush in flight: its completion answers no one; the device works after. */
static void test_reset_in_flight(void **state)
{
	struct fx *f = *state;

	up(f);
	request(f, 0, PMEM_REQ_FLUSH);
	kick(f, 0);
	wr(f, STATUS, 0);
	complete(f);
	assert_int_equal(used_idx(f, 0), 0);
	assert_int_equal(get32(f, RESP(0)), 0xeeeeeeee);
	bring_up(f, 0, 1);
	request(f, 0, PMEM_REQ_FLUSH);
	kick(f, 0);
	complete(f);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(get32(f, RESP(0)), PMEM_RESP_OK);
}

/* A pause waits for the flush in flight and answers it; nothing new is taken while paused. */
static void test_pause_in_flight(void **state)
{
	struct fx *f = *state;

	up(f);
	request(f, 0, PMEM_REQ_FLUSH);
	kick(f, 0);
	assert_int_equal(virtio_dev_pause(f->dev), 0);
	assert_false(pm(f)->inflight);
	assert_int_equal(used_idx(f, 0), 1);
	request(f, 2, PMEM_REQ_FLUSH);
	kick(f, 0);
	assert_false(pm(f)->inflight);
	assert_int_equal(used_idx(f, 0), 1);
	virtio_dev_resume(f->dev);
	complete(f);
	assert_int_equal(used_idx(f, 0), 2);
}

/* Firecracker's price: one op and the file's length per flush. */
static void test_rate_limiter(void **state)
{
	struct fx *f = *state;
	struct rl_config rl = { .ops = { .set = true, .size = 1, .refill_time = 100000 } };
	struct rl_config bw = { .bandwidth = { .set = true, .size = PM_FILE_LEN,
					       .refill_time = 100000 } };

	up(f);
	virtio_pmem_set_limiter(f->dev, &rl);
	request(f, 0, PMEM_REQ_FLUSH);
	kick(f, 0);
	complete(f);
	request(f, 2, PMEM_REQ_FLUSH);
	kick(f, 0);
	assert_false(pm(f)->inflight);
	assert_int_equal(used_idx(f, 0), 1);
	assert_int_equal(counter(f, "rate_limiter_throttled"), 1);
	/* The bandwidth bucket: a file's worth per flush (ops no limit now). */
	bw.ops = rl.ops;
	bw.ops.size = 1000;
	/* The update wakes the blocked limiter: the request it held goes now. */
	virtio_pmem_set_limiter(f->dev, &bw);
	complete(f);
	assert_int_equal(used_idx(f, 0), 2);
	request(f, 4, PMEM_REQ_FLUSH);
	kick(f, 0);
	assert_false(pm(f)->inflight);
	assert_int_equal(used_idx(f, 0), 2);
	assert_int_equal(counter(f, "rate_limiter_throttled"), 2);
}

/* Crafted: the record's field at off (after the 8-byte header) set to v. */
static void crafted(const uint8_t *saved, size_t len, size_t off, const void *v, size_t n,
		    struct virtio_dev *dst)
{
	uint8_t *bad = malloc(len);

	assert_non_null(bad);
	memcpy(bad, saved, len);
	memcpy(bad + BYTES_HDR_SIZE + off, v, n);
	assert_int_equal(state_check(&(struct component){ &virtio_rec_ops, dst }, bad, len), -EINVAL);
	free(bad);
}

static void test_save_restore(void **state)
{
	struct fx *f = *state;
	struct component rec = { &virtio_rec_ops, NULL };
	struct virtio_env env = { .mem = &f->mem };
	struct err err = ERR_INIT;
	int fd = backing_fd();
	struct pmem_config cfg = pm_cfg(fd);
	struct virtio_dev *dev2, *other;
	uint64_t big = PM_SIZE + 1, gpa = PM_GPA + PM_SIZE;
	uint8_t *saved, *again;
	size_t len, len2;
	uint8_t one = 1;

	start_pmem(f, &cfg);
	bring_up(f, 0, 1);
	request(f, 0, PMEM_REQ_FLUSH);
	kick(f, 0);
	/* In flight: no record (a snapshot pauses first, which waits). */
	rec.obj = f->dev;
	assert_int_equal(state_try_save(&rec), -EBUSY);
	complete(f);
	saved = state_save(&rec, &len);
	state_check_refusals(&rec, saved, len);

	assert_int_equal(virtio_pmem_create(&env, &cfg, &dev2, &err), 0);
	assert_int_equal(state_restore(&(struct component){ &virtio_rec_ops, dev2 }, saved, len), 0);
	again = state_save(&(struct component){ &virtio_rec_ops, dev2 }, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, saved, len);
	free(again);
	/* Crafted: another address or size, a file past its window, read_only flipped. */
	crafted(saved, len, 0, &gpa, 8, dev2);
	crafted(saved, len, 8, &big, 8, dev2);
	crafted(saved, len, 16, &big, 8, dev2);
	crafted(saved, len, 24, &one, 1, dev2);
	/* A device whose file now maps elsewhere refuses the record. */
	cfg.gpa = PM_GPA + PM_SIZE;
	assert_int_equal(virtio_pmem_create(&env, &cfg, &other, &err), 0);
	assert_int_equal(state_check(&(struct component){ &virtio_rec_ops, other }, saved, len), -EINVAL);
	other->ops->destroy(other);
	dev2->ops->destroy(dev2);
	free(saved);
	close(fd);
}

/*
 * A device plugged in after start flushes on a ring made at start (a
 * spare: virtio/spare_ring.h), since no thread may make one then: its
 * file goes in the spare's empty slot, the flush runs there, and the
 * device gives the spare back when destroyed, its slot empty again, for
 * the next device, which flushes on it too.
 */
static void test_flush_on_spare(void **state)
{
	struct fx *f = *state;
	struct virtio_env env = { .mem = &f->mem };
	struct err err = ERR_INIT;
	struct virtio_dev *next;
	struct spare_ring s;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int fd = backing_fd(), res = -1;
	struct pmem_config cfg = pm_cfg(fd);

	assert_int_equal(pmem_ring_spare_make(&s), 0);
	cfg.ring = &s;
	start_pmem(f, &cfg);
	assert_true(s.in_use);
	assert_ptr_equal(pm(f)->ring, &s.ring);
	assert_int_equal(pm(f)->efd, s.efd);
	bring_up(f, 0, 1);
	request(f, 0, PMEM_REQ_FLUSH);
	kick(f, 0);
	complete(f);
	assert_int_equal(get32(f, RESP(0)), PMEM_RESP_OK);
	assert_int_equal(counter(f, "flushes"), 1);
	mmio_detach_destroy(f->dev, f->t);
	f->dev = NULL;
	f->t = NULL;
	assert_false(s.in_use);
	assert_true(s.efd >= 0);
	/* Back with its slot empty: a flush there finds no file. */
	sqe = io_uring_get_sqe(&s.ring);
	io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
	sqe->flags |= IOSQE_FIXED_FILE;
	assert_int_equal(io_uring_submit(&s.ring), 1);
	assert_int_equal(io_uring_wait_cqe(&s.ring, &cqe), 0);
	assert_int_equal(cqe->res, -EBADF);
	io_uring_cqe_seen(&s.ring, cqe);
	/* Fenced as every pmem ring: nothing but fsync, even on its slot; no other registration. */
	sqe = io_uring_get_sqe(&s.ring);
	io_uring_prep_nop(sqe);
	sqe->flags |= IOSQE_FIXED_FILE;
	assert_int_equal(io_uring_submit(&s.ring), 1);
	assert_int_equal(io_uring_wait_cqe(&s.ring, &cqe), 0);
	assert_int_equal(cqe->res, -EACCES);
	io_uring_cqe_seen(&s.ring, cqe);
	assert_int_equal(io_uring_register_eventfd(&s.ring, s.efd), -EACCES);
	/* The next device plugged in takes it again, and flushes its own file there. */
	assert_int_equal(virtio_pmem_create(&env, &cfg, &next, &err), 0);
	assert_true(s.in_use);
	assert_int_equal(pmem_flush_submit(next->priv), 0);
	assert_int_equal(pmem_flush_reap(next->priv, &res, 5000), 1);
	assert_int_equal(res, 0);
	next->ops->destroy(next);
	assert_false(s.in_use);
	spare_ring_retire(&s);
	close(fd);
}

/* Creation refuses a window that is not 2 MiB aligned around the file. */
static void test_create_refusals(void **state)
{
	struct virtio_env env = { 0 };
	struct err err = ERR_INIT;
	struct virtio_dev *dev;
	int fd = backing_fd();
	struct pmem_config c = pm_cfg(fd);

	(void)state;
	c.gpa += 4096;
	assert_int_equal(virtio_pmem_create(&env, &c, &dev, &err), -EINVAL);
	c = pm_cfg(fd);
	c.size = 4096;
	assert_int_equal(virtio_pmem_create(&env, &c, &dev, &err), -EINVAL);
	c = pm_cfg(fd);
	c.file_len = PM_SIZE + 1;
	assert_int_equal(virtio_pmem_create(&env, &c, &dev, &err), -EINVAL);
	close(fd);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_config_space), T(test_flush), T(test_flush_shared_and_next),
		T(test_unknown_type_eio), T(test_split_status), T(test_malformed),
		T(test_ring_changed_in_flight), T(test_reset_in_flight), T(test_pause_in_flight),
		T(test_rate_limiter), T(test_save_restore), T(test_flush_on_spare),
		cmocka_unit_test(test_create_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
