/* 8250/16550A UART. */
#ifndef HEARTH_DEVICES_SERIAL_H
#define HEARTH_DEVICES_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/irq.h"

struct serial;

/*
 * out_fd receives what the guest transmits (-1 discards it). irq is the
 * UART's interrupt line, driven high while an enabled interrupt is pending.
 */
struct serial *serial_create(int out_fd, struct irq_line irq);
void serial_destroy(struct serial *s);

/* Registers the 8 ports at base. */
int serial_attach(struct serial *s, struct bus *bus, uint16_t base);

/*
 * Host input. serial_rx_push queues up to len bytes for the guest and
 * returns how many it took (0 when its buffer is full). When the guest
 * later drains the buffer, the serial writes 1 to notify_fd (an eventfd),
 * so the host knows to read more input.
 */
size_t serial_rx_push(struct serial *s, const uint8_t *buf, size_t len);
size_t serial_rx_room(struct serial *s);
void serial_set_rx_notify(struct serial *s, int notify_fd);

/* The bus callbacks, exported for unit tests that drive the registers directly. */
extern const struct bus_region_ops serial_bus_ops;

#endif
