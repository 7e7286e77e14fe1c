/*
 * The PCI hotplug register block and its interrupt (hotplug.h).
 */
#include "pci/hotplug.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pci/root.h"
#include "util/bytes.h"
#include "util/deadline.h"
#include "util/log.h"

#define PCHP_TAG "PCHP"
#define PCHP_VERSION 1u
/* Slot 0 is the host bridge's: never plugged, never ejected. */
#define SLOT_BITS (~1u)

struct pci_hotplug {
	pthread_mutex_t lock;
	pthread_cond_t ejected_cond;
	uint32_t up, down, ejected;
	struct irq_line irq;
	unsigned long pulses;
};

static struct ratelimit hp_rl = RATELIMIT_INIT(10);

/* An edge: the GED's interrupt is edge-triggered, so a pulse per event. */
static void pulse(struct pci_hotplug *h)
{
	int ret = irq_line_set(&h->irq, 1);

	if (!ret)
		ret = irq_line_set(&h->irq, 0);
	if (ret)
		log_ratelimited(&hp_rl, LOG_WARN, "pci hotplug: interrupt %u not raised: %s",
				h->irq.gsi, strerror(-ret));
	h->pulses++;
}

void pci_hotplug_request(struct pci_hotplug *h, unsigned int slot, bool plug)
{
	uint32_t bit;

	if (!h || slot == 0 || slot >= PCI_SLOTS)
		return;
	bit = 1u << slot;
	pthread_mutex_lock(&h->lock);
	if (plug) {
		h->up |= bit;
		h->down &= ~bit;
		h->ejected &= ~bit;
	} else {
		h->down |= bit;
		h->up &= ~bit;
	}
	pthread_mutex_unlock(&h->lock);
	pulse(h);
}

int pci_hotplug_wait_eject(struct pci_hotplug *h, unsigned int slot, unsigned int ms)
{
	struct timespec until;
	uint32_t bit;
	int ret = 0;

	if (!h || slot == 0 || slot >= PCI_SLOTS)
		return -EINVAL;
	bit = 1u << slot;
	until = deadline_after_ms(ms);
	pthread_mutex_lock(&h->lock);
	while (!(h->ejected & bit) && ret == 0)
		ret = pthread_cond_timedwait(&h->ejected_cond, &h->lock, &until);
	if (h->ejected & bit) {
		h->ejected &= ~bit;
		ret = 0;
	} else {
		ret = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

uint32_t pci_hotplug_read(struct pci_hotplug *h, unsigned int off, unsigned int len)
{
	uint32_t v = 0xffffffffu;

	/* Only the dwords the DSDT's fields read (DWordAcc). */
	if (len != 4 || (off != PCI_HOTPLUG_UP && off != PCI_HOTPLUG_DOWN))
		return len >= 4 ? v : (1u << (8 * len)) - 1;
	pthread_mutex_lock(&h->lock);
	if (off == PCI_HOTPLUG_UP) {
		v = h->up;
		h->up = 0;
	} else {
		v = h->down;
		h->down = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return v;
}

void pci_hotplug_write(struct pci_hotplug *h, unsigned int off, uint32_t v, unsigned int len)
{
	if (len != 4 || off != PCI_HOTPLUG_EJECT)
		return;
	v &= SLOT_BITS;
	if (!v)
		return;
	pthread_mutex_lock(&h->lock);
	h->ejected |= v;
	pthread_cond_broadcast(&h->ejected_cond);
	pthread_mutex_unlock(&h->lock);
	log_debug("pci hotplug: the guest gave up slots 0x%08x", v);
}

static void hp_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	bus_data_put(data, len, pci_hotplug_read(opaque, (unsigned int)offset, len));
}

static void hp_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	pci_hotplug_write(opaque, (unsigned int)offset, (uint32_t)bus_data_get(data, len), len);
}

static const struct bus_region_ops hp_ops = {
	.read = hp_read,
	.write = hp_write,
};

static int hp_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct pci_hotplug *h = obj;

	(void)err;
	pthread_mutex_lock(&h->lock);
	bytes_put_tag(o, PCHP_TAG, PCHP_VERSION);
	bytes_put_u32(o, h->up);
	bytes_put_u32(o, h->down);
	bytes_put_u32(o, h->ejected);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static int hp_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct pci_hotplug *h = obj;
	struct bytes_in b = bytes_in_init(in, len);
	uint32_t up, down, ejected;
	int ret = bytes_get_tag(&b, PCHP_TAG, PCHP_VERSION);

	(void)err;
	if (ret)
		return ret;
	up = bytes_get_u32(&b);
	down = bytes_get_u32(&b);
	ejected = bytes_get_u32(&b);
	ret = bytes_in_finish(&b);
	if (ret)
		return ret;
	if ((up | down | ejected) & ~SLOT_BITS)
		return -EINVAL;
	if (apply) {
		pthread_mutex_lock(&h->lock);
		h->up = up;
		h->down = down;
		h->ejected = ejected;
		pthread_mutex_unlock(&h->lock);
		/* What the guest had not read yet: it reads it now. */
		if (up | down)
			pulse(h);
	}
	return 0;
}

static void hp_destroy(void *obj)
{
	struct pci_hotplug *h = obj;

	if (!h)
		return;
	pthread_cond_destroy(&h->ejected_cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static const struct component_ops pci_hotplug_component = {
	.save = hp_save,
	.restore = hp_restore,
	.destroy = hp_destroy,
};

struct pci_hotplug *pci_hotplug_of(const struct component *c)
{
	return c && c->ops == &pci_hotplug_component ? c->obj : NULL;
}

int pci_hotplug_create(const struct dev_env *env, const struct dev_resources *res,
		       struct component *out, struct err *err)
{
	struct pci_hotplug *h;
	pthread_condattr_t ca;
	int ret;

	if (res->pio_size != PCI_HOTPLUG_PORTS || res->gsi < 0)
		return err_set(err, false, -EINVAL, "PCI hotplug needs %d ports and an interrupt",
			       PCI_HOTPLUG_PORTS);
	h = calloc(1, sizeof(*h));
	if (!h)
		return err_set(err, false, -ENOMEM, "out of memory");
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->ejected_cond, &ca);
	pthread_condattr_destroy(&ca);
	h->irq = dev_irq(env, res);
	ret = dev_claim(env, BUS_PIO, res->pio_base, PCI_HOTPLUG_PORTS, &hp_ops, h, "pci-hotplug",
			err);
	if (ret) {
		hp_destroy(h);
		return ret;
	}
	*out = (struct component){ &pci_hotplug_component, h };
	return 0;
}
