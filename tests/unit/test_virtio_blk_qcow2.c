/*
 * virtio-blk on qcow2 images, driven like a guest would (mmio registers,
 * a real split ring in guest RAM), the images made by qemu-img and
 * qemu-io and the results judged by `qemu-img check` and `qemu-img
 * compare` against a raw file the test keeps in step with what the guest
 * wrote. Also the chain's opening by the trust rule (blk/chain.c): every
 * refusal by name, and the fast path's use (blk/qio.c).
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
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "mem/guest_mem.h"
#include "virtio/blk.h"
#include "virtio/blk/priv.h"
#include "virtio/blk/qdisk.h"
#include "virtio/virtio.h"

#include "test_qcow2_fixture.h"

#define BASE 0xd0000000ull
#define QSIZE 256u
#define DESC_GPA 0x10000ull
#define AVAIL_GPA 0x20000ull
#define USED_GPA 0x30000ull
#define INDIRECT_GPA 0x40000ull  /* 64 bytes per chain */
#define HDR_GPA 0x100000ull      /* 16 bytes per chain */
#define STATUS_GPA 0x180000ull   /* 1 byte per chain */
#define DATA_GPA 0x200000ull     /* 1 MiB per chain */
#define DISK (8u << 20)

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_DISCARD = 11, T_WZ = 13 };
enum { S_OK = 0, S_IOERR = 1 };

struct drv {
	struct guest_mem gm;
	struct bus bus;
	struct eventloop loop;
	pthread_t thread;
	int wake_fd;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	uint16_t avail_idx;
};

#include "mmio_driver.h"

static void on_wake(void *opaque, uint32_t events) { (void)events; eventloop_stop(opaque); }

static void *loop_thread(void *opaque) { eventloop_run(opaque); return NULL; }

/* The device on spec, or its creation's -errno (err filled). */
static int drv_open(struct drv **out, const char *spec, struct err *err)
{
	struct drv *d = calloc(1, sizeof(*d));
	struct virtio_env env;
	struct virtio_host host = { .vm_fd = -1 };
	struct blk_config cfg;
	int ret;

	assert_non_null(d);
	assert_int_equal(guest_mem_init(&d->gm, 32ull << 20), 0);
	bus_init(&d->bus);
	assert_int_equal(eventloop_init(&d->loop), 0);
	d->wake_fd = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(eventloop_add(&d->loop, d->wake_fd, EPOLLIN, on_wake, &d->loop), 0);
	env = (struct virtio_env){ .loop = &d->loop, .mem = &d->gm };
	host = (struct virtio_host){ .vm_fd = -1, .bus = &d->bus, .loop = &d->loop };
	assert_int_equal(virtio_blk_parse(spec, &cfg, err), 0);
	/* As Hearth does: open at startup (the chain with it), create later, release at once. */
	ret = virtio_blk_open(&cfg, err);
	if (!ret)
		ret = virtio_blk_create(&env, &cfg, &d->dev, err);
	virtio_blk_config_release(&cfg);
	if (!ret)
		ret = mmio_attach(d->dev, &host, BASE, 5, &d->t);
	if (ret) {
		close(d->wake_fd);
		eventloop_destroy(&d->loop);
		bus_destroy(&d->bus);
		guest_mem_destroy(&d->gm);
		free(d);
		return ret;
	}
	assert_int_equal(pthread_create(&d->thread, NULL, loop_thread, &d->loop), 0);
	mmio_init_one(d, true, 0, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA);
	*out = d;
	return 0;
}

static struct drv *drv_new(const char *fmt, ...)
{
	struct err err = ERR_INIT;
	char spec[1024];
	struct drv *d;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(spec, sizeof(spec), fmt, ap);
	va_end(ap);
	if (drv_open(&d, spec, &err))
		fail_msg("%s: %s", spec, err.msg);
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
	free(d);
}

static struct blk_qdisk *qd_of(struct drv *d)
{
	return virtio_blk_from_dev(d->dev)->disk.img.qd;
}

