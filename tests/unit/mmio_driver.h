/*
 * Test-only: the fake virtio-mmio driver the device unit tests play the
 * guest with. 32-bit register accesses go through bus_access() as a
 * vCPU's MMIO exits do, guest RAM is reached with gp(), and driver
 * initialisation (3.1.1) comes in steps (mmio_reset, mmio_negotiate,
 * mmio_queue, mmio_driver_ok) and in the two shapes the tests use
 * (mmio_init_one, mmio_init_queues). Attaching the device under test to
 * the transport is mmio_attach.h's, included here.
 *
 * The including test defines BASE, the device's mmio base, and before the
 * #include its own struct drv with members bus (struct bus) and gm
 * (struct guest_mem); the helpers take that struct. Everything is static
 * inline, so a test that uses only part of it builds warning-free.
 */
#ifndef HEARTH_TESTS_MMIO_DRIVER_H
#define HEARTH_TESTS_MMIO_DRIVER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/bus.h"
#include "mem/guest_mem.h"
#include "mmio_attach.h"
#include "virtio/virtio.h"

#ifndef BASE
#error "define BASE, the device's mmio base, before including mmio_driver.h"
#endif

static inline uint32_t rd(struct drv *d, uint64_t off)
{
	uint8_t b[4];

	bus_access(&d->bus, BUS_MMIO, BASE + off, b, 4, false);
	return (uint32_t)bus_data_get(b, 4);
}

static inline void wr(struct drv *d, uint64_t off, uint32_t v)
{
	uint8_t b[4];

	bus_data_put(b, 4, v);
	bus_access(&d->bus, BUS_MMIO, BASE + off, b, 4, true);
}

/* A read of len bytes at off in the device's config space (0x100 on). */
static inline uint64_t cfg_rd(struct drv *d, uint32_t off, unsigned int len)
{
	uint8_t b[8];

	bus_access(&d->bus, BUS_MMIO, BASE + 0x100 + off, b, len, false);
	return bus_data_get(b, len);
}

/* Guest RAM at gpa, which must hold len bytes. */
static inline void *gp(struct drv *d, uint64_t gpa, uint64_t len)
{
	void *p = guest_mem_ptr(&d->gm, gpa, len);

	assert_non_null(p);
	return p;
}

static inline bool needs_reset(struct drv *d)
{
	return rd(d, 0x070) & VIRTIO_STATUS_NEEDS_RESET;
}

/* Status 0: the device resets. */
static inline void mmio_reset(struct drv *d)
{
	wr(d, 0x070, 0);
}

/*
 * ACKNOWLEDGE and DRIVER, then the features the device offers that are
 * in accept, then FEATURES_OK, which the device must keep.
 */
static inline void mmio_negotiate(struct drv *d, uint64_t accept)
{
	uint64_t f;

	wr(d, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(d, 0x014, 0);
	f = rd(d, 0x010);
	wr(d, 0x014, 1);
	f |= (uint64_t)rd(d, 0x010) << 32;
	f &= accept;
	wr(d, 0x024, 0);
	wr(d, 0x020, (uint32_t)f);
	wr(d, 0x024, 1);
	wr(d, 0x020, (uint32_t)(f >> 32));
	wr(d, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_true(rd(d, 0x070) & VIRTIO_STATUS_FEATURES_OK);
}

/* Queue q with size entries and its rings at desc, avail and used (all below 4 GiB), ready. */
static inline void mmio_queue(struct drv *d, unsigned int q, uint32_t size, uint64_t desc,
			      uint64_t avail, uint64_t used)
{
	wr(d, 0x030, q);
	wr(d, 0x038, size);
	wr(d, 0x080, (uint32_t)desc);
	wr(d, 0x084, 0);
	wr(d, 0x090, (uint32_t)avail);
	wr(d, 0x094, 0);
	wr(d, 0x0a0, (uint32_t)used);
	wr(d, 0x0a4, 0);
	wr(d, 0x044, 1);
}

static inline void mmio_driver_ok(struct drv *d)
{
	wr(d, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/*
 * Driver initialisation with queue q alone, accepting every offered
 * feature; resets the device first if reset. The 64 KiB at avail and at
 * used are zeroed before the queue is set up.
 */
static inline void mmio_init_one(struct drv *d, bool reset, unsigned int q, uint32_t size,
				 uint64_t desc, uint64_t avail, uint64_t used)
{
	if (reset)
		mmio_reset(d);
	mmio_negotiate(d, ~0ull);
	memset(gp(d, avail, 0x10000), 0, 0x10000);
	memset(gp(d, used, 0x10000), 0, 0x10000);
	mmio_queue(d, q, size, desc, avail, used);
	mmio_driver_ok(d);
}

/*
 * Driver initialisation after a reset with queues 0..nq-1 of size entries,
 * accepting the offered features in mask and VERSION_1. Queue q lives in
 * the 64 KiB at rings + q * 64 KiB, zeroed first: descriptors, then the
 * avail ring at 0x4000 and the used ring at 0x8000. The device must not
 * ask for a reset.
 */
static inline void mmio_init_queues(struct drv *d, uint64_t mask, unsigned int nq, uint32_t size,
				    uint64_t rings)
{
	mmio_reset(d);
	mmio_negotiate(d, mask | (1ull << VIRTIO_F_VERSION_1));
	for (unsigned int q = 0; q < nq; q++) {
		uint64_t ring = rings + (uint64_t)q * 0x10000;

		memset(gp(d, ring, 0x10000), 0, 0x10000);
		mmio_queue(d, q, size, ring, ring + 0x4000, ring + 0x8000);
	}
	mmio_driver_ok(d);
	assert_false(rd(d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
}

#endif
