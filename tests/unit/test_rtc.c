#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/layout.h"
#include "devices/platform.h"
#include "mem/guest_mem.h"
#include "dev_rig.h"

#define REG_SEC 0x00
#define REG_MIN 0x02
#define REG_HOUR 0x04
#define REG_WDAY 0x06
#define REG_MDAY 0x07
#define REG_MON 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define REG_CENTURY 0x32

struct fixture {
	struct bus bus;
	struct component rtc;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	bus_init(&f->bus);
	dev_rig_make(rtc_create, &(struct dev_env){ .bus = &f->bus }, PORT_RTC, RTC_PORTS, IRQ_RTC,
		     &f->rtc);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dev_rig_free(&f->rtc);
	bus_destroy(&f->bus);
	free(f);
	return 0;
}

static void outb(struct fixture *f, uint16_t port, uint8_t v)
{
	assert_int_equal(bus_access(&f->bus, BUS_PIO, port, &v, 1, true), 0);
}

static uint8_t inb(struct fixture *f, uint16_t port)
{
	uint8_t v = 0;

	assert_int_equal(bus_access(&f->bus, BUS_PIO, port, &v, 1, false), 0);
	return v;
}

static uint8_t cmos_read(struct fixture *f, uint8_t reg)
{
	outb(f, 0x70, reg);
	return inb(f, 0x71);
}

static void cmos_write(struct fixture *f, uint8_t reg, uint8_t v)
{
	outb(f, 0x70, reg);
	outb(f, 0x71, v);
}

static unsigned int from_bcd(uint8_t v)
{
	assert_true((v & 0x0f) <= 9 && (v >> 4) <= 9);
	return (v >> 4) * 10 + (v & 0x0f);
}

struct fields {
	unsigned int sec, min, hour, wday, mday, mon, year, century;
	bool pm;
};

static time_t now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

/* Decode all fields in the current format, retrying until one second holds. */
static struct tm read_fields(struct fixture *f, struct fields *out)
{
	struct tm tm;

	for (int tries = 0; tries < 20; tries++) {
		uint8_t b = cmos_read(f, REG_B);
		bool binary = b & 0x04, h24 = b & 0x02;
		unsigned int (*dec)(uint8_t) = binary ? NULL : from_bcd;
		time_t t0 = now_sec();
		uint8_t raw[8] = {
			cmos_read(f, REG_SEC),  cmos_read(f, REG_MIN),  cmos_read(f, REG_HOUR),
			cmos_read(f, REG_WDAY), cmos_read(f, REG_MDAY), cmos_read(f, REG_MON),
			cmos_read(f, REG_YEAR), cmos_read(f, REG_CENTURY),
		};
		time_t t1 = now_sec();

		if (t0 != t1)
			continue;
		out->pm = !h24 && (raw[2] & 0x80);
		if (!h24)
			raw[2] &= 0x7f;
		unsigned int v[8];
		for (int i = 0; i < 8; i++)
			v[i] = dec ? dec(raw[i]) : raw[i];
		*out = (struct fields){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], out->pm };
		gmtime_r(&t0, &tm);
		return tm;
	}
	fail_msg("clock never held still for a second");
	return tm;
}

static void check_date(const struct fields *got, const struct tm *tm)
{
	assert_int_equal(got->sec, tm->tm_sec > 59 ? 59 : tm->tm_sec);
	assert_int_equal(got->min, tm->tm_min);
	assert_int_equal(got->wday, tm->tm_wday + 1);
	assert_int_equal(got->mday, tm->tm_mday);
	assert_int_equal(got->mon, tm->tm_mon + 1);
	assert_int_equal(got->year, (tm->tm_year + 1900) % 100);
	assert_int_equal(got->century, (tm->tm_year + 1900) / 100);
}

static void test_bcd_24h_default(void **state)
{
	struct fixture *f = *state;
	struct fields got;

	assert_int_equal(cmos_read(f, REG_B), 0x02);
	struct tm tm = read_fields(f, &got);
	check_date(&got, &tm);
	assert_int_equal(got.hour, tm.tm_hour);
	assert_false(got.pm);
}

static void test_binary_24h(void **state)
{
	struct fixture *f = *state;
	struct fields got;

	cmos_write(f, REG_B, 0x06);
	assert_int_equal(cmos_read(f, REG_B), 0x06);
	struct tm tm = read_fields(f, &got);
	check_date(&got, &tm);
	assert_int_equal(got.hour, tm.tm_hour);
}

static unsigned int hour12(int h)
{
	return h % 12 == 0 ? 12 : (unsigned int)(h % 12);
}

