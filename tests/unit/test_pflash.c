/*
 * The CFI flash (src/devices/pflash.c) through the bus, as OVMF's
 * QemuFlashFvbServicesRuntimeDxe drives it: its probe, the CFI table
 * QEMU's x86 flashes return, byte programs, block erases and buffered
 * writes reaching the varstore's file, the write deferred to the I/O
 * thread when there is one, the code flash refusing every change, and
 * the record.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "dev_rig.h"
#include "devices/pflash.h"
#include "state_check.h"

#define BASE 0xffc00000ull
#define VARS (16 * PFLASH_SECTOR)
#define SMALL (2 * PFLASH_SECTOR)   /* a record short enough to cut at every byte */

struct fix {
	struct bus bus;
	int fd;
	char path[32];
	struct component dev;
	struct pflash *p;
	unsigned int mode_calls;
	bool mode;                 /* what set_array last said */
};

static void on_mode(void *opaque, bool array)
{
	struct fix *f = opaque;

	f->mode_calls++;
	f->mode = array;
}

static int image(char *path, uint64_t size)
{
	uint8_t *b = malloc(size);
	int fd;

	for (uint64_t i = 0; i < size; i++)
		b[i] = (uint8_t)(i * 13 + 1);
	strcpy(path, "/tmp/pflash-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(pwrite(fd, b, size, 0), (ssize_t)size);
	free(b);
	return fd;
}

static void fix_make(struct fix *f, uint64_t size, uint8_t width, bool ro, struct eventloop *loop)
{
	struct dev_env env = { .bus = &f->bus, .loop = loop };
	struct dev_resources res = { .mmio_base = BASE, .mmio_size = (uint32_t)size, .gsi = -1 };
	struct pflash_config cfg = { .size = size, .width = width, .readonly = ro,
				     .set_array = on_mode };
	struct err err = ERR_INIT;

	memset(f, 0, sizeof(*f));
	bus_init(&f->bus);
	f->fd = image(f->path, size);
	cfg.fd = f->fd;
	cfg.opaque = f;
	f->mode = true;
	assert_int_equal(pflash_create(&env, &res, &cfg, &f->dev, &err), 0);
	f->p = f->dev.obj;
}

static void fix_free(struct fix *f)
{
	dev_rig_free(&f->dev);
	bus_destroy(&f->bus);
	close(f->fd);
}

static void wr(struct fix *f, uint64_t off, uint32_t v, unsigned int w)
{
	uint8_t b[4];

	bus_data_put(b, w, v);
	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BASE + off, b, w, true), 0);
}

static uint32_t rd(struct fix *f, uint64_t off, unsigned int w)
{
	uint8_t b[4];

	assert_int_equal(bus_access(&f->bus, BUS_MMIO, BASE + off, b, w, false), 0);
	return (uint32_t)bus_data_get(b, w);
}

static uint8_t file_byte(struct fix *f, uint64_t off)
{
	uint8_t b = 0;

	assert_int_equal(pread(f->fd, &b, 1, (off_t)off), 1);
	return b;
}

static uint8_t orig(uint64_t off)
{
	return (uint8_t)(off * 13 + 1);
}

