/*
 * 8250/16550A UART, modelled closely enough that the stock Linux 8250
 * driver autodetects a 16550A and runs it interrupt driven.
 *
 * The transmitter is infinitely fast: a byte written to THR goes straight
 * into a host-side buffer (serial_out.c) that the io thread drains to
 * out_fd, so THR and the shift register are always empty and a vCPU never
 * waits for the host's stdout; when the buffer is full the byte is dropped
 * and counted.
 * The receiver shows the guest a 16-byte FIFO (or a 1-byte holding register
 * with FIFOs off) in front of a larger host-side buffer, so the host never
 * has to drop input: LSR.DR and the interrupts follow the data the guest
 * can see.
 */
#include "devices/serial.h"
#include "devices/serial_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

#define UART_NR_REGS 8

/* Register offsets. */
#define UART_RBR 0 /* read, DLAB=0 */
#define UART_THR 0 /* write, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI 0x04  /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_CTI 0x0c /* character timeout */
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_DMA 0x08
#define FCR_TRIGGER 0xc0

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define MSR_DELTAS 0x0f

#define UART_FIFO_DEPTH 16
/*
 * Tell the host to push again only once a useful amount of room has
 * opened up, not after every byte the guest reads.
 */
#define RX_NOTIFY_ROOM (RX_BUF_SIZE / 4)


static struct ratelimit serial_rl = RATELIMIT_INIT(5);

_Static_assert(SERIAL_OUT_SIZE == SERIAL_OUTPUT_SIZE, "serial.h advertises the buffer size");

static bool serial_fifo_on(const struct serial *s)
{
	return s->fcr & FCR_ENABLE;
}

static size_t serial_rx_depth(const struct serial *s)
{
	return serial_fifo_on(s) ? UART_FIFO_DEPTH : 1;
}

static size_t serial_rx_trigger(const struct serial *s)
{
	static const uint8_t levels[4] = { 1, 4, 8, 14 };

	return serial_fifo_on(s) ? levels[(s->fcr & FCR_TRIGGER) >> 6] : 1;
}

/* The highest-priority enabled interrupt, as IIR bits 3:0. */
static uint8_t serial_pending(const struct serial *s)
{
	if ((s->ier & IER_ELSI) && (s->lsr & LSR_ERRORS))
		return IIR_RLSI;
	if ((s->ier & IER_ERBFI) && s->rx_count) {
		size_t visible = s->rx_count < serial_rx_depth(s) ? s->rx_count
								 : serial_rx_depth(s);
		/*
		 * Below the trigger level a real FIFO reports a timeout after
		 * four idle character times; the host has nothing more queued
		 * for us now, so that time has effectively passed.
		 */
		return visible >= serial_rx_trigger(s) ? IIR_RDI : IIR_CTI;
	}
	if ((s->ier & IER_ETBEI) && s->thr_ipending)
		return IIR_THRI;
	if ((s->ier & IER_EDSSI) && (s->msr & MSR_DELTAS))
		return IIR_MSI;
	return IIR_NO_INT;
}

/*
 * The line follows IIR exactly, so it falls whenever the guest's handler
 * sees "no interrupt" and every later event is a fresh edge for the
 * edge-triggered IOAPIC pin. On a PC, OUT2 enables the IRQ buffer; in
 * loopback the OUT pins are forced inactive, which also disconnects it.
 */
void serial_update_irq(struct serial *s)
{
	int level = serial_pending(s) != IIR_NO_INT && (s->mcr & MCR_OUT2) &&
		    !(s->mcr & MCR_LOOP);
	int r;

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	r = irq_line_set(&s->irq, level);
	if (r < 0)
		log_ratelimited(&serial_rl, LOG_WARN, "serial: setting IRQ %u to %d: %s",
				s->irq.gsi, level, strerror(-r));
}