static void test_12h_formats(void **state)
{
	struct fixture *f = *state;
	struct fields got;
	struct tm tm;

	cmos_write(f, REG_B, 0x00); /* BCD, 12-hour */
	tm = read_fields(f, &got);
	check_date(&got, &tm);
	assert_int_equal(got.hour, hour12(tm.tm_hour));
	assert_int_equal(got.pm, tm.tm_hour >= 12);

	cmos_write(f, REG_B, 0x04); /* binary, 12-hour */
	tm = read_fields(f, &got);
	check_date(&got, &tm);
	assert_int_equal(got.hour, hour12(tm.tm_hour));
	assert_int_equal(got.pm, tm.tm_hour >= 12);
}

static void test_status_registers(void **state)
{
	struct fixture *f = *state;
	int clear = 0;

	assert_int_equal(cmos_read(f, REG_A) & 0x7f, 0x26);
	/* UIP shows for ~2 ms a second at most; it must not stick. */
	for (int i = 0; i < 1000; i++)
		clear += !(cmos_read(f, REG_A) & 0x80);
	assert_true(clear > 0);
	cmos_write(f, REG_A, 0xa6);
	assert_int_equal(cmos_read(f, REG_A) & 0x7f, 0x26);

	assert_int_equal(cmos_read(f, REG_C), 0);
	assert_int_equal(cmos_read(f, REG_D), 0x80);
	cmos_write(f, REG_C, 0xff);
	cmos_write(f, REG_D, 0x00);
	assert_int_equal(cmos_read(f, REG_C), 0);
	assert_int_equal(cmos_read(f, REG_D), 0x80);
}

static void test_nvram_roundtrip(void **state)
{
	struct fixture *f = *state;

	/* Fresh CMOS reads 0 (no floppy, no disks in the legacy slots). */
	assert_int_equal(cmos_read(f, 0x10), 0);
	assert_int_equal(cmos_read(f, 0x7f), 0);
	for (unsigned int r = 0x0e; r < 0x80; r++) {
		if (r != REG_CENTURY)
			cmos_write(f, (uint8_t)r, (uint8_t)(r ^ 0xa5));
	}
	for (unsigned int r = 0x0e; r < 0x80; r++) {
		if (r != REG_CENTURY)
			assert_int_equal(cmos_read(f, (uint8_t)r), r ^ 0xa5);
	}
	/* Alarm bytes are plain storage. */
	cmos_write(f, 0x01, 0x42);
	assert_int_equal(cmos_read(f, 0x01), 0x42);
	/* The clock is the host's: writes to it are ignored. */
	cmos_write(f, REG_CENTURY, 0x19);
	assert_int_equal(cmos_read(f, REG_CENTURY), 0x20);
}

static void test_index_masking(void **state)
{
	struct fixture *f = *state;

	cmos_write(f, 0x80 | 0x20, 0xab); /* NMI-disable bit set */
	assert_int_equal(cmos_read(f, 0x20), 0xab);
	assert_int_equal(cmos_read(f, 0x80 | 0x20), 0xab);
	assert_int_equal(cmos_read(f, 0x80 | REG_D), 0x80);
	/* The index port itself is write-only. */
	assert_int_equal(inb(f, 0x70), 0xff);

	/* A 16-bit write to 0x70 sets the index and then the data byte. */
	uint8_t pair[2] = { 0x30, 0x5c };
	assert_int_equal(bus_access(&f->bus, BUS_PIO, 0x70, pair, 2, true), 0);
	assert_int_equal(cmos_read(f, 0x30), 0x5c);
}

static void test_registration(void **state)
{
	struct fixture *f = *state;

	struct dev_resources res = { .pio_base = PORT_RTC, .pio_size = RTC_PORTS, .gsi = IRQ_RTC };
	struct err err = ERR_INIT;
	struct component c;

	/* The ports are taken: a second RTC on the same bus fails cleanly, and says where. */
	assert_int_equal(rtc_create(&(struct dev_env){ .bus = &f->bus }, &res, &c, &err), -EEXIST);
	assert_string_equal(err.msg, "ports 0x70-0x71 are taken by another device");
	uint8_t v;
	assert_int_equal(bus_access(&f->bus, BUS_PIO, 0x72, &v, 1, false), -ENOENT);
}

