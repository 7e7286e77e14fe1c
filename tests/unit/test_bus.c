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
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"

/* A device that records its last access and answers reads with a pattern. */
struct rec_dev {
	int id;
	unsigned int reads, writes;
	uint64_t last_off;
	unsigned int last_len;
	uint8_t last_data[8];
};

static void rec_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct rec_dev *d = opaque;

	d->reads++;
	d->last_off = offset;
	d->last_len = len;
	for (unsigned int i = 0; i < len; i++)
		data[i] = (uint8_t)(d->id + offset + i);
}

static void rec_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct rec_dev *d = opaque;

	d->writes++;
	d->last_off = offset;
	d->last_len = len;
	memcpy(d->last_data, data, len > 8 ? 8 : len);
}

static const struct bus_region_ops rec_ops = { rec_read, rec_write };
static const struct bus_region_ops noop_ops = { NULL, NULL };

/* Runs first so the process-wide rate limiter still has its full burst. */
static void test_unclaimed_log_rate_limited(void **state)
{
	struct bus bus;
	int pipefd[2], saved;
	uint8_t data[4];
	char buf[1 << 16];
	size_t total = 0;
	unsigned int lines = 0;
	ssize_t n;

	(void)state;
	bus_init(&bus);
	assert_int_equal(pipe(pipefd), 0);
	/* If the limiter is broken, fill the pipe and fail rather than hang. */
	assert_int_equal(fcntl(pipefd[1], F_SETFL, O_NONBLOCK), 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(pipefd[1], STDERR_FILENO), STDERR_FILENO);
	close(pipefd[1]);

	for (int i = 0; i < 10000; i++)
		bus_access(&bus, BUS_PIO, 0x80, data, 1, (i & 1) != 0);

	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	/* Write end is closed everywhere now: read to EOF. */
	while ((n = read(pipefd[0], buf + total, sizeof(buf) - 1 - total)) > 0)
		total += (size_t)n;
	close(pipefd[0]);
	buf[total] = '\0';
	for (size_t i = 0; i < total; i++)
		if (buf[i] == '\n')
			lines++;

	assert_int_equal(bus_unclaimed_count(&bus, BUS_PIO), 10000);
	assert_true(lines >= 1);
	assert_true(lines <= 12);
	assert_non_null(strstr(buf, "0x80"));
	bus_destroy(&bus);
}

static void test_register_errors(void **state)
{
	struct bus bus;
	struct rec_dev d = { .id = 1 };

	(void)state;
	bus_init(&bus);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x3f8, 8, &rec_ops, &d, "a"), 0);
	/* Every kind of overlap. */
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x3f8, 8, &rec_ops, &d, "same"), -EEXIST);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x3f0, 9, &rec_ops, &d, "left"), -EEXIST);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x3ff, 4, &rec_ops, &d, "right"), -EEXIST);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x3fa, 1, &rec_ops, &d, "inside"), -EEXIST);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x300, 0x200, &rec_ops, &d, "around"),
			 -EEXIST);
	/* Adjacent on both sides is fine. */
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x3f0, 8, &rec_ops, &d, "below"), 0);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x400, 8, &rec_ops, &d, "above"), 0);
	/* Same range in the other space does not conflict. */
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0x3f8, 8, &rec_ops, &d, "mmio"), 0);

	/* Empty, wrapping, bad space, no ops. */
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0x1000, 0, &rec_ops, &d, "empty"), -EINVAL);
	assert_int_equal(bus_register(&bus, BUS_MMIO, UINT64_MAX - 0xf, 0x20, &rec_ops, &d, "wrap"),
			 -EINVAL);
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0x10, UINT64_MAX, &rec_ops, &d, "wrap2"),
			 -EINVAL);
	assert_int_equal(bus_register(&bus, (enum bus_space)2, 0x1000, 1, &rec_ops, &d, "space"),
			 -EINVAL);
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0x1000, 1, NULL, &d, "noops"), -EINVAL);

	/* Ports stop at 0xffff. */
	assert_int_equal(bus_register(&bus, BUS_PIO, 0xfffc, 4, &rec_ops, &d, "top"), 0);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0xfff0, 0x11, &rec_ops, &d, "past"),
			 -EINVAL);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x10000, 1, &rec_ops, &d, "beyond"),
			 -EINVAL);
	/* ...but MMIO does not. */
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0xfee00000, 0x1000, &rec_ops, &d, "lapic"),
			 0);

	bus_seal(&bus);
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0x100000, 0x10, &rec_ops, &d, "late"),
			 -EBUSY);
	/* Sealed bus still dispatches. */
	{
		uint8_t v[1];
		assert_int_equal(bus_access(&bus, BUS_PIO, 0x3f9, v, 1, false), 0);
		assert_int_equal(d.last_off, 1);
	}
	bus_destroy(&bus);
}

