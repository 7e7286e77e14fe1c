/*
 * disk/qcow2.h, the image writer: images qcow2_create makes (sizes from
 * 0 to ones not a whole number of clusters, 512-byte to 2 MiB clusters,
 * refcounts 1 to 64 bits wide, with and without a backing file name and
 * format) are what qemu-img expects (check: clean; info:
 * the size, cluster size, version and backing file asked for), the
 * engine opens them and writes into them (QEMU agrees on the result),
 * an overlay made over a qemu-img base reads through it in both QEMU and
 * the engine, and options out of range are refused in words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_qcow2_fixture.h"

/* A new image at path, from a file that held something longer. */
static void create(const char *path, const struct qcow2_create_opts *o)
{
	struct err err = ERR_INIT;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 50u << 20), 0);
	if (qcow2_create(fd, o, &err))
		fail_msg("qcow2_create: %s", err.msg);
	close(fd);
}

/* qemu-img info's JSON must hold each of the needles. */
static void info_has(const char *img, const char *const *needles)
{
	char out[8192];

	assert_int_equal(sh_out(out, sizeof(out), QEMU_IMG " info --output=json -U %s", img), 0);
	for (; *needles; needles++)
		if (!strstr(out, *needles))
			fail_msg("qemu-img info %s lacks '%s': %s", img, *needles, out);
}

static void test_shapes(void **state)
{
	static const struct { uint64_t size; uint32_t bits; } shapes[] = {
		{ 0, 16 }, { 1u << 20, 0 }, { 10000384, 12 }, { 24u << 20, 9 }, { 100u << 20, 21 },
		{ 1ull << 40, 16 },
	};

	(void)state;
	need_qemu_tools();
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		struct qcow2_create_opts o = { .size = shapes[i].size, .cluster_bits = shapes[i].bits };
		uint32_t cs = 1u << (shapes[i].bits ? shapes[i].bits : 16);
		char size[64], csz[64];
		const char *needles[] = { size, csz, "\"compat\": \"1.1\"", NULL };
		struct qcow2 *q;
		int fd;

		create(qpath("s.qcow2"), &o);
		check_clean(qpath("s.qcow2"));
		snprintf(size, sizeof(size), "\"virtual-size\": %" PRIu64 ",", shapes[i].size);
		snprintf(csz, sizeof(csz), "\"cluster-size\": %u,", cs);
		info_has(qpath("s.qcow2"), needles);
		q = qopen(qpath("s.qcow2"), true, &fd);
		assert_int_equal(qcow2_info(q)->size, shapes[i].size);
		assert_int_equal(qcow2_info(q)->cluster_size, cs);
		assert_int_equal(qcow2_info(q)->version, 3);
		assert_int_equal(qcow2_info(q)->refcount_bits, 16);
		qclose(q, fd);
	}
}

/* Written by the engine; QEMU reads the same bytes and finds the image clean. */
static void test_write_into(void **state)
{
	struct qcow2_create_opts o = { .size = 10000384, .cluster_bits = 12 };
	const char *img = qpath("w.qcow2"), *raw = qpath("w.raw");
	struct err err = ERR_INIT;
	uint8_t buf[9000];
	struct qcow2 *q;
	int fd, rfd;

	(void)state;
	need_qemu_tools();
	create(img, &o);
	sh_ok("rm -f %s && truncate -s 10000384 %s", raw, raw);
	rfd = open_file(raw, true);
	q = qopen(img, true, &fd);
	for (uint64_t off = 7, i = 0; off + sizeof(buf) <= o.size; off += 654321, i++) {
		memset(buf, (int)i + 1, sizeof(buf));
		assert_int_equal(qcow2_write(q, off, buf, sizeof(buf), &err), 0);
		assert_int_equal(pwrite(rfd, buf, sizeof(buf), (off_t)off), (ssize_t)sizeof(buf));
	}
	assert_int_equal(qcow2_write(q, o.size - 1, buf, 1, &err), 0);
	assert_int_equal(pwrite(rfd, buf, 1, (off_t)o.size - 1), 1);
	assert_int_equal(qcow2_flush(q, &err), 0);
	qclose(q, fd);
	close(rfd);
	check_clean(img);
	check_same(img, raw);
}