/* Modem inputs: looped from MCR in loopback, otherwise an always-ready peer. */
static uint8_t serial_modem_inputs(const struct serial *s)
{
	uint8_t m = 0;

	if (!(s->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	if (s->mcr & MCR_RTS)
		m |= MSR_CTS;
	if (s->mcr & MCR_DTR)
		m |= MSR_DSR;
	if (s->mcr & MCR_OUT1)
		m |= MSR_RI;
	if (s->mcr & MCR_OUT2)
		m |= MSR_DCD;
	return m;
}

static void serial_update_msr(struct serial *s)
{
	uint8_t old = s->msr & ~MSR_DELTAS;
	uint8_t now = serial_modem_inputs(s);
	uint8_t delta = s->msr & MSR_DELTAS;

	if ((old ^ now) & MSR_CTS)
		delta |= MSR_DCTS;
	if ((old ^ now) & MSR_DSR)
		delta |= MSR_DDSR;
	if ((old & MSR_RI) && !(now & MSR_RI))
		delta |= MSR_TERI;
	if ((old ^ now) & MSR_DCD)
		delta |= MSR_DDCD;
	s->msr = now | delta;
}

static void serial_rx_discard(struct serial *s, size_t n)
{
	if (n > s->rx_count)
		n = s->rx_count;
	s->rx_head = (s->rx_head + n) % RX_BUF_SIZE;
	s->rx_count -= n;
}

/* Returns true when the host should be told there is room again. */
static bool serial_rx_check_notify(struct serial *s)
{
	if (!s->rx_was_full || RX_BUF_SIZE - s->rx_count < RX_NOTIFY_ROOM)
		return false;
	s->rx_was_full = false;
	return s->notify_fd >= 0;
}

static void serial_notify(int fd)
{
	uint64_t one = 1;
	ssize_t r;

	do
		r = write(fd, &one, sizeof(one));
	while (r < 0 && errno == EINTR);
	if (r < 0)
		log_ratelimited(&serial_rl, LOG_WARN, "serial: rx notify: %s", strerror(errno));
}

/* Sets *wake when the output consumer must be woken once our lock is dropped. */
static void serial_transmit(struct serial *s, uint8_t byte, bool *wake)
{
	if (s->mcr & MCR_LOOP) {
		/* The receiver hears the transmitter and nothing else. */
		if (s->rx_count >= serial_rx_depth(s) || s->rx_count == RX_BUF_SIZE) {
			s->lsr |= LSR_OE;
			return;
		}
		s->rx_buf[(s->rx_head + s->rx_count) % RX_BUF_SIZE] = byte;
		s->rx_count++;
		return;
	}
	/* A slow or gone reader costs the guest bytes, never a stuck vCPU. */
	*wake |= serial_out_put(&s->out, byte);
}

static uint8_t serial_read_reg(struct serial *s, unsigned int reg, bool *notify)
{
	uint8_t v, iir;

	switch (reg) {
	case UART_RBR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (s->rx_count) {
			s->rbr = s->rx_buf[s->rx_head];
			serial_rx_discard(s, 1);
			*notify |= serial_rx_check_notify(s);
		}
		return s->rbr;
	case UART_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case UART_IIR:
		iir = serial_pending(s);
		/* Reading IIR is the acknowledgement for THRE only. */
		if (iir == IIR_THRI)
			s->thr_ipending = false;
		return iir | (serial_fifo_on(s) ? IIR_FIFO_ON : 0);
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = s->lsr | (s->rx_count ? LSR_DR : 0);
		s->lsr &= ~LSR_ERRORS;
		return v;
	case UART_MSR:
		v = s->msr;
		s->msr &= ~MSR_DELTAS;
		return v;
	case UART_SCR:
	default:
		return s->scr;
	}
}

static void serial_write_fcr(struct serial *s, uint8_t v, bool *notify)
{
	/* FCR0 gates the other bits; toggling it empties both FIFOs. */
	if ((v ^ s->fcr) & FCR_ENABLE)
		v |= FCR_CLEAR_RX | FCR_CLEAR_TX;
	if (v & FCR_CLEAR_RX) {
		/*
		 * Only what sits in the guest-visible FIFO is lost; the host
		 * buffer behind it stands for bytes still on the wire.
		 */
		serial_rx_discard(s, serial_rx_depth(s));
		*notify |= serial_rx_check_notify(s);
	}
	s->fcr = (v & FCR_ENABLE) ? (v & (FCR_ENABLE | FCR_DMA | FCR_TRIGGER)) : 0;
}

static void serial_write_reg(struct serial *s, unsigned int reg, uint8_t v, bool *notify,
			     bool *wake)
{
	uint8_t old;

	switch (reg) {
	case UART_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			break;
		}
		s->thr_ipending = false;
		serial_transmit(s, v, wake);
		/* The byte left at once, so THR is empty and THRE re-arms. */
		if (s->ier & IER_ETBEI)
			s->thr_ipending = true;
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		old = s->ier;
		s->ier = v & IER_MASK;
		if (!(s->ier & IER_ETBEI))
			s->thr_ipending = false;
		else if (!(old & IER_ETBEI))
			s->thr_ipending = true; /* enabled while THR is empty */
		break;
	case UART_FCR:
		serial_write_fcr(s, v, notify);
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		s->mcr = v & MCR_MASK;
		serial_update_msr(s);
		break;
	case UART_LSR:
	case UART_MSR:
		/* Read-only on a 16550A; factory-test writes are not modelled. */
		break;
	case UART_SCR:
	default:
		s->scr = v;
		break;
	}
}

/*
 * A wider access to an 8-bit ISA device reaches it as consecutive byte
 * cycles, so take it a byte at a time.
 */
static void serial_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct serial *s = opaque;
	bool notify = false;
	int fd;

	pthread_mutex_lock(&s->lock);
	for (unsigned int i = 0; i < len; i++) {
		uint64_t reg = offset + i;
		data[i] = reg < UART_NR_REGS ? serial_read_reg(s, (unsigned int)reg, &notify)
					     : 0xff;
	}
	serial_update_irq(s);
	fd = s->notify_fd;
	pthread_mutex_unlock(&s->lock);
	if (notify)
		serial_notify(fd);
}

