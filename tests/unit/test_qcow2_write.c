/*
 * disk/qcow2.h, writing: random writes and zero writes through the
 * engine, mirrored into a buffer, on images qemu-img makes (versions 2
 * and 3; 4 KiB, 64 KiB, 2 MiB and 512-byte clusters; 1-, 16- and 64-bit
 * refcounts; metadata preallocated), then judged by QEMU: `qemu-img
 * check` finds no error and no leak, and `qemu-img compare` finds the
 * image equal to a raw file holding the mirror. Also: the refcount table
 * grows (and moves) when the file outgrows it, the file between
 * operations (as a crash would leave it) has at most leaks, zero writes
 * set the zero flag (v3) or deallocate (v2) and give their clusters back,
 * which later writes take again before the file grows, a written cluster
 * maps as writable in place, and a read-only handle refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_qcow2_fixture.h"

#define DISK (24u << 20)

/* Writes the mirror out as a raw file beside the image. */
static void save_raw(const char *raw, const uint8_t *mirror, size_t size)
{
	int fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, mirror, size), (ssize_t)size);
	close(fd);
}

/*
 * n random operations on the open image and the mirror: writes of up to
 * three clusters anywhere (a quarter of them cluster-aligned), and one in
 * eight a zero write.
 */
static void random_ops(struct qcow2 *q, uint8_t *mirror, unsigned int n, uint64_t seed)
{
	uint64_t size = qcow2_info(q)->size, cs = qcow2_info(q)->cluster_size;
	uint8_t *buf = malloc(3 * cs + 1);
	struct err err = ERR_INIT;

	assert_non_null(buf);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t r = qrand(&seed), len = qrand(&seed) % (3 * cs) + 1, off;

		if (len > size)
			len = size;
		off = qrand(&seed) % (size - len + 1);
		if (r % 4 == 0) {
			off = off / cs * cs;
			len = len > size - off ? size - off : len;
		}
		if (r % 8 == 1) {
			if (qcow2_zero(q, off, len, &err))
				fail_msg("zero %" PRIu64 " at %" PRIu64 ": %s", len, off, err.msg);
			memset(mirror + off, 0, len);
			continue;
		}
		memset(buf, (int)(r >> 8 & 0xff) | 1, len);
		buf[0] = (uint8_t)i;
		buf[len - 1] = (uint8_t)(i >> 8);
		if (qcow2_write(q, off, buf, len, &err))
			fail_msg("write %" PRIu64 " at %" PRIu64 ": %s", len, off, err.msg);
		memcpy(mirror + off, buf, len);
	}
	free(buf);
}

/* An image qemu-img made with opts, written by the engine, judged by qemu-img. */
static void write_one(const char *opts, uint64_t size, unsigned int n)
{
	const char *img = qpath("w.qcow2"), *raw = qpath("w.raw");
	struct err err = ERR_INIT;
	struct qcow2 *q;
	uint8_t *mirror;
	size_t len;
	int fd;

	need_qemu_tools();
	sh_ok(QEMU_IMG " create -q -f qcow2 -o %s %s %" PRIu64, opts, img, size);
	sh_ok(QEMU_IO " -f qcow2 -c 'write -P 0x5a 0 100k' -c 'write -P 0x6b 5m 1m' %s", img);
	sh_ok(QEMU_IMG " convert -f qcow2 -O raw %s %s", img, raw);
	mirror = slurp(raw, &len);
	assert_int_equal(len, size);
	q = qopen(img, true, &fd);
	random_ops(q, mirror, n, 0x9e3779b97f4a7c15ull ^ size);
	assert_int_equal(qcow2_flush(q, &err), 0);
	save_raw(raw, mirror, len);
	read_matches(q, raw, 1u << 20);
	qclose(q, fd);
	check_clean(img);
	check_same(img, raw);
	free(mirror);
}

static void test_v3_64k(void **state) { (void)state; write_one("compat=1.1", DISK, 200); }
static void test_v2_64k(void **state) { (void)state; write_one("compat=0.10", DISK, 200); }
static void test_v3_4k(void **state) { (void)state; write_one("cluster_size=4k", DISK, 200); }
static void test_v2_4k(void **state)
{
	(void)state;
	write_one("compat=0.10,cluster_size=4k", DISK, 200);
}
static void test_v3_2m(void **state) { (void)state; write_one("cluster_size=2m", DISK, 40); }
static void test_refcount_1(void **state)
{
	(void)state;
	write_one("refcount_bits=1,cluster_size=4k", DISK, 200);
}
static void test_refcount_64(void **state)
{
	(void)state;
	write_one("refcount_bits=64,cluster_size=4k", DISK, 200);
}
static void test_prealloc(void **state)
{
	(void)state;
	write_one("preallocation=metadata", DISK, 200);
}

