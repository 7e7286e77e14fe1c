/*
 * i8042 keyboard controller: a data port and, four above it, the status
 * and command port (0x60 and 0x64 on a PC), with a keyboard that has no keys but one chord behind it and
 * no mouse. It exists so that the "pulse the reset line" reboot path works,
 * so a probing driver sees a sane controller, and so the host can send the
 * guest Ctrl-Alt-Del (Firecracker's SendCtrlAltDel): the keyboard answers
 * the commands Linux's atkbd probes with (ps2kbd.c), and its bytes,
 * queued, reach the guest one at a time on IRQ 1.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "devices/platform.h"
#include "devices/ps2kbd.h"
#include "util/bytes.h"
#include "util/log.h"

#define I8042_CMD_OFFSET 4     /* the command port, from the data port */

#define STS_OBF 0x01  /* output buffer full: data waits at 0x60 */
#define STS_IBF 0x02  /* input buffer full; never, we consume at once */
#define STS_SYS 0x04  /* system flag, mirrors command byte bit 2 */
#define STS_CMD 0x08  /* last write went to 0x64 */
#define STS_UNLOCKED 0x10

#define CB_KBD_INT 0x01
#define CB_SYS 0x04
#define CB_KBD_DISABLE 0x10
#define CB_AUX_DISABLE 0x20
/* Keyboard interrupt on, system flag set, translation on: as firmware leaves it. */
#define CB_DEFAULT 0x45

#define CMD_READ_CB 0x20
#define CMD_WRITE_CB 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_INPUT 0xc0
#define CMD_READ_OUTPUT 0xd0
#define CMD_WRITE_OUTPUT 0xd1
#define CMD_WRITE_KBD_OBUF 0xd2
#define CMD_WRITE_AUX_OBUF 0xd3
#define CMD_WRITE_AUX 0xd4

#define SELF_TEST_OK 0x55
#define IFACE_TEST_OK 0x00
/* Output port: bit 0 is the CPU reset line (active low), bit 1 the A20 gate. */
#define OUTPORT_RESET_N 0x01
#define OUTPORT_IDLE 0x03

struct i8042 {
	pthread_mutex_t lock;
	struct power_sink sink;
	struct irq_line irq;     /* ISA IRQ 1 */
	uint8_t cmd_byte;
	uint8_t outbuf;
	bool obf;
	bool last_was_cmd;
	uint8_t pending; /* command waiting for its data byte at 0x60, or 0 */
	bool from_kbd;   /* outbuf holds a keyboard byte (not a command's answer) */
	int irq_level;   /* what IRQ 1 was last driven to */
	struct ps2kbd kbd;
	/* Firecracker's i8042 metrics, under dev->lock; not saved (a snapshot's are its own). */
	uint64_t reads, writes, resets, missed_reads, missed_writes;
};

static struct ratelimit i8042_rl = RATELIMIT_INIT(5);

static void i8042_respond(struct i8042 *dev, uint8_t v)
{
	dev->outbuf = v;
	dev->obf = true;
	dev->from_kbd = false;
}

