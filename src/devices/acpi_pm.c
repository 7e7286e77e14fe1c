/*
 * The hardware-reduced ACPI power registers the FADT points at: sleep
 * control, sleep status and the reset register, one byte each. Only S5
 * (soft off) and reset do anything; the guest never sleeps and so never
 * wakes, which makes the status register constant. The device holds no
 * mutable state, so it needs no lock.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/layout.h"
#include "devices/platform.h"
#include "util/bytes.h"
#include "util/log.h"

/* The registers, in order from the first port. */
#define ACPI_PM_SLEEP_CTL 0
#define ACPI_PM_SLEEP_STS 1
#define ACPI_PM_RESET 2

/* ACPI 6, 4.8.3.7: sleep control register layout. */
#define SLP_EN 0x20
#define SLP_TYP_SHIFT 2
#define SLP_TYP_MASK 0x07

struct acpi_pm {
	struct power_sink sink;
};

static struct ratelimit acpi_pm_rl = RATELIMIT_INIT(5);

static void acpi_pm_sleep_ctl(struct acpi_pm *dev, uint8_t v)
{
	unsigned int typ = (v >> SLP_TYP_SHIFT) & SLP_TYP_MASK;

	if (!(v & SLP_EN))
		return; /* only the SLP_EN write starts a transition */
	if (typ != ACPI_S5_SLP_TYP) {
		log_ratelimited(&acpi_pm_rl, LOG_WARN,
				"acpi: sleep type %u is not supported, ignored", typ);
		return;
	}
	log_debug("acpi: S5 requested");
	power_sink_raise(&dev->sink, POWER_OFF);
}

static void acpi_pm_reset(struct acpi_pm *dev, uint8_t v)
{
	if (v != ACPI_RESET_VALUE) {
		log_ratelimited(&acpi_pm_rl, LOG_WARN,
				"acpi: reset register write 0x%02x ignored", v);
		return;
	}
	log_debug("acpi: reset requested");
	power_sink_raise(&dev->sink, POWER_RESET);
}

static void acpi_pm_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	/*
	 * Sleep control and reset are write-only and read 0; sleep status
	 * reads 0 because WAK_STS can only be set by a wake from sleep.
	 */
	for (unsigned int i = 0; i < len; i++)
		data[i] = 0;
}

static void acpi_pm_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct acpi_pm *dev = opaque;

	for (unsigned int i = 0; i < len; i++) {
		uint64_t reg = offset + i;

		if (reg == ACPI_PM_SLEEP_CTL)
			acpi_pm_sleep_ctl(dev, data[i]);
		else if (reg == ACPI_PM_RESET)
			acpi_pm_reset(dev, data[i]);
		/* ACPI_PM_SLEEP_STS: write-1-to-clear of bits that are never set. */
	}
}

static const struct bus_region_ops acpi_pm_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
};

#define ACPI_PM_TAG "ACPI"

/* A record all the same, so a later version with state has a place to go. */
static int acpi_pm_save(void *obj, struct bytes_out *o, struct err *err)
{
	bytes_put_tag(o, ACPI_PM_TAG, ACPI_PM_STATE_VERSION);
	return 0;
}

static int acpi_pm_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	return bytes_check_bare(in, len, ACPI_PM_TAG, ACPI_PM_STATE_VERSION);
}

static const struct component_ops acpi_pm_component = {
	.save = acpi_pm_save,
	.restore = acpi_pm_restore,
	.destroy = free,
};

int acpi_pm_create(const struct dev_env *env, const struct dev_resources *res,
		   struct component *out, struct err *err)
{
	struct acpi_pm *dev = calloc(1, sizeof(*dev));
	int ret;

	if (!dev)
		return err_set(err, false, -ENOMEM, "out of memory");
	dev->sink = env->power;
	ret = dev_claim(env, BUS_PIO, res->pio_base, res->pio_size, &acpi_pm_ops, dev, "acpi-pm",
			err);
	if (ret) {
		free(dev);
		return ret;
	}
	*out = (struct component){ &acpi_pm_component, dev };
	return 0;
}
