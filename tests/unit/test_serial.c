#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/bus.h"
#include "devices/serial.h"
#include "uart_rig.h"

#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

struct irq_rec {
	int level;
	unsigned int calls;
	unsigned int redundant; /* calls that did not change the level */
};

static int rec_set(void *ctx, unsigned int gsi, int level)
{
	struct irq_rec *r = ctx;

	assert_int_equal(gsi, 4);
	if (level == r->level)
		r->redundant++;
	r->level = level;
	r->calls++;
	return 0;
}

struct fixture {
	struct serial *s;
	struct irq_rec irq;
	int pipe[2];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(pipe2(f->pipe, O_NONBLOCK | O_CLOEXEC), 0);
	f->s = uart_new(f->pipe[1], (struct irq_line){ rec_set, &f->irq, 4 });
	assert_non_null(f->s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uart_free(f->s);
	close(f->pipe[0]);
	close(f->pipe[1]);
	assert_int_equal(f->irq.redundant, 0);
	free(f);
	return 0;
}

static uint8_t rd(struct fixture *f, unsigned int reg)
{
	uint8_t d = 0x5a;

	serial_bus_ops.read(f->s, reg, &d, 1);
	return d;
}

static void wr(struct fixture *f, unsigned int reg, uint8_t v)
{
	serial_bus_ops.write(f->s, reg, &v, 1);
}

/* No io thread here: move the UART's buffered output into the pipe first. */
static ssize_t drain_pipe(struct fixture *f, char *buf, size_t len)
{
	ssize_t n;

	assert_int_equal(serial_output_drain(f->s), 0);
	n = read(f->pipe[0], buf, len);

	return n < 0 && errno == EAGAIN ? 0 : n;
}

static void test_reset_state(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, IIR), 0x01);
	assert_int_equal(rd(f, LSR), 0x60);
	assert_int_equal(rd(f, IER), 0);
	assert_int_equal(rd(f, MSR) & 0xf0, 0xb0);
	assert_int_equal(f->irq.calls, 0);
}

static void test_tx_reaches_fd(void **state)
{
	struct fixture *f = *state;
	char buf[16];

	wr(f, THR, 'h');
	wr(f, THR, 'i');
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "hi", 2);
	assert_int_equal(rd(f, LSR) & 0x60, 0x60);
}

static void test_tx_wide_access_is_bytewise(void **state)
{
	struct fixture *f = *state;
	uint8_t data[2] = { 'A', 0x00 }; /* THR then IER */
	char buf[4];

	serial_bus_ops.write(f->s, THR, data, 2);
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'A');
	/* An access past the last register reads floating bits. */
	uint8_t out[4];
	serial_bus_ops.read(f->s, 6, out, 4);
	assert_int_equal(out[1], 0);    /* SCR */
	assert_int_equal(out[2], 0xff);
	assert_int_equal(out[3], 0xff);
}

static void test_dlab_roundtrip(void **state)
{
	struct fixture *f = *state;
	char buf[4];

	wr(f, IER, 0x05);
	wr(f, LCR, 0x83);
	wr(f, DLL, 0x01);
	wr(f, DLM, 0x02);
	assert_int_equal(rd(f, DLL), 0x01);
	assert_int_equal(rd(f, DLM), 0x02);
	assert_int_equal(rd(f, LCR), 0x83);
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, IER), 0x05);
	wr(f, LCR, 0x83);
	assert_int_equal(rd(f, DLL), 0x01);
	/* Divisor writes are not transmitted. */
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 0);
}

static void test_scratch_and_ier_mask(void **state)
{
	struct fixture *f = *state;

	for (unsigned int v = 0; v < 256; v++) {
		wr(f, SCR, (uint8_t)v);
		assert_int_equal(rd(f, SCR), v);
	}
	/* Linux's probe: IER keeps the low nibble only (no UUE bit). */
	wr(f, IER, 0xff);
	assert_int_equal(rd(f, IER), 0x0f);
	wr(f, IER, 0);
	assert_int_equal(rd(f, IER), 0);
}

