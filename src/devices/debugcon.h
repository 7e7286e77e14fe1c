/*
 * QEMU's isa-debugcon (Bochs' "port e9 hack"): every byte the guest
 * writes to its port goes to the host, in order, and is never held back
 * for a newline; a read returns 0xe9, so a guest can tell it is there.
 * The smallest console there is: one outb, no UART to set up.
 *
 * The bytes pass through the same bounded buffer as COM1's output
 * (serial_out.h): the vCPU copies each byte and goes on, the io thread
 * writes them to env->debugcon_fd; a host fd that takes nothing costs
 * the guest output bytes past 64 KiB (counted), never a stuck vCPU.
 */
#ifndef HEARTH_DEVICES_DEBUGCON_H
#define HEARTH_DEVICES_DEBUGCON_H

#include <stdint.h>

#include "devices/device.h"

#define DEBUGCON_READ_VALUE 0xe9

/*
 * One port at res->pio_base (res->pio_size must be 1), its bytes to
 * env->debugcon_fd (-1 discards them). Record "LGCY" 1, no fields, as the
 * quiet ports': nothing in flight survives a snapshot but what was
 * written. Destroy writes out what is still buffered (up to a second
 * for a host fd that takes nothing) and warns of what was lost.
 */
int debugcon_create(const struct dev_env *env, const struct dev_resources *res,
		    struct component *out, struct err *err);

#endif
