/*
 * Quiet answers for the ports a stock kernel touches at boot on a PC,
 * where Hearth has no device: reads return what an empty ISA bus or an
 * absent chip returns, writes vanish, nothing is logged. Without these,
 * each probe would be an unclaimed access and a log line.
 *
 * Ports owned by KVM's in-kernel devices (PIC 0x20-0x21/0xa0-0xa1, PIT
 * 0x40-0x43, speaker 0x61) and by Hearth's own devices (i8042, RTC, COM1,
 * ACPI) are deliberately absent from the table, as are 0xcf8-0xcff, the
 * PCI root's (pci/root.h: configuration mechanism #1 and reset control).
 */
#include <errno.h>
#include <stdlib.h>

#include "devices/platform.h"
#include "util/log.h"

#define PORT92_A20 0x02
#define PORT92_FAST_RESET 0x01

struct legacy {
	struct power_sink sink;
};

static void legacy_fill(uint8_t *data, unsigned int len, uint8_t v)
{
	for (unsigned int i = 0; i < len; i++)
		data[i] = v;
}

static void legacy_read_ones(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	legacy_fill(data, len, 0xff);
}

static void legacy_read_zero(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	legacy_fill(data, len, 0);
}

/* System control port A: A20 is always on; bit 0 reads 0, so any write setting it is a 0-to-1 reset. */
static void legacy_read_port92(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	legacy_fill(data, len, PORT92_A20);
}

static void legacy_ignore(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
}

/* Absent hardware: the ISA data lines float high. */
static const struct bus_region_ops legacy_absent_ops = {
	.read = legacy_read_ones,
	.write = legacy_ignore,
};

/* ELCR: every ISA IRQ edge-triggered. */
static const struct bus_region_ops legacy_zero_ops = {
	.read = legacy_read_zero,
	.write = legacy_ignore,
};

/* Test kernels (and old BIOS-era code) reset through the fast-reset bit. */
static void legacy_write_port92(void *opaque, uint64_t offset, const uint8_t *data,
				unsigned int len)
{
	struct legacy *l = opaque;

	if (!(data[0] & PORT92_FAST_RESET))
		return;
	log_debug("legacy: reset via port 0x92 (0x%02x)", data[0]);
	power_sink_raise(&l->sink, POWER_RESET);
}

static const struct bus_region_ops legacy_port92_ops = {
	.read = legacy_read_port92,
	.write = legacy_write_port92,
};

struct legacy_range {
	uint16_t base;
	uint16_t len;
	const struct bus_region_ops *ops;
	const char *name;
};

static const struct legacy_range legacy_ranges[] = {
	{ 0x000, 0x20, &legacy_absent_ops, "dma1" },
	/* Super I/O configuration ports: a generic kernel's watchdog and parport probes. */
	{ 0x02e, 0x02, &legacy_absent_ops, "superio1" },
	{ 0x04e, 0x02, &legacy_absent_ops, "superio2" },
	{ 0x080, 0x01, &legacy_absent_ops, "post" }, /* also the kernel's I/O delay port */
	{ 0x087, 0x01, &legacy_absent_ops, "dma-page" },
	{ 0x092, 0x01, &legacy_port92_ops, "port92" },
	{ 0x0c0, 0x20, &legacy_absent_ops, "dma2" },
	{ 0x170, 0x08, &legacy_absent_ops, "ide1" },
	{ 0x1f0, 0x08, &legacy_absent_ops, "ide0" },
	{ 0x278, 0x03, &legacy_absent_ops, "lpt2" },
	{ 0x2e8, 0x08, &legacy_absent_ops, "com4" },
	{ 0x2f8, 0x08, &legacy_absent_ops, "com2" },
	{ 0x376, 0x01, &legacy_absent_ops, "ide1-ctl" },
	{ 0x378, 0x03, &legacy_absent_ops, "lpt1" },
	{ 0x3c0, 0x20, &legacy_absent_ops, "vga" },
	{ 0x3e8, 0x08, &legacy_absent_ops, "com3" },
	{ 0x3f6, 0x01, &legacy_absent_ops, "ide0-ctl" },
	{ 0x4d0, 0x02, &legacy_zero_ops, "elcr" },
};

/* The quiet ports hold no state; a snapshot still records them (dev_bare_save). */
static const struct component_ops legacy_component = {
	.save = dev_bare_save,
	.restore = dev_bare_restore,
	.destroy = free,
};

int legacy_create(const struct dev_env *env, const struct dev_resources *res,
		  struct component *out, struct err *err)
{
	struct legacy *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return err_set(err, false, -ENOMEM, "out of memory");
	l->sink = env->power;
	/*
	 * After the first claim the bus holds l, and cannot let go of it: a
	 * failure leaves it there (the first one frees it).
	 */
	for (size_t i = 0; i < sizeof(legacy_ranges) / sizeof(legacy_ranges[0]); i++) {
		const struct legacy_range *lr = &legacy_ranges[i];

		ret = dev_claim(env, BUS_PIO, lr->base, lr->len, lr->ops, l, lr->name, err);
		if (ret && i == 0)
			free(l);
		if (ret)
			return ret;
	}
	*out = (struct component){ &legacy_component, l };
	return 0;
}
