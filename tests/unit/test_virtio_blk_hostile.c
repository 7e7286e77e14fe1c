/*
 * virtio-blk against a hostile guest and a failing host: a guest that
 * refills its ring from inside the device's own steps (its avail index
 * lies under a status byte the device writes), write-zeroes with an empty
 * range, and resets while io_uring cannot deliver completions.
 *
 * The I/O thread is played by the test: kicks go through eventfds
 * (test_kick_fds) and loop_round() dispatches what is ready, one round at
 * a time. A broken ring is made by interposing io_uring_submit(),
 * io_uring_submit_and_wait() and poll(), as net's hostile test does with
 * write().
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define IMG_SECTORS 64u
#define QSIZE 256u
#define DESC_GPA 0x10000ull
#define AVAIL_GPA 0x20000ull
#define USED_GPA 0x30000ull
#define INDIRECT_GPA 0x40000ull  /* 64 bytes per chain */
#define HDR_GPA 0x100000ull      /* 16 bytes per header */
#define STATUS_GPA 0x180000ull   /* 1 byte per chain */
#define DATA_GPA 0x200000ull
#define BIG_TABLE_GPA 0x1000000ull /* an indirect table of up to 1024 */
#define BIG_GPA 0x1100000ull       /* data buffers, BIG_LEN bytes */
#define BIG_LEN (256u * 1024u)
/* The device's size_max (BLK_SIZE_MAX in virtio/blk/priv.h). */
#define BLK_SIZE_MAX_ (128u * 1024u)
/* The device's per-call budget (BLK_KICK_BUDGET in virtio/blk/priv.h). */
#define KICK_BUDGET 256u

enum { T_IN = 0, T_OUT = 1, T_GET_ID = 8, T_WZ = 13, T_DISCARD = 11, T_BOGUS = 99 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

struct drv {
	struct guest_mem gm;
	struct bus bus;
	struct eventloop loop;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	char path[64];
	uint16_t avail_idx;
};

#include "mmio_driver.h"

/* ----------------------------------------------------------- a broken ring */

static struct {
	int submit_err;  /* io_uring_submit() fails with this */
	int wait_err;    /* io_uring_wait_cqe_timeout() fails with this */
	bool wait_stuck; /* io_uring_wait_cqe_timeout() times out at once */
	bool poll_stuck; /* poll() times out at once: no completion ever shows */
	unsigned int waits; /* io_uring_wait_cqe_timeout() calls */
} fault;

/*
 * The disk's clock: each look moves it on by clock_step, so a wait's
 * budget is a count of rounds, whatever the machine's speed.
 */
#define MS 1000000ull
static uint64_t fake_now, clock_step = 100 * MS;

static uint64_t fake_clock(void *opaque)
{
	(void)opaque;
	return fake_now += clock_step;
}

static const struct rl_clock clk = { fake_clock, NULL };

static void *real_fn(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (!fn)
		abort();
	return fn;
}

int io_uring_submit(struct io_uring *ring)
{
	int (*real)(struct io_uring *) = (int (*)(struct io_uring *))real_fn("io_uring_submit");

	return fault.submit_err ? fault.submit_err : real(ring);
}

int io_uring_wait_cqe_timeout(struct io_uring *ring, struct io_uring_cqe **cqe,
			      struct __kernel_timespec *ts)
{
	int (*real)(struct io_uring *, struct io_uring_cqe **, struct __kernel_timespec *) =
		(int (*)(struct io_uring *, struct io_uring_cqe **, struct __kernel_timespec *))
			real_fn("io_uring_wait_cqe_timeout");

	fault.waits++;
	if (fault.wait_stuck)
		return -ETIME;
	return fault.wait_err ? fault.wait_err : real(ring, cqe, ts);
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	int (*real)(struct pollfd *, nfds_t, int) =
		(int (*)(struct pollfd *, nfds_t, int))real_fn("poll");

	return fault.poll_stuck ? 0 : real(fds, nfds, timeout);
}

/* ------------------------------------------------------------ the driver */

/* Driver initialisation (3.1.1) after a reset, accepting every offered feature. */
static void drv_start(struct drv *d)
{
	mmio_init_one(d, false, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	d->avail_idx = 0;
}

static void drv_init(struct drv *d)
{
	mmio_reset(d);
	drv_start(d);
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off / 512) * 7 + off % 512);
}

