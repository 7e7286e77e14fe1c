/*
 * The CFI flash (src/devices/pflash.c) against a guest that means harm:
 * buffered writes aimed outside their block or counting past the buffer,
 * every command at every width and at the array's last bytes, a long
 * random command stream (the code flash's bytes never change; the
 * varstore's file always matches its array once flushed), and records
 * no save writes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/bus.h"
#include "dev_rig.h"
#include "devices/pflash.h"
#include "state_check.h"

#define BASE 0xffc00000ull
#define SIZE (4 * PFLASH_SECTOR)

struct fix {
	struct bus bus;
	int fd;
	struct component dev;
	struct pflash *p;
};

static void fix_make(struct fix *f, bool ro, uint8_t width)
{
	struct dev_env env = { .bus = &f->bus };
	struct dev_resources res = { .mmio_base = BASE, .mmio_size = SIZE, .gsi = -1 };
	struct pflash_config cfg = { .size = SIZE, .width = width, .readonly = ro };
	struct err err = ERR_INIT;
	char path[] = "/tmp/pflash-h-XXXXXX";
	uint8_t img[SIZE];

	memset(f, 0, sizeof(*f));
	for (unsigned int i = 0; i < SIZE; i++)
		img[i] = (uint8_t)(i ^ (i >> 8));
	bus_init(&f->bus);
	f->fd = mkstemp(path);
	assert_true(f->fd >= 0);
	unlink(path);
	assert_int_equal(pwrite(f->fd, img, SIZE, 0), SIZE);
	cfg.fd = f->fd;
	assert_int_equal(pflash_create(&env, &res, &cfg, &f->dev, &err), 0);
	f->p = f->dev.obj;
}

static void fix_free(struct fix *f)
{
	dev_rig_free(&f->dev);
	bus_destroy(&f->bus);
	close(f->fd);
}

static int wr(struct fix *f, uint64_t off, uint64_t v, unsigned int w)
{
	uint8_t b[8];

	bus_data_put(b, w, v);
	return bus_access(&f->bus, BUS_MMIO, BASE + off, b, w, true);
}

static uint64_t rd(struct fix *f, uint64_t off, unsigned int w)
{
	uint8_t b[8] = { 0 };

	(void)bus_access(&f->bus, BUS_MMIO, BASE + off, b, w, false);
	return bus_data_get(b, w);
}

static uint8_t status(struct fix *f)
{
	uint8_t s;

	wr(f, 0, 0x70, 1);
	s = (uint8_t)rd(f, 0, 1);
	wr(f, 0, 0x50, 1);
	return s;
}

static void test_buffer_abuse(void **state)
{
	struct fix f;

	(void)state;
	fix_make(&f, false, 1);
	/* A count wider than a bank of 1: its low byte, 0xff, the whole 256-byte buffer. */
	wr(&f, 0x100, 0xe8, 1);
	wr(&f, 0x100, 0x1ff, 2);
	for (unsigned int i = 0; i < 256; i++)
		wr(&f, 0x100 + i, 0xee, 1);
	wr(&f, 0x100, 0xd0, 1);
	assert_int_equal(status(&f), 0x80);
	assert_int_equal(rd(&f, 0x1ff, 1), 0xee);
	/* Data outside the block the buffer was opened for. */
	wr(&f, 0x200, 0xe8, 1);
	wr(&f, 0x200, 1, 1);
	wr(&f, 0x300, 0x11, 1);
	assert_int_equal(status(&f), 0xb0);
	assert_int_equal(rd(&f, 0x300, 1), (0x300 ^ 3) & 0xff);
	wr(&f, 0x200, 0xe8, 1);
	wr(&f, 0x200, 1, 1);
	wr(&f, 0x1ff, 0x11, 1);                      /* just before it */
	assert_int_equal(status(&f), 0xb0);
	wr(&f, 0x200, 0xe8, 1);
	wr(&f, 0x200, 1, 1);
	wr(&f, 0x2fe, 0x11223344, 4);                /* straddling its end */
	assert_int_equal(status(&f), 0xb0);
	assert_int_equal(rd(&f, 0x2fe, 1), (0x2fe ^ 2) & 0xff);
	fix_free(&f);

	/* A bank of 4: counts in 4-byte words, a 2 KiB buffer. */
	fix_make(&f, false, 4);
	wr(&f, 0x800, 0xe8, 4);
	wr(&f, 0x800, 512, 4);                       /* 513 words: too many */
	assert_int_equal(status(&f), 0xb0);
	wr(&f, 0x800, 0xe8, 4);
	wr(&f, 0x800, 511, 4);
	for (unsigned int i = 0; i < 512; i++)
		wr(&f, 0x800 + 4 * i, 0xcafe0000 + i, 4);
	wr(&f, 0x800, 0xd0, 4);
	wr(&f, 0, 0xff, 4);
	assert_int_equal(rd(&f, 0x800 + 4 * 300, 4), 0xcafe0000 + 300);
	fix_free(&f);
}