/* An overlay the engine makes over a qemu-img base: QEMU follows it, so does the engine. */
static void test_overlay(void **state)
{
	const char *base = qpath("b.qcow2"), *top = qpath("t.qcow2"), *want = qpath("b.raw");
	struct qcow2_create_opts o = { .size = 4u << 20, .backing_file = base, .backing_fmt = "qcow2" };
	struct qcow2_layer layer = { .kind = QCOW2_LAYER_QCOW2 };
	const char *needles[] = { "\"backing-filename-format\": \"qcow2\"", NULL };
	struct err err = ERR_INIT;
	struct qcow2 *t, *b;
	int tfd, bfd;

	(void)state;
	need_qemu_tools();
	sh_ok(QEMU_IMG " create -q -f qcow2 %s 4m", base);
	sh_ok(QEMU_IO " -f qcow2 -c 'write -P 0x3c 1m 1m' %s", base);
	sh_ok(QEMU_IMG " convert -O raw %s %s", base, want);
	create(top, &o);
	check_clean(top);
	info_has(top, needles);
	check_same(top, want);
	t = qopen(top, false, &tfd);
	assert_true(qcow2_info(t)->has_backing);
	assert_string_equal(qcow2_info(t)->backing_file, base);
	assert_string_equal(qcow2_info(t)->backing_fmt, "qcow2");
	b = qopen(base, false, &bfd);
	layer.qcow2 = b;
	assert_int_equal(qcow2_set_backing(t, &layer, &err), 0);
	read_matches(t, want, 65536);
	qclose(t, tfd);
	qclose(b, bfd);
}

/* Refcounts of every width: qemu-img agrees on the width and finds the image clean after writes. */
static void test_refcount_widths(void **state)
{
	(void)state;
	need_qemu_tools();
	for (uint32_t bits = 1; bits <= 64; bits *= 2) {
		struct qcow2_create_opts o = { .size = 4u << 20, .cluster_bits = 9, .refcount_bits = bits };
		const char *img = qpath("rw.qcow2");
		struct err err = ERR_INIT;
		char want[64];
		const char *needles[] = { want, NULL };
		uint8_t buf[40000];
		struct qcow2 *q;
		int fd;

		create(img, &o);
		snprintf(want, sizeof(want), "\"refcount-bits\": %u,", bits);
		info_has(img, needles);
		check_clean(img);
		q = qopen(img, true, &fd);
		assert_int_equal(qcow2_info(q)->refcount_bits, bits);
		memset(buf, (int)bits, sizeof(buf));
		/* 2.4 MiB: past what one table cluster of 64-bit counts covers (2 MiB). */
		for (uint64_t off = 0; off + sizeof(buf) <= o.size; off += 65536)
			assert_int_equal(qcow2_write(q, off, buf, sizeof(buf), &err), 0);
		qclose(q, fd);
		check_clean(img);
	}
}

static void test_refusals(void **state)
{
	char name[1100];
	struct qcow2_create_opts o = { .size = 1u << 20, .cluster_bits = 8 };
	struct err err = ERR_INIT;
	int fd = open(qpath("r.qcow2"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(qcow2_create(fd, &o, &err), -EINVAL);
	assert_string_equal(err.msg, "qcow2: cluster_bits 8 out of range (9..21)");
	memset(name, 'n', 600);
	name[600] = '\0';
	o = (struct qcow2_create_opts){ .size = 1u << 20, .cluster_bits = 9, .backing_file = name };
	assert_int_equal(qcow2_create(fd, &o, &err), -EINVAL);
	assert_string_equal(err.msg, "qcow2: the backing file name does not fit in a 512-byte cluster");
	memset(name, 'n', 1024);
	name[1024] = '\0';
	o.cluster_bits = 16;
	assert_int_equal(qcow2_create(fd, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than 1023 bytes"));
	o = (struct qcow2_create_opts){ .size = 10000001 };
	assert_int_equal(qcow2_create(fd, &o, &err), -EINVAL);
	assert_string_equal(err.msg, "qcow2: a disk of 10000001 bytes is not a whole number of "
			    "512-byte sectors");
	o = (struct qcow2_create_opts){ .size = 1u << 20, .refcount_bits = 12 };
	assert_int_equal(qcow2_create(fd, &o, &err), -EINVAL);
	assert_string_equal(err.msg, "qcow2: refcount_bits 12 is not a power of two from 1 to 64");
	o = (struct qcow2_create_opts){ .size = 1u << 20, .backing_fmt = "raw" };
	assert_int_equal(qcow2_create(fd, &o, &err), -EINVAL);
	assert_string_equal(err.msg, "qcow2: a backing format without a backing file");
	o = (struct qcow2_create_opts){ .size = 1ull << 40, .cluster_bits = 9 };
	assert_int_equal(qcow2_create(fd, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "needs an L1 table past 32 MiB"));
	o = (struct qcow2_create_opts){ .size = 1ull << 34, .cluster_bits = 9 };
	assert_int_equal(qcow2_create(fd, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "too large for 512-byte clusters"));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_write_into),
		cmocka_unit_test(test_overlay),
		cmocka_unit_test(test_refcount_widths),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, qdir_setup, qdir_teardown);
}
