/*
 * virtio-blk and virtio-rng across a snapshot, through their transport
 * record (VMMI with the device's record nested). A device is saved with
 * the driver's requests completed into the used ring and not yet read,
 * restored into a fresh device over a copy of its RAM (the memory file)
 * and a copy of its disk, saved again (the same bytes) and then serves
 * the next request where the first left off. A request in flight is
 * completed by the pause and never dropped: save refuses (-EBUSY) until
 * it is. Every refusal leaves the device as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#define RAM (4ull << 20)
#define QSIZE 16u
#define RINGS 0x10000ull
#define DESC RINGS
#define AVAIL (RINGS + 0x4000)
#define USED (RINGS + 0x8000)
#define HDR 0x100000ull
#define DATA 0x200000ull
#define STATUS 0x300000ull
#define SECTORS 64u

struct drv {
	struct bus bus;
	struct guest_mem gm;
	struct eventloop loop;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	char path[64];
	uint16_t avail_idx;
};

#include "mmio_driver.h"
#include "state_check.h"
#include "virtio_record.h"

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off / 512) * 13 + off % 509);
}

static void make_image(const char *path, uint64_t sectors)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	uint8_t buf[512];

	assert_true(fd >= 0);
	for (uint64_t s = 0; s < sectors; s++) {
		for (unsigned int i = 0; i < 512; i++)
			buf[i] = pattern(s * 512 + i);
		assert_int_equal(write(fd, buf, 512), 512);
	}
	close(fd);
}

static struct drv *drv_base(void)
{
	struct drv *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	bus_init(&d->bus);
	assert_int_equal(eventloop_init(&d->loop), 0);
	assert_int_equal(guest_mem_init(&d->gm, RAM), 0);
	return d;
}

static void attach(struct drv *d)
{
	struct virtio_host host = { .vm_fd = -1, .bus = &d->bus, .loop = &d->loop };

	assert_int_equal(mmio_attach(d->dev, &host, BASE, 5, &d->t), 0);
}

/* A disk on a fresh image of sectors (or on path's image as it is, when sectors is 0). */
static struct drv *blk_new(const char *copy_of, uint64_t sectors, const char *opts)
{
	struct drv *d = drv_base();
	struct virtio_env env = { .loop = &d->loop, .mem = &d->gm };
	struct blk_config cfg;
	char spec[160];
	struct err err;

	snprintf(d->path, sizeof(d->path), "/tmp/hearth-devstate-XXXXXX");
	close(mkstemp(d->path));
	if (copy_of) {
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "cp %s %s", copy_of, d->path);
		assert_int_equal(system(cmd), 0);
	} else {
		make_image(d->path, sectors);
	}
	snprintf(spec, sizeof(spec), "path=%s%s", d->path, opts);
	assert_int_equal(virtio_blk_parse(spec, &cfg, &err), 0);
	assert_int_equal(virtio_blk_create(&env, &cfg, &d->dev, &err), 0);
	virtio_blk_config_release(&cfg);
	attach(d);
	return d;
}

static struct drv *rng_new(void)
{
	struct drv *d = drv_base();
	struct virtio_env env = { .mem = &d->gm };
	struct err err;

	assert_int_equal(virtio_rng_create(&env, &d->dev, &err), 0);
	attach(d);
	return d;
}

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

static uint16_t used_idx(struct drv *d)
{
	return __atomic_load_n((uint16_t *)gp(d, USED + 2, 2), __ATOMIC_ACQUIRE);
}

static void publish(struct drv *d, uint16_t head)
{
	uint16_t *avail = gp(d, AVAIL, 4 + 2 * QSIZE);

	avail[2 + d->avail_idx % QSIZE] = head;
	__atomic_store_n(&avail[1], ++d->avail_idx, __ATOMIC_RELEASE);
}

static void put_desc(struct drv *d, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc desc = { addr, len, flags, next };

	memcpy(gp(d, DESC + 16ull * i, 16), &desc, 16);
}