#define NDEV 100

/* Many regions registered out of order: each address reaches its own device. */
static void test_sorted_dispatch_many(void **state)
{
	struct bus bus;
	static struct rec_dev devs[NDEV];
	uint8_t data[8];

	(void)state;
	bus_init(&bus);
	memset(devs, 0, sizeof(devs));
	/* A permutation of 0..NDEV-1 (37 is coprime with 100). */
	for (int k = 0; k < NDEV; k++) {
		int i = (k * 37 + 11) % NDEV;
		devs[i].id = i;
		/* Regions of 0x10 bytes every 0x100, with gaps in between. */
		assert_int_equal(bus_register(&bus, BUS_MMIO, 0x10000000ull + (uint64_t)i * 0x100,
					      0x10, &rec_ops, &devs[i], "dev"),
				 0);
	}
	assert_int_equal(bus.count[BUS_MMIO], NDEV);
	for (size_t i = 1; i < bus.count[BUS_MMIO]; i++)
		assert_true(bus.regions[BUS_MMIO][i - 1].base < bus.regions[BUS_MMIO][i].base);

	for (int i = 0; i < NDEV; i++) {
		uint64_t base = 0x10000000ull + (uint64_t)i * 0x100;

		memset(data, 0, sizeof(data));
		assert_int_equal(bus_access(&bus, BUS_MMIO, base + 4, data, 4, false), 0);
		assert_int_equal(devs[i].reads, 1);
		assert_int_equal(devs[i].last_off, 4);
		assert_int_equal(devs[i].last_len, 4);
		for (int b = 0; b < 4; b++)
			assert_int_equal(data[b], (uint8_t)(i + 4 + b));

		/* Last byte is in, the gap right after is not. */
		assert_int_equal(bus_access(&bus, BUS_MMIO, base + 0xf, data, 1, false), 0);
		assert_int_equal(devs[i].last_off, 0xf);
		assert_int_equal(bus_access(&bus, BUS_MMIO, base + 0x10, data, 1, false), -ENOENT);
		assert_int_equal(bus_access(&bus, BUS_MMIO, base - 1, data, 1, false), -ENOENT);
		assert_int_equal(devs[i].reads, 2);
	}
	/* Before the first and after the last. */
	assert_int_equal(bus_access(&bus, BUS_MMIO, 0, data, 1, false), -ENOENT);
	assert_int_equal(bus_access(&bus, BUS_MMIO, UINT64_MAX - 7, data, 8, false), -ENOENT);
	bus_destroy(&bus);
}

static void test_write_offset_and_data(void **state)
{
	struct bus bus;
	struct rec_dev a = { .id = 0x10 }, b = { .id = 0x20 };
	uint8_t w[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	(void)state;
	bus_init(&bus);
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0xd0000000, 0x1000, &rec_ops, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0xd0001000, 0x1000, &rec_ops, &b, "b"), 0);
	assert_int_equal(bus_access(&bus, BUS_MMIO, 0xd0001ff8, w, 8, true), 0);
	assert_int_equal(b.writes, 1);
	assert_int_equal(a.writes, 0);
	assert_int_equal(b.last_off, 0xff8);
	assert_int_equal(b.last_len, 8);
	assert_memory_equal(b.last_data, w, 8);
	assert_int_equal(bus_access(&bus, BUS_MMIO, 0xd0000000, w, 2, true), 0);
	assert_int_equal(a.writes, 1);
	assert_int_equal(a.last_off, 0);
	assert_int_equal(a.last_len, 2);
	assert_int_equal(bus_unclaimed_count(&bus, BUS_MMIO), 0);
	bus_destroy(&bus);
}

static void test_unclaimed_fill_and_count(void **state)
{
	struct bus bus;
	struct rec_dev d = { .id = 0x40 };
	uint8_t data[8];

	(void)state;
	bus_init(&bus);
	/* Empty bus. */
	memset(data, 0x5a, sizeof(data));
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x70, data, 4, false), -ENOENT);
	for (int i = 0; i < 4; i++)
		assert_int_equal(data[i], 0xff);
	assert_int_equal(data[4], 0x5a); /* only len bytes */
	assert_int_equal(bus_unclaimed_count(&bus, BUS_PIO), 1);
	assert_int_equal(bus_unclaimed_count(&bus, BUS_MMIO), 0);

	assert_int_equal(bus_register(&bus, BUS_PIO, 0x60, 4, &rec_ops, &d, "d"), 0);
	/* Straddling the end: [0x62, 0x66) crosses 0x64. */
	memset(data, 0, sizeof(data));
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x62, data, 4, false), -ENOENT);
	assert_int_equal(d.reads, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(data[i], 0xff);
	/* Exactly to the end is fine. */
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x62, data, 2, false), 0);
	assert_int_equal(d.reads, 1);
	assert_int_equal(d.last_off, 2);
	/* Straddling write: the device sees nothing, it is counted. */
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x63, data, 2, true), -ENOENT);
	assert_int_equal(d.writes, 0);
	/* Starting just below the region: unclaimed even though it ends inside. */
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x5f, data, 2, true), -ENOENT);
	assert_int_equal(d.writes, 0);
	/* Unclaimed write does not touch the caller's data. */
	memset(data, 0x33, sizeof(data));
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x1234, data, 4, true), -ENOENT);
	assert_int_equal(data[0], 0x33);

	assert_int_equal(bus_unclaimed_count(&bus, BUS_PIO), 5);
	assert_int_equal(bus_access(&bus, BUS_MMIO, 0x60, data, 1, false), -ENOENT);
	assert_int_equal(bus_unclaimed_count(&bus, BUS_MMIO), 1);
	assert_int_equal(bus_unclaimed_count(&bus, BUS_PIO), 5);
	bus_destroy(&bus);
}

