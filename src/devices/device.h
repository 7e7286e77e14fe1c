/*
 * What the machine offers a legacy device, and the one shape of its
 * constructor. A device sees this environment, never the VM:
 *
 *   int x_create(const struct dev_env *env, const struct dev_resources *res,
 *                struct component *out, struct err *err);
 *
 * res is where it sits (core/component.h): its ports, MMIO window and
 * interrupt line, chosen by the caller (vmm/devices.c's table) and taken
 * as given. On success *out is the device as a component (ops and
 * object), which the caller owns; on failure, -errno with one line in err.
 */
#ifndef HEARTH_DEVICES_DEVICE_H
#define HEARTH_DEVICES_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/ratelimit.h"
#include "core/component.h"
#include "core/eventloop.h"
#include "core/irq.h"
#include "devices/power.h"
#include "mem/guest_mem.h"
#include "util/err.h"

struct dev_env {
	struct bus *bus;             /* NULL: not on a bus (tests drive the registers) */
	struct guest_mem *mem;
	struct eventloop *loop;      /* the I/O thread's; NULL: work runs inline (tests) */
	struct irq_line irq;         /* the line setter; a device drives res->gsi through it */
	struct power_sink power;     /* the guest asks to power off or reset */
	struct debug_exit_sink debug_exit;
	int console_fd;              /* where COM1's output goes; -1 discards it */
	const struct rl_config *console_rl; /* its rate limit, bytes (bandwidth); NULL: none */
	uint8_t *vmclock_page;       /* VMClock's page, the guest's view of it (vmclock.h); NULL: none */
	uint8_t *vmgenid_page;       /* VMGenID's page, the guest's view of it (vmgenid.h); NULL: none */
	int debugcon_fd;             /* where the debug console's bytes go (debugcon.h); -1: discarded */
	/* The machine's shape, as fw_cfg tells it. */
	unsigned int ncpus;
	uint64_t ram_size;           /* bytes of RAM */
	uint64_t max_ram;            /* the top of guest RAM */
};

typedef int (*dev_create_fn)(const struct dev_env *env, const struct dev_resources *res,
			     struct component *out, struct err *err);

/* res's interrupt line, through env's setter. */
static inline struct irq_line dev_irq(const struct dev_env *env, const struct dev_resources *res)
{
	struct irq_line line = env->irq;

	line.gsi = res->gsi < 0 ? 0 : (unsigned int)res->gsi;
	return line;
}

/*
 * Puts a region on env's bus (nothing without one): 0, or -errno with
 * one line in err ("ports 0x70-0x71 are taken by another device").
 */
int dev_claim(const struct dev_env *env, enum bus_space space, uint64_t base, uint64_t len,
	      const struct bus_region_ops *ops, void *dev, const char *name, struct err *err);

/*
 * The save and restore ops of a device with no state of its own (the
 * quiet ports, the debug-exit port): record "LGCY" 1, no fields. It is
 * written all the same, so a restore whose VM lacks the device, or has
 * one more, is refused by name.
 */
int dev_bare_save(void *obj, struct bytes_out *o, struct err *err);
int dev_bare_restore(void *obj, const void *in, size_t len, bool apply, struct err *err);

#endif
