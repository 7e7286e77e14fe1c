/*
 * libFuzzer target for the CFI flash (src/devices/pflash.c,
 * pflash_state.c) through bus_access: command sequences of any offset,
 * width and value to a read-only code flash and a written-through
 * varstore, side by side on one bus (32 KiB each, banks of 1 byte, or of
 * 4 when the input's first byte is odd), and their records saved,
 * restored and corrupted. Both are made afresh per input over memfds.
 *
 * After the mode byte, records, each an opcode byte and operands:
 *   0  write: u8 target (bit 0: the varstore), u16 offset, u8 width, u32 value
 *   1  read: u8 target, u16 offset, u8 width
 *   2  a command pair at one offset: u8 target, u16 offset, u8 command, u32 value
 *   3  a buffered write: u8 target, u16 offset, u8 count, then count+1
 *      u32 words, then u8 confirm
 *   4  pause (the varstore's file written)
 *   5  the record of u8 target: saved and restored into itself, then a
 *      copy with u8 n byte flips (u16 at, u8 xor each) checked, and if
 *      taken applied and saved again to the same bytes
 *
 * Checked besides ASan/UBSan: the code flash's bytes never change, the
 * varstore's file equals its array once paused, and every record saves
 * and restores.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "core/bus.h"
#include "devices/pflash.h"
#include "fz.h"
#include "util/bytes.h"
#include "util/log.h"

#define SIZE (8u * PFLASH_SECTOR)
#define BASE 0xffc00000ull
#define STEPS 512

struct target {
	int fd;
	struct component c;
	struct pflash *p;
	uint64_t base;
};

static uint8_t image[SIZE];

static void make(struct target *t, struct bus *bus, uint64_t base, bool ro, uint8_t width)
{
	struct dev_env env = { .bus = bus };
	struct dev_resources res = { .mmio_base = base, .mmio_size = SIZE, .gsi = -1 };
	struct pflash_config cfg = { .size = SIZE, .width = width, .readonly = ro };
	struct err err = ERR_INIT;

	if (t->fd <= 0) {
		t->fd = memfd_create(ro ? "code" : "vars", MFD_CLOEXEC);
		CHECK(t->fd >= 0);
	}
	CHECK(pwrite(t->fd, image, SIZE, 0) == SIZE);
	cfg.fd = t->fd;
	CHECK(pflash_create(&env, &res, &cfg, &t->c, &err) == 0);
	t->p = t->c.obj;
	t->base = base;
}

static void flash_io(struct bus *bus, const struct target *t, uint16_t off, uint8_t w, bool write,
		   uint32_t v)
{
	unsigned int n = 1u << (w & 3);
	uint8_t b[8] = { 0 };

	bus_data_put(b, n, v);
	bus_access(bus, BUS_MMIO, t->base + off % SIZE, b, n, write);
}

static void record(const struct target *t, struct fz *in)
{
	struct bytes_out o = bytes_out_growing();
	struct err err = ERR_INIT;
	const struct component *c = &t->c;
	uint8_t n = fz_u8(in);
	size_t len;

	CHECK(c->ops->save(c->obj, &o, &err) == 0);
	CHECK(bytes_out_finish(&o, &len) == 0);
	CHECK(c->ops->restore(c->obj, o.buf, len, false, &err) == 0);
	CHECK(c->ops->restore(c->obj, o.buf, len, true, &err) == 0);
	for (unsigned int i = 0; i < n % 8; i++) {
		uint16_t at = fz_u16(in);

		/* Mostly the command state: the bytes after it are the image. */
		o.buf[(at & 0x8000 ? at : at % 64) % len] ^= fz_u8(in);
	}
	if (c->ops->restore(c->obj, o.buf, len, false, &err) == 0) {
		struct bytes_out again = bytes_out_growing();
		size_t n2;

		CHECK(c->ops->restore(c->obj, o.buf, len, true, &err) == 0);
		CHECK(c->ops->save(c->obj, &again, &err) == 0);
		CHECK(bytes_out_finish(&again, &n2) == 0 && n2 == len);
		CHECK(!memcmp(again.buf, o.buf, len));
		free(again.buf);
	}
	free(o.buf);
}

static void step(struct bus *bus, struct target *t, struct fz *in)
{
	uint8_t op = fz_u8(in) % 6;
	struct target *d = &t[fz_u8(in) & 1];

	switch (op) {
	case 0: {
		uint16_t off = fz_u16(in);
		uint8_t w = fz_u8(in);

		flash_io(bus, d, off, w, true, fz_u32(in));
		break;
	}
	case 1: {
		uint16_t off = fz_u16(in);

		flash_io(bus, d, off, fz_u8(in), false, 0);
		break;
	}
	case 2: {
		uint16_t off = fz_u16(in);
		uint8_t cmd = fz_u8(in);

		flash_io(bus, d, off, 0, true, cmd);
		flash_io(bus, d, off, 2, true, fz_u32(in));
		break;
	}
	case 3: {
		uint16_t off = fz_u16(in);
		uint8_t count = fz_u8(in);

		flash_io(bus, d, off, 0, true, 0xe8);
		flash_io(bus, d, off, 0, true, count);
		for (unsigned int i = 0; i <= count && in->n; i++)
			flash_io(bus, d, (uint16_t)(off + i), 0, true, fz_u8(in));
		flash_io(bus, d, off, 0, true, fz_u8(in));
		break;
	}
	case 4:
		CHECK(t[1].c.ops->pause(t[1].c.obj) == 0);
		break;
	default:
		record(d, in);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct target t[2];
	static uint8_t file[SIZE];
	struct fz in = { data, size };
	uint8_t width = fz_u8(&in) & 1 ? 4 : 1;
	struct bus bus;

	if (!image[1]) {
		log_set_level(LOG_ERR);
		for (unsigned int i = 0; i < SIZE; i++)
			image[i] = (uint8_t)(i * 7 + 3);
	}
	bus_init(&bus);
	make(&t[0], &bus, BASE, true, width);
	make(&t[1], &bus, BASE + SIZE, false, width);
	for (int i = 0; i < STEPS && in.n; i++)
		step(&bus, t, &in);
	CHECK(!memcmp(pflash_array(t[0].p), image, SIZE));
	CHECK(t[1].c.ops->pause(t[1].c.obj) == 0);
	CHECK(pread(t[1].fd, file, SIZE, 0) == SIZE);
	CHECK(!memcmp(file, pflash_array(t[1].p), SIZE));
	for (unsigned int i = 0; i < 2; i++)
		t[i].c.ops->destroy(t[i].c.obj);
	bus_destroy(&bus);
	return 0;
}
