/*
 * virtio-pmem (VIRTIO 1.2, 5.19): a window of guest-physical space that
 * the VMM backs with a host file, plus one request queue on which the
 * driver asks for FLUSH (make what it wrote through the window durable).
 * The device knows the window's address and size only to report them in
 * its config space; mapping the file and its memslot are the VMM's
 * (vmm/vm_pmem.c). A flush is an fdatasync of the file on the device's
 * own io_uring, so the I/O thread never blocks on the disk.
 */
#ifndef HEARTH_VIRTIO_PMEM_H
#define HEARTH_VIRTIO_PMEM_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "virtio/device.h"

#define VIRTIO_ID_PMEM 27
/* The window's address and size are multiples of this (the Linux driver's section size). */
#define PMEM_ALIGN (2ull << 20)

struct spare_ring;

struct pmem_config {
	int fd;             /* the backing file; the device keeps a duplicate */
	uint64_t gpa;       /* the window in guest-physical space, PMEM_ALIGN aligned */
	uint64_t size;      /* its length: file_len rounded up to PMEM_ALIGN */
	uint64_t file_len;  /* what a flush costs the limiter's bandwidth bucket */
	bool read_only;
	/*
	 * The flush ring of a device plugged in after start, made at start
	 * (pmem_ring_spare_make): claimed, given back when it is destroyed.
	 * NULL: the device makes its own (before the seal).
	 */
	struct spare_ring *ring;
};

/*
 * A flush ring made ahead, for a device plugged in later (spare_ring.h):
 * fenced as every device's is (pmem/flush.c), its file slot empty, which
 * it may fill and empty again (IORING_REGISTER_FILES_UPDATE, the one
 * registration it allows), its completion eventfd made and registered.
 * 0 or -errno, nothing left open.
 */
int pmem_ring_spare_make(struct spare_ring *s);

/*
 * Counters: "flushes" (fdatasyncs done), "requests" (answered),
 * "flush_fails", "event_fails" (requests refused or the device failed),
 * "cfg_fails" (config writes), "rate_limiter_throttled".
 */
int virtio_pmem_create(const struct virtio_env *env, const struct pmem_config *cfg,
		       struct virtio_dev **out, struct err *err);
void virtio_pmem_destroy(struct virtio_dev *dev);
/* Applies a rate limiter configuration (core/ratelimit.h), live; on the I/O thread. */
void virtio_pmem_set_limiter(struct virtio_dev *dev, const struct rl_config *cfg);

#endif
