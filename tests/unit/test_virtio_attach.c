/*
 * Devices through the one attach point, used as src/vmm/devices.c uses
 * it: created with no transport, attached to virtio-mmio, then detached
 * and destroyed in the documented order (virtio/device.h), also with
 * requests in flight, and read through the generic counters hook.
 * Nothing here reaches into a device: only its create and its ops.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "virtio/rng.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define IMG_SECTORS 64u
#define QSIZE 16u
#define DESC_GPA 0x10000ull
#define AVAIL_GPA 0x20000ull
#define USED_GPA 0x30000ull
#define HDR_GPA 0x100000ull    /* 16 bytes per chain */
#define STATUS_GPA 0x180000ull /* 1 byte per chain */
#define DATA_GPA 0x200000ull   /* 4 KiB per chain */
#define CHAINS 4u              /* chain n owns descriptors 4n..4n+3 */

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_BOGUS = 99 };
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

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off / 512) * 7 + off % 512);
}

/* A disk (blk) or virtio-rng, attached as Hearth attaches it; the driver is set up. */
static struct drv *drv_new(bool blk)
{
	struct drv *d = calloc(1, sizeof(*d));
	struct virtio_env env;
	struct virtio_host host = { .vm_fd = -1, .test_kick_fds = true };
	uint8_t img[IMG_SECTORS * 512];
	struct blk_config cfg;
	char spec[128];
	struct err err;
	int fd, ret;

