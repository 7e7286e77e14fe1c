/*
 * libFuzzer target for the qcow2 engine (src/disk/qcow2*.c), in two
 * modes chosen by the input's first bytes.
 *
 * An input that starts with qcow2's magic is an image file (hostile):
 * written to a memfd, opened read-only, then (a copy) writable with a
 * raw backing layer attached; each handle reads the disk's start (the
 * writable one also writes into it and zeroes up to a MiB from its middle), then gets
 * a few maps, reads, writes, zero writes and flushes at places drawn from
 * the input's last 64 bytes (so the image itself stays a valid seed). Checked: every failure
 * returns a negative errno with a "qcow2: " message; a refused writable
 * open leaves the file byte for byte as it was; a map's extent is inside
 * what was asked.
 *
 * Any other input is a program against an image the engine creates (up
 * to 8 MiB, 512-byte to 64 KiB clusters, 1- to 64-bit refcounts, with or
 * without a raw backing file made of the input's bytes): writes (some
 * long, so refcount blocks and the table fill and grow), zero writes,
 * reads, flushes and reopens, all mirrored into a buffer. Checked: every
 * operation succeeds, every read (and, at the end, the whole disk, after
 * a reopen) equals the mirror.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "disk/qcow2.h"
#include "fz.h"
#include "util/file.h"

#define BUF_MAX (256u << 10)

static uint8_t buf[BUF_MAX], back[BUF_MAX];

static int memfd_with(const void *p, size_t n)
{
	int fd = memfd_create("qcow2", MFD_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(file_pwrite_full(fd, p, n, 0) == 0);
	return fd;
}

static void check_fail(int ret, const struct err *err)
{
	CHECK(ret < 0);
	CHECK(!strncmp(err->msg, "qcow2: ", 7));
}

/* A few operations on an image that may be hostile: anything may fail, in words. */
static void poke(struct qcow2 *q, struct fz *f, bool rw)
{
	uint64_t size = qcow2_info(q)->size, n = size < BUF_MAX ? size : BUF_MAX;
	struct err err = ERR_INIT;
	int ret;

	/* Whatever the tail says: the disk's start read, written over and zeroed. */
	if (n && (ret = qcow2_read(q, 0, buf, (size_t)n, &err)))
		check_fail(ret, &err);
	if (rw && size > 2000) {
		memset(buf, 0x5c, 1000);
		if ((ret = qcow2_write(q, 700, buf, 1000, &err)))
			check_fail(ret, &err);
		if ((ret = qcow2_zero(q, size / 2, size / 2 < (1u << 20) ? size / 2 : 1u << 20,
				      &err)))
			check_fail(ret, &err);
	}
	for (unsigned int i = 0; i < 6 && size; i++) {
		uint8_t op = fz_u8(f);
		uint64_t off = fz_u64(f) % size, len = fz_u32(f) % BUF_MAX + 1;
		struct qcow2_map m;

		if (len > size - off)
			len = size - off;
		switch (op % 5) {
		case 0:
			ret = qcow2_map(q, off, len, &m, &err);
			if (!ret)
				CHECK(m.len >= 1 && m.len <= len && m.kind <= QCOW2_MAP_BACKING);
			break;
		case 1:
			ret = qcow2_read(q, off, buf, (size_t)len, &err);
			break;
		case 2:
			memset(buf, op, (size_t)len);
			ret = qcow2_write(q, off, buf, (size_t)len, &err);
			CHECK(rw || ret == -EROFS);
			break;
		case 3:
			ret = qcow2_zero(q, off, len, &err);
			break;
		default:
			ret = qcow2_flush(q, &err);
			break;
		}
		if (ret)
			check_fail(ret, &err);
	}
}

static void image_mode(const uint8_t *data, size_t size)
{
	size_t tail = size < 64 ? size : 64;
	struct fz f = { data + size - tail, tail };
	struct qcow2_opts ro = { .cache_bytes = fz_u8(&f) << 12 }, rw = { .writable = true };
	struct err err = ERR_INIT;
	struct qcow2 *q = NULL, *w = NULL;
	int fd = memfd_with(data, size), wfd, bfd;
	int ret = qcow2_open(fd, &ro, &q, &err);

	if (ret) {
		check_fail(ret, &err);
	} else {
		poke(q, &f, false);
	}
	wfd = memfd_with(data, size);
	ret = qcow2_open(wfd, &rw, &w, &err);
	if (ret) {
		uint8_t *now = malloc(size);

		check_fail(ret, &err);
		CHECK(now && file_pread_full(wfd, now, size, 0) == (ssize_t)size);
		CHECK(!memcmp(now, data, size));
		free(now);
	} else {
		struct qcow2_layer layer = { .kind = QCOW2_LAYER_RAW };

		bfd = memfd_with(data, size);
		layer.fd = bfd;
		layer.size = size / 2;
		CHECK(qcow2_set_backing(w, &layer, &err) == 0);
		poke(w, &f, true);
		qcow2_close(w);
		close(bfd);
	}
	qcow2_close(q);
	close(wfd);
	close(fd);
}

