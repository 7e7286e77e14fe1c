/*
 * Save and restore of the legacy devices, through their bus interface:
 * a device restored into a fresh one behaves as the original does from
 * then on, read for read.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "core/layout.h"
#include "dev_rig.h"
#include "devices/platform.h"
#include "devices/serial.h"
#include "state_check.h"

#define COM1 0x3f8

struct line {
	int level;
	unsigned int edges;
};

static int line_set(void *ctx, unsigned int gsi, int level)
{
	struct line *l = ctx;

	l->edges += level && !l->level;
	l->level = level;
	return 0;
}

static void sink_event(void *ctx, enum power_event ev)
{
	(void)ctx;
	(void)ev;
}

static void outb(struct bus *bus, uint16_t port, uint8_t v)
{
	assert_int_equal(bus_access(bus, BUS_PIO, port, &v, 1, true), 0);
}

static uint8_t inb(struct bus *bus, uint16_t port)
{
	uint8_t v = 0;

	assert_int_equal(bus_access(bus, BUS_PIO, port, &v, 1, false), 0);
	return v;
}

struct uart {
	struct bus bus;
	struct component c;
	struct serial *s;
	struct line irq;
	int pipe[2];
};

static void uart_open(struct uart *u)
{
	memset(u, 0, sizeof(*u));
	assert_int_equal(pipe2(u->pipe, O_NONBLOCK | O_CLOEXEC), 0);
	bus_init(&u->bus);
	u->s = dev_rig_make(serial_create, &(struct dev_env){ .bus = &u->bus,
			    .irq = { line_set, &u->irq, 0 }, .console_fd = u->pipe[1] },
			    COM1, SERIAL_PORTS, IRQ_COM1, &u->c);
}

static void uart_close(struct uart *u)
{
	dev_rig_free(&u->c);
	bus_destroy(&u->bus);
	close(u->pipe[0]);
	close(u->pipe[1]);
}

static void test_serial_round_trip(void **state)
{
	static struct uart a, b;
	uint8_t in[40], *saved;
	size_t len;

	(void)state;
	uart_open(&a);
	uart_open(&b);
	/* 8N1 at 115200, FIFO on with a 14-byte trigger, RX and THRE interrupts, OUT2. */
	outb(&a.bus, COM1 + 3, 0x83);
	outb(&a.bus, COM1 + 0, 0x01);
	outb(&a.bus, COM1 + 1, 0x00);
	outb(&a.bus, COM1 + 3, 0x03);
	outb(&a.bus, COM1 + 2, 0xc1);
	outb(&a.bus, COM1 + 1, 0x03);
	outb(&a.bus, COM1 + 4, 0x0b);
	outb(&a.bus, COM1 + 7, 0x5a);
	for (unsigned int i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)('A' + i);
	assert_int_equal(serial_rx_push(a.s, in, sizeof(in)), sizeof(in));
	for (unsigned int i = 0; i < 5; i++)
		assert_int_equal(inb(&a.bus, COM1), 'A' + i);
	assert_int_equal(a.irq.level, 1);

	saved = state_save(&a.c, &len);
	state_check_refusals(&b.c, saved, len);
	assert_int_equal(b.irq.level, 0);
	assert_int_equal(state_restore(&b.c, saved, len), 0);
	/* The pending receive interrupt is on the new line at once. */
	assert_int_equal(b.irq.level, 1);

	/* From here the two read the same, register for register, byte for byte. */
	for (unsigned int reg = 1; reg < 8; reg++)
		assert_int_equal(inb(&b.bus, COM1 + reg), inb(&a.bus, COM1 + reg));
	for (unsigned int i = 5; i < sizeof(in) + 2; i++) {
		uint8_t lsr = inb(&a.bus, COM1 + 5), iir = inb(&a.bus, COM1 + 2);

		assert_int_equal(inb(&b.bus, COM1 + 5), lsr);
		assert_int_equal(inb(&b.bus, COM1 + 2), iir);
		assert_int_equal(inb(&b.bus, COM1), inb(&a.bus, COM1));
		assert_int_equal(b.irq.level, a.irq.level);
	}
	/* The divisor latch came along too. */
	outb(&b.bus, COM1 + 3, 0x83);
	assert_int_equal(inb(&b.bus, COM1), 0x01);
	free(saved);
	uart_close(&a);
	uart_close(&b);
}

static void test_serial_bad_values(void **state)
{
	static struct uart a;
	uint8_t *saved;
	size_t len;

	(void)state;
	uart_open(&a);
	saved = state_save(&a.c, &len);
	saved[BYTES_HDR_SIZE] = 0xff; /* IER with bits a 16550A does not have */
	assert_int_equal(state_check(&a.c, saved, len), -EINVAL);
	saved[BYTES_HDR_SIZE] = 0;
	saved[BYTES_HDR_SIZE + 10] = 2; /* thr_ipending neither 0 nor 1 */
	assert_int_equal(state_check(&a.c, saved, len), -EINVAL);
	saved[BYTES_HDR_SIZE + 10] = 0;
	saved[len - 2] = 0xff; /* more FIFO bytes than the buffer holds */
	saved[len - 1] = 0xff;
	assert_int_equal(state_check(&a.c, saved, len), -EINVAL);
	free(saved);
	uart_close(&a);
}

struct kbdc {
	struct bus bus;
	struct component c;
	struct i8042 *dev;
	struct line irq;
};

