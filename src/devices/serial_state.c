/*
 * The UART's save and restore. Everything the guest can observe is kept:
 * the registers, the receive FIFO with the host input queued behind it,
 * the armed THRE interrupt and so the line's level, so a driver that was
 * mid-way through reading a burst goes on reading the same bytes.
 */
#include <errno.h>
#include <string.h>

#include "devices/serial.h"
#include "devices/serial_priv.h"
#include "util/bytes.h"

#define SERIAL_TAG "UART"

/* Bits a saved register may hold; anything else no UART of ours produced. */
#define LSR_SAVED 0x7e    /* DR is derived from the FIFO, never stored */
#define FCR_SAVED 0xc9    /* enable, DMA mode, trigger level */

int serial_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct serial *s = obj;

	pthread_mutex_lock(&s->lock);
	bytes_put_tag(o, SERIAL_TAG, SERIAL_STATE_VERSION);
	bytes_put_u8(o, s->ier);
	bytes_put_u8(o, s->lcr);
	bytes_put_u8(o, s->mcr);
	bytes_put_u8(o, s->lsr);
	bytes_put_u8(o, s->msr);
	bytes_put_u8(o, s->scr);
	bytes_put_u8(o, s->dll);
	bytes_put_u8(o, s->dlm);
	bytes_put_u8(o, s->fcr);
	bytes_put_u8(o, s->rbr);
	bytes_put_u8(o, s->thr_ipending);
	bytes_put_u8(o, s->rx_was_full);
	bytes_put_u16(o, (uint16_t)s->rx_count);
	/* Oldest first, so the ring's position is not part of the format. */
	for (size_t i = 0; i < s->rx_count; i++)
		bytes_put_u8(o, s->rx_buf[(s->rx_head + i) % RX_BUF_SIZE]);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

struct serial_saved {
	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr, rbr;
	bool thr_ipending, rx_was_full;
	uint16_t rx_count;
	uint8_t rx[RX_BUF_SIZE];
};

static int serial_parse(struct serial_saved *v, const void *in, size_t len)
{
	struct bytes_in r = bytes_in_init(in, len);
	int ret = bytes_get_tag(&r, SERIAL_TAG, SERIAL_STATE_VERSION);

	if (ret)
		return ret;
	v->ier = bytes_get_u8(&r);
	v->lcr = bytes_get_u8(&r);
	v->mcr = bytes_get_u8(&r);
	v->lsr = bytes_get_u8(&r);
	v->msr = bytes_get_u8(&r);
	v->scr = bytes_get_u8(&r);
	v->dll = bytes_get_u8(&r);
	v->dlm = bytes_get_u8(&r);
	v->fcr = bytes_get_u8(&r);
	v->rbr = bytes_get_u8(&r);
	v->thr_ipending = bytes_get_bool(&r);
	v->rx_was_full = bytes_get_bool(&r);
	v->rx_count = bytes_get_u16(&r);
	if (v->rx_count > RX_BUF_SIZE)
		return r.short_read ? -ENODATA : -EINVAL;
	bytes_get(&r, v->rx, v->rx_count);
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	if ((v->ier & ~IER_MASK) || (v->mcr & ~MCR_MASK) || (v->lsr & ~LSR_SAVED) ||
	    (v->fcr & ~FCR_SAVED) || (v->fcr && !(v->fcr & 1)))
		return -EINVAL;
	return 0;
}

int serial_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct serial *s = obj;
	struct serial_saved v;
	int ret = serial_parse(&v, in, len);

	if (ret || !apply)
		return ret;
	pthread_mutex_lock(&s->lock);
	s->ier = v.ier;
	s->lcr = v.lcr;
	s->mcr = v.mcr;
	s->lsr = v.lsr;
	s->msr = v.msr;
	s->scr = v.scr;
	s->dll = v.dll;
	s->dlm = v.dlm;
	s->fcr = v.fcr;
	s->rbr = v.rbr;
	s->thr_ipending = v.thr_ipending;
	s->rx_was_full = v.rx_was_full;
	s->rx_head = 0;
	s->rx_count = v.rx_count;
	memcpy(s->rx_buf, v.rx, v.rx_count);
	/*
	 * A pending interrupt is saved as what it derives from (the armed
	 * THRE, the FIFO, LSR errors, MSR deltas). Driving the line to the
	 * level they give raises it again on the new VM's pin rather than
	 * losing it; one already pending in the restored IOAPIC sees no
	 * second edge.
	 */
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}