/* Returns true when the command pulses the CPU reset line. */
static bool i8042_command(struct i8042 *dev, uint8_t cmd)
{
	/* 0xf0-0xff pulse output port bits whose mask bit is 0; bit 0 is reset. */
	if ((cmd & 0xf0) == 0xf0)
		return !(cmd & 0x01);
	if (cmd >= 0x21 && cmd <= 0x3f) { /* read controller RAM */
		i8042_respond(dev, 0);
		return false;
	}
	if (cmd >= 0x61 && cmd <= 0x7f) { /* write controller RAM: swallow the byte */
		dev->pending = cmd;
		return false;
	}

	switch (cmd) {
	case CMD_READ_CB:
		i8042_respond(dev, dev->cmd_byte);
		break;
	case CMD_WRITE_CB:
	case CMD_WRITE_OUTPUT:
	case CMD_WRITE_KBD_OBUF:
	case CMD_WRITE_AUX_OBUF:
	case CMD_WRITE_AUX:
		dev->pending = cmd;
		break;
	case CMD_AUX_DISABLE:
		dev->cmd_byte |= CB_AUX_DISABLE;
		break;
	case CMD_AUX_ENABLE:
		dev->cmd_byte &= ~CB_AUX_DISABLE;
		break;
	case CMD_KBD_DISABLE:
		dev->cmd_byte |= CB_KBD_DISABLE;
		break;
	case CMD_KBD_ENABLE:
		dev->cmd_byte &= ~CB_KBD_DISABLE;
		break;
	case CMD_SELF_TEST:
		dev->cmd_byte |= CB_SYS;
		i8042_respond(dev, SELF_TEST_OK);
		break;
	case CMD_KBD_TEST:
	case CMD_AUX_TEST:
		i8042_respond(dev, IFACE_TEST_OK);
		break;
	case CMD_READ_INPUT:
		i8042_respond(dev, 0);
		break;
	case CMD_READ_OUTPUT:
		i8042_respond(dev, OUTPORT_IDLE);
		break;
	default:
		log_ratelimited(&i8042_rl, LOG_DEBUG, "i8042: command 0x%02x ignored", cmd);
		break;
	}
	return false;
}

/* Returns true when the byte pulls the CPU reset line. */
static bool i8042_data(struct i8042 *dev, uint8_t v)
{
	uint8_t cmd = dev->pending;

	dev->pending = 0;
	switch (cmd) {
	case CMD_WRITE_CB:
		dev->cmd_byte = v;
		return false;
	case CMD_WRITE_OUTPUT:
		return !(v & OUTPORT_RESET_N);
	case CMD_WRITE_KBD_OBUF:
		i8042_respond(dev, v);
		return false;
	case 0:
		/* No controller command waits for it: the byte is for the keyboard. */
		ps2kbd_command(&dev->kbd, v);
		return false;
	default:
		/* Controller RAM or the absent mouse: nobody answers. */
		return false;
	}
}

/*
 * Moves the keyboard's next byte to the output buffer when it is free and
 * the keyboard is enabled, then drives IRQ 1 to what the chip's output
 * does: high while a keyboard byte waits with its interrupt enabled, low
 * once it is read (as QEMU's i8042). A level, not a pulse, so a byte that
 * was waiting when the driver enabled the interrupt still raises it. The
 * line is set under dev->lock, so two threads never drive it out of order;
 * KVM_IRQ_LINE calls back into nothing here.
 */
static void i8042_update_irq(struct i8042 *dev)
{
	int level = dev->obf && dev->from_kbd && (dev->cmd_byte & CB_KBD_INT);

	if (level != dev->irq_level) {
		dev->irq_level = level;
		irq_line_set(&dev->irq, level);
	}
}

static void i8042_feed(struct i8042 *dev)
{
	if (!dev->obf && !(dev->cmd_byte & CB_KBD_DISABLE) && ps2kbd_pending(&dev->kbd)) {
		/*
		 * The line drops as the last byte is read and rises for the next
		 * one: an edge per byte, since the IOAPIC pin is edge-triggered
		 * and the driver reads one byte per interrupt.
		 */
		i8042_update_irq(dev);
		dev->outbuf = ps2kbd_pop(&dev->kbd);
		dev->obf = true;
		dev->from_kbd = true;
	}
	i8042_update_irq(dev);
}

static uint8_t i8042_read_port(struct i8042 *dev, bool cmd_port)
{
	uint8_t v;

	pthread_mutex_lock(&dev->lock);
	dev->reads++;
	if (!cmd_port) {
		/* Reading an empty buffer repeats the last byte, as the chip does. */
		v = dev->outbuf;
		dev->obf = false;
		i8042_feed(dev);
	} else {
		i8042_feed(dev);
		v = (dev->obf ? STS_OBF : 0) | (dev->cmd_byte & CB_SYS ? STS_SYS : 0) |
		    (dev->last_was_cmd ? STS_CMD : 0) | STS_UNLOCKED;
	}
	pthread_mutex_unlock(&dev->lock);
	return v;
}

