/*
 * disk/qcow2.h, compressed clusters: images `qemu-img convert -c` makes
 * (zlib; 4 KiB and 64 KiB clusters, some data incompressible, so stored
 * plain) read back equal to their raw source; writes and zero writes over
 * compressed clusters copy them to plain clusters and give the
 * compressed ones back (qemu-img check: no error, no leak; compare:
 * equal); a corrupt stream and one cut short are refused in words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_qcow2_fixture.h"

/* A raw source: patterns (compressible), one MiB of noise (not), zeros. */
static void make_raw(const char *raw)
{
	need_qemu_tools();
	sh_ok("truncate -s 8m %s", raw);
	sh_ok(QEMU_IO " -f raw -c 'write -P 0x41 0 2m' -c 'write -P 0x42 3m 100k' "
	      "-c 'write -P 0x43 7m 1m' %s", raw);
	sh_ok("head -c 1048576 /dev/urandom | dd of=%s bs=64k seek=80 conv=notrunc status=none",
	      raw);
}

/* The first compressed extent at or after off. */
static uint64_t find_compressed(struct qcow2 *q, uint64_t off, struct qcow2_map *m)
{
	struct err err = ERR_INIT;
	uint64_t size = qcow2_info(q)->size;

	while (off < size) {
		if (qcow2_map(q, off, size - off, m, &err))
			fail_msg("map: %s", err.msg);
		if (m->kind == QCOW2_MAP_COMPRESSED)
			return off;
		off += m->len;
	}
	fail_msg("no compressed cluster");
	return 0;
}

static void read_one(const char *cluster)
{
	const char *raw = qpath("c.raw"), *img = qpath("c.qcow2");
	struct qcow2_map m;
	struct qcow2 *q;
	int fd;

	make_raw(raw);
	sh_ok(QEMU_IMG " convert -c -f raw -O qcow2 -o cluster_size=%s %s %s", cluster, raw, img);
	q = qopen(img, false, &fd);
	assert_int_equal(find_compressed(q, 0, &m), 0);
	assert_true(m.host_len > 0 && m.host_len <= 2 * (uint64_t)qcow2_info(q)->cluster_size);
	read_matches(q, raw, 1u << 20);
	read_matches(q, raw, 3000);
	qclose(q, fd);
}

static void test_read_64k(void **state) { (void)state; read_one("64k"); }
static void test_read_4k(void **state) { (void)state; read_one("4k"); }

/* Writes into compressed clusters, and zero writes over them, then QEMU's verdict. */
static void test_write_over(void **state)
{
	const char *raw = qpath("cw.raw"), *img = qpath("cw.qcow2");
	struct err err = ERR_INIT;
	uint8_t buf[5000];
	struct qcow2_map m;
	struct qcow2 *q;
	int fd, rfd;

	(void)state;
	make_raw(raw);
	sh_ok(QEMU_IMG " convert -c -f raw -O qcow2 %s %s", raw, img);
	q = qopen(img, true, &fd);
	rfd = open_file(raw, true);
	memset(buf, 0xee, sizeof(buf));
	/* Mid-cluster, across two compressed clusters, and at the end of the disk. */
	for (uint64_t off = 1000; off < (8u << 20); off += 777777) {
		assert_int_equal(qcow2_write(q, off, buf, sizeof(buf), &err), 0);
		assert_int_equal(pwrite(rfd, buf, sizeof(buf), (off_t)off), (ssize_t)sizeof(buf));
	}
	assert_int_equal(qcow2_write(q, (8u << 20) - 100, buf, 100, &err), 0);
	assert_int_equal(pwrite(rfd, buf, 100, (8u << 20) - 100), 100);
	assert_int_equal(qcow2_map(q, 1000, 1, &m, &err), 0);
	assert_int_equal(m.kind, QCOW2_MAP_DATA);
	assert_true(m.in_place);
	/* Whole compressed clusters zeroed: the zero flag, the streams given back. */
	assert_int_equal(qcow2_zero(q, 3u << 20, 1u << 20, &err), 0);
	memset(buf, 0, sizeof(buf));
	for (uint64_t off = 3u << 20; off < (4u << 20); off += 4096)
		assert_int_equal(pwrite(rfd, buf, 4096, (off_t)off), 4096);
	assert_int_equal(qcow2_flush(q, &err), 0);
	read_matches(q, raw, 1u << 20);
	qclose(q, fd);
	close(rfd);
	check_clean(img);
	check_same(img, raw);
}

/* A stream with its bytes changed, and one whose sector count is cut: refused. */
static void test_corrupt_stream(void **state)
{
	const char *raw = qpath("cc.raw"), *img = qpath("cc.qcow2");
	struct err err = ERR_INIT;
	uint8_t junk[64], buf[4096];
	struct qcow2_map m;
	uint64_t at;
	struct qcow2 *q;
	int fd;

	(void)state;
	make_raw(raw);
	sh_ok(QEMU_IMG " convert -c -f raw -O qcow2 %s %s", raw, img);
	q = qopen(img, false, &fd);
	at = find_compressed(q, 3u << 20, &m);
	qclose(q, fd);
	memset(junk, 0xff, sizeof(junk));
	fd = open_file(img, true);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)m.host_off), (ssize_t)sizeof(junk));
	close(fd);
	q = qopen(img, false, &fd);
	assert_int_equal(qcow2_read(q, at, buf, sizeof(buf), &err), -EINVAL);
	assert_true(err.usage);
	assert_non_null(strstr(err.msg, "does not decompress to a whole cluster"));
	/* Its neighbours still read. */
	assert_int_equal(qcow2_read(q, 0, buf, sizeof(buf), &err), 0);
	assert_int_equal(buf[0], 0x41);
	qclose(q, fd);
}

/* zlib loads on demand (and is there to load on Debian). */
static void test_inflate_load(void **state)
{
	struct err err = ERR_INIT;

	(void)state;
	assert_int_equal(qcow2_inflate_load(&err), 0);
	assert_int_equal(qcow2_inflate_load(&err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_64k),
		cmocka_unit_test(test_read_4k),
		cmocka_unit_test(test_write_over),
		cmocka_unit_test(test_corrupt_stream),
		cmocka_unit_test(test_inflate_load),
	};

	return cmocka_run_group_tests(tests, qdir_setup, qdir_teardown);
}
