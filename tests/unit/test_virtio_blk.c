/*
 * virtio-blk driven like a guest would: mmio registers, a real split ring in
 * guest RAM, a temp image; completions run on a helper thread's event loop
 * as on Hearth's I/O thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "virtio/blk.h"
#include "virtio/virtio.h"

#define BASE 0xd0000000ull
#define IMG_SECTORS 64u
#define QSIZE 256u
#define DESC_GPA 0x10000ull
#define AVAIL_GPA 0x20000ull
#define USED_GPA 0x30000ull
#define INDIRECT_GPA 0x40000ull  /* 64 bytes per chain */
#define HDR_GPA 0x100000ull      /* 16 bytes per chain */
#define STATUS_GPA 0x180000ull   /* 1 byte per chain */
#define DATA_GPA 0x200000ull

/* Request types and status values from 5.2.6. */
enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11, T_WZ = 13 };
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
	pthread_t thread;
	int wake_fd;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	char path[64];
	uint16_t avail_idx;
};

#include "mmio_driver.h"

static void on_wake(void *opaque, uint32_t events) { eventloop_stop(opaque); }

static void *loop_thread(void *opaque) { eventloop_run(opaque); return NULL; }

/* Driver initialisation (3.1.1), accepting every offered feature. */
static void drv_init(struct drv *d)
{
	mmio_init_one(d, true, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	d->avail_idx = 0;
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off / 512) * 7 + off % 512);
}

static void make_image(const char *path, uint64_t bytes)
{
	uint8_t *img = malloc(bytes);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(img && fd >= 0);
	for (uint64_t i = 0; i < bytes; i++)
		img[i] = pattern(i);
	assert_int_equal(write(fd, img, bytes), (ssize_t)bytes);
	close(fd);
	free(img);
}

/* The API's cache_type "Unsafe", which the command line cannot ask for. */
static bool open_unsafe;

static int drv_open(struct drv *d, const char *spec_tail, bool init)
{
	struct virtio_env env = { .loop = &d->loop, .mem = &d->gm };
	struct virtio_host host = { .vm_fd = -1, .bus = &d->bus, .loop = &d->loop };
	struct blk_config cfg;
	char spec[128];
	struct err err;
	int ret;

	snprintf(spec, sizeof(spec), "path=%s%s", d->path, spec_tail);
	assert_int_equal(virtio_blk_parse(spec, &cfg, &err), 0);
	if (open_unsafe)
		cfg.cache = BLK_CACHE_UNSAFE;
	/*
	 * As Hearth does: open at startup, create later. Releasing the config
	 * right away shows the device's descriptors (and lock) are its own.
	 */
	ret = virtio_blk_open(&cfg, &err);
	assert_int_equal(ret, 0);
	assert_true(cfg.opened);
	ret = virtio_blk_create(&env, &cfg, &d->dev, &err);
	virtio_blk_config_release(&cfg);
	if (!ret)
		ret = mmio_attach(d->dev, &host, BASE, 5, &d->t);
	if (ret)
		return ret;
	assert_int_equal(pthread_create(&d->thread, NULL, loop_thread, &d->loop), 0);
	if (init)
		drv_init(d);
	return 0;
}

static struct drv *drv_new(const char *spec_tail, uint64_t img_bytes)
{
	struct drv *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	assert_int_equal(guest_mem_init(&d->gm, 32ull << 20), 0);
	bus_init(&d->bus);
	assert_int_equal(eventloop_init(&d->loop), 0);
	d->wake_fd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(eventloop_add(&d->loop, d->wake_fd, EPOLLIN, on_wake, &d->loop), 0);
	snprintf(d->path, sizeof(d->path), "/tmp/hearth-blk-XXXXXX");
	close(mkstemp(d->path));
	make_image(d->path, img_bytes);
	assert_int_equal(drv_open(d, spec_tail, true), 0);
	return d;
}