/* A device without a read handler reads as all ones but still claims. */
static void test_missing_handlers(void **state)
{
	struct bus bus;
	uint8_t data[4] = { 0 };

	(void)state;
	bus_init(&bus);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x80, 1, &noop_ops, NULL, "post"), 0);
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x80, data, 1, false), 0);
	assert_int_equal(data[0], 0xff);
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x80, data, 1, true), 0);
	assert_int_equal(bus_unclaimed_count(&bus, BUS_PIO), 0);
	bus_destroy(&bus);
}

/* --exit-stats' counts: per region, reads and writes; unclaimed and straddling ones not. */
static void test_region_hits(void **state)
{
	struct rec_dev a = { .id = 1 }, b = { .id = 2 };
	const struct bus_region *r;
	uint8_t data[4] = { 0 };
	struct bus bus;

	(void)state;
	bus_init(&bus);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x3f8, 8, &rec_ops, &b, "serial"), 0);
	assert_int_equal(bus_register(&bus, BUS_PIO, 0x70, 2, &rec_ops, &a, "rtc"), 0);
	assert_int_equal(bus_register(&bus, BUS_MMIO, 0x1000, 0x100, &noop_ops, NULL, "w"), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(bus_access(&bus, BUS_PIO, 0x3f8 + i, data, 1, true), 0);
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x3fd, data, 1, false), 0);
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x71, data, 1, false), 0);
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x3fe, data, 4, false), -ENOENT);
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x80, data, 1, true), -ENOENT);
	/* A region without handlers still counts what it claims. */
	assert_int_equal(bus_access(&bus, BUS_MMIO, 0x1010, data, 4, true), 0);

	/* In address order: rtc, then serial. */
	r = bus_region_at(&bus, BUS_PIO, 0);
	assert_non_null(r);
	assert_string_equal(r->name, "rtc");
	assert_int_equal(r->hits[0], 1);
	assert_int_equal(r->hits[1], 0);
	r = bus_region_at(&bus, BUS_PIO, 1);
	assert_non_null(r);
	assert_string_equal(r->name, "serial");
	assert_int_equal(r->hits[0], 1);
	assert_int_equal(r->hits[1], 3);
	assert_null(bus_region_at(&bus, BUS_PIO, 2));
	r = bus_region_at(&bus, BUS_MMIO, 0);
	assert_non_null(r);
	assert_int_equal(r->hits[1], 1);
	assert_null(bus_region_at(&bus, (enum bus_space)7, 0));
	assert_int_equal(bus_unclaimed_count(&bus, BUS_PIO), 2);
	bus_destroy(&bus);
}

static void test_data_helpers(void **state)
{
	uint8_t b[8];

	(void)state;
	bus_data_put(b, 8, 0x0807060504030201ull);
	for (int i = 0; i < 8; i++)
		assert_int_equal(b[i], i + 1);
	assert_int_equal(bus_data_get(b, 2), 0x0201);
	assert_int_equal(bus_data_get(b, 4), 0x04030201);
	assert_int_equal(bus_data_get(b, 8), 0x0807060504030201ull);
	memset(b, 0xee, sizeof(b));
	bus_data_put(b, 2, 0xabcd1234);
	assert_int_equal(b[0], 0x34);
	assert_int_equal(b[1], 0x12);
	assert_int_equal(b[2], 0xee);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unclaimed_log_rate_limited),
		cmocka_unit_test(test_register_errors),
		cmocka_unit_test(test_sorted_dispatch_many),
		cmocka_unit_test(test_write_offset_and_data),
		cmocka_unit_test(test_unclaimed_fill_and_count),
		cmocka_unit_test(test_missing_handlers),
		cmocka_unit_test(test_region_hits),
		cmocka_unit_test(test_data_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
