/* pc-testdev (src/devices/testdev.c): the latch, the IRQ ports, the window and the flush. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/bus.h"
#include "core/layout.h"
#include "devices/testdev.h"
#include "mem/guest_mem.h"
#include "state_check.h"

#define TESTDEV_LATCH_PORT PORT_TESTDEV
#define TESTDEV_FLUSH_PORT (PORT_TESTDEV + 4)
#define TESTDEV_MMIO_BASE MMIO_TESTDEV

static unsigned int last_gsi;
static int last_level, irq_calls;

static int record_irq(void *ctx, unsigned int gsi, int level)
{
	(void)ctx;
	last_gsi = gsi;
	last_level = level;
	irq_calls++;
	return 0;
}

struct fix {
	struct bus bus;
	struct guest_mem mem;
	struct component dev;
};

/* Where QEMU puts it; the IRQ setter's gsi is replaced per port (99 would be wrong). */
static void make(struct fix *f, struct guest_mem *mem)
{
	struct dev_env env = { .bus = &f->bus, .mem = mem, .irq = { record_irq, NULL, 99 } };
	struct dev_resources res = { .pio_base = PORT_TESTDEV, .pio_size = TESTDEV_PORTS,
				     .mmio_base = MMIO_TESTDEV, .mmio_size = TESTDEV_MMIO_SIZE,
				     .gsi = -1 };
	struct err err = ERR_INIT;

	bus_init(&f->bus);
	assert_int_equal(testdev_create(&env, &res, &f->dev, &err), 0);
}

static int setup(void **state)
{
	static struct fix f;

	assert_int_equal(guest_mem_init(&f.mem, 16ull << 20), 0);
	make(&f, &f.mem);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	bus_destroy(&f->bus);
	f->dev.ops->destroy(f->dev.obj);
	guest_mem_destroy(&f->mem);
	return 0;
}

static uint64_t io(struct fix *f, enum bus_space sp, uint64_t addr, unsigned int len, bool wr,
		   uint64_t v)
{
	uint8_t b[8];

	bus_data_put(b, len, v);
	assert_int_equal(bus_access(&f->bus, sp, addr, b, len, wr), 0);
	return bus_data_get(b, len);
}

static void test_latch(void **state)
{
	struct fix *f = *state;

	assert_int_equal(io(f, BUS_PIO, 0xe0, 4, false, 0), 0);
	io(f, BUS_PIO, 0xe0, 4, true, 0x12345678);
	assert_int_equal(io(f, BUS_PIO, 0xe0, 4, false, 0), 0x12345678);
	/* Narrow accesses at an offset change and show only their bytes. */
	io(f, BUS_PIO, 0xe1, 1, true, 0xab);
	assert_int_equal(io(f, BUS_PIO, 0xe0, 4, false, 0), 0x1234ab78);
	assert_int_equal(io(f, BUS_PIO, 0xe2, 2, false, 0), 0x1234);
}

static void test_irq_ports(void **state)
{
	struct fix *f = *state;

	irq_calls = 0;
	io(f, BUS_PIO, TESTDEV_IRQ_PORT + 5, 1, true, 1);
	assert_int_equal(last_gsi, 5);
	assert_int_equal(last_level, 1);
	io(f, BUS_PIO, TESTDEV_IRQ_PORT + 5, 1, true, 0);
	assert_int_equal(last_level, 0);
	/* Any non-zero value is "high". */
	io(f, BUS_PIO, TESTDEV_IRQ_PORT + 23, 1, true, 0x80);
	assert_int_equal(last_gsi, 23);
	assert_int_equal(last_level, 1);
	assert_int_equal(irq_calls, 3);
	/* Port 0x2018 is not one of them. */
	assert_int_equal(bus_access(&f->bus, BUS_PIO, TESTDEV_IRQ_PORT + 24, (uint8_t[1]){ 1 }, 1,
				    true), -ENOENT);
	assert_int_equal(irq_calls, 3);
}

static void test_window(void **state)
{
	struct fix *f = *state;

	io(f, BUS_MMIO, TESTDEV_MMIO_BASE + 0x100, 4, true, 0xdeadbeef);
	assert_int_equal(io(f, BUS_MMIO, TESTDEV_MMIO_BASE + 0x100, 4, false, 0), 0xdeadbeef);
	assert_int_equal(io(f, BUS_MMIO, TESTDEV_MMIO_BASE + 0x101, 1, false, 0), 0xbe);
	io(f, BUS_MMIO, TESTDEV_MMIO_BASE + TESTDEV_MMIO_SIZE - 8, 8, true, 0x0102030405060708ull);
	assert_int_equal(io(f, BUS_MMIO, TESTDEV_MMIO_BASE + TESTDEV_MMIO_SIZE - 8, 8, false, 0),
			 0x0102030405060708ull);
}

/* The latch and the window survive a save into a fresh device; a short record changes nothing. */
static void test_state_round_trip(void **state)
{
	struct fix *f = *state;
	struct fix g;
	size_t len;
	uint8_t *buf;

	io(f, BUS_PIO, TESTDEV_LATCH_PORT, 4, true, 0x12345678);
	io(f, BUS_MMIO, TESTDEV_MMIO_BASE + 0x200, 8, true, 0x1122334455667788ull);
	buf = state_save(&f->dev, &len);

	make(&g, &f->mem);
	assert_int_equal(state_restore(&g.dev, buf, len - 1), -ENODATA);
	assert_int_equal(io(&g, BUS_PIO, TESTDEV_LATCH_PORT, 4, false, 0), 0);
	assert_int_equal(state_restore(&g.dev, buf, len), 0);
	assert_int_equal(io(&g, BUS_PIO, TESTDEV_LATCH_PORT, 4, false, 0), 0x12345678);
	assert_int_equal(io(&g, BUS_MMIO, TESTDEV_MMIO_BASE + 0x200, 8, false, 0),
			 0x1122334455667788ull);
	bus_destroy(&g.bus);
	g.dev.ops->destroy(g.dev.obj);
	free(buf);
}

static void test_flush(void **state)
{
	struct fix *f = *state;
	uint8_t *page = guest_mem_ptr(&f->mem, 0x5000, 4096);

	memset(page, 0x5a, 4096);
	/* Any address in the page; the page stays readable and writable with its data. */
	io(f, BUS_PIO, TESTDEV_FLUSH_PORT, 4, true, 0x5123);
	assert_int_equal(page[0], 0x5a);
	page[4095] = 1;
	assert_int_equal(page[4095], 1);
	/* Not RAM: ignored, no crash. */
	io(f, BUS_PIO, TESTDEV_FLUSH_PORT, 4, true, 0xd0000000u);
	io(f, BUS_PIO, TESTDEV_FLUSH_PORT, 4, true, 0xfffff000u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_latch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_ports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