/* QEMU's CFI table for a 4 MiB flash of 4 KiB sectors, banks of 1 and of 4 bytes. */
static void test_cfi_4m(void **state)
{
	struct fix f;

	(void)state;
	for (unsigned int w = 1; w <= 4; w += 3) {
		const unsigned int s = w == 4 ? 2 : 0;       /* the query's address shift */

		fix_make(&f, 4u << 20, (uint8_t)w, true, NULL);
		wr(&f, 0x55 << s, 0x98, w);
		assert_int_equal(f.mode_calls, 1);
		assert_false(f.mode);
		assert_int_equal(rd(&f, 0x10 << s, 1), 'Q');
		assert_int_equal(rd(&f, 0x11 << s, 1), 'R');
		assert_int_equal(rd(&f, 0x12 << s, 1), 'Y');
		assert_int_equal(rd(&f, 0x13 << s, 1), 0x01);      /* Intel's command set */
		assert_int_equal(rd(&f, 0x15 << s, 1), 0x31);      /* its extended table */
		assert_int_equal(rd(&f, 0x1b << s, 1), 0x45);
		assert_int_equal(rd(&f, 0x1c << s, 1), 0x55);
		assert_int_equal(rd(&f, 0x1f << s, 1), 0x07);
		assert_int_equal(rd(&f, 0x21 << s, 1), 0x0a);
		assert_int_equal(rd(&f, 0x23 << s, 1), 0x04);
		assert_int_equal(rd(&f, 0x27 << s, 1), 22);        /* 2^22 bytes */
		assert_int_equal(rd(&f, 0x28 << s, 1), 0x02);
		assert_int_equal(rd(&f, 0x2a << s, 1), w == 1 ? 8 : 11);
		assert_int_equal(rd(&f, 0x2c << s, 1), 1);         /* one erase region */
		assert_int_equal(rd(&f, 0x2d << s, 1), 0xff);      /* 1024 blocks, less one */
		assert_int_equal(rd(&f, 0x2e << s, 1), 0x03);
		assert_int_equal(rd(&f, 0x2f << s, 1), 0x10);      /* 4 KiB in 256-byte units */
		assert_int_equal(rd(&f, 0x30 << s, 1), 0x00);
		assert_int_equal(rd(&f, 0x31 << s, 1), 'P');
		assert_int_equal(rd(&f, 0x34 << s, 1), '1');
		assert_int_equal(rd(&f, 0x35 << s, 1), '0');
		assert_int_equal(rd(&f, 0x3f << s, 1), 0x01);
		/*
		 * Past the table: zeros. A bank of 4 reaches only its first 0x40
		 * bytes, as QEMU's (the offset's low byte, over 4): 0x40 is 0 again.
		 */
		assert_int_equal(rd(&f, w == 1 ? 0x52 : 0x40 << s, 1), 0);
		/* Any block answers the query: only the offset's low byte counts. */
		assert_int_equal(rd(&f, 0x123000 + (0x10 << s), 1), 'Q');
		/* IDs: QEMU's x86 flashes have none. */
		wr(&f, 0, 0x90, 1);
		assert_int_equal(rd(&f, 0, 1), 0);
		assert_int_equal(rd(&f, 1 << s, 1), 0);
		/* Status: ready; a 4-byte read gives it twice, as QEMU's. */
		wr(&f, 0, 0x70, 1);
		assert_int_equal(rd(&f, 0, 1), 0x80);
		assert_int_equal(rd(&f, 0, 4), 0x00800080);
		wr(&f, 0, 0xff, 1);
		assert_true(f.mode);
		assert_true(pflash_in_array_mode(f.p));
		assert_int_equal(rd(&f, 0x1234, 1), orig(0x1234));
		fix_free(&f);
	}
	/* The varstore's size is no power of two: QEMU's ctz, as OVMF sees it. */
	fix_make(&f, 540672, 1, false, NULL);
	wr(&f, 0, 0x98, 1);
	assert_int_equal(rd(&f, 0x27, 1), 14);
	assert_int_equal(rd(&f, 0x2d, 1), 131);
	fix_free(&f);
}

/* OVMF's QemuFlashDetected, step by step: it must decide "FD behaves as FLASH". */
static void test_ovmf_probe(void **state)
{
	struct fix f;
	uint8_t original, probe;

	(void)state;
	fix_make(&f, VARS, 1, false, NULL);
	original = (uint8_t)rd(&f, 0, 1);
	wr(&f, 0, 0x50, 1);                         /* CLEAR_STATUS_CMD */
	probe = (uint8_t)rd(&f, 0, 1);
	assert_int_equal(probe, original);           /* not RAM: the byte did not change */
	wr(&f, 0, 0x70, 1);                          /* READ_STATUS_CMD */
	probe = (uint8_t)rd(&f, 0, 1);
	assert_int_equal(probe, 0x00);               /* CLEARED_ARRAY_STATUS: a flash */
	wr(&f, 0, 0xff, 1);                          /* READ_ARRAY_CMD */
	assert_int_equal(rd(&f, 0, 1), original);
	assert_true(f.mode);
	fix_free(&f);
}