	log_set_level(LOG_ERR);
	assert_non_null(d);
	assert_int_equal(guest_mem_init(&d->gm, 32ull << 20), 0);
	bus_init(&d->bus);
	assert_int_equal(eventloop_init(&d->loop), 0);
	env = (struct virtio_env){ .loop = &d->loop, .mem = &d->gm };
	host.bus = &d->bus;
	host.loop = &d->loop;
	if (blk) {
		snprintf(d->path, sizeof(d->path), "/tmp/hearth-attach-XXXXXX");
		fd = mkstemp(d->path);
		assert_true(fd >= 0);
		for (unsigned int i = 0; i < sizeof(img); i++)
			img[i] = pattern(i);
		assert_int_equal(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
		close(fd);
		snprintf(spec, sizeof(spec), "path=%s,id=attach", d->path);
		assert_int_equal(virtio_blk_parse(spec, &cfg, &err), 0);
		ret = virtio_blk_create(&env, &cfg, &d->dev, &err);
		virtio_blk_config_release(&cfg);
	} else {
		ret = virtio_rng_create(&env, &d->dev, &err);
	}
	assert_int_equal(ret, 0);
	/* Created, not attached: no hook to call yet. */
	assert_null(d->dev->signal_used);
	assert_null(d->dev->kick_again);
	assert_int_equal(mmio_attach(d->dev, &host, BASE, 5, &d->t), 0);
	assert_non_null(d->dev->signal_used);
	mmio_init_one(d, true, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_false(needs_reset(d));
	return d;
}

/* Whatever a test left attached or alive goes in the documented order. */
static void drv_free(struct drv *d)
{
	mmio_detach_destroy(d->dev, d->t);
	eventloop_destroy(&d->loop);
	bus_destroy(&d->bus);
	guest_mem_destroy(&d->gm);
	if (d->path[0])
		unlink(d->path);
	free(d);
}

/* Chain n (direct descriptors), published in the next avail slot. */
static void post(struct drv *d, unsigned int n, const struct seg *segs, unsigned int nsegs)
{
	struct virtq_desc *ring = gp(d, DESC_GPA, 16 * QSIZE);
	uint16_t *avail = gp(d, AVAIL_GPA, 6 + 2 * QSIZE);
	unsigned int head = 4 * n;

	assert_true(n < CHAINS && nsegs <= 4);
	for (unsigned int i = 0; i < nsegs; i++)
		ring[head + i] = (struct virtq_desc){
			.addr = segs[i].gpa, .len = segs[i].len, .next = (uint16_t)(head + i + 1),
			.flags = (uint16_t)((i + 1 < nsegs ? VIRTQ_DESC_F_NEXT : 0) |
					    (segs[i].write ? VIRTQ_DESC_F_WRITE : 0)),
		};
	avail[2 + d->avail_idx % QSIZE] = (uint16_t)head;
	__atomic_store_n(&avail[1], ++d->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t used_idx(struct drv *d)
{
	return __atomic_load_n((uint16_t *)gp(d, USED_GPA + 2, 2), __ATOMIC_ACQUIRE);
}

static uint32_t used_len(struct drv *d, uint16_t idx)
{
	uint32_t *elem = gp(d, USED_GPA + 4 + 8 * (idx % QSIZE), 8);

	return elem[1];
}

/* One round of the I/O thread: dispatches what is ready within timeout_ms. */
static int loop_round(struct drv *d, int timeout_ms)
{
	struct epoll_event evs[8];
	int n = epoll_wait(d->loop.epfd, evs, 8, timeout_ms);

	/* io_uring's task work interrupts waits, as it does Hearth's loop. */
	if (n < 0 && errno == EINTR)
		return 0;
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		struct eventloop_handler *h = evs[i].data.ptr;

		if (h->fd >= 0)
			h->cb(h->opaque, evs[i].events);
	}
	return n;
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

/* Publishes a disk request as chain n (header, optional data, status) and kicks. */
static void blk_post(struct drv *d, unsigned int n, uint32_t type, uint64_t sector,
		     uint32_t data_len, bool data_write)
{
	uint32_t *hdr = gp(d, HDR_GPA + 16 * n, 16);
	struct seg s[3];
	unsigned int k = 0;

	hdr[0] = type;
	hdr[1] = 0;
	memcpy(&hdr[2], &sector, 8);
	*(uint8_t *)gp(d, STATUS_GPA + n, 1) = 0xee;
	s[k++] = (struct seg){ HDR_GPA + 16 * n, 16, false };
	if (data_len)
		s[k++] = (struct seg){ DATA_GPA + 4096 * n, data_len, data_write };
	s[k++] = (struct seg){ STATUS_GPA + n, 1, true };
	post(d, n, s, k);
	wr(d, 0x050, 0);
}

/* One disk request to its end; returns its status byte. */
static int blk_request(struct drv *d, uint32_t type, uint64_t sector, uint32_t data_len,
		       bool data_write)
{
	blk_post(d, 0, type, sector, data_len, data_write);
	assert_true(settle(d));
	return *(uint8_t *)gp(d, STATUS_GPA, 1);
}

/* The named counter, found through the generic hook only. */
static uint64_t counter(struct virtio_dev *dev, const char *name)
{
	struct dev_counter c[16];
	unsigned int n = virtio_dev_counters(dev, c, 16);

	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].value;
	fail_msg("%s has no counter '%s'", dev->name, name);
	return 0;
}

static void test_blk_counters(void **state)
{
	static const char *const names[] = { "read_requests", "write_requests", "read_bytes",
					     "write_bytes", "flush_requests", "errors" };
	struct drv *d = drv_new(true);
	uint8_t *data = gp(d, DATA_GPA, 4096);
	struct dev_counter c[9];

	(void)state;
	for (unsigned int i = 0; i < 6; i++)
		assert_int_equal(counter(d->dev, names[i]), 0);
	memset(data, 0x3c, 1024);
	assert_int_equal(blk_request(d, T_OUT, 2, 1024, false), S_OK);
	memset(data, 0, 1024);
	assert_int_equal(blk_request(d, T_IN, 2, 512, true), S_OK);
	assert_int_equal(data[511], 0x3c);
	assert_int_equal(blk_request(d, T_IN, 5, 1024, true), S_OK);
	assert_int_equal(data[0], pattern(5 * 512));
	assert_int_equal(blk_request(d, T_FLUSH, 0, 0, false), S_OK);
	/* Not data: GET_ID is counted nowhere; failures count as errors only. */
	assert_int_equal(blk_request(d, T_GET_ID, 0, 20, true), S_OK);
	assert_int_equal(blk_request(d, T_IN, IMG_SECTORS, 512, true), S_IOERR);
	assert_int_equal(blk_request(d, T_BOGUS, 0, 0, false), S_UNSUPP);

	assert_int_equal(counter(d->dev, "read_requests"), 2);
	assert_int_equal(counter(d->dev, "read_bytes"), 512 + 1024);
	assert_int_equal(counter(d->dev, "write_requests"), 1);
	assert_int_equal(counter(d->dev, "write_bytes"), 1024);
	assert_int_equal(counter(d->dev, "flush_requests"), 1);
	assert_int_equal(counter(d->dev, "errors"), 2);
	assert_int_equal(counter(d->dev, "flush_ignored"), 0);
	/* All of them fit in nine; fewer slots take the first ones, in order. */
	assert_int_equal(virtio_dev_counters(d->dev, c, 9), 8);
	assert_int_equal(counter(d->dev, "rate_limiter_throttled"), 0);
	assert_int_equal(d->dev->ops->counters(d->dev, c, 2), 2);
	assert_string_equal(c[0].name, "read_requests");
	assert_int_equal(c[0].value, 2);
	assert_string_equal(c[1].name, "read_bytes");
	assert_int_equal(c[1].value, 1536);
	assert_int_equal(virtio_dev_counters(d->dev, c, 0), 0);
	drv_free(d);
}

/* Chains in flight: kicked and submitted to io_uring, their completions not yet reaped. */
static void blk_in_flight(struct drv *d, unsigned int chains)
{
	int n = 0;

	for (unsigned int i = 0; i < chains; i++) {
		memset(gp(d, DATA_GPA + 4096 * i, 1024), 0, 1024);
		blk_post(d, i, T_IN, 4 + 2 * i, 1024, true);
	}
	/*
	 * One round takes the kick (nothing was submitted before it, so the
	 * ring's eventfd cannot be ready with it); completions come later.
	 */
	for (int i = 0; i < 10 && !n; i++)
		n = loop_round(d, 1000);
	assert_int_equal(n, 1);
	assert_int_equal(used_idx(d), 0);
	assert_int_equal(counter(d->dev, "read_requests"), 0);
}

/*
 * Detached with a read in flight: its completion still reaches guest RAM
 * and the used ring once the device reaps it, and interrupts no one; the
 * device is destroyed after that. ASan checks nothing freed is touched.
 */
static void test_blk_completion_after_detach(void **state)
{
	struct drv *d = drv_new(true);
	uint8_t *data = gp(d, DATA_GPA, 1024);

	(void)state;
	blk_in_flight(d, 1);
	virtio_mmio_destroy(d->t);
	d->t = NULL;
	assert_null(d->dev->transport);
	assert_null(d->dev->signal_used);
	assert_null(d->dev->signal_config);
	assert_null(d->dev->kick_again);
	assert_null(d->dev->take_kick_fd);
	assert_true(settle(d));
	assert_int_equal(*(uint8_t *)gp(d, STATUS_GPA, 1), S_OK);
	assert_int_equal(used_len(d, 0), 1025);
	for (unsigned int i = 0; i < 1024; i++)
		assert_int_equal(data[i], pattern(4 * 512 + i));
	assert_int_equal(counter(d->dev, "read_requests"), 1);
	assert_int_equal(counter(d->dev, "read_bytes"), 1024);
	d->dev->ops->destroy(d->dev);
	d->dev = NULL;
	drv_free(d);
}

/*
 * The documented order with requests in flight: transport, then device.
 * The device's destroy drains io_uring; what it reaps belongs to a device
 * going away and is dropped, never answered into the rings.
 */
static void test_blk_destroy_in_flight(void **state)
{
	struct drv *d = drv_new(true);

	(void)state;
	blk_in_flight(d, 3);
	mmio_detach_destroy(d->dev, d->t);
	d->dev = NULL;
	d->t = NULL;
	assert_int_equal(used_idx(d), 0);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(*(uint8_t *)gp(d, STATUS_GPA + i, 1), 0xee);
	drv_free(d);
}

static void test_rng_counters(void **state)
{
	struct drv *d = drv_new(false);

	(void)state;
	assert_int_equal(counter(d->dev, "requests"), 0);
	assert_int_equal(counter(d->dev, "bytes"), 0);
	post(d, 0, (struct seg[]){ { DATA_GPA, 16, true } }, 1);
	post(d, 1, (struct seg[]){ { DATA_GPA + 4096, 24, true },
				   { DATA_GPA + 8192, 16, true } }, 2);
	wr(d, 0x050, 0);
	assert_true(settle(d));
	assert_int_equal(used_len(d, 0), 16);
	assert_int_equal(used_len(d, 1), 40);
	assert_int_equal(counter(d->dev, "requests"), 2);
	assert_int_equal(counter(d->dev, "bytes"), 56);
	drv_free(d);
}

/* Loop rounds until want chains are used; false if that does not happen. */
static bool wait_used(struct drv *d, uint16_t want)
{
	for (int i = 0; i < 500 && used_idx(d) != want; i++)
		loop_round(d, 10);
	return used_idx(d) == want;
}

/* Rounds of the I/O thread that find something to do, out of 20. */
static int idle_rounds(struct drv *d)
{
	int busy = 0;

	for (int i = 0; i < 20; i++)
		busy += loop_round(d, 5) > 0;
	return busy;
}

/*
 * The control plane's pause: a read already in flight completes into the
 * rings while paused, a request kicked while paused is not taken (not even
 * read: the device's counters stay put) until resume, which looks at the
 * queue without a new kick.
 */
static void test_blk_pause(void **state)
{
	struct drv *d = drv_new(true);

	(void)state;
	blk_in_flight(d, 1);
	virtio_dev_pause(d->dev);
	assert_true(wait_used(d, 1));
	assert_int_equal(*(uint8_t *)gp(d, STATUS_GPA, 1), S_OK);
	blk_post(d, 1, T_IN, 8, 512, true);
	idle_rounds(d);
	assert_int_equal(used_idx(d), 1);
	assert_int_equal(*(uint8_t *)gp(d, STATUS_GPA + 1, 1), 0xee);
	assert_int_equal(counter(d->dev, "read_requests"), 1);
	/* Pausing twice is one pause. */
	virtio_dev_pause(d->dev);
	virtio_dev_resume(d->dev);
	assert_true(settle(d));
	assert_int_equal(*(uint8_t *)gp(d, STATUS_GPA + 1, 1), S_OK);
	assert_int_equal(counter(d->dev, "read_requests"), 2);
	/* Resuming a running device changes nothing. */
	virtio_dev_resume(d->dev);
	assert_int_equal(blk_request(d, T_IN, 9, 512, true), S_OK);
	drv_free(d);
}

static void test_rng_pause(void **state)
{
	struct drv *d = drv_new(false);

	(void)state;
	virtio_dev_pause(d->dev);
	post(d, 0, (struct seg[]){ { DATA_GPA, 16, true } }, 1);
	wr(d, 0x050, 0);
	idle_rounds(d);
	assert_int_equal(used_idx(d), 0);
	assert_int_equal(counter(d->dev, "requests"), 0);
	virtio_dev_resume(d->dev);
	assert_int_equal(used_idx(d), 1);
	assert_int_equal(used_len(d, 0), 16);
	drv_free(d);
}

/* A device need never be attached: created, counted and destroyed on its own. */
static void test_never_attached(void **state)
{
	struct guest_mem gm;
	struct virtio_env env = { .mem = &gm };
	struct dev_counter c[4];
	struct virtio_dev *dev = NULL;
	struct err err;

	(void)state;
	assert_int_equal(guest_mem_init(&gm, 1u << 20), 0);
	assert_int_equal(virtio_rng_create(&env, &dev, &err), 0);
	assert_ptr_equal(dev->mem, &gm);
	assert_null(dev->transport);
	assert_int_equal(virtio_dev_counters(dev, c, 4), 3);
	assert_int_equal(c[0].value + c[1].value, 0);
	dev->ops->destroy(dev);
	guest_mem_destroy(&gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blk_counters),
		cmocka_unit_test(test_blk_completion_after_detach),
		cmocka_unit_test(test_blk_destroy_in_flight),
		cmocka_unit_test(test_rng_counters),
		cmocka_unit_test(test_blk_pause),
		cmocka_unit_test(test_rng_pause),
		cmocka_unit_test(test_never_attached),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