static void kbdc_open(struct kbdc *k)
{
	memset(k, 0, sizeof(*k));
	bus_init(&k->bus);
	k->dev = dev_rig_make(i8042_create, &(struct dev_env){ .bus = &k->bus,
			      .power = { sink_event, NULL }, .irq = { line_set, &k->irq, 0 } },
			      PORT_I8042_DATA, I8042_PORTS, IRQ_KBD, &k->c);
}

static void kbdc_close(struct kbdc *k)
{
	dev_rig_free(&k->c);
	bus_destroy(&k->bus);
}

static void test_i8042_round_trip(void **state)
{
	static struct kbdc a, b;
	uint8_t *saved;
	size_t len;

	(void)state;
	kbdc_open(&a);
	kbdc_open(&b);
	outb(&a.bus, 0x60, 0xf2);               /* identify: ACK, 0xab, 0x83 */
	assert_int_equal(i8042_send_ctrl_alt_del(a.dev), 0);
	outb(&a.bus, 0x60, 0xf0);               /* scancode set: waits for its parameter */
	outb(&a.bus, 0x64, 0x60);               /* write command byte: waits for data */
	assert_int_equal(inb(&a.bus, 0x60), 0xfa);

	saved = state_save(&a.c, &len);
	state_check_refusals(&b.c, saved, len);
	assert_int_equal(state_restore(&b.c, saved, len), 0);
	/* 0xab waits unread with the interrupt on: the restored chip raises IRQ 1 again. */
	assert_int_equal(b.irq.edges, 1);

	/* The same writes from here give the same bytes and the same interrupts. */
	for (struct kbdc *k = &a; k; k = k == &a ? &b : NULL) {
		k->irq.edges = 0;
		outb(&k->bus, 0x60, 0x45);          /* the command byte, with translation */
	}
	for (unsigned int i = 0; i < 16; i++) {
		assert_int_equal(inb(&b.bus, 0x64), inb(&a.bus, 0x64));
		assert_int_equal(inb(&b.bus, 0x60), inb(&a.bus, 0x60));
		assert_int_equal(b.irq.edges, a.irq.edges);
	}
	outb(&a.bus, 0x60, 0x01);
	outb(&b.bus, 0x60, 0x01);               /* set 1 for both, the same ACK */
	assert_int_equal(inb(&b.bus, 0x60), inb(&a.bus, 0x60));
	outb(&a.bus, 0x64, 0x20);
	outb(&b.bus, 0x64, 0x20);
	assert_int_equal(inb(&b.bus, 0x60), 0x45);
	assert_int_equal(inb(&a.bus, 0x60), 0x45);

	/* A keyboard waiting on a command that never waits is corrupt. */
	saved[len - 2] = 0x12;
	assert_int_equal(state_check(&b.c, saved, len), -EINVAL);
	free(saved);
	kbdc_close(&a);
	kbdc_close(&b);
}

static void test_rtc_round_trip(void **state)
{
	struct bus ba, bb;
	struct component a, b;
	uint8_t *saved;
	size_t len;

	(void)state;
	bus_init(&ba);
	bus_init(&bb);
	dev_rig_make(rtc_create, &(struct dev_env){ .bus = &ba }, PORT_RTC, RTC_PORTS, IRQ_RTC, &a);
	dev_rig_make(rtc_create, &(struct dev_env){ .bus = &bb }, PORT_RTC, RTC_PORTS, IRQ_RTC, &b);
	outb(&ba, 0x70, 0x0b);
	outb(&ba, 0x71, 0x06);                  /* binary, 24-hour */
	for (uint8_t r = 0x10; r < 0x30; r++) {
		outb(&ba, 0x70, r);
		outb(&ba, 0x71, (uint8_t)(r * 3));
	}
	outb(&ba, 0x70, 0x21);                  /* the index is state too */

	saved = state_save(&a, &len);
	state_check_refusals(&b, saved, len);
	assert_int_equal(state_restore(&b, saved, len), 0);
	assert_int_equal(inb(&bb, 0x71), 0x21 * 3);
	for (uint8_t r = 0x0b; r < 0x80; r++) {
		if (r == 0x32)
			continue;                   /* the century: a clock field */
		outb(&ba, 0x70, r);
		outb(&bb, 0x70, r);
		assert_int_equal(inb(&bb, 0x71), inb(&ba, 0x71));
	}
	outb(&bb, 0x70, 0x00);
	assert_true(inb(&bb, 0x71) < 60);       /* binary seconds, not BCD */
	saved[BYTES_HDR_SIZE] = 0x80;           /* an index with the NMI bit */
	assert_int_equal(state_check(&b, saved, len), -EINVAL);
	free(saved);
	dev_rig_free(&a);
	dev_rig_free(&b);
	bus_destroy(&ba);
	bus_destroy(&bb);
}

static void test_acpi_pm_round_trip(void **state)
{
	struct bus ba;
	struct component a;
	uint8_t *saved;
	size_t len;

	(void)state;
	bus_init(&ba);
	dev_rig_make(acpi_pm_create, &(struct dev_env){ .bus = &ba, .power = { sink_event, NULL } },
		     PORT_ACPI_SLEEP_CTL, ACPI_PM_PORTS, -1, &a);
	saved = state_save(&a, &len);
	assert_int_equal(len, BYTES_HDR_SIZE);
	state_check_refusals(&a, saved, len);
	assert_int_equal(state_restore(&a, saved, len), 0);
	free(saved);
	dev_rig_free(&a);
	bus_destroy(&ba);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serial_round_trip),
		cmocka_unit_test(test_serial_bad_values),
		cmocka_unit_test(test_i8042_round_trip),
		cmocka_unit_test(test_rtc_round_trip),
		cmocka_unit_test(test_acpi_pm_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