static void test_fifo_iir_bits(void **state)
{
	struct fixture *f = *state;

	wr(f, FCR, 0x01);
	assert_int_equal(rd(f, IIR), 0xc1);
	/* The 16750 probe: bit 5 must stay clear, with and without DLAB. */
	wr(f, FCR, 0x21);
	assert_int_equal(rd(f, IIR) >> 5, 6);
	wr(f, LCR, 0x80);
	wr(f, FCR, 0x21);
	assert_int_equal(rd(f, IIR) >> 5, 6);
	wr(f, LCR, 0);
	wr(f, FCR, 0);
	assert_int_equal(rd(f, IIR), 0x01);
}

static void test_thre_interrupt(void **state)
{
	struct fixture *f = *state;

	wr(f, MCR, MCR_OUT2);
	assert_int_equal(f->irq.calls, 0);

	/* Enabling ETBEI while THR is empty raises it. */
	wr(f, IER, 0x02);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, IIR), 0x02);
	/* Reading IIR acknowledged it. */
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(rd(f, IIR), 0x01);

	/* Linux's THRE re-assert test: toggling ETBEI raises it again. */
	wr(f, IER, 0);
	wr(f, IER, 0x02);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(f->irq.level, 0);

	/*
	 * A THR write clears THRE, and since the byte leaves at once THRE
	 * re-arms: a fresh rising edge, which keeps TX from stalling.
	 */
	unsigned int calls = f->irq.calls;
	wr(f, THR, 'x');
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(f->irq.calls, calls + 1);
	wr(f, THR, 'y');
	assert_int_equal(f->irq.calls, calls + 1); /* no change, no call */
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(f->irq.level, 0);

	/* Disabling ETBEI drops a pending THRE. */
	wr(f, THR, 'z');
	assert_int_equal(f->irq.level, 1);
	wr(f, IER, 0);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(rd(f, IIR), 0x01);
}

static void test_thre_behind_rx(void **state)
{
	struct fixture *f = *state;

	wr(f, MCR, MCR_OUT2);
	wr(f, IER, 0x03);
	assert_int_equal(serial_rx_push(f->s, (const uint8_t *)"k", 1), 1);
	/* RX outranks THRE, and reading IIR then must not eat THRE. */
	assert_int_equal(rd(f, IIR), 0x04);
	assert_int_equal(rd(f, RBR), 'k');
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(f->irq.level, 0);
}

static void test_rx_push_and_drain(void **state)
{
	struct fixture *f = *state;

	wr(f, MCR, MCR_OUT2);
	wr(f, IER, 0x01);
	assert_int_equal(f->irq.calls, 0);
	assert_int_equal(rd(f, LSR) & 0x01, 0);

	assert_int_equal(serial_rx_push(f->s, (const uint8_t *)"abc", 3), 3);
	assert_int_equal(rd(f, LSR) & 0x01, 1);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, IIR), 0x04);
	assert_int_equal(rd(f, RBR), 'a');
	assert_int_equal(rd(f, RBR), 'b');
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, RBR), 'c');
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(rd(f, LSR) & 0x01, 0);
	assert_int_equal(rd(f, IIR), 0x01);
	/* An empty RBR repeats the last byte and changes nothing. */
	assert_int_equal(rd(f, RBR), 'c');
	assert_int_equal(f->irq.level, 0);
}

static void test_rx_fifo_trigger(void **state)
{
	struct fixture *f = *state;
	uint8_t bytes[20];

	memset(bytes, 'q', sizeof(bytes));
	wr(f, MCR, MCR_OUT2);
	wr(f, FCR, 0x81); /* FIFO on, trigger at 8 */
	wr(f, IER, 0x01);
	assert_int_equal(serial_rx_push(f->s, bytes, 3), 3);
	assert_int_equal(rd(f, IIR), 0xcc); /* below trigger: timeout */
	assert_int_equal(serial_rx_push(f->s, bytes, 10), 10);
	assert_int_equal(rd(f, IIR), 0xc4);
	/* Clearing the RX FIFO drops what the guest can see (16 bytes). */
	assert_int_equal(serial_rx_push(f->s, bytes, 7), 7);
	wr(f, FCR, 0x83);
	assert_int_equal(serial_rx_room(f->s), 1024 - 4);
	assert_int_equal(rd(f, IIR), 0xcc);
}

