/*
 * io_uring rings made ahead (spare_ring.c), for devices plugged into a
 * running VM. No thread may make a ring once its seccomp filter is on
 * (io_uring_setup is on no thread's list: a ring made then would be one
 * nobody fenced, and its SQEs could open, create or rename what the
 * filter forbids). So a VM that may get a disk or pmem device later makes
 * their rings with itself, before any seal, fenced exactly as a boot
 * device's are (created disabled, restricted, then enabled), with their
 * completion eventfds registered and their file slots empty. The device
 * that takes one puts its files in with IORING_REGISTER_FILES_UPDATE, the
 * one registration the fence leaves, and gives it back with them taken
 * out again. Everything here runs on the io thread, which plugs and
 * unplugs devices.
 */
#ifndef HEARTH_VIRTIO_SPARE_RING_H
#define HEARTH_VIRTIO_SPARE_RING_H

#include <liburing.h>
#include <stdbool.h>

struct spare_ring {
	struct io_uring ring;
	int efd;                  /* its completion eventfd, registered; -1: none (retired) */
	bool in_use;              /* a device has it */
};

/* One family's spares: blk's or pmem's, each fenced its own way. */
struct spare_rings {
	struct spare_ring *r;
	unsigned int n;           /* made (0 when making them failed: see why) */
	unsigned int asked;
	int why;                  /* -errno: why none was made; 0 */
};

/* Makes one fenced spare (blk_ring_spare_make, pmem_ring_spare_make). 0 or -errno. */
typedef int (*spare_ring_make_fn)(struct spare_ring *s);

/*
 * Makes n spares with make, all or none: the process's descriptors
 * (two a spare) are not left short for the rest of its life by a set
 * that stopped half-way. 0, or -errno with none made (p->why says it).
 */
int spare_rings_make(struct spare_rings *p, unsigned int n, spare_ring_make_fn make);
/* A spare no device has (the device claims it: in_use); NULL when none is left. */
struct spare_ring *spare_rings_find(struct spare_rings *p);
/* How many are not retired. */
unsigned int spare_rings_live(const struct spare_rings *p);
/* Exits every ring and closes every eventfd (no device has one any more). */
void spare_rings_free(struct spare_rings *p);

/*
 * A device lets go of s, its files already out of the slots. quiet: and
 * nothing of its is in flight or queued: s goes back, its completions
 * and eventfd emptied for the next device. Otherwise s is retired (its
 * ring exited: what is still in flight must not complete into another
 * device's world), and the VM has one spare fewer.
 */
void spare_ring_let_go(struct spare_ring *s, bool quiet);
/* Exits s's ring and closes its eventfd; efd is -1 after. */
void spare_ring_retire(struct spare_ring *s);

#endif