/* A read of one sector into DATA + n * 512, as chain n (descriptors 3n..3n+2). */
static void post_read(struct drv *d, unsigned int n, uint64_t sector)
{
	uint32_t hdr[4] = { 0 /* IN */, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };
	uint16_t h = (uint16_t)(3 * n);

	memcpy(gp(d, HDR + 16ull * n, 16), hdr, 16);
	memset(gp(d, DATA + 512ull * n, 512), 0xee, 512);
	*(uint8_t *)gp(d, STATUS + n, 1) = 0xee;
	put_desc(d, h, HDR + 16ull * n, 16, VIRTQ_DESC_F_NEXT, h + 1);
	put_desc(d, h + 1u, DATA + 512ull * n, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, h + 2);
	put_desc(d, h + 2u, STATUS + n, 1, VIRTQ_DESC_F_WRITE, 0);
	publish(d, h);
}

static void check_read(struct drv *d, unsigned int n, uint64_t sector)
{
	uint8_t *buf = gp(d, DATA + 512ull * n, 512);

	assert_int_equal(*(uint8_t *)gp(d, STATUS + n, 1), 0);
	for (unsigned int i = 0; i < 512; i++)
		assert_int_equal(buf[i], pattern(sector * 512 + i));
}

static uint8_t *save_expect(struct drv *d, size_t *len)
{
	return state_save(&STATE_MMIO(d->t), len);
}

/* b's RAM becomes a's (the memory file); then a's record into b. */
static int restore_from(struct drv *a, struct drv *b, const uint8_t *rec, size_t len)
{
	memcpy(gp(b, 0, RAM), gp(a, 0, RAM), RAM);
	return state_restore(&STATE_MMIO(b->t), rec, len);
}

static void test_blk_inflight_then_round_trip(void **state)
{
	struct drv *a = blk_new(NULL, SECTORS, ",id=disk-a"), *b, *c;
	uint8_t *rec, *again;
	size_t len, again_len;

	(void)state;
	log_set_level(LOG_ERR);
	mmio_init_one(a, true, 0, QSIZE, DESC, AVAIL, USED);
	post_read(a, 0, 5);
	post_read(a, 1, 6);
	wr(a, 0x050, 0);
	/* Submitted to io_uring, not reaped (the loop does not run): in flight. */
	assert_int_equal(used_idx(a), 0);
	assert_int_equal(state_try_save(&STATE_MMIO(a->t)), -EBUSY);
	/* The pause waits for them and completes them into the ring. */
	virtio_dev_pause(a->dev);
	assert_int_equal(used_idx(a), 2);
	check_read(a, 0, 5);
	check_read(a, 1, 6);
	/* The driver has not read them (INT_STATUS set); one more is published, not taken. */
	assert_int_equal(rd(a, 0x060) & 1, 1);
	post_read(a, 2, 7);
	wr(a, 0x050, 0);
	assert_int_equal(used_idx(a), 2);
	rec = save_expect(a, &len);

	b = blk_new(a->path, 0, ",id=disk-a");
	state_check_refusals(&STATE_MMIO(b->t), rec, len);
	assert_int_equal(restore_from(a, b, rec, len), 0);
	again = save_expect(b, &again_len);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, rec, len);
	free(again);
	/* The interrupt the driver had not taken is raised again. */
	assert_int_equal(rd(b, 0x060) & 1, 1);
	/* Carrying on: the chain published before the snapshot, then a new one. */
	wr(b, 0x064, 1);
	wr(b, 0x050, 0);
	virtio_dev_pause(b->dev); /* completes what the kick started */
	virtio_dev_resume(b->dev);
	assert_int_equal(used_idx(b), 3);
	b->avail_idx = a->avail_idx;
	post_read(b, 3, 8);
	wr(b, 0x050, 0);
	virtio_dev_pause(b->dev);
	assert_int_equal(used_idx(b), 4);
	check_read(b, 0, 5);
	check_read(b, 2, 7);
	check_read(b, 3, 8);
	/* Used entries in order, each its own head: nothing lost, nothing twice. */
	for (unsigned int i = 0; i < 4; i++) {
		uint32_t elem[2];

		memcpy(elem, gp(b, USED + 4 + 8 * i, 8), 8);
		assert_int_equal(elem[0], 3 * i);
	}
	assert_false(needs_reset(b));

	/* A disk of another size, or read-only: refused, the device untouched. */
	c = blk_new(NULL, SECTORS + 8, ",id=disk-a");
	assert_int_equal(restore_from(a, c, rec, len), -EINVAL);
	assert_int_equal(rd(c, 0x070), 0);
	drv_free(c);
	/* Another serial is no reason to refuse: the guest gets back the one it read. */
	c = blk_new(a->path, 0, ",id=disk-b");
	assert_int_equal(restore_from(a, c, rec, len), 0);
	again = save_expect(c, &again_len);
	assert_memory_equal(again, rec, len);
	free(again);
	drv_free(c);
	c = blk_new(a->path, 0, ",id=disk-a,ro");
	assert_int_equal(restore_from(a, c, rec, len), -EINVAL);
	assert_int_equal(rd(c, 0x070), 0);
	drv_free(c);
	free(rec);
	drv_free(b);
	drv_free(a);
}