/* An RTC on a bus of its own for a VM of ram bytes and ncpus CPUs, laid out as the VM lays it. */
static struct fixture *cmos_vm(uint64_t ram, unsigned int ncpus, struct guest_mem *gm)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(guest_mem_layout(gm, ram), 0);
	bus_init(&f->bus);
	dev_rig_make(rtc_create, &(struct dev_env){ .bus = &f->bus, .mem = gm, .ncpus = ncpus },
		     PORT_RTC, RTC_PORTS, IRQ_RTC, &f->rtc);
	return f;
}

static unsigned int cmos_word(struct fixture *f, uint8_t reg)
{
	return cmos_read(f, reg) | (unsigned int)cmos_read(f, (uint8_t)(reg + 1)) << 8;
}

static uint64_t cmos_high(struct fixture *f)
{
	return cmos_read(f, 0x5b) | (uint64_t)cmos_read(f, 0x5c) << 8 |
	       (uint64_t)cmos_read(f, 0x5d) << 16;
}

/* What SeaBIOS's qemu_preinit makes of the bytes: RAM below 4 GiB. */
static uint64_t seabios_ram_size(struct fixture *f)
{
	uint64_t rs = (uint64_t)cmos_word(f, 0x34) << 16;

	return rs ? rs + (16ull << 20) : ((uint64_t)cmos_word(f, 0x30) << 10) + (1ull << 20);
}

/* The bytes QEMU's pc_cmos_init writes, from the VM's own RAM layout and CPU count. */
static void test_cmos_memory(void **state)
{
	struct guest_mem gm;
	struct fixture *f;

	(void)state;
	f = cmos_vm(512ull << 20, 4, &gm);
	assert_int_equal(cmos_word(f, 0x15), 640);
	assert_int_equal(cmos_word(f, 0x17), 0xffff);   /* 511 MiB in KiB: capped */
	assert_int_equal(cmos_word(f, 0x30), 0xffff);
	assert_int_equal(cmos_word(f, 0x34), (512 - 16) * 16);
	assert_int_equal(cmos_high(f), 0);
	assert_int_equal(cmos_read(f, 0x5f), 3);
	assert_int_equal(cmos_read(f, 0x14), 0x02);     /* an FPU; no floppy, no mouse */
	assert_int_equal(cmos_read(f, 0x3d), 0x12);     /* QEMU's "cad": disk, floppy */
	assert_int_equal(cmos_read(f, 0x38), 0x30);     /* then CD-ROM; floppy signature checked */
	assert_int_equal(cmos_read(f, 0x10), 0);        /* no floppy drives */
	assert_int_equal(seabios_ram_size(f), 512ull << 20);
	/* NVRAM as any other: the guest may change it. */
	cmos_write(f, 0x34, 0x12);
	assert_int_equal(cmos_read(f, 0x34), 0x12);
	teardown((void **)&f);

	/* Past the 32-bit hole: 3 GiB below 4 GiB, the rest above it. */
	f = cmos_vm(6ull << 30, 1, &gm);
	assert_int_equal(cmos_word(f, 0x34), 0xbf00);
	assert_int_equal(seabios_ram_size(f), 3ull << 30);
	assert_int_equal(cmos_high(f) << 16, 3ull << 30);
	assert_int_equal(cmos_read(f, 0x5f), 0);
	teardown((void **)&f);

	/* Small guests: below 1 MiB and below 16 MiB. */
	f = cmos_vm(512ull << 10, 255, &gm);
	assert_int_equal(cmos_word(f, 0x15), 512);
	assert_int_equal(cmos_word(f, 0x17), 0);
	assert_int_equal(cmos_word(f, 0x34), 0);
	assert_int_equal(cmos_read(f, 0x5f), 254);
	teardown((void **)&f);
	f = cmos_vm(12ull << 20, 256, &gm);
	assert_int_equal(cmos_word(f, 0x15), 640);
	assert_int_equal(cmos_word(f, 0x17), 11 * 1024);
	assert_int_equal(cmos_word(f, 0x30), 11 * 1024);
	assert_int_equal(cmos_word(f, 0x34), 0);
	assert_int_equal(seabios_ram_size(f), 12ull << 20);
	assert_int_equal(cmos_read(f, 0x5f), 0);        /* past 255: 0, as QEMU */
	teardown((void **)&f);

	/* More above 4 GiB than three bytes hold: capped, not wrapped. */
	f = cmos_vm(2ull << 40, 2, &gm);
	assert_int_equal(cmos_high(f), 0xffffff);
	teardown((void **)&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bcd_24h_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_24h, setup, teardown),
		cmocka_unit_test_setup_teardown(test_12h_formats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvram_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_index_masking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registration, setup, teardown),
		cmocka_unit_test(test_cmos_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
