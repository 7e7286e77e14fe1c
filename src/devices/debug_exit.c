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

/* The same bare record as the quiet ports' (dev_bare_save): a restore must find the device. */
static const struct component_ops debug_exit_component = {
	.save = dev_bare_save,
	.restore = dev_bare_restore,
	.destroy = free,
};

int debug_exit_create(const struct dev_env *env, const struct dev_resources *res,
		      struct component *out, struct err *err)
{
	struct debug_exit *d;
	int ret;

	if (res->pio_size != 1 && res->pio_size != 2 && res->pio_size != 4)
		return err_set(err, false, -EINVAL, "ports 0x%x-0x%x: cannot register",
			       res->pio_base, res->pio_base + res->pio_size - 1);
	d = calloc(1, sizeof(*d));
	if (!d)
		return err_set(err, false, -ENOMEM, "out of memory");
	d->sink = env->debug_exit;
	ret = dev_claim(env, BUS_PIO, res->pio_base, res->pio_size, &debug_exit_ops, d,
			"debug-exit", err);
	if (ret) {
		free(d);
		return ret;
	}
	*out = (struct component){ &debug_exit_component, d };
	return 0;
}