static void i8042_write_port(struct i8042 *dev, bool cmd_port, uint8_t v)
{
	bool reset;

	pthread_mutex_lock(&dev->lock);
	dev->writes++;
	dev->last_was_cmd = cmd_port;
	reset = cmd_port ? i8042_command(dev, v) : i8042_data(dev, v);
	dev->resets += reset;
	/* The keyboard's answer, bytes held while it was disabled, a new command byte. */
	i8042_feed(dev);
	pthread_mutex_unlock(&dev->lock);

	/* Outside the lock: the sink may stop vCPUs or take its own locks. */
	if (reset) {
		log_debug("i8042: reset pulse");
		power_sink_raise(&dev->sink, POWER_RESET);
	}
}

/* Both regions are one byte wide; the bus only hands us whole accesses. */
static void i8042_fill(uint8_t *data, unsigned int len, uint8_t v)
{
	for (unsigned int i = 0; i < len; i++)
		data[i] = i == 0 ? v : 0xff;
}

/* A wider access is served from its first byte, and counted as Firecracker's "missed". */
static void i8042_count_wide(struct i8042 *dev, unsigned int len, bool write)
{
	if (len == 1)
		return;
	pthread_mutex_lock(&dev->lock);
	if (write)
		dev->missed_writes++;
	else
		dev->missed_reads++;
	pthread_mutex_unlock(&dev->lock);
}

static void i8042_data_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	i8042_count_wide(opaque, len, false);
	i8042_fill(data, len, i8042_read_port(opaque, false));
}

static void i8042_data_write(void *opaque, uint64_t offset, const uint8_t *data,
			     unsigned int len)
{
	i8042_count_wide(opaque, len, true);
	i8042_write_port(opaque, false, data[0]);
}

static void i8042_cmd_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	i8042_count_wide(opaque, len, false);
	i8042_fill(data, len, i8042_read_port(opaque, true));
}

static void i8042_cmd_write(void *opaque, uint64_t offset, const uint8_t *data,
			    unsigned int len)
{
	i8042_count_wide(opaque, len, true);
	i8042_write_port(opaque, true, data[0]);
}

static const struct bus_region_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

static const struct bus_region_ops i8042_cmd_ops = {
	.read = i8042_cmd_read,
	.write = i8042_cmd_write,
};

