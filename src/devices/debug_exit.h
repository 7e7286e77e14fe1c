/*
 * QEMU's isa-debug-exit: a write of V to its ports ends the VM, and
 * Hearth exits with status (V << 1) | 1, so a test kernel's verdict is
 * the process's exit status (and never 0).
 */
#ifndef HEARTH_DEVICES_DEBUG_EXIT_H
#define HEARTH_DEVICES_DEBUG_EXIT_H

#include <stdint.h>

#include "core/bus.h"

#define DEBUG_EXIT_IOBASE 0xf4
#define DEBUG_EXIT_IOSIZE 4

/* Told of the first write, on the vCPU thread that made it. */
struct debug_exit_sink {
	void (*exit)(void *ctx, uint32_t value);
	void *ctx;
};

struct debug_exit;

/* iosize is 1, 2 or 4. NULL with errno set (EEXIST: the ports are taken). */
struct debug_exit *debug_exit_create(struct bus *bus, uint16_t iobase, uint8_t iosize,
				     struct debug_exit_sink sink);
void debug_exit_destroy(struct debug_exit *dev);

/* The process exit status for a written value: ((V << 1) | 1) mod 256, as QEMU's exit(). */
int debug_exit_status(uint32_t value);

#endif