static void test_program_erase_buffer(void **state)
{
	struct fix f;
	const uint64_t at = 5 * PFLASH_SECTOR + 100;

	(void)state;
	fix_make(&f, VARS, 1, false, NULL);
	/* OVMF's QemuFlashWrite: WRITE_BYTE_CMD and the byte, for each, then READ_ARRAY_CMD. */
	for (unsigned int i = 0; i < 3; i++) {
		wr(&f, at + i, 0x10, 1);
		wr(&f, at + i, "abc"[i], 1);
		assert_int_equal(rd(&f, at, 1), 0x80);  /* reads give the status meanwhile */
	}
	wr(&f, at + 2, 0xff, 1);
	assert_int_equal(rd(&f, at, 1), 'a');
	assert_int_equal(rd(&f, at + 2, 1), 'c');
	assert_int_equal(file_byte(&f, at + 1), 'b');
	assert_int_equal(file_byte(&f, at + 3), orig(at + 3));
	/* Program 0x40, 32 bits. */
	wr(&f, 0x10, 0x40, 1);
	wr(&f, 0x10, 0x11223344, 4);
	assert_int_equal(file_byte(&f, 0x13), 0x11);
	wr(&f, 0, 0xff, 1);

	/* OVMF's QemuFlashEraseBlock: the sector's bytes all 0xff, the next one's kept. */
	wr(&f, 5 * PFLASH_SECTOR + 7, 0x20, 1);
	assert_int_equal(file_byte(&f, 5 * PFLASH_SECTOR), orig(5 * PFLASH_SECTOR));
	wr(&f, 5 * PFLASH_SECTOR + 7, 0xd0, 1);
	assert_int_equal(rd(&f, 0, 1), 0x80);
	wr(&f, 0, 0xff, 1);
	for (unsigned int i = 0; i < PFLASH_SECTOR; i += 97) {
		assert_int_equal(rd(&f, 5 * PFLASH_SECTOR + i, 1), 0xff);
		assert_int_equal(file_byte(&f, 5 * PFLASH_SECTOR + i), 0xff);
	}
	assert_int_equal(file_byte(&f, 6 * PFLASH_SECTOR), orig(6 * PFLASH_SECTOR));
	assert_int_equal(file_byte(&f, 5 * PFLASH_SECTOR - 1), orig(5 * PFLASH_SECTOR - 1));

	/* Write to buffer: 0xe8, the count less one, the data, 0xd0. Nothing before the confirm. */
	wr(&f, 0x2000, 0xe8, 1);
	assert_int_equal(rd(&f, 0x2000, 1), 0x80);   /* the buffer is free */
	wr(&f, 0x2000, 3, 1);                        /* four bytes */
	for (unsigned int i = 0; i < 4; i++)
		wr(&f, 0x2010 + i, 0xa0 + i, 1);
	assert_int_equal(file_byte(&f, 0x2010), orig(0x2010));
	wr(&f, 0x2000, 0xd0, 1);
	assert_int_equal(rd(&f, 0x2000, 1), 0x80);
	for (unsigned int i = 0; i < 4; i++)
		assert_int_equal(file_byte(&f, 0x2010 + i), 0xa0 + i);
	assert_int_equal(file_byte(&f, 0x2014), orig(0x2014));
	assert_int_equal(file_byte(&f, 0x200f), orig(0x200f));
	wr(&f, 0, 0xff, 1);
	assert_int_equal(rd(&f, 0x2011, 1), 0xa1);
	/* An aborted buffer: not confirmed, nothing written, the sequence error shown. */
	wr(&f, 0x3000, 0xe8, 1);
	wr(&f, 0x3000, 0, 1);
	wr(&f, 0x3000, 0x55, 1);
	wr(&f, 0x3000, 0x77, 1);                     /* not 0xd0 */
	assert_true(f.mode);
	assert_int_equal(rd(&f, 0x3000, 1), orig(0x3000));
	wr(&f, 0, 0x70, 1);
	assert_int_equal(rd(&f, 0, 1), 0xb0);
	wr(&f, 0, 0x50, 1);                          /* clear status: back to array */
	wr(&f, 0, 0x70, 1);
	assert_int_equal(rd(&f, 0, 1), 0);
	wr(&f, 0, 0x00, 1);                          /* QEMU's read array too */
	assert_true(f.mode);
	/* Array mode was left and taken up again in order, only on changes. */
	assert_true(f.mode_calls >= 2 && f.mode_calls % 2 == 0);
	fix_free(&f);
}

/* The code flash: every erase and program refused, its status saying so, no byte changed. */
static void test_code_refuses(void **state)
{
	struct fix f;

	(void)state;
	fix_make(&f, VARS, 1, true, NULL);
	wr(&f, 0x100, 0x10, 1);
	wr(&f, 0x100, 0x00, 1);
	assert_int_equal(rd(&f, 0, 1), 0x90);        /* ready, program error */
	wr(&f, 0, 0x50, 1);
	wr(&f, 0x1000, 0x20, 1);
	wr(&f, 0x1000, 0xd0, 1);
	assert_int_equal(rd(&f, 0, 1), 0xa0);        /* ready, erase error */
	wr(&f, 0, 0x50, 1);
	wr(&f, 0x2000, 0xe8, 1);
	wr(&f, 0x2000, 0, 1);
	wr(&f, 0x2000, 0x12, 1);
	wr(&f, 0x2000, 0xd0, 1);
	assert_int_equal(rd(&f, 0, 1), 0x90);
	wr(&f, 0, 0xff, 1);
	for (uint64_t i = 0; i < VARS; i += 61)
		assert_int_equal(rd(&f, i, 1), orig(i));
	assert_int_equal(rd(&f, 0x100, 1), orig(0x100));
	assert_int_equal(rd(&f, 0x1000, 1), orig(0x1000));
	assert_int_equal(file_byte(&f, 0x1000), orig(0x1000));
	fix_free(&f);
}