int i8042_send_ctrl_alt_del(struct i8042 *dev)
{
	int ret;

	pthread_mutex_lock(&dev->lock);
	ret = ps2kbd_ctrl_alt_del(&dev->kbd);
	if (!ret)
		i8042_feed(dev);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

#define I8042_TAG "KBDC"

/* Controller commands that wait for a data byte (i8042_data), or none. */
static bool i8042_pending_valid(uint8_t cmd)
{
	return cmd == 0 || cmd == CMD_WRITE_CB || cmd == CMD_WRITE_OUTPUT ||
	       cmd == CMD_WRITE_KBD_OBUF || cmd == CMD_WRITE_AUX_OBUF || cmd == CMD_WRITE_AUX ||
	       (cmd >= 0x61 && cmd <= 0x7f);
}

static int i8042_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct i8042 *dev = obj;

	pthread_mutex_lock(&dev->lock);
	bytes_put_tag(o, I8042_TAG, I8042_STATE_VERSION);
	bytes_put_u8(o, dev->cmd_byte);
	bytes_put_u8(o, dev->outbuf);
	bytes_put_u8(o, dev->obf);
	bytes_put_u8(o, dev->last_was_cmd);
	bytes_put_u8(o, dev->pending);
	bytes_put_u8(o, dev->from_kbd);
	ps2kbd_save(&dev->kbd, o);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

/*
 * IRQ 1 is driven again from the restored state: the line's level is not
 * part of the interrupt controller's saved state, and a keyboard byte that
 * waits unread must raise it (an extra edge only makes the driver read it).
 */
static int i8042_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct i8042 *dev = obj;
	struct bytes_in r = bytes_in_init(in, len);
	struct ps2kbd kbd;
	uint8_t cmd_byte, outbuf, pending;
	bool obf, last_was_cmd, from_kbd;
	int ret = bytes_get_tag(&r, I8042_TAG, I8042_STATE_VERSION);

	if (ret)
		return ret;
	cmd_byte = bytes_get_u8(&r);
	outbuf = bytes_get_u8(&r);
	obf = bytes_get_bool(&r);
	last_was_cmd = bytes_get_bool(&r);
	pending = bytes_get_u8(&r);
	from_kbd = bytes_get_bool(&r);
	ps2kbd_init(&kbd);
	ret = ps2kbd_restore(&kbd, &r);
	if (!ret)
		ret = bytes_in_finish(&r);
	if (!ret && !i8042_pending_valid(pending))
		ret = -EINVAL;
	if (ret || !apply)
		return ret;
	pthread_mutex_lock(&dev->lock);
	dev->cmd_byte = cmd_byte;
	dev->outbuf = outbuf;
	dev->obf = obf;
	dev->last_was_cmd = last_was_cmd;
	dev->pending = pending;
	dev->from_kbd = from_kbd;
	dev->kbd = kbd;
	dev->irq_level = 0;
	i8042_update_irq(dev);
	pthread_mutex_unlock(&dev->lock);
	return 0;
}

static void i8042_destroy(void *obj)
{
	struct i8042 *dev = obj;

	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

/* Firecracker's names: the metrics' "i8042" group takes them as they are. */
static unsigned int i8042_counters(void *obj, struct dev_counter *out, unsigned int max)
{
	struct i8042 *dev = obj;
	struct dev_counter c[5];

	pthread_mutex_lock(&dev->lock);
	c[0] = (struct dev_counter){ "read_count", dev->reads };
	c[1] = (struct dev_counter){ "write_count", dev->writes };
	c[2] = (struct dev_counter){ "reset_count", dev->resets };
	c[3] = (struct dev_counter){ "missed_read_count", dev->missed_reads };
	c[4] = (struct dev_counter){ "missed_write_count", dev->missed_writes };
	pthread_mutex_unlock(&dev->lock);
	return dev_counters_copy(out, max, c, 5);
}

static const struct component_ops i8042_component = {
	.save = i8042_save,
	.restore = i8042_restore,
	.destroy = i8042_destroy,
	.counters = i8042_counters,
};

int i8042_create(const struct dev_env *env, const struct dev_resources *res,
		 struct component *out, struct err *err)
{
	struct i8042 *dev = calloc(1, sizeof(*dev));
	int ret;

	if (!dev)
		return err_set(err, false, -ENOMEM, "out of memory");
	pthread_mutex_init(&dev->lock, NULL);
	dev->sink = env->power;
	dev->irq = dev_irq(env, res);
	dev->cmd_byte = CB_DEFAULT;
	ps2kbd_init(&dev->kbd);

	/* Two one-port regions: the port between them is KVM's speaker port. */
	ret = dev_claim(env, BUS_PIO, res->pio_base, 1, &i8042_data_ops, dev, "i8042-data", err);
	if (ret) {
		i8042_destroy(dev);
		return ret;
	}
	/*
	 * The bus cannot unregister, and the data port's region points at
	 * dev from here on: a failure leaves dev to the bus, not freed.
	 */
	ret = dev_claim(env, BUS_PIO, res->pio_base + I8042_CMD_OFFSET, 1, &i8042_cmd_ops, dev,
			"i8042-cmd", err);
	if (ret)
		return ret;
	*out = (struct component){ &i8042_component, dev };
	return 0;
}