/* Past the image's pattern, a sparse tail of extra bytes (zeroes). */
static struct drv *drv_new_sized(const char *spec_tail, uint64_t extra)
{
	struct virtio_host host = { .vm_fd = -1, .test_kick_fds = true };
	struct virtio_env env = { 0 };
	struct drv *d = calloc(1, sizeof(*d));
	uint8_t img[IMG_SECTORS * 512];
	struct blk_config cfg;
	char spec[128];
	struct err err;
	int fd;

	memset(&fault, 0, sizeof(fault));
	log_set_level(LOG_ERR);
	assert_non_null(d);
	assert_int_equal(guest_mem_init(&d->gm, 32ull << 20), 0);
	bus_init(&d->bus);
	assert_int_equal(eventloop_init(&d->loop), 0);
	snprintf(d->path, sizeof(d->path), "/tmp/hearth-blkh-XXXXXX");
	fd = mkstemp(d->path);
	assert_true(fd >= 0);
	for (unsigned int i = 0; i < sizeof(img); i++)
		img[i] = pattern(i);
	assert_int_equal(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
	assert_int_equal(ftruncate(fd, (off_t)(sizeof(img) + extra)), 0);
	close(fd);
	host.bus = &d->bus;
	host.loop = &d->loop;
	env.loop = &d->loop;
	env.mem = &d->gm;
	env.clock = &clk;
	clock_step = 100 * MS;
	snprintf(spec, sizeof(spec), "path=%s%s", d->path, spec_tail);
	assert_int_equal(virtio_blk_parse(spec, &cfg, &err), 0);
	assert_int_equal(virtio_blk_create(&env, &cfg, &d->dev, &err), 0);
	assert_int_equal(mmio_attach(d->dev, &host, BASE, 5, &d->t), 0);
	virtio_blk_config_release(&cfg);
	drv_init(d);
	assert_false(needs_reset(d));
	return d;
}

static struct drv *drv_new(const char *spec_tail)
{
	return drv_new_sized(spec_tail, 0);
}

static void drv_free(struct drv *d)
{
	memset(&fault, 0, sizeof(fault));
	mmio_detach_destroy(d->dev, d->t);
	eventloop_destroy(&d->loop);
	bus_destroy(&d->bus);
	guest_mem_destroy(&d->gm);
	unlink(d->path);
	free(d);
}

/* Chain n lives in indirect table n and is published in the next avail slot. */
static void post(struct drv *d, unsigned int n, const struct seg *segs, unsigned int nsegs)
{
	struct virtq_desc *table = gp(d, INDIRECT_GPA + 64ull * n, 64);
	struct virtq_desc *ring = gp(d, DESC_GPA, 16 * QSIZE);
	uint16_t *avail = gp(d, AVAIL_GPA, 6 + 2 * QSIZE);
	unsigned int slot = d->avail_idx % QSIZE;

	assert_true(nsegs <= 4);
	for (unsigned int i = 0; i < nsegs; i++)
		table[i] = (struct virtq_desc){
			.addr = segs[i].gpa, .len = segs[i].len, .next = (uint16_t)(i + 1),
			.flags = (uint16_t)((i + 1 < nsegs ? VIRTQ_DESC_F_NEXT : 0) |
					    (segs[i].write ? VIRTQ_DESC_F_WRITE : 0)),
		};
	ring[slot] = (struct virtq_desc){ .addr = INDIRECT_GPA + 64ull * n,
					  .len = 16 * nsegs, .flags = VIRTQ_DESC_F_INDIRECT };
	avail[2 + slot] = (uint16_t)slot;
	__atomic_store_n(&avail[1], ++d->avail_idx, __ATOMIC_RELEASE);
}

static void set_hdr(struct drv *d, uint64_t gpa, uint32_t type, uint64_t sector)
{
	uint32_t *hdr = gp(d, gpa, 16);

	hdr[0] = type;
	hdr[1] = 0;
	memcpy(&hdr[2], &sector, 8);
}

static uint16_t used_idx(struct drv *d)
{
	return __atomic_load_n((uint16_t *)gp(d, USED_GPA + 2, 2), __ATOMIC_ACQUIRE);
}

/* One round of the I/O thread: dispatches what is ready within timeout_ms. */
static void loop_round(struct drv *d, int timeout_ms)
{
	struct epoll_event evs[8];
	int n = epoll_wait(d->loop.epfd, evs, 8, timeout_ms);

	/* io_uring's task work interrupts waits, as it does Hearth's loop. */
	if (n < 0 && errno == EINTR)
		return;
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		struct eventloop_handler *h = evs[i].data.ptr;

		h->cb(h->opaque, evs[i].events);
	}
}