/* The header's refcount_table_clusters. */
static uint32_t rt_clusters(const char *img)
{
	uint8_t b[4];
	int fd = open_file(img, false);

	assert_int_equal(pread(fd, b, 4, 56), 4);
	close(fd);
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/*
 * 512-byte clusters: one refcount table cluster with 64-bit refcounts
 * counts 64 blocks of 64 clusters, 2 MiB of file. Writing 12 MiB makes
 * the table grow, and move, more than once.
 */
static void test_refcount_table_grows(void **state)
{
	const char *img = qpath("grow.qcow2"), *raw = qpath("grow.raw");
	uint64_t size = 32u << 20;
	uint8_t *mirror = calloc(1, size), *buf = malloc(65536);
	struct err err = ERR_INIT;
	struct qcow2 *q;
	int fd;

	(void)state;
	need_qemu_tools();
	assert_non_null(mirror);
	assert_non_null(buf);
	sh_ok(QEMU_IMG " create -q -f qcow2 -o cluster_size=512,refcount_bits=64 %s %" PRIu64,
	      img, size);
	assert_int_equal(rt_clusters(img), 1);
	q = qopen(img, true, &fd);
	for (uint64_t off = 0; off < (12u << 20); off += 65536 + 4096) {
		memset(buf, (int)(off >> 16) | 1, 65536);
		if (qcow2_write(q, off, buf, 65536, &err))
			fail_msg("write at %" PRIu64 ": %s", off, err.msg);
		memcpy(mirror + off, buf, 65536);
	}
	assert_int_equal(qcow2_flush(q, &err), 0);
	save_raw(raw, mirror, size);
	read_matches(q, raw, 1u << 20);
	qclose(q, fd);
	assert_true(rt_clusters(img) > 1);
	check_clean(img);
	check_same(img, raw);
	free(mirror);
	free(buf);
}

/* Zero writes: v3 sets the zero flag and gives the cluster back; the map says so. */
static void test_zero(void **state)
{
	const char *img = qpath("z.qcow2");
	struct err err = ERR_INIT;
	struct qcow2_map m;
	uint8_t buf[4096];
	uint64_t before;
	struct qcow2 *q;
	int fd;

	(void)state;
	need_qemu_tools();
	sh_ok(QEMU_IMG " create -q -f qcow2 %s 4m", img);
	sh_ok(QEMU_IO " -f qcow2 -c 'write -P 0x77 0 1m' %s", img);
	q = qopen(img, true, &fd);
	assert_int_equal(qcow2_map(q, 0, 65536, &m, &err), 0);
	assert_int_equal(m.kind, QCOW2_MAP_DATA);
	assert_true(m.in_place);
	before = m.host_off;
	assert_int_equal(qcow2_zero(q, 100, 300000, &err), 0);
	assert_int_equal(qcow2_map(q, 65536, 65536, &m, &err), 0);
	assert_int_equal(m.kind, QCOW2_MAP_ZERO);
	assert_int_equal(qcow2_map(q, 0, 65536, &m, &err), 0);
	assert_int_equal(m.kind, QCOW2_MAP_DATA);
	assert_int_equal(m.host_off, before);
	assert_int_equal(qcow2_read(q, 0, buf, sizeof(buf), &err), 0);
	assert_int_equal(buf[99], 0x77);
	assert_int_equal(buf[100], 0);
	assert_int_equal(qcow2_flush(q, &err), 0);
	qclose(q, fd);
	check_clean(img);

	/* v2: no zero flag; with nothing behind, the clusters are deallocated. */
	sh_ok(QEMU_IMG " create -q -f qcow2 -o compat=0.10 %s 4m", img);
	sh_ok(QEMU_IO " -f qcow2 -c 'write -P 0x77 0 1m' %s", img);
	q = qopen(img, true, &fd);
	assert_int_equal(qcow2_zero(q, 0, 4u << 20, &err), 0);
	assert_int_equal(qcow2_map(q, 0, 4u << 20, &m, &err), 0);
	assert_int_equal(m.kind, QCOW2_MAP_ZERO);
	assert_int_equal(m.len, 4u << 20);
	qclose(q, fd);
	check_clean(img);
}

/*
 * Clusters a flush let go are taken again before the file grows: a guest
 * that discards and writes in turn (for ever, in a long-lived VM) keeps
 * the file at its size, its data right and its refcounts exact.
 */
static void test_freed_clusters_reused(void **state)
{
	const char *img = qpath("reuse.qcow2");
	struct err err = ERR_INIT;
	uint8_t *buf = malloc(1u << 20), got[4096];
	uint64_t size = 0;
	struct qcow2 *q;
	int fd;

	(void)state;
	need_qemu_tools();
	assert_non_null(buf);
	sh_ok(QEMU_IMG " create -q -f qcow2 %s 8m", img);
	q = qopen(img, true, &fd);
	for (unsigned int round = 0; round < 40; round++) {
		uint64_t at = (round % 2) << 22;     /* 0 or 4 MiB, in turn */

		memset(buf, 0x40 + (int)round, 1u << 20);
		assert_int_equal(qcow2_write(q, at, buf, 1u << 20, &err), 0);
		assert_int_equal(qcow2_zero(q, at ^ (1u << 22), 1u << 20, &err), 0);
		assert_int_equal(qcow2_flush(q, &err), 0);
		if (round == 3)
			size = file_len(img);
	}
	/* The third round on needed nothing new: the first two's clusters came back. */
	assert_true(size > 0 && file_len(img) == size);
	assert_int_equal(qcow2_read(q, 1u << 22, got, sizeof(got), &err), 0);
	assert_int_equal(got[0], 0x40 + 39);
	assert_int_equal(qcow2_read(q, 0, got, sizeof(got), &err), 0);
	assert_int_equal(got[0], 0);
	assert_int_equal(qcow2_flush(q, &err), 0);
	qclose(q, fd);
	check_clean(img);
	free(buf);
}

/*
 * The file as a crash would leave it between operations (before any
 * flush, frees still pending): QEMU finds at most leaked clusters (exit
 * 3), never an error (exit 2).
 */
static void test_crash_points(void **state)
{
	const char *img = qpath("crash.qcow2");
	struct err err = ERR_INIT;
	uint8_t buf[70000];
	char out[4096];
	struct qcow2 *q;
	int fd;

	(void)state;
	need_qemu_tools();
	sh_ok(QEMU_IMG " create -q -f qcow2 -o cluster_size=4k %s 8m", img);
	sh_ok(QEMU_IO " -f qcow2 -c 'write -P 0x21 0 1m' %s", img);
	sh_ok(QEMU_IMG " convert -c -O qcow2 -o cluster_size=4k %s %s.c", img, img);
	sh_ok("mv %s.c %s", img, img);
	q = qopen(img, true, &fd);
	memset(buf, 0x42, sizeof(buf));
	for (unsigned int i = 0; i < 6; i++) {
		int st;

		if (i % 3 == 0)
			assert_int_equal(qcow2_write(q, i * 150001, buf, sizeof(buf), &err), 0);
		else if (i % 3 == 1)
			assert_int_equal(qcow2_zero(q, i * 100000, 300000, &err), 0);
		else
			assert_int_equal(qcow2_write(q, (2u << 20) + i * 500000, buf, 100, &err), 0);
		sh_ok("cp %s %s.copy", img, img);
		st = sh_out(out, sizeof(out), QEMU_IMG " check %s.copy", img);
		if ((st != 0 && st != 3) || strstr(out, "ERROR"))
			fail_msg("after operation %u, qemu-img check (%d): %s", i, st, out);
	}
	qclose(q, fd);
	check_clean(img);
}

static void test_read_only_refuses(void **state)
{
	const char *img = qpath("ro.qcow2");
	struct err err = ERR_INIT;
	uint8_t b = 1;
	struct qcow2 *q;
	int fd;

	(void)state;
	need_qemu_tools();
	sh_ok(QEMU_IMG " create -q -f qcow2 %s 1m", img);
	q = qopen(img, false, &fd);
	assert_int_equal(qcow2_write(q, 0, &b, 1, &err), -EROFS);
	assert_int_equal(qcow2_zero(q, 0, 1, &err), -EROFS);
	assert_int_equal(qcow2_flush(q, &err), 0);
	qclose(q, fd);
	q = qopen(img, true, &fd);
	assert_int_equal(qcow2_write(q, (1u << 20) - 1, &b, 2, &err), -EINVAL);
	qclose(q, fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v3_64k),
		cmocka_unit_test(test_v2_64k),
		cmocka_unit_test(test_v3_4k),
		cmocka_unit_test(test_v2_4k),
		cmocka_unit_test(test_v3_2m),
		cmocka_unit_test(test_refcount_1),
		cmocka_unit_test(test_refcount_64),
		cmocka_unit_test(test_prealloc),
		cmocka_unit_test(test_refcount_table_grows),
		cmocka_unit_test(test_zero),
		cmocka_unit_test(test_freed_clusters_reused),
		cmocka_unit_test(test_crash_points),
		cmocka_unit_test(test_read_only_refuses),
	};

	return cmocka_run_group_tests(tests, qdir_setup, qdir_teardown);
}
