/*
 * Test-only: a legacy device built the one way devices/device.h gives,
 * and let go of through its component.
 */
#ifndef HEARTH_TESTS_DEV_RIG_H
#define HEARTH_TESTS_DEV_RIG_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "devices/device.h"

/* create at ports [port, port+nports) and line gsi; the device's object. */
static inline void *dev_rig_make(dev_create_fn create, const struct dev_env *env, uint16_t port,
				 uint16_t nports, int gsi, struct component *c)
{
	struct dev_resources res = { .pio_base = port, .pio_size = nports, .gsi = gsi };
	struct err err = ERR_INIT;

	assert_int_equal(create(env, &res, c, &err), 0);
	assert_non_null(c->ops);
	return c->obj;
}

static inline void dev_rig_free(struct component *c)
{
	if (c->ops)
		c->ops->destroy(c->obj);
	c->ops = NULL;
}

#endif