/* Chain n: its header, data of len bytes in up to two segments, status; made available. */
static void post(struct drv *d, unsigned int n, uint32_t type, uint64_t sector, uint32_t len)
{
	struct virtq_desc *table = gp(d, INDIRECT_GPA + 64ull * n, 64);
	struct virtq_desc *ring = gp(d, DESC_GPA, 16 * QSIZE);
	uint16_t *avail = gp(d, AVAIL_GPA, 6 + 2 * QSIZE);
	uint32_t *hdr = gp(d, HDR_GPA + 16ull * n, 16);
	uint64_t data = DATA_GPA + ((uint64_t)n << 20);
	unsigned int slot = d->avail_idx % QSIZE, k = 0;
	uint16_t w = type == T_IN ? VIRTQ_DESC_F_WRITE : 0;

	hdr[0] = type;
	hdr[1] = 0;
	memcpy(&hdr[2], &sector, 8);
	*(uint8_t *)gp(d, STATUS_GPA + n, 1) = 0xee;
	table[k++] = (struct virtq_desc){ HDR_GPA + 16ull * n, 16, VIRTQ_DESC_F_NEXT, 1 };
	/* Data in segments of 128 KiB at most (size_max), two at most here. */
	for (uint32_t at = 0; at < len; at += 128u << 10) {
		uint32_t seg = len - at < (128u << 10) ? len - at : 128u << 10;

		assert_true(k < 3);
		table[k] = (struct virtq_desc){ data + at, seg, (uint16_t)(VIRTQ_DESC_F_NEXT | w),
						(uint16_t)(k + 1) };
		k++;
	}
	table[k++] = (struct virtq_desc){ STATUS_GPA + n, 1, VIRTQ_DESC_F_WRITE, 0 };
	ring[slot] = (struct virtq_desc){ .addr = INDIRECT_GPA + 64ull * n, .len = 16 * k,
					  .flags = VIRTQ_DESC_F_INDIRECT };
	avail[2 + slot] = (uint16_t)slot;
	__atomic_store_n(&avail[1], ++d->avail_idx, __ATOMIC_RELEASE);
}

static bool wait_used(struct drv *d)
{
	uint16_t *used = gp(d, USED_GPA, 4 + 8 * QSIZE);

	for (int i = 0; i < 10000; i++) {
		if (__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) == d->avail_idx)
			return true;
		usleep(1000);
	}
	return false;
}

static uint8_t status(struct drv *d, unsigned int n)
{
	return *(uint8_t *)gp(d, STATUS_GPA + n, 1);
}

static uint8_t *data(struct drv *d, unsigned int n)
{
	return gp(d, DATA_GPA + ((uint64_t)n << 20), 1u << 20);
}

/* One request on chain 0, kicked and waited for: its status. */
static int req(struct drv *d, uint32_t type, uint64_t off, uint32_t len)
{
	post(d, 0, type, off / 512, len);
	wr(d, 0x050, 0);
	assert_true(wait_used(d));
	return status(d, 0);
}

/* A discard or write-zeroes request of one range on chain n (not kicked). */
static void post_range(struct drv *d, unsigned int n, uint32_t type, uint64_t off, uint32_t len)
{
	uint8_t *seg = data(d, n);
	uint64_t sector = off / 512;
	uint32_t num = len / 512, flags = 0;

	memcpy(seg, &sector, 8);
	memcpy(seg + 8, &num, 4);
	memcpy(seg + 12, &flags, 4);
	post(d, n, type, 0, 0);
	/* A range is the driver's data, read by the device: header, range, status. */
	((struct virtq_desc *)gp(d, INDIRECT_GPA + 64ull * n, 64))[0].next = 1;
	((struct virtq_desc *)gp(d, INDIRECT_GPA + 64ull * n, 64))[1] =
		(struct virtq_desc){ DATA_GPA + ((uint64_t)n << 20), 16, VIRTQ_DESC_F_NEXT, 2 };
	((struct virtq_desc *)gp(d, INDIRECT_GPA + 64ull * n, 64))[2] =
		(struct virtq_desc){ STATUS_GPA + n, 1, VIRTQ_DESC_F_WRITE, 0 };
	((struct virtq_desc *)gp(d, DESC_GPA, 16 * QSIZE))[(d->avail_idx - 1) % QSIZE].len = 48;
}