struct loop_ctx {
	struct eventloop *loop;
	struct fix *f;
	bool seen;
};

static void stop_loop(void *arg)
{
	eventloop_stop(arg);
}

/* The vCPU's side: program, then wait for the I/O thread to write it. */
static void *vcpu_main(void *arg)
{
	struct loop_ctx *c = arg;
	struct timespec ts = { 0, 1000000 };

	wr(c->f, 0x42, 0x10, 1);
	wr(c->f, 0x42, 0x5a, 1);
	for (int i = 0; i < 5000 && !c->seen; i++) {
		c->seen = file_byte(c->f, 0x42) == 0x5a;
		nanosleep(&ts, NULL);
	}
	if (eventloop_call_sync(c->loop, stop_loop, c->loop))
		c->seen = false;
	return NULL;
}

static void test_write_on_io_thread(void **state)
{
	struct eventloop loop;
	struct fix f;
	struct loop_ctx c = { &loop, &f, false };
	pthread_t t;

	(void)state;
	assert_int_equal(eventloop_init(&loop), 0);
	fix_make(&f, VARS, 1, false, &loop);
	/* No loop running: the write waits for it (or for pause). */
	wr(&f, 0x40, 0x10, 1);
	wr(&f, 0x40, 0x33, 1);
	assert_int_equal(file_byte(&f, 0x40), orig(0x40));
	assert_int_equal(f.dev.ops->pause(f.dev.obj), 0);
	assert_int_equal(file_byte(&f, 0x40), 0x33);
	/* With the loop running, its thread writes the next one. */
	eventloop_claim(&loop);
	assert_int_equal(pthread_create(&t, NULL, vcpu_main, &c), 0);
	assert_int_equal(eventloop_run(&loop), 0);
	pthread_join(t, NULL);
	assert_true(c.seen);
	fix_free(&f);
	eventloop_destroy(&loop);
}

/* Saved in the middle of a buffered write, restored into a flash over another file. */
static void test_state_round_trip(void **state)
{
	struct fix f, g;
	uint8_t *buf, *again;
	size_t len, n2;

	(void)state;
	fix_make(&f, SMALL, 1, false, NULL);
	wr(&f, 0x100, 0x10, 1);
	wr(&f, 0x100, 0x99, 1);
	wr(&f, 0x800, 0xe8, 1);
	wr(&f, 0x800, 1, 1);
	wr(&f, 0x801, 0x61, 1);
	buf = state_save(&f.dev, &len);
	assert_int_equal(len, 8 + 3 + 4 + 8 + PFLASH_WB_MAX + 8 + 1 + SMALL);

	fix_make(&g, SMALL, 1, false, NULL);
	state_check_refusals(&g.dev, buf, len);
	assert_int_equal(state_restore(&g.dev, buf, len), 0);
	assert_false(g.mode);                        /* mid-command: not array mode */
	again = state_save(&g.dev, &n2);
	assert_int_equal(n2, len);
	assert_memory_equal(again, buf, len);
	/* The restored VM's file is the record's. */
	assert_int_equal(file_byte(&g, 0x100), 0x99);
	wr(&g, 0x802, 0x62, 1);
	wr(&g, 0x800, 0xd0, 1);
	wr(&g, 0, 0xff, 1);
	assert_int_equal(rd(&g, 0x801, 1), 0x61);
	assert_int_equal(rd(&g, 0x802, 1), 0x62);
	assert_int_equal(file_byte(&g, 0x802), 0x62);
	free(again);
	fix_free(&g);

	/* A code flash, or another size, takes none of it. */
	fix_make(&g, SMALL, 1, true, NULL);
	assert_int_equal(state_check(&g.dev, buf, len), -EINVAL);
	fix_free(&g);
	fix_make(&g, 2 * SMALL, 1, false, NULL);
	assert_int_equal(state_check(&g.dev, buf, len), -EINVAL);
	fix_free(&g);
	free(buf);
	fix_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfi_4m),
		cmocka_unit_test(test_ovmf_probe),
		cmocka_unit_test(test_program_erase_buffer),
		cmocka_unit_test(test_code_refuses),
		cmocka_unit_test(test_write_on_io_thread),
		cmocka_unit_test(test_state_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
