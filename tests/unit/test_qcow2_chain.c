/*
 * disk/qcow2.h, backing chains: an overlay qemu-img makes over a qcow2
 * base (and over a raw one shorter than the overlay) reports its backing
 * file's name and format, reads through to the base once the caller
 * attaches it (and refuses to invent zeros before), reads zeros past the
 * base's end, and takes writes that copy the rest of each cluster up
 * from the base; QEMU, following the chain itself, finds the result
 * equal and clean. Loops and chains too deep are refused, by file
 * (qcow2_chain_check) and by handle (qcow2_set_backing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_qcow2_fixture.h"

/* base.qcow2 (4 MiB) <- top.qcow2 (8 MiB), both with data; top.raw what QEMU reads of the chain. */
static void make_chain(void)
{
	need_qemu_tools();
	sh_ok(QEMU_IMG " create -q -f qcow2 %s 4m", qpath("base.qcow2"));
	sh_ok(QEMU_IO " -f qcow2 -c 'write -P 0x11 0 4m' %s", qpath("base.qcow2"));
	sh_ok(QEMU_IMG " create -q -f qcow2 -b %s -F qcow2 %s 8m", qpath("base.qcow2"),
	      qpath("top.qcow2"));
	sh_ok(QEMU_IO " -f qcow2 -c 'write -P 0x22 100k 10k' -c 'write -P 0x23 5m 64k' %s",
	      qpath("top.qcow2"));
	sh_ok(QEMU_IMG " convert -O raw %s %s", qpath("top.qcow2"), qpath("top.raw"));
}

static void test_overlay_reads(void **state)
{
	struct err err = ERR_INIT;
	struct qcow2_layer layer = { .kind = QCOW2_LAYER_QCOW2 };
	struct qcow2_link links[2];
	struct qcow2 *top, *base;
	struct qcow2_map m;
	uint8_t buf[4096];
	int tfd, bfd;

	(void)state;
	make_chain();
	top = qopen(qpath("top.qcow2"), false, &tfd);
	assert_true(qcow2_info(top)->has_backing);
	assert_string_equal(qcow2_info(top)->backing_file, qpath("base.qcow2"));
	assert_string_equal(qcow2_info(top)->backing_fmt, "qcow2");
	/* Named but not attached: the unallocated parts are the base's, not zeros. */
	assert_int_equal(qcow2_map(top, 0, 4096, &m, &err), 0);
	assert_int_equal(m.kind, QCOW2_MAP_BACKING);
	assert_int_equal(qcow2_read(top, 0, buf, sizeof(buf), &err), -ENXIO);
	assert_non_null(strstr(err.msg, "is not attached"));

	base = qopen(qpath("base.qcow2"), false, &bfd);
	links[0] = (struct qcow2_link){ tfd, "top.qcow2" };
	links[1] = (struct qcow2_link){ bfd, "base.qcow2" };
	assert_int_equal(qcow2_chain_check(links, 2, &err), 0);
	layer.qcow2 = base;
	assert_int_equal(qcow2_set_backing(top, &layer, &err), 0);
	read_matches(top, qpath("top.raw"), 65536);
	read_matches(top, qpath("top.raw"), 5000);
	qclose(top, tfd);
	qclose(base, bfd);
}

/* Writes on the overlay copy the rest of their clusters up from the base. */
static void test_overlay_writes(void **state)
{
	struct err err = ERR_INIT;
	struct qcow2_layer layer = { .kind = QCOW2_LAYER_QCOW2 };
	struct qcow2 *top, *base;
	uint8_t buf[3000];
	int tfd, bfd, rfd;

	(void)state;
	make_chain();
	top = qopen(qpath("top.qcow2"), true, &tfd);
	base = qopen(qpath("base.qcow2"), false, &bfd);
	layer.qcow2 = base;
	assert_int_equal(qcow2_set_backing(top, &layer, &err), 0);
	rfd = open_file(qpath("top.raw"), true);
	memset(buf, 0x99, sizeof(buf));
	for (uint64_t off = 12345; off + sizeof(buf) <= (8u << 20); off += 333333) {
		assert_int_equal(qcow2_write(top, off, buf, sizeof(buf), &err), 0);
		assert_int_equal(pwrite(rfd, buf, sizeof(buf), (off_t)off), (ssize_t)sizeof(buf));
	}
	/* Zero writes over the base's data: the zero flag hides it. */
	assert_int_equal(qcow2_zero(top, 1u << 20, 1u << 20, &err), 0);
	memset(buf, 0, sizeof(buf));
	for (uint64_t off = 1u << 20; off < (2u << 20); off += 2048)
		assert_int_equal(pwrite(rfd, buf, 2048, (off_t)off), 2048);
	assert_int_equal(qcow2_flush(top, &err), 0);
	read_matches(top, qpath("top.raw"), 65536);
	close(rfd);
	qclose(top, tfd);
	qclose(base, bfd);
	check_clean(qpath("top.qcow2"));
	check_same(qpath("top.qcow2"), qpath("top.raw"));
}