static void fill(uint8_t *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((seed * 131 + i * 7 + (i >> 9)) ^ (seed >> 3));
}

/* What the guest wrote, kept in the raw file the image must equal. */
static void raw_put(const char *raw, uint64_t off, const void *buf, size_t len)
{
	int fd = open_file(raw, true);

	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void raw_get(const char *raw, uint64_t off, void *buf, size_t len)
{
	int fd = open_file(raw, false);

	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/*
 * base.qcow2 (data at 0 and 3 MiB, a compressed 64 KiB at 5 MiB), mid.qcow2
 * over it (data at 1 MiB), top.qcow2 over mid, empty; want.raw what the
 * top reads as.
 */
static void make_chain(void)
{
	sh_ok(QEMU_IMG " create -q -f qcow2 %s %u", qpath("base.qcow2"), DISK);
	sh_ok(QEMU_IO " -c 'write -P 0x11 0 1M' -c 'write -P 0x22 3M 512k' %s",
	      qpath("base.qcow2"));
	sh_ok(QEMU_IO " -c 'write -c -P 0x44 5M 64k' %s", qpath("base.qcow2"));
	sh_ok(QEMU_IMG " create -q -f qcow2 -b base.qcow2 -F qcow2 %s", qpath("mid.qcow2"));
	sh_ok(QEMU_IO " -c 'write -P 0x33 1M 256k' %s", qpath("mid.qcow2"));
	sh_ok(QEMU_IMG " create -q -f qcow2 -b mid.qcow2 -F qcow2 %s", qpath("top.qcow2"));
	sh_ok(QEMU_IMG " convert -O raw %s %s", qpath("top.qcow2"), qpath("want.raw"));
}

static void test_parse(void **state)
{
	struct blk_config cfg;
	struct err err;

	(void)state;
	assert_int_equal(virtio_blk_parse("path=t,format=qcow2,backing=a,backing=b", &cfg, &err),
			 0);
	assert_int_equal(cfg.format, BLK_FORMAT_QCOW2);
	assert_int_equal(cfg.nbacking, 2);
	assert_string_equal(cfg.backing[0], "a");
	assert_string_equal(cfg.backing[1], "b");
	assert_false(cfg.backing_from_header);
	virtio_blk_config_release(&cfg);
	assert_int_equal(virtio_blk_parse("path=t,format=qcow2,backing=header", &cfg, &err), 0);
	assert_true(cfg.backing_from_header);
	assert_int_equal(cfg.nbacking, 0);
	virtio_blk_config_release(&cfg);
	assert_int_equal(virtio_blk_parse("path=t", &cfg, &err), 0);
	assert_int_equal(cfg.format, BLK_FORMAT_RAW);
	virtio_blk_config_release(&cfg);

	assert_int_equal(virtio_blk_parse("path=t,format=vmdk", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "format must be raw or qcow2, not 'vmdk'"));
	assert_int_equal(virtio_blk_parse("path=t,backing=a", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "backing= needs format=qcow2"));
	assert_int_equal(virtio_blk_parse("path=t,format=qcow2,backing=a,backing=header", &cfg,
					  &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not both"));
	assert_int_equal(virtio_blk_parse("path=t,format=qcow2,backing=", &cfg, &err), -EINVAL);
	assert_int_equal(virtio_blk_parse("socket=/s,format=qcow2", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "vhost-user"));
	assert_int_equal(virtio_blk_parse("path=t,format=qcow2,backing=1,backing=2,backing=3,"
					  "backing=4,backing=5,backing=6,backing=7,backing=8,"
					  "backing=9,backing=10,backing=11,backing=12,backing=13,"
					  "backing=14,backing=15,backing=16", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "more than 15 backing files"));
}

/*
 * A guest on a qcow2 overlay over a qcow2 overlay over a qcow2 base:
 * reads through every layer (a compressed cluster too), writes that
 * allocate (partial clusters copied up from below), rewrites in place on
 * the fast path, flush, discard and write-zeroes; a request past the
 * virtual size refused. The top then checks clean and equals the raw file.
 */
static void test_chain_rw(void **state)
{
	uint8_t *want = malloc(1u << 20);
	struct drv *d;

	(void)state;
	assert_non_null(want);
	make_chain();
	d = drv_new("path=%s,format=qcow2,backing=%s,backing=%s", qpath("top.qcow2"),
		    qpath("mid.qcow2"), qpath("base.qcow2"));
	assert_int_equal(cfg_rd(d, 0, 8), DISK / 512);
	/* Reads through all three layers and the compressed cluster. */
	for (uint64_t off = 0; off < DISK; off += 256u << 10) {
		assert_int_equal(req(d, T_IN, off, 256u << 10), S_OK);
		raw_get(qpath("want.raw"), off, want, 256u << 10);
		assert_memory_equal(data(d, 0), want, 256u << 10);
	}
	/*
	 * Those whole in one layer's data went to the ring, on that layer's
	 * slot: the base's [0, 1M) and [3M, 3.5M), the mid's [1M, 1.25M).
	 * Zeros (nothing below has them) and the compressed one were the
	 * engine's, on this thread; the top has nothing of its own yet.
	 */
	assert_int_equal(qd_of(d)->nbelow, 7);
	assert_int_equal(qd_of(d)->nslow, DISK / (256u << 10) - 7);
	assert_int_equal(qd_of(d)->nfast, 0);
	/* Writes that allocate: unaligned to clusters, over the base's and the mid's data. */
	fill(data(d, 0), 192u << 10, 1);
	assert_int_equal(req(d, T_OUT, (1u << 20) - (32u << 10), 192u << 10), S_OK);
	raw_put(qpath("want.raw"), (1u << 20) - (32u << 10), data(d, 0), 192u << 10);
	fill(data(d, 0), 4096, 2);
	assert_int_equal(req(d, T_OUT, 5u << 20, 4096), S_OK);    /* over the compressed one */
	raw_put(qpath("want.raw"), 5u << 20, data(d, 0), 4096);
	/* Now the top's own: rewritten in place, read back, on the ring. */
	qd_of(d)->nfast = 0;
	fill(data(d, 0), 64u << 10, 3);
	assert_int_equal(req(d, T_OUT, 1u << 20, 64u << 10), S_OK);
	raw_put(qpath("want.raw"), 1u << 20, data(d, 0), 64u << 10);
	assert_int_equal(req(d, T_IN, 1u << 20, 64u << 10), S_OK);
	raw_get(qpath("want.raw"), 1u << 20, want, 64u << 10);
	assert_memory_equal(data(d, 0), want, 64u << 10);
	assert_int_equal(qd_of(d)->nfast, 2);
	assert_int_equal(req(d, T_FLUSH, 0, 0), S_OK);
	/* Discard and write-zeroes read as zeros after (qcow2's discard zeroes). */
	memset(want, 0, 128u << 10);
	post_range(d, 0, T_DISCARD, 3u << 20, 128u << 10);
	wr(d, 0x050, 0);
	assert_true(wait_used(d));
	assert_int_equal(status(d, 0), S_OK);
	raw_put(qpath("want.raw"), 3u << 20, want, 128u << 10);
	post_range(d, 0, T_WZ, (1u << 20) + 4096, 8192);
	wr(d, 0x050, 0);
	assert_true(wait_used(d));
	assert_int_equal(status(d, 0), S_OK);
	raw_put(qpath("want.raw"), (1u << 20) + 4096, want, 8192);
	/* Past the virtual size: refused, as on a raw disk. */
	assert_int_equal(req(d, T_IN, DISK - 512, 1024), S_IOERR);
	assert_int_equal(req(d, T_FLUSH, 0, 0), S_OK);
	drv_free(d);
	check_clean(qpath("top.qcow2"));
	check_clean(qpath("base.qcow2"));
	check_same(qpath("top.qcow2"), qpath("want.raw"));
	free(want);
}

/*
 * Many requests in one kick, reads, writes, discards and flushes mixed on
 * one region, under cache=none (the fast path O_DIRECT, the engine's own
 * I/O buffered): all complete, a discard meets no ring I/O mapped before
 * it (the engine's check would find a cluster given twice), the image
 * checks clean and holds what the guest's last writes said.
 */
static void test_many_mixed(void **state)
{
	uint64_t seed = 7;
	struct drv *d;

	(void)state;
	sh_ok(QEMU_IMG " create -q -f qcow2 -o cluster_size=4096 %s %u", qpath("mix.qcow2"), DISK);
	sh_ok(QEMU_IO " -c 'write -P 0x5a 0 2M' %s", qpath("mix.qcow2"));
	sh_ok(QEMU_IMG " convert -O raw %s %s", qpath("mix.qcow2"), qpath("mix.raw"));
	d = drv_new("path=%s,format=qcow2,cache=none", qpath("mix.qcow2"));
	for (unsigned int round = 0; round < 20; round++) {
		uint8_t zero[16384] = { 0 };

		/* Eight chains, each its own block: the guest's order among them is free. */
		for (unsigned int n = 0; n < 8; n++) {
			uint64_t off = (uint64_t)n * 65536 + (qrand(&seed) % 8) * 4096;

			switch (qrand(&seed) % 4) {
			case 0:
				fill(data(d, n), 8192, round * 8 + n);
				post(d, n, T_OUT, off / 512, 8192);
				raw_put(qpath("mix.raw"), off, data(d, n), 8192);
				break;
			case 1:
				post_range(d, n, T_DISCARD, n * 65536ull, 16384);
				raw_put(qpath("mix.raw"), n * 65536ull, zero, 16384);
				break;
			case 2:
				post(d, n, T_IN, off / 512, 4096);
				break;
			default:
				post(d, n, T_FLUSH, 0, 0);
				break;
			}
		}
		wr(d, 0x050, 0);
		assert_true(wait_used(d));
		for (unsigned int n = 0; n < 8; n++)
			assert_int_equal(status(d, n), S_OK);
	}
	assert_true(qd_of(d)->nfast > 0);
	assert_true(qd_of(d)->nwaited > 0);
	assert_int_equal(qd_of(d)->ndeferred, 0);
	drv_free(d);
	check_clean(qpath("mix.qcow2"));
	check_same(qpath("mix.qcow2"), qpath("mix.raw"));
}

/* The refusal's -errno with its words in err.msg; each names what is at fault. */
static void refused(const char *want, const char *fmt, ...)
{
	struct err err = ERR_INIT;
	char spec[1024];
	struct drv *d;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(spec, sizeof(spec), fmt, ap);
	va_end(ap);
	if (!drv_open(&d, spec, &err)) {
		drv_free(d);
		fail_msg("%s: opened, want '%s'", spec, want);
	}
	if (!strstr(err.msg, want))
		fail_msg("%s: '%s', want '%s'", spec, err.msg, want);
}

/* The trust rule (blk/chain.c): a backing file is the request's, never the header's. */
static void test_chain_refusals(void **state)
{
	char name[64];

	(void)state;
	make_chain();
	/* The header names mid.qcow2; the request names nothing. */
	refused("top.qcow2: its header names backing file 'mid.qcow2', which the request does "
		"not name", "path=%s,format=qcow2", qpath("top.qcow2"));
	/* Named down to mid only: mid's header names base. */
	refused("mid.qcow2's header names backing file 'base.qcow2', which the request does not",
		"path=%s,format=qcow2,backing=%s", qpath("top.qcow2"), qpath("mid.qcow2"));
	/* One name too many: base has no backing file. */
	refused("whose header names no backing file", "path=%s,format=qcow2,backing=%s,"
		"backing=%s,backing=%s", qpath("top.qcow2"), qpath("mid.qcow2"),
		qpath("base.qcow2"), qpath("base.qcow2"));
	/* The header's names, allowed: the chain opens, each within its directory. */
	drv_free(drv_new("path=%s,format=qcow2,backing=header", qpath("top.qcow2")));
	/* A header's name with '..', or absolute, or through a symlink: refused. */
	sh_ok("mkdir -p %s && cp %s %s/", qpath("sub"), qpath("base.qcow2"), qpath("sub"));
	sh_ok(QEMU_IMG " create -q -f qcow2 -b ../base.qcow2 -F qcow2 %s/up.qcow2", qpath("sub"));
	refused("its header names backing file '../base.qcow2', with '..' in it", "path=%s/up.qcow2,format=qcow2,backing=header",
		qpath("sub"));
	sh_ok(QEMU_IMG " create -q -f qcow2 -b %s -F qcow2 %s", qpath("base.qcow2"),
	      qpath("abs.qcow2"));
	refused("an absolute name", "path=%s,format=qcow2,backing=header", qpath("abs.qcow2"));
	sh_ok("ln -sf base.qcow2 %s", qpath("link.qcow2"));
	sh_ok(QEMU_IMG " create -q -f qcow2 -b link.qcow2 -F qcow2 %s", qpath("vialink.qcow2"));
	refused("a symbolic link on the way", "path=%s,format=qcow2,backing=header",
		qpath("vialink.qcow2"));
	/* Within a subdirectory of its own directory: taken, and the next level from there. */
	sh_ok(QEMU_IMG " create -q -f qcow2 -b sub/base.qcow2 -F qcow2 %s", qpath("down.qcow2"));
	drv_free(drv_new("path=%s,format=qcow2,backing=header", qpath("down.qcow2")));
	/* No backing format: never guessed. */
	{
		struct qcow2_create_opts o = { .size = DISK, .backing_file = "base.qcow2" };
		struct err err = ERR_INIT;
		int fd = open(qpath("nofmt.qcow2"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		assert_true(fd >= 0);
		assert_int_equal(qcow2_create(fd, &o, &err), 0);
		close(fd);
	}
	refused("but not its format (backing_fmt)", "path=%s,format=qcow2,backing=%s",
		qpath("nofmt.qcow2"), qpath("base.qcow2"));
	/* A loop: a -> b -> a, by names or by headers. */
	sh_ok(QEMU_IMG " create -q -f qcow2 %s %u", qpath("a.qcow2"), DISK);
	sh_ok(QEMU_IMG " create -q -f qcow2 -b a.qcow2 -F qcow2 %s", qpath("b.qcow2"));
	sh_ok(QEMU_IMG " rebase -q -u -b b.qcow2 -F qcow2 %s", qpath("a.qcow2"));
	refused("loops", "path=%s,format=qcow2,backing=%s,backing=%s", qpath("a.qcow2"),
		qpath("b.qcow2"), qpath("a.qcow2"));
	refused("loops", "path=%s,format=qcow2,backing=header", qpath("a.qcow2"));
	/* Seventeen images: deeper than 16. */
	sh_ok(QEMU_IMG " create -q -f qcow2 %s 1M", qpath("d0.qcow2"));
	for (int i = 1; i <= 16; i++)
		sh_ok(QEMU_IMG " create -q -f qcow2 -b d%d.qcow2 -F qcow2 %s", i - 1,
		      qpath((snprintf(name, sizeof(name), "d%d.qcow2", i), name)));
	refused("deeper than 16 images", "path=%s,format=qcow2,backing=header",
		qpath("d16.qcow2"));
	drv_free(drv_new("path=%s,format=qcow2,backing=header", qpath("d15.qcow2")));
	/* A backing file another VM writes (its lock exclusive): refused. */
	{
		int fd = open_file(qpath("base.qcow2"), false);

		assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
		refused("is in use by another process", "path=%s,format=qcow2,backing=header",
			qpath("top.qcow2"));
		close(fd);
	}
	/* A raw layer ends the chain: its format from mid's header. */
	sh_ok(QEMU_IMG " create -q -f raw %s 8M", qpath("r.raw"));
	sh_ok(QEMU_IMG " create -q -f qcow2 -b r.raw -F raw %s", qpath("onraw.qcow2"));
	drv_free(drv_new("path=%s,format=qcow2,backing=%s", qpath("onraw.qcow2"), qpath("r.raw")));
	refused("a raw layer, which has none", "path=%s,format=qcow2,backing=%s,backing=%s",
		qpath("onraw.qcow2"), qpath("r.raw"), qpath("base.qcow2"));
	/* Not a qcow2 image at all. */
	refused("qcow2", "path=%s,format=qcow2", qpath("r.raw"));
}

/*
 * A base whose file ends inside its last data cluster (those bytes read as
 * zeros): the overlay's read of that cluster is the engine's, which reads
 * the file's part and zeros; one inside the file goes to the ring.
 */
static void test_below_short(void **state)
{
	uint8_t *want = calloc(1, 128u << 10);
	struct stat st;
	struct drv *d;

	(void)state;
	assert_non_null(want);
	sh_ok(QEMU_IMG " create -q -f qcow2 %s %u", qpath("cut.qcow2"), DISK);
	sh_ok(QEMU_IO " -c 'write -P 0x55 0 64k' -c 'write -P 0x66 1M 64k' %s", qpath("cut.qcow2"));
	assert_int_equal(stat(qpath("cut.qcow2"), &st), 0);
	assert_int_equal(truncate(qpath("cut.qcow2"), st.st_size - 4096), 0);
	sh_ok(QEMU_IMG " create -q -f qcow2 -b cut.qcow2 -F qcow2 %s", qpath("cuttop.qcow2"));
	d = drv_new("path=%s,format=qcow2,backing=%s", qpath("cuttop.qcow2"), qpath("cut.qcow2"));
	assert_int_equal(req(d, T_IN, 0, 64u << 10), S_OK);
	memset(want, 0x55, 64u << 10);
	assert_memory_equal(data(d, 0), want, 64u << 10);
	assert_int_equal(qd_of(d)->nbelow, 1);
	assert_int_equal(qd_of(d)->nslow, 0);
	/* The last cluster written is the file's last: 60 KiB of it there, 4 KiB of zeros. */
	memset(data(d, 0), 0xaa, 64u << 10);
	assert_int_equal(req(d, T_IN, 1u << 20, 64u << 10), S_OK);
	memset(want, 0x66, 60u << 10);
	memset(want + (60u << 10), 0, 4096);
	assert_memory_equal(data(d, 0), want, 64u << 10);
	assert_int_equal(qd_of(d)->nbelow, 1);
	assert_int_equal(qd_of(d)->nslow, 1);
	drv_free(d);
	free(want);
}

/* A migration's switch-over: let go (read only, nothing written after), taken back, I/O on. */
static void test_hold(void **state)
{
	struct err err = ERR_INIT;
	struct drv *d;

	(void)state;
	sh_ok(QEMU_IMG " create -q -f qcow2 %s %u", qpath("h.qcow2"), DISK);
	sh_ok(QEMU_IMG " convert -O raw %s %s", qpath("h.qcow2"), qpath("h.raw"));
	d = drv_new("path=%s,format=qcow2", qpath("h.qcow2"));
	fill(data(d, 0), 65536, 9);
	assert_int_equal(req(d, T_OUT, 65536, 65536), S_OK);
	raw_put(qpath("h.raw"), 65536, data(d, 0), 65536);
	assert_int_equal(virtio_blk_hold(d->dev, false, &err), 0);
	assert_false(qd_of(d)->writable);
	check_clean(qpath("h.qcow2"));
	assert_int_equal(virtio_blk_hold(d->dev, true, &err), 0);
	assert_true(qd_of(d)->writable);
	fill(data(d, 0), 4096, 10);
	assert_int_equal(req(d, T_OUT, 1u << 20, 4096), S_OK);
	raw_put(qpath("h.raw"), 1u << 20, data(d, 0), 4096);
	/* The size is the header's: a refresh is refused by name, the disk unchanged. */
	assert_int_equal(virtio_blk_refresh(d->dev, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err.msg, "qcow2"));
	drv_free(d);
	check_clean(qpath("h.qcow2"));
	check_same(qpath("h.qcow2"), qpath("h.raw"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_chain_rw),
		cmocka_unit_test(test_many_mixed),
		cmocka_unit_test(test_chain_refusals),
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_below_short),
	};

	need_qemu_tools();
	return cmocka_run_group_tests(tests, qdir_setup, qdir_teardown);
}
