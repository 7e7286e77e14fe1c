#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/layout.h"
#include "devices/platform.h"
#include "dev_rig.h"

#define STS_OBF 0x01
#define STS_IBF 0x02

struct fixture {
	struct bus bus;
	struct component comp;
	struct i8042 *dev;
	unsigned int events[2];
	unsigned int edges;     /* rising edges on the keyboard's IRQ */
	int level;
};

static int irq_record(void *ctx, unsigned int gsi, int level)
{
	struct fixture *f = ctx;

	assert_int_equal(gsi, 1);
	f->edges += level && !f->level;
	f->level = level;
	return 0;
}

static void record(void *ctx, enum power_event ev)
{
	struct fixture *f = ctx;

	assert_true(ev == POWER_OFF || ev == POWER_RESET);
	f->events[ev]++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	bus_init(&f->bus);
	f->dev = dev_rig_make(i8042_create, &(struct dev_env){ .bus = &f->bus,
			      .power = { record, f }, .irq = { irq_record, f, 0 } },
			      PORT_I8042_DATA, I8042_PORTS, IRQ_KBD, &f->comp);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dev_rig_free(&f->comp);
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

static void test_status_idle(void **state)
{
	struct fixture *f = *state;
	uint8_t sts = inb(f, 0x64);

	assert_int_equal(sts & (STS_OBF | STS_IBF), 0);
	assert_int_equal(sts & 0x04, 0x04); /* system flag: POST passed */
	/* 0x61-0x63 are not the controller's. */
	uint8_t v;
	assert_int_equal(bus_access(&f->bus, BUS_PIO, 0x61, &v, 1, false), -ENOENT);
}

static void test_self_test(void **state)
{
	struct fixture *f = *state;

	outb(f, 0x64, 0xaa);
	assert_int_equal(inb(f, 0x64) & (STS_OBF | STS_IBF), STS_OBF);
	assert_int_equal(inb(f, 0x60), 0x55);
	assert_int_equal(inb(f, 0x64) & STS_OBF, 0);
	outb(f, 0x64, 0xab);
	assert_int_equal(inb(f, 0x60), 0x00);
	assert_int_equal(f->events[POWER_RESET] + f->events[POWER_OFF], 0);
}

static void test_command_byte(void **state)
{
	struct fixture *f = *state;

	outb(f, 0x64, 0x60);
	assert_int_equal(inb(f, 0x64) & STS_IBF, 0);
	outb(f, 0x60, 0x47);
	outb(f, 0x64, 0x20);
	assert_int_equal(inb(f, 0x64) & STS_OBF, STS_OBF);
	assert_int_equal(inb(f, 0x60), 0x47);
	outb(f, 0x64, 0xa7); /* disable aux: bit 5 */
	outb(f, 0x64, 0x20);
	assert_int_equal(inb(f, 0x60), 0x67);
	/* A keyboard reset is not a CPU reset: the keyboard answers ACK, BAT OK. */
	outb(f, 0x60, 0xff);
	assert_int_equal(inb(f, 0x60), 0xfa);
	assert_int_equal(inb(f, 0x60), 0xaa);
	assert_int_equal(inb(f, 0x64) & STS_OBF, 0);
	assert_int_equal(f->events[POWER_RESET], 0);
}

/* Reads what the keyboard has for the driver, as its interrupt handler does. */
static unsigned int drain(struct fixture *f, uint8_t *out, unsigned int max)
{
	unsigned int n = 0;

	while (n < max && (inb(f, 0x64) & STS_OBF))
		out[n++] = inb(f, 0x60);
	return n;
}

/*
 * What Linux's atkbd sends when it probes and sets up the keyboard, and
 * the answers it needs to find one: each byte raises IRQ 1 once.
 */
static void test_keyboard_probe(void **state)
{
	struct fixture *f = *state;
	uint8_t b[8];

	outb(f, 0x60, 0xf2);                       /* identify */
	assert_int_equal(drain(f, b, 8), 3);
	assert_memory_equal(b, ((uint8_t[]){ 0xfa, 0xab, 0x83 }), 3);
	assert_int_equal(f->edges, 3);
	outb(f, 0x60, 0xed);                       /* LEDs, then their byte */
	assert_int_equal(drain(f, b, 8), 1);
	outb(f, 0x60, 0x07);
	assert_int_equal(drain(f, b, 8), 1);
	assert_int_equal(b[0], 0xfa);
	outb(f, 0x60, 0xf0);                       /* which scancode set? */
	outb(f, 0x60, 0x00);
	assert_int_equal(drain(f, b, 8), 3);
	assert_memory_equal(b, ((uint8_t[]){ 0xfa, 0xfa, 0x02 }), 3);
	outb(f, 0x60, 0xf4);                       /* enable */
	assert_int_equal(drain(f, b, 8), 1);
	assert_int_equal(b[0], 0xfa);
	outb(f, 0x60, 0xee);                       /* echo */
	assert_int_equal(drain(f, b, 8), 1);
	assert_int_equal(b[0], 0xee);
	outb(f, 0x60, 0x12);                       /* not a command */
	assert_int_equal(drain(f, b, 8), 1);
	assert_int_equal(b[0], 0xfe);
	assert_int_equal(f->edges, 11);
}

/*
 * The host's Ctrl-Alt-Del: the chord pressed and released in set 1 (the
 * controller translates), one interrupt per byte, held while the driver
 * has the keyboard disabled, and refused when the queue has no room.
 */
static void test_ctrl_alt_del(void **state)
{
	static const uint8_t chord[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	struct fixture *f = *state;
	uint8_t b[16];

	outb(f, 0x64, 0xad);                       /* keyboard disabled */
	assert_int_equal(i8042_send_ctrl_alt_del(f->dev), 0);
	assert_int_equal(inb(f, 0x64) & STS_OBF, 0);
	assert_int_equal(f->edges, 0);
	assert_int_equal(i8042_send_ctrl_alt_del(f->dev), 0);
	assert_int_equal(i8042_send_ctrl_alt_del(f->dev), -ENOSPC);
	outb(f, 0x64, 0xae);                       /* enabled: the first byte arrives */
	assert_int_equal(f->edges, 1);
	assert_int_equal(drain(f, b, 16), 16);
	assert_memory_equal(b, chord, 8);
	assert_memory_equal(b + 8, chord, 8);
	assert_int_equal(f->edges, 16);
	assert_int_equal(i8042_send_ctrl_alt_del(f->dev), 0);
	assert_int_equal(drain(f, b, 16), 8);
	assert_memory_equal(b, chord, 8);
	/* Interrupts off in the command byte: bytes arrive, no IRQ. */
	outb(f, 0x64, 0x60);
	outb(f, 0x60, 0x44);
	assert_int_equal(i8042_send_ctrl_alt_del(f->dev), 0);
	assert_int_equal(drain(f, b, 16), 8);
	assert_int_equal(f->edges, 24);
	/*
	 * A byte that waits when the driver turns the interrupt on raises it
	 * then, as the chip's output does; a pulse at queue time would be lost.
	 */
	assert_int_equal(i8042_send_ctrl_alt_del(f->dev), 0);
	assert_int_equal(f->edges, 24);
	assert_int_equal(f->level, 0);
	outb(f, 0x64, 0x60);
	outb(f, 0x60, 0x45);
	assert_int_equal(f->edges, 25);
	assert_int_equal(f->level, 1);
	assert_int_equal(drain(f, b, 16), 8);
	assert_int_equal(f->edges, 32);
	assert_int_equal(f->level, 0);   /* low once the last byte is read */
}

static void test_reset_pulse(void **state)
{
	struct fixture *f = *state;

	/* Linux's reboot=k: wait for IBF clear, then pulse. */
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(inb(f, 0x64) & STS_IBF, 0);
		outb(f, 0x64, 0xfe);
		assert_int_equal(f->events[POWER_RESET], i);
	}
	outb(f, 0x64, 0xff); /* pulse nothing */
	outb(f, 0x64, 0xf1);
	assert_int_equal(f->events[POWER_RESET], 3);
	assert_int_equal(f->events[POWER_OFF], 0);

	/* The A20 write through the output port keeps reset high. */
	outb(f, 0x64, 0xd1);
	outb(f, 0x60, 0xdf);
	assert_int_equal(f->events[POWER_RESET], 3);
	outb(f, 0x64, 0xd1);
	outb(f, 0x60, 0xde);
	assert_int_equal(f->events[POWER_RESET], 4);
	/* 0xfe as data (not a command) is not a reset. */
	outb(f, 0x60, 0xfe);
	assert_int_equal(f->events[POWER_RESET], 4);
}

static void test_hostile(void **state)
{
	struct fixture *f = *state;
	uint8_t data[8];

	srand(42);
	for (int i = 0; i < 50000; i++) {
		uint16_t port = rand() % 2 ? 0x60 : 0x64;
		uint8_t v = (uint8_t)rand();
		if (v == 0xfe || ((v & 0xf1) == 0xf0) || v == 0xd1)
			v = 0xaa;
		data[0] = v;
		bus_access(&f->bus, BUS_PIO, port, data, (unsigned int)(1 + rand() % 4),
			   rand() % 2);
	}
	assert_int_equal(f->events[POWER_OFF], 0);
	assert_int_equal(f->events[POWER_RESET], 0);
}

static void test_null_sink(void **state)
{
	struct dev_resources res = { .pio_base = PORT_I8042_DATA, .pio_size = I8042_PORTS,
				     .gsi = IRQ_KBD };
	struct err err = ERR_INIT;
	struct component c, again;
	struct dev_env env;
	struct bus bus;

	bus_init(&bus);
	env = (struct dev_env){ .bus = &bus };
	dev_rig_make(i8042_create, &env, PORT_I8042_DATA, I8042_PORTS, IRQ_KBD, &c);
	uint8_t v = 0xfe;
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x64, &v, 1, true), 0);
	assert_int_equal(i8042_create(&env, &res, &again, &err), -EEXIST);
	dev_rig_free(&c);
	bus_destroy(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_status_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_test, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_pulse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyboard_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctrl_alt_del, setup, teardown),
		cmocka_unit_test(test_null_sink),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