/* A queue kick is pending: a ready handler that is not the disk's completion eventfd. */
static bool kick_pending(struct drv *d)
{
	struct epoll_event evs[8];
	int n = epoll_wait(d->loop.epfd, evs, 8, 0);

	for (int i = 0; i < n; i++)
		if (((struct eventloop_handler *)evs[i].data.ptr)->opaque != (void *)d->dev)
			return true;
	return false;
}

/* Runs rounds until every published chain is used; false on timeout. */
static bool settle(struct drv *d)
{
	for (int i = 0; i < 500; i++) {
		if (used_idx(d) == d->avail_idx)
			return true;
		loop_round(d, 10);
	}
	return false;
}

/* One request in table 0: header, optional data, status. Returns the status byte. */
static int request(struct drv *d, uint32_t type, uint64_t sector, uint64_t data_gpa,
		   uint32_t data_len, bool data_write)
{
	uint8_t *status = gp(d, STATUS_GPA, 1);
	struct seg s[3];
	unsigned int n = 0;

	set_hdr(d, HDR_GPA, type, sector);
	*status = 0xee;
	s[n++] = (struct seg){ HDR_GPA, 16, false };
	if (data_len)
		s[n++] = (struct seg){ data_gpa, data_len, data_write };
	s[n++] = (struct seg){ STATUS_GPA, 1, true };
	post(d, 0, s, n);
	wr(d, 0x050, 0);
	if (!settle(d))
		return -1;
	return *status;
}

/*
 * A chain of nsegs data segments of len bytes, between a header (type,
 * sector) and a status byte, in the big indirect table. Each segment is
 * at data_gpa + i * stride: stride 0 makes them all overlap. A write's
 * header may share the first segment's descriptor (merged: it is then
 * just before data_gpa), which the queue's size does not count twice.
 * Kicked, and one loop round run: what is answered without I/O is
 * answered by then.
 */
static void post_chain(struct drv *d, uint32_t type, uint64_t sector, unsigned int nsegs,
		       uint32_t len, uint64_t data_gpa, uint64_t stride, bool merged)
{
	struct virtq_desc *table = gp(d, BIG_TABLE_GPA, 16ull * (nsegs + 2));
	struct virtq_desc *ring = gp(d, DESC_GPA, 16 * QSIZE);
	uint16_t *avail = gp(d, AVAIL_GPA, 6 + 2 * QSIZE);
	unsigned int slot = d->avail_idx % QSIZE, n = 0;
	uint16_t w = type == T_IN ? VIRTQ_DESC_F_WRITE : 0;
	uint64_t hdr = merged ? data_gpa - 16 : HDR_GPA;

	set_hdr(d, hdr, type, sector);
	*(uint8_t *)gp(d, STATUS_GPA, 1) = 0xee;
	if (!merged)
		table[n++] = (struct virtq_desc){ hdr, 16, VIRTQ_DESC_F_NEXT, 1 };
	for (unsigned int i = 0; i < nsegs; i++, n++)
		table[n] = (struct virtq_desc){ data_gpa + i * stride, len,
						(uint16_t)(VIRTQ_DESC_F_NEXT | w),
						(uint16_t)(n + 1) };
	if (merged) {
		table[0].addr -= 16;
		table[0].len += 16;
	}
	table[n++] = (struct virtq_desc){ STATUS_GPA, 1, VIRTQ_DESC_F_WRITE, 0 };
	ring[slot] = (struct virtq_desc){ .addr = BIG_TABLE_GPA, .len = 16 * n,
					  .flags = VIRTQ_DESC_F_INDIRECT };
	avail[2 + slot] = (uint16_t)slot;
	__atomic_store_n(&avail[1], ++d->avail_idx, __ATOMIC_RELEASE);
	wr(d, 0x050, 0);
	loop_round(d, 0);
}

