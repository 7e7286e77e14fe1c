/* 8250/16550A UART. */
#ifndef HEARTH_DEVICES_SERIAL_H
#define HEARTH_DEVICES_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "devices/device.h"

struct serial;

/*
 * Eight registers from res->pio_base, the interrupt line res->gsi, driven
 * high while an enabled interrupt is pending. env->console_fd receives
 * what the guest transmits (-1 discards it), through a buffer that
 * someone must drain (see serial_output_*); the fd stays the caller's and
 * its file status flags are left alone where possible. The component's
 * obj is the struct serial; it counts out_bytes, out_dropped_bytes and
 * in_bytes.
 */
#define SERIAL_PORTS 8
int serial_create(const struct dev_env *env, const struct dev_resources *res,
		  struct component *out, struct err *err);

/*
 * Host input. serial_rx_push queues up to len bytes for the guest and
 * returns how many it took (0 when its buffer is full). When the guest
 * later drains the buffer, the serial writes 1 to notify_fd (an eventfd),
 * so the host knows to read more input.
 */
size_t serial_rx_push(struct serial *s, const uint8_t *buf, size_t len);
size_t serial_rx_room(struct serial *s);
void serial_set_rx_notify(struct serial *s, int notify_fd);

/*
 * Guest output. A vCPU writing THR only appends to a SERIAL_OUTPUT_SIZE
 * buffer (dropping and counting bytes when it is full) and makes
 * serial_output_fd (an eventfd; -1 when discarding) readable when the
 * buffer turns non-empty. The draining thread calls serial_output_drain,
 * which writes without blocking: 0 when all is out, -EAGAIN when out_fd
 * is full (wait for EPOLLOUT on serial_output_poll_fd; -1 when writes
 * there never block), another -errno when out_fd failed and the buffered
 * bytes were dropped. serial_output_flush drains and waits for room until
 * the buffer is empty or out_fd took nothing for timeout_ms (-ETIMEDOUT).
 */
#define SERIAL_OUTPUT_SIZE (64 * 1024)
int serial_output_fd(struct serial *s);
int serial_output_poll_fd(struct serial *s);
int serial_output_drain(struct serial *s);
int serial_output_flush(struct serial *s, int timeout_ms);
size_t serial_output_pending(struct serial *s);
uint64_t serial_output_dropped(struct serial *s);
/* Bytes the guest sent, and bytes the host gave it (metrics). */
uint64_t serial_output_bytes(struct serial *s);
uint64_t serial_input_bytes(struct serial *s);

/*
 * The record ("UART" 1, through the component) holds the guest-visible
 * state: registers, the receive FIFO and the host-side input behind it,
 * and so the interrupt line, which a restore drives again. Output not yet
 * drained to the console is the host's, not the guest's, and is not
 * saved: flush it first.
 */
#define SERIAL_STATE_VERSION 1u

/* The bus callbacks, exported for unit tests that drive the registers directly. */
extern const struct bus_region_ops serial_bus_ops;

#endif
