/*
 * The UART's state, shared by serial.c (the registers) and serial_state.c
 * (its save and restore). Nothing else includes this.
 */
#ifndef HEARTH_DEVICES_SERIAL_PRIV_H
#define HEARTH_DEVICES_SERIAL_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/irq.h"
#include "devices/serial_out.h"
#include "util/bytes.h"
#include "util/err.h"

#define IER_MASK 0x0f  /* the rest read as zero on a 16550A */
#define MCR_MASK 0x1f
#define RX_BUF_SIZE 1024

struct serial {
	pthread_mutex_t lock;
	int notify_fd;
	struct irq_line irq;
	int irq_level;

	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	uint8_t rbr;       /* last byte read, returned again when the FIFO is empty */
	/* lsr holds THRE/TEMT and the sticky error bits; DR is derived from rx_count. */
	bool thr_ipending; /* THRE interrupt armed and not yet acknowledged */

	uint8_t rx_buf[RX_BUF_SIZE];
	size_t rx_head, rx_count;
	bool rx_was_full; /* the host was turned away; owes it a notify */
	uint64_t rx_bytes; /* taken from the host in all */

	struct serial_out out; /* its own locks: the io thread never needs ours */
};

/* Drives the line to what IIR shows; s->lock held. */
void serial_update_irq(struct serial *s);

/* serial_state.c: the component's save and restore (core/component.h). */
int serial_save(void *obj, struct bytes_out *o, struct err *err);
int serial_restore(void *obj, const void *in, size_t len, bool apply, struct err *err);

#endif