static void post_segs(struct drv *d, uint32_t type, uint64_t sector, unsigned int nsegs,
		      uint32_t len, uint64_t data_gpa, uint64_t stride)
{
	post_chain(d, type, sector, nsegs, len, data_gpa, stride, false);
}

/*
 * 255 segments of a sector each, written at sector 0: one more than
 * seg_max, in 256 descriptors (the queue's size, which the ring allows).
 */
static void post_too_many(struct drv *d)
{
	post_chain(d, T_OUT, 0, 255, 512, BIG_GPA, 512, true);
}

/* Initialisation after a reset, the driver refusing SIZE_MAX and SEG_MAX. */
static void drv_init_without_limits(struct drv *d)
{
	mmio_reset(d);
	mmio_negotiate(d, ~((1ull << 1) | (1ull << 2)));
	memset(gp(d, AVAIL_GPA, 0x10000), 0, 0x10000);
	memset(gp(d, USED_GPA, 0x10000), 0, 0x10000);
	mmio_queue(d, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	mmio_driver_ok(d);
	d->avail_idx = 0;
}

/* The image's bytes [off, off+len) are what drv_new_sized wrote there. */
static void expect_image(struct drv *d, uint64_t off, uint64_t len)
{
	uint8_t *buf = malloc(len);
	int fd = open(d->path, O_RDONLY);

	assert_true(buf && fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
	for (uint64_t i = 0; i < len; i++)
		if (buf[i] != (off + i < IMG_SECTORS * 512 ? pattern(off + i) : 0))
			fail_msg("image byte %llu changed", (unsigned long long)(off + i));
	free(buf);
}

static bool untouched(struct drv *d, uint64_t gpa, uint64_t len)
{
	const uint8_t *p = gp(d, gpa, len);

	for (uint64_t i = 0; i < len; i++)
		if (p[i] != 0x5a)
			return false;
	return true;
}

/* ------------------------------------------------------------------ tests */

/*
 * Requests answered without I/O (GET_ID, unknown type, zero-length,
 * out of range) free their slot at once. The guest's last request has
 * its status byte on the high byte of the avail index: answering it
 * (UNSUPP, 2) publishes 256 more. One round must stop at the budget and
 * ask for another through the queue's kick eventfd.
 */
static void test_answered_without_io_bounded(void **state)
{
	struct drv *d = drv_new(",id=hostile");
	uint8_t *status = gp(d, STATUS_GPA, QSIZE), *id = gp(d, DATA_GPA, 32 * QSIZE);

	(void)state;
	set_hdr(d, HDR_GPA, T_GET_ID, 0);
	set_hdr(d, HDR_GPA + 16, T_BOGUS, 0);
	set_hdr(d, HDR_GPA + 32, T_IN, 0);             /* no data: zero length */
	set_hdr(d, HDR_GPA + 48, T_IN, IMG_SECTORS);  /* past the end */
	memset(status, 0xee, QSIZE);
	for (unsigned int i = 0; i < QSIZE; i++) {
		unsigned int kind = i == QSIZE - 1 ? 1 : i % 4, n = 0;
		struct seg s[3];

		s[n++] = (struct seg){ HDR_GPA + 16 * kind, 16, false };
		if (kind == 0)
			s[n++] = (struct seg){ DATA_GPA + 32 * i, 20, true };
		if (kind == 3)
			s[n++] = (struct seg){ DATA_GPA + 0x10000, 512, true };
		s[n++] = (struct seg){ i == QSIZE - 1 ? AVAIL_GPA + 3 : STATUS_GPA + i, 1, true };
		post(d, i, s, n);
	}
	wr(d, 0x050, 0);
	assert_true(kick_pending(d));
	loop_round(d, 0);
	assert_int_equal(used_idx(d), KICK_BUDGET);
	assert_int_equal(*(uint16_t *)gp(d, AVAIL_GPA + 2, 2), 2 * QSIZE);
	assert_true(kick_pending(d));  /* kick_again */
	loop_round(d, 0);
	assert_int_equal(used_idx(d), 2 * QSIZE);
	assert_false(kick_pending(d));
	assert_false(needs_reset(d));
	assert_int_equal(status[0], S_OK);
	assert_memory_equal(id, "hostile", 7);
	assert_int_equal(status[1], S_UNSUPP);
	assert_int_equal(status[2], S_OK);
	assert_int_equal(status[3], S_IOERR);
	drv_free(d);
}

/* A discard/write-zeroes range of zero sectors after the first is a no-op. */
static void test_write_zeroes_empty_range(void **state)
{
	struct drv *d = drv_new("");
	uint64_t *seg = gp(d, DATA_GPA, 64);
	uint8_t buf[IMG_SECTORS * 512], zero[8 * 512] = { 0 };
	int fd;

	(void)state;
	/* Sectors 8..15, then nothing at 40, then 20..23 with unmap. */
	seg[0] = 8;
	seg[1] = 8;
	seg[2] = 40;
	seg[3] = 0;
	seg[4] = 20;
	seg[5] = 4 | (1ull << 32);
	assert_int_equal(request(d, T_WZ, 0, DATA_GPA, 48, false), S_OK);
	/* The empty range last, with unmap. */
	seg[0] = 30;
	seg[1] = 4 | (1ull << 32);
	seg[2] = 50;
	seg[3] = 0 | (1ull << 32);
	assert_int_equal(request(d, T_WZ, 0, DATA_GPA, 32, false), S_OK);
	seg[0] = 44;
	seg[1] = 4;
	seg[2] = 0;
	seg[3] = 0;
	assert_int_equal(request(d, T_DISCARD, 0, DATA_GPA, 32, false), S_OK);

	fd = open(d->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	close(fd);
	assert_memory_equal(buf + 8 * 512, zero, 8 * 512);
	assert_memory_equal(buf + 20 * 512, zero, 4 * 512);
	assert_memory_equal(buf + 30 * 512, zero, 4 * 512);
	assert_memory_equal(buf + 44 * 512, zero, 4 * 512);
	for (unsigned int s = 0; s < IMG_SECTORS; s++) {
		bool zeroed = (s >= 8 && s < 16) || (s >= 20 && s < 24) || (s >= 30 && s < 34) ||
			      (s >= 44 && s < 48);

		if (!zeroed)
			assert_int_equal(buf[s * 512 + 3], pattern(s * 512 + 3));
	}
	drv_free(d);
}

/* Eight reads started (submitted or, with a failing submit, queued) and not reaped. */
static void start_reads(struct drv *d)
{
	uint8_t *status = gp(d, STATUS_GPA, 8);

	memset(gp(d, DATA_GPA, 8 * 512), 0x11, 8 * 512);
	memset(status, 0xee, 8);
	for (unsigned int i = 0; i < 8; i++) {
		set_hdr(d, HDR_GPA + 16 * i, T_IN, i);
		post(d, i, (struct seg[]){ { HDR_GPA + 16 * i, 16, false },
					   { DATA_GPA + 512ull * i, 512, true },
					   { STATUS_GPA + i, 1, true } }, 3);
	}
	wr(d, 0x050, 0);
	loop_round(d, 0); /* the kick only: completions are left for later */
}

/* The driver reused the old requests' memory: nothing from them may land there. */
static void reuse_memory(struct drv *d)
{
	memset(gp(d, DATA_GPA, 8 * 512), 0x22, 8 * 512);
	memset(gp(d, STATUS_GPA, 8), 0x77, 8);
}

static void expect_untouched(struct drv *d)
{
	const uint8_t *data = gp(d, DATA_GPA, 8 * 512), *status = gp(d, STATUS_GPA, 8);

	for (int i = 0; i < 20; i++)
		loop_round(d, 5);
	assert_int_equal(used_idx(d), 0);
	for (unsigned int i = 0; i < 8; i++)
		assert_int_equal(status[i], 0x77);
	for (unsigned int i = 0; i < 8 * 512; i++)
		assert_int_equal(data[i], 0x22);
}

/*
 * A reset whose io_uring wait fails: the drain must still collect every
 * request (polling the ring), so none is answered into the new rings or
 * the reused memory, and the device works on.
 */
static void test_reset_wait_fails(void **state)
{
	struct drv *d = drv_new("");
	uint8_t *buf = gp(d, DATA_GPA + 0x10000, 512);

	(void)state;
	start_reads(d);
	fault.wait_err = -EBADFD;
	wr(d, 0x070, 0);
	reuse_memory(d);
	drv_start(d);
	fault.wait_err = 0;
	assert_false(needs_reset(d));
	expect_untouched(d);
	assert_int_equal(request(d, T_IN, 3, DATA_GPA + 0x10000, 512, true), S_OK);
	assert_int_equal(used_idx(d), 1);
	assert_int_equal(buf[5], pattern(3 * 512 + 5));
	drv_free(d);
}

/*
 * A ring that takes nothing and gives nothing back: the drain gives up
 * after its bound, and the device refuses to start (NEEDS_RESET) while
 * the old requests may still run. Once the ring recovers, starting again
 * collects them without answering any, and the disk works.
 */
static void test_reset_ring_broken(void **state)
{
	struct drv *d = drv_new("");

	(void)state;
	fault.submit_err = -EBADFD;
	fault.wait_err = -EBADFD;
	fault.poll_stuck = true;
	start_reads(d);
	wr(d, 0x070, 0);
	reuse_memory(d);
	drv_start(d);
	assert_true(needs_reset(d));

	/* Reset again, still broken; then the ring recovers before the driver starts. */
	wr(d, 0x070, 0);
	memset(&fault, 0, sizeof(fault));
	drv_start(d);
	assert_false(needs_reset(d));
	expect_untouched(d);
	assert_int_equal(request(d, T_IN, 2, DATA_GPA + 0x10000, 512, true), S_OK);
	assert_int_equal(used_idx(d), 1);

	/* And a plain reset with reads in flight still works. */
	start_reads(d);
	drv_init(d);
	reuse_memory(d);
	expect_untouched(d);
	drv_free(d);
}

/*
 * Requests over the limits the device advertises (size_max 128 KiB,
 * seg_max 254, so 31.75 MiB in all), on a 64 MiB image, each otherwise
 * valid (the old engine served them all): refused before any byte moves. A driver that negotiated the
 * limits and broke them is broken (NEEDS_RESET, the request unanswered);
 * one that did not is answered IOERR and the device works on.
 */
static void test_requests_over_the_limits(void **state)
{
	struct drv *d = drv_new_sized("", 64ull << 20);
	uint8_t *status = gp(d, STATUS_GPA, 1);

	(void)state;
	memset(gp(d, BIG_GPA, BIG_LEN), 0x5a, BIG_LEN);
	post_too_many(d);
	assert_true(needs_reset(d));
	assert_int_equal(used_idx(d), 0);
	assert_int_equal(*status, 0xee);
	expect_image(d, 0, 255 * 512);
	/* One segment of 128 KiB + 512. */
	drv_init(d);
	post_segs(d, T_IN, 64, 1, BLK_SIZE_MAX_ + 512, BIG_GPA, 0);
	assert_true(needs_reset(d));
	assert_true(untouched(d, BIG_GPA, BIG_LEN));

	/* Not negotiated: IOERR for each, and nothing moved. */
	drv_init_without_limits(d);
	post_too_many(d);
	assert_int_equal(used_idx(d), 1);
	assert_int_equal(*status, S_IOERR);
	post_segs(d, T_IN, 64, 1, BLK_SIZE_MAX_ + 512, BIG_GPA, 0);
	assert_int_equal(used_idx(d), 2);
	assert_int_equal(*status, S_IOERR);
	assert_true(untouched(d, BIG_GPA, BIG_LEN));
	/* 255 overlapping segments of 128 KiB: 31.9 MiB from one buffer. */
	post_chain(d, T_OUT, 64, 255, BLK_SIZE_MAX_, BIG_GPA, 0, true);
	assert_int_equal(used_idx(d), 3);
	assert_int_equal(*status, S_IOERR);
	assert_false(needs_reset(d));
	expect_image(d, 0, 33ull << 20);
	/* And a legal merged layout still works: 254 sectors. */
	post_chain(d, T_OUT, 0, 254, 512, BIG_GPA, 512, true);
	assert_true(settle(d));
	assert_int_equal(*status, S_OK);

	/* At the limits exactly (254 x 128 KiB, overlapping): served. */
	post_segs(d, T_IN, 64, 254, BLK_SIZE_MAX_, BIG_GPA, 0);
	assert_true(settle(d));
	assert_int_equal(*status, S_OK);
	assert_false(untouched(d, BIG_GPA, BLK_SIZE_MAX_));
	drv_free(d);
}

/*
 * One read the ring never takes (its submit fails), so it never
 * completes, and a wait that sees the clock move a second per look.
 */
static void stuck_read(struct drv *d, uint64_t sector)
{
	memset(gp(d, DATA_GPA, 512), 0x11, 512);
	*(uint8_t *)gp(d, STATUS_GPA, 1) = 0xee;
	set_hdr(d, HDR_GPA, T_IN, sector);
	fault.submit_err = -EBADFD;
	post(d, 0, (struct seg[]){ { HDR_GPA, 16, false }, { DATA_GPA, 512, true },
				   { STATUS_GPA, 1, true } }, 3);
	wr(d, 0x050, 0);
	loop_round(d, 0);
	fault.wait_stuck = true;
	fault.waits = 0;
	clock_step = 1000 * MS;
}

/* The ring works again; the next kick hands it what waited. */
static void unstick(void)
{
	memset(&fault, 0, sizeof(fault));
	clock_step = 100 * MS;
}

/*
 * A pause with a request that never completes fails once its budget
 * (5 s on the disk's clock) has passed, rather than hold the I/O thread:
 * a handful of waits, not hundreds. The caller resumes (host_pause), the
 * request completes when the disk recovers, and the device works on.
 */
static void test_pause_bounded(void **state)
{
	struct drv *d = drv_new("");
	const uint8_t *buf = gp(d, DATA_GPA, 512), *status = gp(d, STATUS_GPA, 1);

	(void)state;
	stuck_read(d, 3);
	assert_int_equal(virtio_dev_pause(d->dev), -EBUSY);
	assert_in_range(fault.waits, 1, 5);
	assert_int_equal(used_idx(d), 0);
	assert_int_equal(*status, 0xee);

	unstick();
	virtio_dev_resume(d->dev);
	assert_true(settle(d));
	assert_int_equal(*status, S_OK);
	assert_int_equal(buf[7], pattern(3 * 512 + 7));
	assert_false(needs_reset(d));
	assert_int_equal(request(d, T_IN, 5, DATA_GPA, 512, true), S_OK);
	assert_int_equal(buf[9], pattern(5 * 512 + 9));
	/* Nothing in flight: the pause is immediate. */
	assert_int_equal(virtio_dev_pause(d->dev), 0);
	virtio_dev_resume(d->dev);
	drv_free(d);
}

/*
 * A swap (PATCH /drives) with a request that never completes fails within
 * its budget and keeps the old image: its size, no config interrupt, and
 * the stuck read and later ones are served from it once the disk recovers.
 */
static void test_swap_bounded_keeps_the_old_disk(void **state)
{
	struct drv *d = drv_new("");
	const uint8_t *buf = gp(d, DATA_GPA, 1024);
	char path[] = "/tmp/hearth-blkh2-XXXXXX", spec[64];
	struct blk_config cfg;
	struct err err;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0 && ftruncate(fd, 2 * IMG_SECTORS * 512) == 0);
	close(fd);
	snprintf(spec, sizeof(spec), "path=%s", path);
	assert_int_equal(virtio_blk_parse(spec, &cfg, &err), 0);
	assert_int_equal(virtio_blk_open(&cfg, &err), 0);

	stuck_read(d, 3);
	assert_int_equal(virtio_blk_swap(d->dev, &cfg, &err), -ETIMEDOUT);
	assert_in_range(fault.waits, 1, 5);
	assert_non_null(strstr(err.msg, "did not complete within 5 s"));
	assert_non_null(strstr(err.msg, "the old image stays"));
	virtio_blk_config_release(&cfg);
	unlink(path);
	assert_int_equal(cfg_rd(d, 0, 8), IMG_SECTORS);
	assert_false(rd(d, 0x060) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(used_idx(d), 0);

	unstick();
	assert_int_equal(request(d, T_IN, 6, DATA_GPA + 512, 512, true), S_OK);
	assert_int_equal(used_idx(d), 2);
	assert_int_equal(buf[7], pattern(3 * 512 + 7));
	assert_int_equal(buf[512 + 9], pattern(6 * 512 + 9));
	drv_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answered_without_io_bounded),
		cmocka_unit_test(test_write_zeroes_empty_range),
		cmocka_unit_test(test_reset_wait_fails),
		cmocka_unit_test(test_reset_ring_broken),
		cmocka_unit_test(test_requests_over_the_limits),
		cmocka_unit_test(test_pause_bounded),
		cmocka_unit_test(test_swap_bounded_keeps_the_old_disk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
