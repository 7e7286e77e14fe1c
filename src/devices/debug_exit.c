#include "devices/debug_exit.h"

#include <errno.h>
#include <stdlib.h>

struct debug_exit {
	struct debug_exit_sink sink;
};

int debug_exit_status(uint32_t value)
{
	/* An exit status is 8 bits: the shell sees what QEMU's exit() would give. */
	return (int)((((uint64_t)value << 1) | 1) & 0xff);
}

static void debug_exit_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	bus_data_put(data, len, 0);
}

static void debug_exit_write(void *opaque, uint64_t offset, const uint8_t *data,
			     unsigned int len)
{
	struct debug_exit *d = opaque;

	if (d->sink.exit)
		d->sink.exit(d->sink.ctx, (uint32_t)bus_data_get(data, len > 4 ? 4 : len));
}

static const struct bus_region_ops debug_exit_ops = {
	.read = debug_exit_read,
	.write = debug_exit_write,
};

struct debug_exit *debug_exit_create(struct bus *bus, uint16_t iobase, uint8_t iosize,
				     struct debug_exit_sink sink)
{
	struct debug_exit *d;
	int ret;

	if (iosize != 1 && iosize != 2 && iosize != 4) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->sink = sink;
	ret = bus_register(bus, BUS_PIO, iobase, iosize, &debug_exit_ops, d, "debug-exit");
	if (ret) {
		free(d);
		errno = -ret;
		return NULL;
	}
	return d;
}

void debug_exit_destroy(struct debug_exit *d)
{
	free(d);
}
