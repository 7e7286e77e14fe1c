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

#define ACPI_PM_BASE PORT_ACPI_SLEEP_CTL
#define ACPI_PM_NR_PORTS 3

/* ACPI 6, 4.8.3.7: sleep control register layout. */
#define SLP_EN 0x20
#define SLP_TYP_SHIFT 2
#define SLP_TYP_MASK 0x07

struct acpi_pm {
	struct power_sink sink;
};

static struct ratelimit acpi_pm_rl = RATELIMIT_INIT(5);

_Static_assert(PORT_ACPI_SLEEP_STS == ACPI_PM_BASE + 1 && PORT_ACPI_RESET == ACPI_PM_BASE + 2,
	       "acpi_pm assumes its three registers are contiguous");

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
		uint64_t port = ACPI_PM_BASE + offset + i;

		if (port == PORT_ACPI_SLEEP_CTL)
			acpi_pm_sleep_ctl(dev, data[i]);
		else if (port == PORT_ACPI_RESET)
			acpi_pm_reset(dev, data[i]);
		/* PORT_ACPI_SLEEP_STS: write-1-to-clear of bits that are never set. */
	}
}

static const struct bus_region_ops acpi_pm_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
};

struct acpi_pm *acpi_pm_create(struct bus *bus, struct power_sink sink)
{
	struct acpi_pm *dev;
	int r;

	if (!bus) {
		errno = EINVAL;
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->sink = sink;
	r = -bus_register(bus, BUS_PIO, ACPI_PM_BASE, ACPI_PM_NR_PORTS, &acpi_pm_ops, dev,
			  "acpi-pm");
	if (r)
		goto err_free;
	return dev;

err_free:
	free(dev);
	errno = r;
	return NULL;
}

void acpi_pm_destroy(struct acpi_pm *dev)
{
	free(dev);
}

#define ACPI_PM_TAG "ACPI"

/* A record all the same, so a later version with state has a place to go. */
int acpi_pm_save(struct acpi_pm *dev, void *out, size_t *len)
{
	struct bytes_out o = bytes_out_init(out, *len);

	bytes_put_tag(&o, ACPI_PM_TAG, ACPI_PM_STATE_VERSION);
	return bytes_out_finish(&o, len);
}

int acpi_pm_restore(struct acpi_pm *dev, const void *in, size_t len)
{
	struct bytes_in r = bytes_in_init(in, len);
	int ret = bytes_get_tag(&r, ACPI_PM_TAG, ACPI_PM_STATE_VERSION);

	return ret ? ret : bytes_in_finish(&r);
}
