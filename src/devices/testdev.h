/*
 * QEMU's pc-testdev, the ports and memory x86 test kernels poke
 * (kvm-unit-tests): a 32-bit latch at the first port the caller gives it
 * (0xe0 in QEMU), a page flush four above, ISA IRQ lines at 0x2000+n and
 * a RAM-like MMIO window where the caller puts it. Only with
 * --test-devices: a guest must not find them by default.
 */
#ifndef HEARTH_DEVICES_TESTDEV_H
#define HEARTH_DEVICES_TESTDEV_H

#include "devices/device.h"

/* The latch (4 bytes: reads return what was written), then the flush (a GPA written flushes its page). */
#define TESTDEV_PORTS 8
#define TESTDEV_IRQ_PORT 0x2000     /* + n: a byte write sets ISA IRQ n's level */
#define TESTDEV_NIRQ 24
#define TESTDEV_MMIO_SIZE 0x10000u  /* the window, at most */

/*
 * The latch and flush at res->pio_base, the window at res->mmio_base. The
 * IRQ ports drive ISA IRQ n through env's line setter; the flush finds
 * pages in env->mem and runs on env->loop (NULL: on the caller). Record
 * "TDEV" 1: the latch and the window's bytes.
 */
#define TESTDEV_TAG "TDEV"
#define TESTDEV_STATE_VERSION 1u
int testdev_create(const struct dev_env *env, const struct dev_resources *res,
		   struct component *out, struct err *err);

#endif