static void drv_free(struct drv *d)
{
	uint64_t one = 1;

	assert_int_equal(write(d->wake_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(d->thread, NULL);
	mmio_detach_destroy(d->dev, d->t);
	eventloop_destroy(&d->loop);
	close(d->wake_fd);
	bus_destroy(&d->bus);
	guest_mem_destroy(&d->gm);
	unlink(d->path);
	free(d);
}

/* Places a chain in an indirect table (slot n) and makes it available. */
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

/* Waits until the used index reaches the avail index; false on timeout. */
static bool wait_used(struct drv *d)
{
	uint16_t *used = gp(d, USED_GPA, 4 + 8 * QSIZE);

	for (int i = 0; i < 5000; i++) {
		if (__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) == d->avail_idx)
			return true;
		usleep(1000);
	}
	return false;
}

static uint32_t used_len(struct drv *d, uint16_t idx)
{
	uint32_t *elem = gp(d, USED_GPA + 4 + 8 * (idx % QSIZE), 8);

	return elem[1];
}

/* One request: header, optional data, status. Returns the status byte. */
static int request(struct drv *d, uint32_t type, uint64_t sector, uint64_t data_gpa,
		   uint32_t data_len, bool data_write)
{
	uint32_t *hdr = gp(d, HDR_GPA, 16);
	uint8_t *status = gp(d, STATUS_GPA, 1);
	struct seg s[3];
	unsigned int n = 0;

	hdr[0] = type;
	hdr[1] = 0;
	memcpy(&hdr[2], &sector, 8);
	*status = 0xee;
	s[n++] = (struct seg){ HDR_GPA, 16, false };
	if (data_len)
		s[n++] = (struct seg){ data_gpa, data_len, data_write };
	s[n++] = (struct seg){ STATUS_GPA, 1, true };
	post(d, 0, s, n);
	wr(d, 0x050, 0);
	if (!wait_used(d))
		return -1;
	return *status;
}

static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void test_parse(void **state)
{
	struct blk_config cfg;
	struct err err;

	assert_int_equal(virtio_blk_parse("path=/a/b.img,ro,id=serial1,cache=none", &cfg, &err), 0);
	assert_string_equal(cfg.path, "/a/b.img");
	assert_true(cfg.readonly);
	assert_string_equal(cfg.id, "serial1");
	assert_int_equal(cfg.cache, BLK_CACHE_NONE);
	virtio_blk_config_release(&cfg);
	assert_int_equal(virtio_blk_parse("path=x", &cfg, &err), 0);
	assert_false(cfg.readonly);
	assert_int_equal(cfg.cache, BLK_CACHE_WRITEBACK);
	virtio_blk_config_release(&cfg);
	assert_int_equal(virtio_blk_parse("path=x,id=12345678901234567890", &cfg, &err), 0);
	virtio_blk_config_release(&cfg);

	assert_int_equal(virtio_blk_parse("path=x,bogus=1", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "bogus"));
	assert_int_equal(virtio_blk_parse("ro,id=a", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "path"));
	assert_int_equal(virtio_blk_parse("path=x,id=123456789012345678901", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "id"));
	assert_int_equal(virtio_blk_parse("path=x,cache=unsafe", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cache"));
	assert_null(strchr(err.msg, '\n'));
	assert_int_equal(virtio_blk_parse("", &cfg, &err), -EINVAL);
	assert_int_equal(virtio_blk_parse("path=", &cfg, &err), -EINVAL);
	assert_int_equal(virtio_blk_parse("path=x,,ro", &cfg, &err), -EINVAL);
	assert_int_equal(virtio_blk_parse("path=x,ro=1", &cfg, &err), -EINVAL);
	assert_int_equal(virtio_blk_parse("path=x,path=y", &cfg, &err), -EINVAL);
	/* A vhost-user backend's socket instead of a path: never both, never ro. */
	assert_int_equal(virtio_blk_parse("socket=/run/vub.sock,id=v,cache=none", &cfg, &err), 0);
	assert_string_equal(cfg.socket, "/run/vub.sock");
	assert_null(cfg.path);
	assert_int_equal(cfg.cache, BLK_CACHE_NONE);
	virtio_blk_config_release(&cfg);
	assert_int_equal(virtio_blk_parse("socket=/s,path=x", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "once"));
	assert_int_equal(virtio_blk_parse("socket=/s,ro", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "backend decides"));
	assert_int_equal(virtio_blk_parse("socket=", &cfg, &err), -EINVAL);
	/* queues=: 1 to 16, not with a socket. */
	assert_int_equal(virtio_blk_parse("path=x,queues=16", &cfg, &err), 0);
	assert_int_equal(cfg.queues, 16);
	virtio_blk_config_release(&cfg);
	assert_int_equal(virtio_blk_parse("path=x,queues=17", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "queues"));
	assert_int_equal(virtio_blk_parse("path=x,queues=0", &cfg, &err), -EINVAL);
	assert_int_equal(virtio_blk_parse("path=x,queues=2x", &cfg, &err), -EINVAL);
	assert_int_equal(virtio_blk_parse("socket=/s,queues=2", &cfg, &err), -EINVAL);
}

static void test_config_and_features(void **state)
{
	struct drv *d = drv_new(",id=cfg", IMG_SECTORS * 512 + 100);
	uint64_t f;

	assert_int_equal(rd(d, 0x008), VIRTIO_ID_BLOCK);
	assert_int_equal(cfg_rd(d, 0, 8), IMG_SECTORS);  /* the 100-byte tail is ignored */
	assert_int_equal(cfg_rd(d, 8, 4), 128 * 1024);    /* size_max */
	assert_int_equal(cfg_rd(d, 12, 4), QSIZE - 2);    /* seg_max */
	assert_int_equal(cfg_rd(d, 20, 4), 512);          /* blk_size */
	assert_int_equal(cfg_rd(d, 26, 2), 1);            /* min_io_size */
	assert_int_equal(cfg_rd(d, 32, 1), 1);            /* writeback */
	assert_true(cfg_rd(d, 36, 4) > 0);                /* max_discard_sectors */
	assert_true(cfg_rd(d, 40, 4) >= 1);               /* max_discard_seg */
	assert_true(cfg_rd(d, 44, 4) >= 1);               /* discard_sector_alignment */
	assert_true(cfg_rd(d, 48, 4) > 0);                /* max_write_zeroes_sectors */
	assert_true(cfg_rd(d, 52, 4) >= 1);
	assert_int_equal(cfg_rd(d, 56, 1), 1);            /* write_zeroes_may_unmap */
	wr(d, 0x014, 0);
	f = rd(d, 0x010);
	/* SIZE_MAX, SEG_MAX, BLK_SIZE, FLUSH, DISCARD, WRITE_ZEROES; not RO. */
	assert_int_equal(f & 0x6266, 0x6246);
	/* CONFIG_WCE was negotiated: the driver may switch to writethrough. */
	bus_access(&d->bus, BUS_MMIO, BASE + 0x100 + 32, (uint8_t[]){ 0 }, 1, true);
	assert_int_equal(cfg_rd(d, 32, 1), 0);
	assert_int_equal(request(d, T_OUT, 3, DATA_GPA, 512, false), S_OK);
	drv_free(d);
}

#define MQ_RINGS 0x400000ull     /* queue q's rings at MQ_RINGS + q * 64 KiB */

/* A request of three direct descriptors on queue q (its k-th), kicked; its status byte. */
static uint8_t *mq_post(struct drv *d, unsigned int q, uint16_t k, uint32_t type,
			uint64_t sector, uint64_t data, uint32_t len)
{
	uint64_t ring = MQ_RINGS + (uint64_t)q * 0x10000;
	struct virtq_desc *desc = gp(d, ring, 16 * QSIZE);
	uint16_t *avail = gp(d, ring + 0x4000, 6 + 2 * QSIZE);
	uint64_t hdr_gpa = HDR_GPA + 0x1000ull * q + 16ull * k;
	uint64_t st_gpa = STATUS_GPA + 0x1000ull * q + k;
	uint32_t *hdr = gp(d, hdr_gpa, 16);
	uint16_t at = (uint16_t)(3 * k);

	hdr[0] = type;
	hdr[1] = 0;
	memcpy(&hdr[2], &sector, 8);
	*(uint8_t *)gp(d, st_gpa, 1) = 0xee;
	desc[at] = (struct virtq_desc){ hdr_gpa, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(at + 1) };
	desc[at + 1] = (struct virtq_desc){ data, len, (uint16_t)(VIRTQ_DESC_F_NEXT |
				(type == T_IN ? VIRTQ_DESC_F_WRITE : 0)), (uint16_t)(at + 2) };
	desc[at + 2] = (struct virtq_desc){ st_gpa, 1, VIRTQ_DESC_F_WRITE, 0 };
	avail[2 + k % QSIZE] = at;
	__atomic_store_n(&avail[1], (uint16_t)(k + 1), __ATOMIC_RELEASE);
	wr(d, 0x050, q);
	return gp(d, st_gpa, 1);
}

static bool mq_wait(struct drv *d, unsigned int q, uint16_t want)
{
	uint16_t *used = gp(d, MQ_RINGS + (uint64_t)q * 0x10000 + 0x8000, 4);

	for (int i = 0; i < 5000; i++) {
		if (__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) == want)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * queues=3: VIRTIO_BLK_F_MQ and num_queues 3 offered; a request on each
 * queue completes into that queue's used ring and no other, and a write
 * made on one queue reads back on another. One queue offers no MQ.
 */
static void test_multiqueue(void **state)
{
	struct drv *d = drv_new(",queues=3", IMG_SECTORS * 512);
	uint8_t *out = gp(d, DATA_GPA, 512), *in = gp(d, DATA_GPA + 0x1000, 512);
	uint8_t *st[3];

	wr(d, 0x014, 0);
	assert_true(rd(d, 0x010) & (1u << 12));
	assert_int_equal(cfg_rd(d, 34, 2), 3);
	mmio_init_queues(d, ~0ull, 3, QSIZE, MQ_RINGS);
	memset(out, 0x5a, 512);
	st[1] = mq_post(d, 1, 0, T_OUT, 5, DATA_GPA, 512);
	assert_true(mq_wait(d, 1, 1));
	assert_int_equal(*st[1], S_OK);
	st[2] = mq_post(d, 2, 0, T_IN, 5, DATA_GPA + 0x1000, 512);
	assert_true(mq_wait(d, 2, 1));
	assert_int_equal(*st[2], S_OK);
	assert_memory_equal(in, out, 512);
	st[0] = mq_post(d, 0, 0, T_IN, 0, DATA_GPA + 0x2000, 512);
	assert_true(mq_wait(d, 0, 1));
	assert_int_equal(*st[0], S_OK);
	/* Each completion went to its own queue: the others' used rings moved once each. */
	assert_true(mq_wait(d, 1, 1) && mq_wait(d, 2, 1));
	assert_false(needs_reset(d));
	drv_free(d);

	d = drv_new("", IMG_SECTORS * 512);
	wr(d, 0x014, 0);
	assert_false(rd(d, 0x010) & (1u << 12));
	assert_int_equal(cfg_rd(d, 34, 2), 1);
	drv_free(d);
}

static void test_read_write_flush_id(void **state)
{
	struct drv *d = drv_new(",id=hearth-test-disk", IMG_SECTORS * 512);
	uint8_t *data = gp(d, DATA_GPA, 4096), buf[1024];
	uint16_t before;

	memset(data, 0, 1024);
	assert_int_equal(request(d, T_IN, 2, DATA_GPA, 1024, true), S_OK);
	for (unsigned int i = 0; i < 1024; i++)
		assert_int_equal(data[i], pattern(1024 + i));
	assert_int_equal(used_len(d, 0), 1025);

	for (unsigned int i = 0; i < 1024; i++)
		data[i] = (uint8_t)(0xa5 ^ i);
	assert_int_equal(request(d, T_OUT, 10, DATA_GPA, 1024, false), S_OK);
	assert_int_equal(used_len(d, 1), 1);
	file_read(d->path, 10 * 512, buf, 1024);
	assert_memory_equal(buf, data, 1024);
	memset(data, 0, 1024);
	assert_int_equal(request(d, T_IN, 10, DATA_GPA, 1024, true), S_OK);
	assert_memory_equal(buf, data, 1024);

	assert_int_equal(request(d, T_FLUSH, 0, 0, 0, false), S_OK);
	memset(data, 0xff, 20);
	before = d->avail_idx;
	assert_int_equal(request(d, T_GET_ID, 0, DATA_GPA, 20, true), S_OK);
	assert_memory_equal(data, "hearth-test-disk\0\0\0\0", 20);
	assert_int_equal(used_len(d, before), 21); /* id + status */
	assert_int_equal(request(d, 99, 0, 0, 0, false), S_UNSUPP);
	assert_int_equal(request(d, T_IN, 0, DATA_GPA, 100, true), S_IOERR); /* partial sector */
	drv_free(d);
}

static uint64_t counter(struct drv *d, const char *name)
{
	struct dev_counter c[16];
	unsigned int n = virtio_dev_counters(d->dev, c, 16);

	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].value;
	fail_msg("no counter '%s'", name);
	return 0;
}

/*
 * Firecracker's two cache types: "Writeback" offers FLUSH (and CONFIG_WCE)
 * and syncs each flush; "Unsafe" offers neither, never writes through,
 * and answers a flush a driver sends anyway without a sync.
 */
static void test_cache_types_and_flush(void **state)
{
	struct drv *d = drv_new("", IMG_SECTORS * 512);
	uint8_t *data = gp(d, DATA_GPA, 4096), buf[512];

	wr(d, 0x014, 0);
	assert_true(rd(d, 0x010) & (1u << 9));            /* FLUSH */
	assert_true(rd(d, 0x010) & (1u << 11));           /* CONFIG_WCE */
	assert_int_equal(request(d, T_FLUSH, 0, 0, 0, false), S_OK);
	assert_int_equal(counter(d, "flush_requests"), 1);
	assert_int_equal(counter(d, "flush_ignored"), 0);
	drv_free(d);

	open_unsafe = true;
	d = drv_new("", IMG_SECTORS * 512);
	open_unsafe = false;
	data = gp(d, DATA_GPA, 4096);
	wr(d, 0x014, 0);
	assert_false(rd(d, 0x010) & (1u << 9));
	assert_false(rd(d, 0x010) & (1u << 11));
	assert_true(rd(d, 0x010) & (1u << 13));           /* DISCARD still */
	memset(data, 0x5a, 512);
	assert_int_equal(request(d, T_OUT, 1, DATA_GPA, 512, false), S_OK);
	file_read(d->path, 512, buf, sizeof(buf));
	assert_memory_equal(buf, data, sizeof(buf));
	/* Not negotiated, sent anyway: completed, counted, not synced. */
	assert_int_equal(request(d, T_FLUSH, 0, 0, 0, false), S_OK);
	assert_int_equal(counter(d, "flush_requests"), 1);
	assert_int_equal(counter(d, "flush_ignored"), 1);
	drv_free(d);
}

/* Header, data and status share descriptors in odd ways; unaligned O_DIRECT. */
static void test_scatter_and_unaligned(void **state)
{
	struct drv *d = drv_new(",cache=none", IMG_SECTORS * 512);
	uint8_t *buf = gp(d, DATA_GPA, 8192), img[1536];
	uint8_t *odd = buf + 3;   /* odd address: O_DIRECT cannot take it */
	uint32_t type = T_OUT, zero = 0, *hdr;
	uint64_t sector = 4;

	memcpy(odd, &type, 4);
	memcpy(odd + 4, &zero, 4);
	memcpy(odd + 8, &sector, 8);
	for (unsigned int i = 0; i < 1536; i++)
		buf[3 + 16 + i] = (uint8_t)(i * 13);
	buf[4096] = 0xee;
	post(d, 0, (struct seg[]){ { DATA_GPA + 3, 16 + 700, false },
				   { DATA_GPA + 3 + 716, 836, false },
				   { DATA_GPA + 4096, 1, true } }, 3);
	wr(d, 0x050, 0);
	assert_true(wait_used(d));
	assert_int_equal(buf[4096], S_OK);
	file_read(d->path, 4 * 512, img, sizeof(img));
	assert_memory_equal(img, buf + 19, sizeof(img));

	/* IN with the status byte inside the last data descriptor. */
	memset(buf + 5000, 0, 1025);
	hdr = gp(d, HDR_GPA, 16);
	hdr[0] = T_IN;
	hdr[1] = 0;
	memcpy(&hdr[2], &sector, 8);
	post(d, 0, (struct seg[]){ { HDR_GPA, 16, false }, { DATA_GPA + 5000, 300, true },
				   { DATA_GPA + 5300, 725, true } }, 3);
	wr(d, 0x050, 0);
	assert_true(wait_used(d));
	assert_int_equal(buf[5000 + 1024], S_OK);
	assert_memory_equal(buf + 5000, img, 1024);
	drv_free(d);
}

static void test_out_of_range(void **state)
{
	struct drv *d = drv_new("", IMG_SECTORS * 512);
	uint8_t before[IMG_SECTORS * 512], after[IMG_SECTORS * 512];
	struct stat st;

	file_read(d->path, 0, before, sizeof(before));
	memset(gp(d, DATA_GPA, 4096), 0x5a, 4096);
	assert_int_equal(request(d, T_IN, IMG_SECTORS, DATA_GPA, 512, true), S_IOERR);
	assert_int_equal(request(d, T_OUT, IMG_SECTORS - 1, DATA_GPA, 1024, false), S_IOERR);
	assert_int_equal(request(d, T_OUT, IMG_SECTORS, DATA_GPA, 512, false), S_IOERR);
	/* sector * 512 + len overflows 64 bits. */
	assert_int_equal(request(d, T_OUT, UINT64_MAX / 512, DATA_GPA, 1024, false), S_IOERR);
	assert_int_equal(request(d, T_OUT, UINT64_MAX, DATA_GPA, 512, false), S_IOERR);
	assert_int_equal(stat(d->path, &st), 0);
	assert_int_equal(st.st_size, IMG_SECTORS * 512);
	file_read(d->path, 0, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(after));
	/* The last sector itself is fine. */
	assert_int_equal(request(d, T_IN, IMG_SECTORS - 1, DATA_GPA, 512, true), S_OK);
	drv_free(d);
}

static void test_readonly(void **state)
{
	struct drv *d = drv_new(",ro", IMG_SECTORS * 512);
	uint8_t before[IMG_SECTORS * 512], after[IMG_SECTORS * 512];
	uint64_t *range = gp(d, DATA_GPA + 2048, 16);
	struct virtio_env env = { .loop = &d->loop, .mem = &d->gm };
	struct blk_config cfg = { .path = d->path, .readonly = true };
	struct virtio_dev *dev2;
	struct err err;

	wr(d, 0x014, 0);
	assert_true(rd(d, 0x010) & (1u << 5));
	file_read(d->path, 0, before, sizeof(before));
	memset(gp(d, DATA_GPA, 1024), 0, 1024);
	assert_int_equal(request(d, T_OUT, 0, DATA_GPA, 1024, false), S_IOERR);
	range[0] = 0;
	range[1] = 8;
	assert_int_equal(request(d, T_DISCARD, 0, DATA_GPA + 2048, 16, false), S_IOERR);
	assert_int_equal(request(d, T_WZ, 0, DATA_GPA + 2048, 16, false), S_IOERR);
	assert_int_equal(request(d, T_IN, 0, DATA_GPA, 512, true), S_OK);
	file_read(d->path, 0, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(after));
	/* Read-only users share the image; a writer is refused. */
	assert_int_equal(virtio_blk_create(&env, &cfg, &dev2, &err), 0);
	virtio_blk_destroy(dev2);
	cfg.readonly = false;
	assert_int_equal(virtio_blk_create(&env, &cfg, &dev2, &err), -EWOULDBLOCK);
	drv_free(d);
}

static void test_discard_write_zeroes(void **state)
{
	struct drv *d = drv_new("", IMG_SECTORS * 512);
	uint64_t *seg = gp(d, DATA_GPA, 64);
	uint8_t buf[IMG_SECTORS * 512], zero[8 * 512] = { 0 };
	struct stat st;

	/* Two segments: sectors 8..15 with unmap, 20..23 without. */
	seg[0] = 8;
	seg[1] = 8 | (1ull << 32);
	seg[2] = 20;
	seg[3] = 4;
	assert_int_equal(request(d, T_WZ, 0, DATA_GPA, 32, false), S_OK);
	seg[0] = 30;
	seg[1] = 8;
	assert_int_equal(request(d, T_DISCARD, 0, DATA_GPA, 16, false), S_OK);
	file_read(d->path, 0, buf, sizeof(buf));
	assert_memory_equal(buf + 8 * 512, zero, 8 * 512);
	assert_memory_equal(buf + 20 * 512, zero, 4 * 512);
	assert_memory_equal(buf + 30 * 512, zero, 8 * 512);  /* ext4/tmpfs punch holes */
	assert_int_equal(buf[7 * 512 + 511], pattern(7 * 512 + 511));
	assert_int_equal(buf[16 * 512], pattern(16 * 512));
	assert_int_equal(buf[24 * 512], pattern(24 * 512));
	assert_int_equal(stat(d->path, &st), 0);
	assert_int_equal(st.st_size, IMG_SECTORS * 512);

	/* Unmap on a discard, and unknown flags, are unsupported; ranges are checked. */
	seg[0] = 0;
	seg[1] = 1 | (1ull << 32);
	assert_int_equal(request(d, T_DISCARD, 0, DATA_GPA, 16, false), S_UNSUPP);
	seg[1] = 1 | (2ull << 32);
	assert_int_equal(request(d, T_WZ, 0, DATA_GPA, 16, false), S_UNSUPP);
	seg[0] = IMG_SECTORS - 1;
	seg[1] = 2;
	assert_int_equal(request(d, T_WZ, 0, DATA_GPA, 16, false), S_IOERR);
	assert_int_equal(request(d, T_DISCARD, 0, DATA_GPA, 12, false), S_IOERR);
	drv_free(d);
}

static void test_malformed_chain(void **state)
{
	struct drv *d = drv_new("", IMG_SECTORS * 512);

	/* An 8-byte header. */
	post(d, 0, (struct seg[]){ { HDR_GPA, 8, false }, { STATUS_GPA, 1, true } }, 2);
	wr(d, 0x050, 0);
	assert_true(rd(d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(rd(d, 0x060) & VIRTIO_MMIO_INT_CONFIG);

	/* After a reset the device works again; then: no status byte. */
	drv_init(d);
	assert_false(rd(d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(request(d, T_FLUSH, 0, 0, 0, false), S_OK);
	post(d, 0, (struct seg[]){ { HDR_GPA, 16, false } }, 1);
	wr(d, 0x050, 0);
	assert_true(rd(d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	drv_free(d);
}

/* More requests than the device has slots, then a reset with I/O in flight. */
static void test_many_requests_and_reset(void **state)
{
	struct drv *d = drv_new("", IMG_SECTORS * 512);
	uint8_t *data = gp(d, DATA_GPA, 250 * 512), *status = gp(d, STATUS_GPA, 250);
	unsigned int n = 250;

	for (unsigned int round = 0; round < 2; round++) {
		memset(status, 0xee, n);
		for (unsigned int i = 0; i < n; i++) {
			uint32_t *hdr = gp(d, HDR_GPA + 16 * i, 16);
			uint64_t sector = i % IMG_SECTORS;

			hdr[0] = T_IN;
			hdr[1] = 0;
			memcpy(&hdr[2], &sector, 8);
			post(d, i, (struct seg[]){ { HDR_GPA + 16 * i, 16, false },
						   { DATA_GPA + 512ull * i, 512, true },
						   { STATUS_GPA + i, 1, true } }, 3);
		}
		wr(d, 0x050, 0);
		if (round == 1) {
			/* Reset now: in-flight I/O is drained, nothing lands afterwards. */
			wr(d, 0x070, 0);
			drv_init(d);
			assert_int_equal(request(d, T_IN, 1, DATA_GPA, 512, true), S_OK);
			break;
		}
		assert_true(wait_used(d));
		for (unsigned int i = 0; i < n; i++) {
			assert_int_equal(status[i], S_OK);
			assert_int_equal(data[512 * i + 5], pattern((i % IMG_SECTORS) * 512 + 5));
		}
	}
	drv_free(d);
}

static void test_lock_conflict(void **state)
{
	struct drv *d = drv_new("", IMG_SECTORS * 512);
	struct virtio_env env = { .loop = &d->loop, .mem = &d->gm };
	struct blk_config cfg = { .path = d->path, .cache = BLK_CACHE_WRITEBACK };
	struct virtio_dev *dev2;
	struct err err;

	assert_int_equal(virtio_blk_create(&env, &cfg, &dev2, &err), -EWOULDBLOCK);
	assert_non_null(strstr(err.msg, "in use by another process"));
	assert_non_null(strstr(err.msg, d->path));
	/* The startup check finds the same conflict and keeps nothing open. */
	memset(err.msg, 0, sizeof(err.msg));
	assert_int_equal(virtio_blk_open(&cfg, &err), -EWOULDBLOCK);
	assert_false(cfg.opened);
	assert_non_null(strstr(err.msg, "in use by another process"));
	cfg.readonly = true;
	assert_int_equal(virtio_blk_create(&env, &cfg, &dev2, &err), -EWOULDBLOCK);
	cfg.path = "/nonexistent/hearth.img";
	assert_int_equal(virtio_blk_create(&env, &cfg, &dev2, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/hearth.img"));
	assert_int_equal(virtio_blk_open(&cfg, &err), -ENOENT);
	cfg.path = "/dev/null";
	assert_int_equal(virtio_blk_open(&cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file or block device"));
	assert_false(cfg.opened);
	drv_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_config_and_features),
		cmocka_unit_test(test_multiqueue),
		cmocka_unit_test(test_read_write_flush_id),
		cmocka_unit_test(test_cache_types_and_flush),
		cmocka_unit_test(test_scatter_and_unaligned),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_discard_write_zeroes),
		cmocka_unit_test(test_malformed_chain),
		cmocka_unit_test(test_many_requests_and_reset),
		cmocka_unit_test(test_lock_conflict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
