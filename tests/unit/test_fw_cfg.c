/* fw_cfg's port interface (src/devices/fw_cfg.c) through the bus, as a guest uses it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/bus.h"
#include "core/layout.h"
#include "dev_rig.h"
#include "devices/fw_cfg.h"
#include "state_check.h"

#define FW_CFG_PORT PORT_FW_CFG

struct fix {
	struct bus bus;
	struct component dev;
};

/* The machine fw_cfg describes: 3 vCPUs, 256 MiB, RAM up to 5 GiB. */
static struct dev_env machine(struct bus *bus)
{
	return (struct dev_env){ .bus = bus, .ncpus = 3, .ram_size = 256ull << 20,
				 .max_ram = 0x140000000ull };
}

static int setup(void **state)
{
	static struct fix f;
	struct dev_env env = machine(&f.bus);

	bus_init(&f.bus);
	dev_rig_make(fw_cfg_create, &env, PORT_FW_CFG, FW_CFG_PORTS, -1, &f.dev);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	bus_destroy(&f->bus);
	dev_rig_free(&f->dev);
	return 0;
}

static void sel(struct fix *f, uint16_t key)
{
	uint8_t b[2] = { (uint8_t)key, (uint8_t)(key >> 8) };

	assert_int_equal(bus_access(&f->bus, BUS_PIO, FW_CFG_PORT, b, 2, true), 0);
}

/* len bytes from the data port, one inb each, little-endian. */
static uint64_t get(struct fix *f, unsigned int len)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < len; i++) {
		uint8_t b = 0xee;

		assert_int_equal(bus_access(&f->bus, BUS_PIO, FW_CFG_PORT + 1, &b, 1, false), 0);
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

static void test_items(void **state)
{
	struct fix *f = *state;

	sel(f, FW_CFG_SIGNATURE);
	assert_int_equal(get(f, 4), 0x554d4551); /* "QEMU" */
	sel(f, FW_CFG_ID);
	assert_int_equal(get(f, 4), 1);          /* no DMA */
	sel(f, FW_CFG_NB_CPUS);
	assert_int_equal(get(f, 2), 3);
	sel(f, FW_CFG_MAX_CPUS);
	assert_int_equal(get(f, 2), 3);
	sel(f, FW_CFG_RAM_SIZE);
	assert_int_equal(get(f, 8), 256ull << 20);
	sel(f, FW_CFG_MAX_RAM);
	assert_int_equal(get(f, 8), 0x140000000ull);
}

static void test_rewind_and_past_end(void **state)
{
	struct fix *f = *state;

	sel(f, FW_CFG_NB_CPUS);
	assert_int_equal(get(f, 1), 3);
	/* Past the item's end: zeros, for as long as the guest reads. */
	assert_int_equal(get(f, 8), 0);
	assert_int_equal(get(f, 8), 0);
	/* Selecting again rewinds. */
	sel(f, FW_CFG_NB_CPUS);
	assert_int_equal(get(f, 2), 3);
}

static void test_unknown_and_odd_accesses(void **state)
{
	struct fix *f = *state;
	uint8_t b[4] = { 0xff, 0xff, 0xff, 0xff };

	sel(f, 0x19); /* the file directory: not provided */
	assert_int_equal(get(f, 8), 0);
	sel(f, 0xffff);
	assert_int_equal(get(f, 8), 0);
	/* The selector reads as 0; a data write changes nothing. */
	sel(f, FW_CFG_SIGNATURE);
	assert_int_equal(bus_access(&f->bus, BUS_PIO, FW_CFG_PORT, b, 2, false), 0);
	assert_int_equal(b[0] | b[1], 0);
	b[0] = 0x12;
	assert_int_equal(bus_access(&f->bus, BUS_PIO, FW_CFG_PORT + 1, b, 1, true), 0);
	assert_int_equal(get(f, 4), 0x554d4551);
	/* A byte-wide selector write selects that key. */
	b[0] = FW_CFG_NB_CPUS;
	assert_int_equal(bus_access(&f->bus, BUS_PIO, FW_CFG_PORT, b, 1, true), 0);
	assert_int_equal(get(f, 2), 3);
}

/*
 * A snapshot taken mid-item: the restored device (a fresh one, as a
 * restore builds) goes on with the next byte of the same item; a
 * truncated, other-version or impossible record changes nothing.
 */
static void test_state_round_trip(void **state)
{
	struct fix *f = *state;
	struct component d2;
	struct bus bus2;
	struct dev_env env = machine(&bus2);
	uint8_t *buf, *again, bad[64], b = 0;
	size_t len, n2;

	sel(f, FW_CFG_RAM_SIZE);
	assert_int_equal(get(f, 3), 0);                 /* 256 MiB: bytes 0..2 are 0 */
	buf = state_save(&f->dev, &len);
	assert_true(len <= sizeof(bad));
	bus_init(&bus2);
	dev_rig_make(fw_cfg_create, &env, PORT_FW_CFG, FW_CFG_PORTS, -1, &d2);
	assert_int_equal(state_restore(&d2, buf, len), 0);
	assert_int_equal(bus_access(&bus2, BUS_PIO, FW_CFG_PORT + 1, &b, 1, false), 0);
	assert_int_equal(b, 0x10);                     /* byte 3 of 0x10000000 */
	again = state_save(&d2, &n2);
	assert_int_equal(n2, len);
	free(again);

	/* Refusals leave d2 where it is (byte 4 of the same item next). */
	assert_int_equal(state_restore(&d2, buf, len - 1), -ENODATA);
	memcpy(bad, buf, len);
	bad[4] = 3;                                   /* a version after 2 */
	assert_int_equal(state_restore(&d2, bad, len), -EPROTO);
	bad[4] = 2;                                   /* version 2 is longer: cut short */
	assert_int_equal(state_restore(&d2, bad, len), -ENODATA);
	memcpy(bad, buf, len);
	bad[len - 4] = 9;                             /* offset 9: past FW_CFG_ITEM_MAX */
	assert_int_equal(state_restore(&d2, bad, len), -EINVAL);
	b = 0xee;
	assert_int_equal(bus_access(&bus2, BUS_PIO, FW_CFG_PORT + 1, &b, 1, false), 0);
	assert_int_equal(b, 0);
	bus_destroy(&bus2);
	dev_rig_free(&d2);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_items, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewind_and_past_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_odd_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