/* Every command and cycle at every width, at the array's last bytes and first. */
static void test_edges(void **state)
{
	static const uint8_t cmds[] = { 0x00, 0x10, 0x20, 0x40, 0x50, 0x60, 0x70, 0x90,
					0x98, 0xb0, 0xd0, 0xe8, 0xf0, 0xff, 0x01, 0x2f };
	const uint64_t offs[] = { 0, 1, SIZE - 8, SIZE - 4, SIZE - 2, SIZE - 1 };
	struct fix f;

	(void)state;
	fix_make(&f, false, 1);
	for (unsigned int a = 0; a < sizeof(cmds); a++)
		for (unsigned int b = 0; b < sizeof(cmds); b++)
			for (unsigned int o = 0; o < sizeof(offs) / sizeof(offs[0]); o++)
				for (unsigned int w = 1; w <= 8; w *= 2) {
					bool fits = offs[o] + w <= SIZE;

					assert_int_equal(wr(&f, offs[o], cmds[a], w), fits ? 0 : -ENOENT);
					wr(&f, offs[o], cmds[b] | 0xabcdef00ull, w);
					(void)rd(&f, offs[o], w);
					wr(&f, offs[o], 0xff, 1);
				}
	/* Past the device: nobody's, whatever the state. */
	assert_int_equal(wr(&f, SIZE, 0x10, 1), -ENOENT);
	assert_int_equal(pflash_flush(f.p), 0);
	fix_free(&f);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A long random stream: the code flash never changes; the varstore's file is its array. */
static void test_random_stream(void **state)
{
	static const uint8_t cmds[] = { 0x10, 0x20, 0x40, 0x50, 0x60, 0x70, 0x90, 0x98, 0xd0,
					0xe8, 0xff, 0x00, 0x01 };
	struct fix code, vars;
	uint8_t before[SIZE], arr[SIZE], file[SIZE];

	(void)state;
	fix_make(&code, true, 1);
	fix_make(&vars, false, 1);
	memcpy(before, pflash_array(code.p), SIZE);
	for (unsigned int i = 0; i < 200000; i++) {
		uint64_t r = next();
		unsigned int w = 1u << (r & 3);
		uint64_t off = (r >> 8) % SIZE;
		uint64_t v = r >> 40 & 1 ? cmds[(r >> 32) % sizeof(cmds)] : r >> 16;

		off &= ~(uint64_t)(w - 1);
		if (r >> 41 & 1) {
			wr(&code, off, v, w);
			wr(&vars, off, v, w);
		} else {
			(void)rd(&code, off, w);
			(void)rd(&vars, off, w);
		}
	}
	assert_memory_equal(pflash_array(code.p), before, SIZE);
	memcpy(arr, pflash_array(vars.p), SIZE);
	assert_int_equal(pread(vars.fd, file, SIZE, 0), SIZE);
	assert_memory_equal(arr, file, SIZE);
	assert_memory_not_equal(arr, before, SIZE);
	fix_free(&code);
	fix_free(&vars);
}

/* Records no save writes: states the machine never reaches, a buffer outside the array. */
static void test_hostile_records(void **state)
{
	struct fix f;
	uint8_t *buf, *bad, *after;
	size_t len, n;
	const size_t w = 8, c = 9, cnt = 11, base = 15;

	(void)state;
	fix_make(&f, false, 1);
	buf = state_save(&f.dev, &len);
	bad = malloc(len);
	const struct { size_t at; uint64_t v; unsigned int n; } cases[] = {
		{ w, 4, 1 }, { w, 2, 1 },                     /* wcycle 4; wcycle 2 in array mode */
		{ c, 0x33, 1 }, { c, 0xff, 1 },               /* no such command */
		{ cnt, 256, 4 },                              /* a count past the buffer */
		{ base, 0x80, 8 }, { base, SIZE, 8 },         /* a buffer off its line, past the end */
		{ 15 + 8 + PFLASH_WB_MAX, SIZE * 2, 8 },      /* another size */
		{ 15 + 8 + PFLASH_WB_MAX + 8, 0, 1 },         /* a code flash's */
		{ 15 + 8 + PFLASH_WB_MAX + 8, 2, 1 },
	};

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, buf, len);
		for (unsigned int k = 0; k < cases[i].n; k++)
			bad[cases[i].at + k] = (uint8_t)(cases[i].v >> (8 * k));
		assert_int_equal(state_check(&f.dev, bad, len), -EINVAL);
	}
	after = state_save(&f.dev, &n);
	assert_int_equal(n, len);
	assert_memory_equal(after, buf, len);
	free(after);
	free(bad);
	free(buf);
	fix_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buffer_abuse),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_random_stream),
		cmocka_unit_test(test_hostile_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