/* A raw base shorter than the overlay, not a whole number of clusters: zeros past its end. */
static void test_raw_base(void **state)
{
	const char *raw = qpath("base.raw"), *top = qpath("rtop.qcow2"), *want = qpath("rtop.raw");
	struct qcow2_layer layer = { .kind = QCOW2_LAYER_RAW };
	struct err err = ERR_INIT;
	uint8_t buf[70000];
	struct qcow2 *q;
	int fd, bfd, rfd;

	(void)state;
	need_qemu_tools();
	sh_ok("head -c 3000000 /dev/urandom > %s", raw);
	sh_ok(QEMU_IMG " create -q -f qcow2 -b %s -F raw %s 4m", raw, top);
	sh_ok(QEMU_IMG " convert -O raw %s %s", top, want);
	q = qopen(top, true, &fd);
	assert_string_equal(qcow2_info(q)->backing_fmt, "raw");
	bfd = open_file(raw, false);
	layer.fd = bfd;
	layer.size = file_len(raw);
	assert_int_equal(qcow2_set_backing(q, &layer, &err), 0);
	read_matches(q, want, 65536);
	/* Across the base's end: the cluster copied up is part base, part zeros. */
	memset(buf, 0x31, sizeof(buf));
	assert_int_equal(qcow2_write(q, 2990000, buf, 20, &err), 0);
	assert_int_equal(qcow2_write(q, 3100000, buf, sizeof(buf), &err), 0);
	rfd = open_file(want, true);
	assert_int_equal(pwrite(rfd, buf, 20, 2990000), 20);
	assert_int_equal(pwrite(rfd, buf, sizeof(buf), 3100000), (ssize_t)sizeof(buf));
	close(rfd);
	read_matches(q, want, 65536);
	qclose(q, fd);
	close(bfd);
	check_clean(top);
	check_same(top, want);
}

static void test_chain_check_refuses(void **state)
{
	struct qcow2_link links[QCOW2_CHAIN_MAX + 1];
	struct err err = ERR_INIT;
	int a, b;

	(void)state;
	need_qemu_tools();
	sh_ok(QEMU_IMG " create -q -f qcow2 %s 1m", qpath("l.qcow2"));
	sh_ok(QEMU_IMG " create -q -f qcow2 %s 1m", qpath("m.qcow2"));
	a = open_file(qpath("l.qcow2"), false);
	b = open_file(qpath("m.qcow2"), false);
	links[0] = (struct qcow2_link){ a, "top" };
	links[1] = (struct qcow2_link){ b, "middle" };
	links[2] = (struct qcow2_link){ open_file(qpath("l.qcow2"), false), "bottom" };
	assert_int_equal(qcow2_chain_check(links, 2, &err), 0);
	assert_int_equal(qcow2_chain_check(links, 3, &err), -ELOOP);
	assert_true(err.usage);
	assert_string_equal(err.msg, "qcow2: backing chain loops: 'bottom' is the same file as 'top'");
	close(links[2].fd);
	for (unsigned int i = 0; i <= QCOW2_CHAIN_MAX; i++)
		links[i] = (struct qcow2_link){ i % 2 ? b : a, NULL };
	assert_int_equal(qcow2_chain_check(links, QCOW2_CHAIN_MAX + 1, &err), -ELOOP);
	assert_string_equal(err.msg, "qcow2: a backing chain of 17 files is deeper than 16 (at layer 16)");
	close(a);
	close(b);
}

static void test_set_backing_refuses(void **state)
{
	struct qcow2_layer layer = { .kind = QCOW2_LAYER_QCOW2 };
	struct qcow2 *h[QCOW2_CHAIN_MAX + 1];
	int fd[QCOW2_CHAIN_MAX + 1];
	struct err err = ERR_INIT;

	(void)state;
	need_qemu_tools();
	sh_ok(QEMU_IMG " create -q -f qcow2 %s 1m", qpath("d.qcow2"));
	for (unsigned int i = 0; i <= QCOW2_CHAIN_MAX; i++)
		h[i] = qopen(qpath("d.qcow2"), false, &fd[i]);
	layer.qcow2 = h[0];
	assert_int_equal(qcow2_set_backing(h[0], &layer, &err), -ELOOP);
	/* Built bottom up: the 17th layer is one too many. */
	for (unsigned int i = QCOW2_CHAIN_MAX; i > 1; i--) {
		layer.qcow2 = h[i];
		assert_int_equal(qcow2_set_backing(h[i - 1], &layer, &err), 0);
	}
	layer.qcow2 = h[1];
	assert_int_equal(qcow2_set_backing(h[0], &layer, &err), -ELOOP);
	assert_string_equal(err.msg, "qcow2: backing chain deeper than 16 layers");
	/* A loop through the chain. */
	layer.qcow2 = h[1];
	assert_int_equal(qcow2_set_backing(h[QCOW2_CHAIN_MAX], &layer, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "a loop"));
	for (unsigned int i = 0; i <= QCOW2_CHAIN_MAX; i++)
		qclose(h[i], fd[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlay_reads),
		cmocka_unit_test(test_overlay_writes),
		cmocka_unit_test(test_raw_base),
		cmocka_unit_test(test_chain_check_refuses),
		cmocka_unit_test(test_set_backing_refuses),
	};

	return cmocka_run_group_tests(tests, qdir_setup, qdir_teardown);
}