/* A disk made by the engine, checked against its mirror. */
struct prog {
	int fd, bfd;
	struct qcow2 *q;
	struct qcow2_layer layer;
	uint8_t *mirror;
	uint64_t size, cs;
};

static void prog_open(struct prog *p)
{
	struct qcow2_opts o = { .writable = true, .cache_bytes = 1 };
	struct err err = ERR_INIT;

	if (qcow2_open(p->fd, &o, &p->q, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		CHECK(0);
	}
	if (p->layer.kind != QCOW2_LAYER_NONE)
		CHECK(qcow2_set_backing(p->q, &p->layer, &err) == 0);
}

static void prog_read_all(struct prog *p)
{
	struct err err = ERR_INIT;

	for (uint64_t off = 0; off < p->size; off += BUF_MAX) {
		size_t n = p->size - off < BUF_MAX ? (size_t)(p->size - off) : BUF_MAX;

		CHECK(qcow2_read(p->q, off, buf, n, &err) == 0);
		CHECK(!memcmp(buf, p->mirror + off, n));
	}
}

static void prog_step(struct prog *p, struct fz *f)
{
	uint8_t op = fz_u8(f);
	uint64_t off = fz_u32(f) % p->size, len = fz_u32(f) % (3 * p->cs) + 1;
	struct err err = ERR_INIT;

	if (len > p->size - off)
		len = p->size - off;
	/* Now and then a long write, so refcount blocks and the table fill and grow. */
	if (op % 8 == 2)
		len = fz_u32(f) % BUF_MAX + 1;
	if (len > p->size - off)
		len = p->size - off;
	switch (op % 8) {
	case 0: case 1: case 2:
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(op + i);
		if (qcow2_write(p->q, off, buf, (size_t)len, &err)) {
			fprintf(stderr, "%s\n", err.msg);
			CHECK(0);
		}
		memcpy(p->mirror + off, buf, (size_t)len);
		break;
	case 3:
		CHECK(qcow2_zero(p->q, off, len, &err) == 0);
		memset(p->mirror + off, 0, (size_t)len);
		break;
	case 4: case 5:
		CHECK(qcow2_read(p->q, off, buf, (size_t)len, &err) == 0);
		CHECK(!memcmp(buf, p->mirror + off, (size_t)len));
		break;
	case 6:
		CHECK(qcow2_flush(p->q, &err) == 0);
		break;
	default:
		qcow2_close(p->q);
		prog_open(p);
		break;
	}
}

static void program_mode(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t cfg = fz_u8(&f);
	struct prog p = { .bfd = -1, .layer = { .kind = QCOW2_LAYER_NONE } };
	struct qcow2_create_opts o = { .cluster_bits = 9 + cfg % 8,
				       .refcount_bits = 1u << (cfg >> 4) % 7 };
	struct err err = ERR_INIT;

	p.size = o.size = (uint64_t)(fz_u16(&f) % 2048 + 1) * 4096;
	p.cs = 1ull << o.cluster_bits;
	p.mirror = calloc(1, p.size);
	CHECK(p.mirror);
	if (cfg & 8) {
		size_t bsize = (size_t)(fz_u16(&f) % (BUF_MAX / 512)) * 512 + 1;

		for (size_t i = 0; i < bsize; i++)
			back[i] = (uint8_t)(i * 31 + cfg);
		memcpy(p.mirror, back, bsize < p.size ? bsize : p.size);
		p.bfd = memfd_with(back, bsize);
		p.layer = (struct qcow2_layer){ .kind = QCOW2_LAYER_RAW, .fd = p.bfd, .size = bsize };
		o.backing_file = "base.raw";
		o.backing_fmt = "raw";
	}
	p.fd = memfd_create("qcow2", MFD_CLOEXEC);
	CHECK(p.fd >= 0);
	CHECK(qcow2_create(p.fd, &o, &err) == 0);
	prog_open(&p);
	for (unsigned int i = 0; i < 64 && f.n; i++)
		prog_step(&p, &f);
	CHECK(qcow2_flush(p.q, &err) == 0);
	qcow2_close(p.q);
	prog_open(&p);
	prog_read_all(&p);
	qcow2_close(p.q);
	close(p.fd);
	if (p.bfd >= 0)
		close(p.bfd);
	free(p.mirror);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (4u << 20))
		return 0;
	if (size >= 4 && !memcmp(data, "QFI\xfb", 4))
		image_mode(data, size);
	else
		program_mode(data, size);
	return 0;
}
