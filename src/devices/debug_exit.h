/*
 * QEMU's isa-debug-exit: a write of V to its ports ends the VM, and
 * Hearth exits with status (V << 1) | 1, so a test kernel's verdict is
 * the process's exit status (and never 0).
 */
#ifndef HEARTH_DEVICES_DEBUG_EXIT_H
#define HEARTH_DEVICES_DEBUG_EXIT_H

#include <stdint.h>

#include "devices/device.h"

/* Where --debug-exit puts it when not told: QEMU's default. */
#define DEBUG_EXIT_IOBASE 0xf4
#define DEBUG_EXIT_IOSIZE 4

/*
 * The ports are res->pio_base and res->pio_size (1, 2 or 4) of them; a
 * write goes to env's debug_exit sink. Record "LGCY" 1, no fields, as the
 * quiet ports'.
 */
int debug_exit_create(const struct dev_env *env, const struct dev_resources *res,
		      struct component *out, struct err *err);

/* The process exit status for a written value: ((V << 1) | 1) mod 256, as QEMU's exit(). */
int debug_exit_status(uint32_t value);

#endif