static void serial_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct serial *s = opaque;
	bool notify = false, wake = false;
	int fd;

	pthread_mutex_lock(&s->lock);
	for (unsigned int i = 0; i < len; i++) {
		uint64_t reg = offset + i;
		if (reg < UART_NR_REGS)
			serial_write_reg(s, (unsigned int)reg, data[i], &notify, &wake);
	}
	serial_update_irq(s);
	fd = s->notify_fd;
	pthread_mutex_unlock(&s->lock);
	if (notify)
		serial_notify(fd);
	if (wake)
		serial_out_wake(&s->out);
}

const struct bus_region_ops serial_bus_ops = {
	.read = serial_read,
	.write = serial_write,
};

static void serial_destroy(void *obj)
{
	struct serial *s = obj;

	serial_out_destroy(&s->out);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static unsigned int serial_counters(void *obj, struct dev_counter *out, unsigned int max)
{
	struct dev_counter c[] = {
		{ "out_bytes", serial_output_bytes(obj) },
		{ "out_dropped_bytes", serial_output_dropped(obj) },
		{ "in_bytes", serial_input_bytes(obj) },
		/* Firecracker's uart metric: bytes the rate_limiter dropped. */
		{ "rate_limiter_dropped_bytes", serial_out_rl_dropped(&((struct serial *)obj)->out) },
	};

	return dev_counters_copy(out, max, c, 4);
}

/*
 * Paused, the guest's output is written out before the pause is answered:
 * a client that pauses and then reads the output file (or forks and
 * compares) sees every byte the guest wrote. A stdout that is full stays
 * for the console to drain once it has room.
 */
static int serial_pause(void *obj)
{
	(void)serial_output_drain(obj);
	return 0;
}

static const struct component_ops serial_component = {
	.pause = serial_pause,
	.save = serial_save,
	.restore = serial_restore,
	.destroy = serial_destroy,
	.counters = serial_counters,
};

int serial_create(const struct dev_env *env, const struct dev_resources *res,
		  struct component *out, struct err *err)
{
	struct serial *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return err_set(err, false, -ENOMEM, "out of memory");
	pthread_mutex_init(&s->lock, NULL);
	ret = serial_out_init(&s->out, env->console_fd);
	if (ret) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return err_set(err, false, ret, "%s", strerror(-ret));
	}
	serial_out_set_limit(&s->out, env->console_rl);
	s->notify_fd = -1;
	s->irq = dev_irq(env, res);
	s->lsr = LSR_THRE | LSR_TEMT;
	s->msr = serial_modem_inputs(s);
	s->dll = 12; /* 9600 baud from the 1.8432 MHz clock, as firmware leaves it */
	ret = dev_claim(env, BUS_PIO, res->pio_base, res->pio_size, &serial_bus_ops, s, "serial",
			err);
	if (ret) {
		serial_destroy(s);
		return ret;
	}
	*out = (struct component){ &serial_component, s };
	return 0;
}

size_t serial_rx_push(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t room, n;

	pthread_mutex_lock(&s->lock);
	room = RX_BUF_SIZE - s->rx_count;
	n = len < room ? len : room;
	for (size_t i = 0; i < n; i++)
		s->rx_buf[(s->rx_head + s->rx_count + i) % RX_BUF_SIZE] = buf[i];
	s->rx_count += n;
	s->rx_bytes += n;
	if (n < len || s->rx_count == RX_BUF_SIZE)
		s->rx_was_full = true;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t serial_rx_room(struct serial *s)
{
	size_t room;

	pthread_mutex_lock(&s->lock);
	room = RX_BUF_SIZE - s->rx_count;
	pthread_mutex_unlock(&s->lock);
	return room;
}

void serial_set_rx_notify(struct serial *s, int notify_fd)
{
	pthread_mutex_lock(&s->lock);
	s->notify_fd = notify_fd;
	pthread_mutex_unlock(&s->lock);
}

int serial_output_fd(struct serial *s)
{
	return s->out.wake_fd;
}

int serial_output_poll_fd(struct serial *s)
{
	return s->out.poll_fd;
}

int serial_output_drain(struct serial *s)
{
	return serial_out_drain(&s->out);
}

int serial_output_flush(struct serial *s, int timeout_ms)
{
	return serial_out_flush(&s->out, timeout_ms);
}

size_t serial_output_pending(struct serial *s)
{
	return serial_out_pending(&s->out);
}

uint64_t serial_output_dropped(struct serial *s)
{
	return serial_out_dropped(&s->out);
}

uint64_t serial_output_bytes(struct serial *s)
{
	return serial_out_tx_bytes(&s->out);
}

uint64_t serial_input_bytes(struct serial *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->rx_bytes;
	pthread_mutex_unlock(&s->lock);
	return n;
}