/* The device's record alone: its checks, through the ops, refusals changing nothing. */
static void test_blk_record(void **state)
{
	struct drv *a = blk_new(NULL, SECTORS, ",id=x"), *b;
	uint8_t *rec;
	size_t len;

	(void)state;
	mmio_init_one(a, true, 0, QSIZE, DESC, AVAIL, USED);
	/* The driver turned the write cache off (CONFIG_WCE): the record keeps it. */
	{
		uint8_t b0 = 0;

		bus_access(&a->bus, BUS_MMIO, BASE + 0x100 + 32, &b0, 1, true);
	}
	rec = state_save(&STATE_DEV(a->dev), &len);
	assert_memory_equal(rec, "VBLK", 4);
	b = blk_new(a->path, 0, ",id=x");
	assert_int_equal(cfg_rd(b, 32, 1), 1);
	state_check_refusals(&STATE_DEV(b->dev), rec, len);
	assert_int_equal(state_restore(&STATE_DEV(b->dev), rec, len), 0);
	assert_int_equal(cfg_rd(b, 32, 1), 0);
	free(rec);
	drv_free(b);
	drv_free(a);
}

static void test_rng_round_trip(void **state)
{
	struct drv *a = rng_new(), *b = rng_new();
	uint8_t *rec, *again;
	size_t len, again_len;

	(void)state;
	mmio_init_one(a, true, 0, QSIZE, DESC, AVAIL, USED);
	for (unsigned int i = 0; i < 3; i++) {
		put_desc(a, i, DATA + 64 * i, 64, VIRTQ_DESC_F_WRITE, 0);
		publish(a, (uint16_t)i);
	}
	wr(a, 0x050, 0);
	assert_int_equal(used_idx(a), 3);
	rec = save_expect(a, &len);
	state_check_refusals(&STATE_MMIO(b->t), rec, len);
	assert_int_equal(restore_from(a, b, rec, len), 0);
	again = save_expect(b, &again_len);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, rec, len);
	free(again);
	/* The device record alone, and the counters it carries. */
	free(rec);
	rec = state_save(&STATE_DEV(b->dev), &len);
	assert_memory_equal(rec, "VRNG", 4);
	state_check_refusals(&STATE_DEV(a->dev), rec, len);
	/* Carries on at used index 3. */
	b->avail_idx = a->avail_idx;
	put_desc(b, 3, DATA + 64 * 3, 64, VIRTQ_DESC_F_WRITE, 0);
	publish(b, 3);
	wr(b, 0x050, 0);
	assert_int_equal(used_idx(b), 4);
	free(rec);
	drv_free(b);
	drv_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blk_inflight_then_round_trip),
		cmocka_unit_test(test_blk_record),
		cmocka_unit_test(test_rng_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