static void test_rx_full_notify(void **state)
{
	struct fixture *f = *state;
	uint8_t in[1500];
	uint64_t v;
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	assert_true(efd >= 0);
	serial_set_rx_notify(f->s, efd);
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7);

	assert_int_equal(serial_rx_push(f->s, in, sizeof(in)), 1024);
	assert_int_equal(serial_rx_room(f->s), 0);
	assert_int_equal(serial_rx_push(f->s, in, 1), 0);
	assert_int_equal(read(efd, &v, sizeof(v)), -1);

	for (size_t i = 0; i < 1024; i++)
		assert_int_equal(rd(f, RBR), in[i]);
	assert_int_equal(rd(f, LSR) & 0x01, 0);
	assert_int_equal(serial_rx_room(f->s), 1024);
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	/* Once per episode of being full. */
	assert_int_equal(read(efd, &v, sizeof(v)), -1);
	close(efd);
}

static void test_loopback(void **state)
{
	struct fixture *f = *state;
	char buf[4];

	/* Linux's autoconfig check: LOOP|OUT2|RTS must show DCD|CTS. */
	wr(f, MCR, MCR_LOOP | 0x0a);
	assert_int_equal(rd(f, MSR) & 0xf0, 0x90);
	wr(f, MCR, MCR_LOOP | 0x0f);
	assert_int_equal(rd(f, MSR) & 0xf0, 0xf0);
	wr(f, MCR, MCR_LOOP | 0x0b);
	assert_int_equal(rd(f, MSR), 0xb4); /* RI fell: TERI */
	assert_int_equal(rd(f, MSR), 0xb0); /* deltas clear on read */

	/* Transmit loops to the receiver, not out_fd; no IRQ in loopback. */
	wr(f, IER, 0x0f);
	wr(f, THR, 'L');
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 0);
	assert_int_equal(rd(f, LSR) & 0x01, 1);
	assert_int_equal(rd(f, IIR), 0x04);
	assert_int_equal(f->irq.calls, 0);
	assert_int_equal(rd(f, RBR), 'L');

	/* A second byte with no FIFO overruns the holding register. */
	wr(f, THR, '1');
	wr(f, THR, '2');
	assert_int_equal(rd(f, LSR) & 0x03, 0x03);
	assert_int_equal(rd(f, LSR) & 0x02, 0);
	assert_int_equal(rd(f, RBR), '1');

	wr(f, IER, 0);
	wr(f, MCR, 0);
	assert_int_equal(rd(f, MSR) & 0xf0, 0xb0);
	wr(f, THR, 'o');
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 1);
	assert_int_equal(f->irq.level, 0);
}

static void test_out2_gating(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x02);
	assert_int_equal(f->irq.calls, 0);
	wr(f, MCR, MCR_OUT2);
	assert_int_equal(f->irq.level, 1);
	wr(f, MCR, 0);
	assert_int_equal(f->irq.level, 0);
	/* Still pending in IIR, just not driven onto the line. */
	assert_int_equal(rd(f, IIR), 0x02);
	assert_int_equal(f->irq.calls, 2);
}

