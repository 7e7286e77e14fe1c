/* The debug-exit port (src/devices/debug_exit.c): its status arithmetic and its writes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/bus.h"
#include "devices/debug_exit.h"
#include "dev_rig.h"

static uint32_t seen_value;
static int seen_calls;

static void record(void *ctx, uint32_t value)
{
	(void)ctx;
	seen_value = value;
	seen_calls++;
}

static void test_status(void **state)
{
	(void)state;
	assert_int_equal(debug_exit_status(0), 1);
	assert_int_equal(debug_exit_status(1), 3);
	assert_int_equal(debug_exit_status(0x21), 67);
	assert_int_equal(debug_exit_status(0x7f), 255);
	/* Only 8 bits reach the shell: QEMU's exit() gives the same. */
	assert_int_equal(debug_exit_status(0x80), 1);
	assert_int_equal(debug_exit_status(0xffffffffu), 255);
	/* Never 0: a debug exit is never mistaken for a clean power-off. */
	for (uint32_t v = 0; v < 1024; v++)
		assert_true(debug_exit_status(v) & 1);
}

static void test_writes(void **state)
{
	uint8_t b[4] = { 0x34, 0x12, 0, 0 };
	struct err err = ERR_INIT;
	struct component c, bad;
	struct dev_env env;
	struct bus bus;

	(void)state;
	bus_init(&bus);
	env = (struct dev_env){ .bus = &bus, .debug_exit = { record, NULL } };
	dev_rig_make(debug_exit_create, &env, DEBUG_EXIT_IOBASE, DEBUG_EXIT_IOSIZE, -1, &c);
	seen_calls = 0;
	assert_int_equal(bus_access(&bus, BUS_PIO, 0xf4, b, 1, true), 0);
	assert_int_equal(seen_value, 0x34);
	assert_int_equal(bus_access(&bus, BUS_PIO, 0xf4, b, 2, true), 0);
	assert_int_equal(seen_value, 0x1234);
	b[3] = 0x80;
	assert_int_equal(bus_access(&bus, BUS_PIO, 0xf4, b, 4, true), 0);
	assert_int_equal(seen_value, 0x80001234u);
	assert_int_equal(seen_calls, 3);
	/* Reads answer 0 and end nothing. */
	assert_int_equal(bus_access(&bus, BUS_PIO, 0xf7, b, 1, false), 0);
	assert_int_equal(b[0], 0);
	assert_int_equal(seen_calls, 3);
	/* Past iosize is not the device's. */
	assert_int_equal(bus_access(&bus, BUS_PIO, 0xf8, b, 1, true), -ENOENT);
	assert_int_equal(seen_calls, 3);
	/* Taken ports (the user's to fix) and a bad width are refused. */
	assert_int_equal(debug_exit_create(&env, &(struct dev_resources){ 0xf6, 1, .gsi = -1 },
					   &bad, &err), -EEXIST);
	assert_string_equal(err.msg, "port 0xf6 is taken by another device");
	assert_true(err.usage);
	assert_int_equal(debug_exit_create(&env, &(struct dev_resources){ 0x500, 3, .gsi = -1 },
					   &bad, &err), -EINVAL);
	bus_destroy(&bus);
	dev_rig_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
