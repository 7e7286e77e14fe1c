/*
 * Test-only: a UART built the one way (devices/device.h) on no bus, for
 * tests that drive its registers through serial_bus_ops, and let go of
 * through its component's destroy.
 */
#ifndef HEARTH_TESTS_UART_RIG_H
#define HEARTH_TESTS_UART_RIG_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/layout.h"
#include "devices/serial.h"

static const struct component_ops *uart_ops;

/* Its output to out_fd (-1 discards it), its interrupt through irq (irq.gsi its line). */
static inline struct serial *uart_new(int out_fd, struct irq_line irq)
{
	struct dev_env env = { .irq = irq, .console_fd = out_fd };
	struct dev_resources res = { .pio_base = PORT_COM1, .pio_size = SERIAL_PORTS,
				     .gsi = (int)irq.gsi };
	struct err err = ERR_INIT;
	struct component c;

	assert_int_equal(serial_create(&env, &res, &c, &err), 0);
	uart_ops = c.ops;
	return c.obj;
}

static inline void uart_free(struct serial *s)
{
	uart_ops->destroy(s);
}

#endif