static void test_tx_errors_drop(void **state)
{
	struct fixture *f = *state;
	char big[4096];
	int p[2];

	memset(big, 'x', sizeof(big));
	/* Fill the pipe: the byte waits in the UART's buffer, THR is empty anyway. */
	while (write(f->pipe[1], big, sizeof(big)) > 0)
		;
	wr(f, THR, 'a');
	assert_int_equal(rd(f, LSR) & 0x60, 0x60);
	assert_int_equal(serial_output_drain(f->s), -EAGAIN);
	assert_int_equal(serial_output_pending(f->s), 1);
	assert_int_equal(serial_output_dropped(f->s), 0);

	/* A reader that went away: EPIPE, dropped and counted, no crash. */
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	struct serial *s = uart_new(p[1], (struct irq_line){ 0 });
	uint8_t b = 'b';
	serial_bus_ops.write(s, THR, &b, 1);
	assert_int_equal(serial_output_drain(s), -EPIPE);
	assert_int_equal(serial_output_pending(s), 0);
	assert_int_equal(serial_output_dropped(s), 1);
	uart_free(s);
	close(p[1]);

	/* -1 discards: nothing buffered, nothing to wake, nothing dropped. */
	s = uart_new(-1, (struct irq_line){ 0 });
	serial_bus_ops.write(s, THR, &b, 1);
	assert_int_equal(serial_output_fd(s), -1);
	assert_int_equal(serial_output_pending(s), 0);
	assert_int_equal(serial_output_drain(s), 0);
	assert_int_equal(serial_output_flush(s, 1000), 0);
	assert_int_equal(serial_output_dropped(s), 0);
	uart_free(s);
}

static void test_via_bus(void **state)
{
	struct fixture *f = *state;
	struct dev_resources res = { .pio_base = 0x3f8, .pio_size = SERIAL_PORTS, .gsi = 4 };
	struct dev_env env;
	struct err err = ERR_INIT;
	struct component c, again;
	struct bus bus;
	uint8_t d;
	char buf[4];

	bus_init(&bus);
	env = (struct dev_env){ .bus = &bus, .console_fd = f->pipe[1] };
	assert_int_equal(serial_create(&env, &res, &c, &err), 0);
	assert_int_equal(serial_create(&env, &res, &again, &err), -EEXIST);
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x3fd, &d, 1, false), 0);
	assert_int_equal(d, 0x60);
	d = 'B';
	assert_int_equal(bus_access(&bus, BUS_PIO, 0x3f8, &d, 1, true), 0);
	assert_int_equal(serial_output_drain(c.obj), 0);
	assert_int_equal(drain_pipe(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'B');
	bus_destroy(&bus);
	c.ops->destroy(c.obj);
}

static void test_hostile_fuzz(void **state)
{
	struct fixture *f = *state;
	static const unsigned int lens[] = { 1, 2, 4, 8 };
	char sink[65536];
	uint8_t data[8];

	srand(12345);
	for (int i = 0; i < 200000; i++) {
		unsigned int len = lens[rand() % 4];
		uint64_t off = (uint64_t)(rand() % 8);
		for (unsigned int j = 0; j < 8; j++)
			data[j] = (uint8_t)rand();
		switch (rand() % 8) {
		case 0:
			serial_rx_push(f->s, data, (size_t)(rand() % 9));
			break;
		case 1:
		case 2:
		case 3:
			serial_bus_ops.write(f->s, off, data, len);
			break;
		default:
			serial_bus_ops.read(f->s, off, data, len);
			break;
		}
		if (i % 4096 == 0)
			drain_pipe(f, sink, sizeof(sink));
	}
	/* Whatever state it ended in, a reset-like sequence recovers it. */
	wr(f, LCR, 0x03);
	wr(f, IER, 0);
	wr(f, MCR, MCR_OUT2);
	wr(f, FCR, 0x07);
	while (rd(f, LSR) & 0x01)
		rd(f, RBR);
	rd(f, MSR);
	assert_int_equal(rd(f, IIR) & 0x0f, 0x01);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(f->irq.redundant, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_reaches_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_wide_access_is_bytewise, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dlab_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scratch_and_ier_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_iir_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_behind_rx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_push_and_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_fifo_trigger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_full_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out2_gating, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_errors_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_via_bus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_fuzz, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
