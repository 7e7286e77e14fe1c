/*
 * disk/qcow2.h, reading: images qemu-img makes (versions 2 and 3, 4 KiB,
 * 64 KiB and 2 MiB clusters) with data qemu-io writes (patterns, zero
 * writes, a discard), read back through the engine in pieces of several
 * sizes and compared with the raw image `qemu-img convert` makes of the
 * same file; the map's extents; a cache of two tables over random reads;
 * reads past the disk refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_qcow2_fixture.h"

#define DISK (24u << 20)

/* An image with data at cluster starts, mid-cluster, across clusters and L2 tables, and zeros. */
static void make_image(const char *img, const char *compat, const char *cluster)
{
	need_qemu_tools();
	sh_ok(QEMU_IMG " create -q -f qcow2 -o compat=%s,cluster_size=%s %s %u", compat, cluster,
	      img, DISK);
	sh_ok(QEMU_IO " -f qcow2 -c 'write -P 0xab 0 64k' -c 'write -P 0x12 1m 4k' "
	      "-c 'write -P 0x34 3146240 70000' -c 'write -P 0x56 8m 2m' "
	      "-c 'write -P 0x78 20m 3m' -c 'write -z 8650752 64k' -c 'discard 21m 1m' "
	      "-c 'write -P 0x9a 25165312 512' %s", img);
	sh_ok(QEMU_IMG " convert -f qcow2 -O raw %s %s.raw", img, img);
}

static void read_one(const char *compat, const char *cluster)
{
	char name[64];
	struct qcow2 *q;
	int fd;

	snprintf(name, sizeof(name), "r-%s-%s.qcow2", compat, cluster);
	make_image(qpath(name), compat, cluster);
	q = qopen(qpath(name), false, &fd);
	assert_int_equal(qcow2_info(q)->size, DISK);
	assert_int_equal(qcow2_info(q)->version, strcmp(compat, "0.10") ? 3 : 2);
	assert_false(qcow2_info(q)->has_backing);
	snprintf(name + strlen(name), sizeof(name) - strlen(name), ".raw");
	read_matches(q, qpath(name), 1u << 20);
	read_matches(q, qpath(name), 4096);
	read_matches(q, qpath(name), 100000);
	qclose(q, fd);
}

static void test_v2_4k(void **state) { (void)state; read_one("0.10", "4k"); }
static void test_v2_64k(void **state) { (void)state; read_one("0.10", "64k"); }
static void test_v2_2m(void **state) { (void)state; read_one("0.10", "2m"); }
static void test_v3_4k(void **state) { (void)state; read_one("1.1", "4k"); }
static void test_v3_64k(void **state) { (void)state; read_one("1.1", "64k"); }
static void test_v3_2m(void **state) { (void)state; read_one("1.1", "2m"); }

/* Extents: data where qemu-io wrote, zeros elsewhere (no backing file), merged across clusters. */
static void test_map(void **state)
{
	const char *img = qpath("map.qcow2");
	struct err err = ERR_INIT;
	struct qcow2_map m;
	struct qcow2 *q;
	int fd;

	(void)state;
	make_image(img, "1.1", "64k");
	q = qopen(img, false, &fd);
	assert_int_equal(qcow2_map(q, 0, DISK, &m, &err), 0);
	assert_int_equal(m.kind, QCOW2_MAP_DATA);
	assert_int_equal(m.len, 65536);
	assert_false(m.in_place);
	assert_int_equal(qcow2_map(q, 65536, 65536 * 3, &m, &err), 0);
	assert_int_equal(m.kind, QCOW2_MAP_ZERO);
	assert_int_equal(m.len, 65536 * 3);
	/* 2 MiB written in one go: one extent, contiguous in the file. */
	assert_int_equal(qcow2_map(q, 8u << 20, 2u << 20, &m, &err), 0);
	assert_true(m.kind == QCOW2_MAP_DATA || m.kind == QCOW2_MAP_ZERO);
	assert_int_equal(qcow2_map(q, (8u << 20) + 100, 1000, &m, &err), 0);
	assert_int_equal(m.kind, QCOW2_MAP_DATA);
	assert_int_equal(m.len, 1000);
	/* The zero write: the zero flag. */
	assert_int_equal(qcow2_map(q, 8650752, 65536, &m, &err), 0);
	assert_int_equal(m.kind, QCOW2_MAP_ZERO);
	/* Past the disk: refused. */
	assert_int_equal(qcow2_map(q, DISK - 10, 11, &m, &err), -EINVAL);
	assert_int_equal(qcow2_map(q, DISK, 1, &m, &err), -EINVAL);
	qclose(q, fd);
}

/* Random reads with a cache of two tables (4 KiB clusters: many tables) read right. */
static void test_small_cache(void **state)
{
	const char *img = qpath("cache.qcow2");
	struct qcow2_opts o = { .cache_bytes = 1 };
	struct err err = ERR_INIT;
	uint8_t *want, buf[8192];
	uint64_t seed = 88172645463325252ull;
	struct qcow2 *q = NULL;
	size_t n;
	int fd;

	(void)state;
	make_image(img, "1.1", "4k");
	want = slurp(qpath("cache.qcow2.raw"), &n);
	fd = open_file(img, false);
	assert_int_equal(qcow2_open(fd, &o, &q, &err), 0);
	for (unsigned int i = 0; i < 3000; i++) {
		uint64_t len = qrand(&seed) % sizeof(buf) + 1, off = qrand(&seed) % (DISK - len);

		if (qcow2_read(q, off, buf, (size_t)len, &err))
			fail_msg("read %" PRIu64 " at %" PRIu64 ": %s", len, off, err.msg);
		assert_memory_equal(buf, want + off, len);
	}
	assert_int_equal(qcow2_read(q, DISK - 1, buf, 2, &err), -EINVAL);
	assert_int_equal(qcow2_read(q, 0, buf, 0, &err), 0);
	free(want);
	qclose(q, fd);
}

/* Refcounts of other widths read the same (reading never looks at them). */
static void test_refcount_widths(void **state)
{
	static const char *const bits[] = { "1", "8", "64" };

	(void)state;
	need_qemu_tools();
	for (unsigned int i = 0; i < 3; i++) {
		const char *img = qpath("rb.qcow2");
		struct qcow2 *q;
		int fd;

		sh_ok(QEMU_IMG " create -q -f qcow2 -o refcount_bits=%s %s 4m", bits[i], img);
		sh_ok(QEMU_IO " -f qcow2 -c 'write -P 0x11 100k 300k' %s", img);
		sh_ok(QEMU_IMG " convert -f qcow2 -O raw %s %s.raw", img, img);
		q = qopen(img, true, &fd);
		assert_int_equal(qcow2_info(q)->refcount_bits, (uint32_t)atoi(bits[i]));
		read_matches(q, qpath("rb.qcow2.raw"), 65536);
		qclose(q, fd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v2_4k),
		cmocka_unit_test(test_v2_64k),
		cmocka_unit_test(test_v2_2m),
		cmocka_unit_test(test_v3_4k),
		cmocka_unit_test(test_v3_64k),
		cmocka_unit_test(test_v3_2m),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_small_cache),
		cmocka_unit_test(test_refcount_widths),
	};

	return cmocka_run_group_tests(tests, qdir_setup, qdir_teardown);
}
