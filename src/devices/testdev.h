/*
 * QEMU's pc-testdev, the ports and memory x86 test kernels poke
 * (kvm-unit-tests): a 32-bit latch at port 0xe0, a page flush at 0xe4,
 * ISA IRQ lines at 0x2000+n and a RAM-like MMIO window. Only with
 * --test-devices: a guest must not find them by default.
 */
#ifndef HEARTH_DEVICES_TESTDEV_H
#define HEARTH_DEVICES_TESTDEV_H

#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/eventloop.h"
#include "core/irq.h"
#include "mem/guest_mem.h"

#define TESTDEV_LATCH_PORT 0xe0     /* 4 bytes: reads return what was written */
#define TESTDEV_FLUSH_PORT 0xe4     /* 4 bytes: a write of a GPA flushes its page */
#define TESTDEV_IRQ_PORT 0x2000     /* + n: a byte write sets ISA IRQ n's level */
#define TESTDEV_NIRQ 24
#define TESTDEV_MMIO_BASE 0xff000000ull
#define TESTDEV_MMIO_SIZE 0x10000u

struct testdev;

/*
 * irq is a template: its gsi is replaced by n for port 0x2000+n. mem is
 * where the flush port finds pages; loop is the io thread's, where a
 * flush runs (NULL: on the caller). NULL with errno set on failure.
 */
struct testdev *testdev_create(struct bus *bus, struct guest_mem *mem, struct eventloop *loop,
			       struct irq_line irq);
void testdev_destroy(struct testdev *dev);

/* Snapshot record (util/bytes.h's conventions): "TDEV" 1, the latch and the window's bytes. */
#define TESTDEV_TAG "TDEV"
#define TESTDEV_STATE_VERSION 1u
int testdev_save(struct testdev *dev, void *out, size_t *len);
/* 0, -ENODATA, -EPROTO or -ENOMEM; dev unchanged on failure. */
int testdev_restore(struct testdev *dev, const void *in, size_t len);

#endif
