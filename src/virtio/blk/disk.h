/*
 * virtio-blk's disk backend: a raw image (image.h) with its I/O on
 * io_uring, or a qcow2 image whose engine does what the ring cannot
 * (qdisk.h). It knows files, O_DIRECT and the ring, nothing of virtio: the
 * request engine (engine.c) hands it one I/O at a time per request, and
 * gets each result back through its user's complete(), from reap. As the
 * NIC's backends (net/tap.c, net/slirp.c) are to virtio-net, this is to
 * virtio-blk: another store would be another backend behind this face.
 */
#ifndef HEARTH_VIRTIO_BLK_DISK_H
#define HEARTH_VIRTIO_BLK_DISK_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/eventloop.h"
#include "core/ratelimit.h"
#include "util/err.h"
#include "virtio/blk.h"
#include "virtio/blk/image.h"

/* I/Os the disk takes at once, its ring's depth: the engine's pool is no larger. */
#define BLK_INFLIGHT 128u
/* Conservative O_DIRECT alignment: valid for every logical block size up to 4K. */
#define BLK_DIO_ALIGN 4096u
/*
 * A drain or a quiesce waits on the I/O thread, so the I/O in flight
 * (guest-sized, within the engine's limits) may hold that thread this
 * long in all, on the disk's clock; it looks at the ring at least every
 * BLK_WAIT_ROUND_MS.
 */
#define BLK_WAIT_MS 5000u
#define BLK_WAIT_ROUND_MS 100u

enum blk_disk_op {
	BLK_DISK_READ,
	BLK_DISK_WRITE,
	BLK_DISK_FLUSH,           /* fdatasync */
	BLK_DISK_PUNCH,           /* deallocate [offset, offset+len) */
	BLK_DISK_ZERO_RANGE,      /* zero it, allocated */
};

/* One I/O; its result (bytes, or -errno) comes back with tag. */
/* Reads and writes from this size on are copied by io_uring's workers (disk.c). */
#define BLK_ASYNC_MIN (64u * 1024u)

struct blk_disk_io {
	enum blk_disk_op op;
	const struct iovec *iov;  /* read, write */
	unsigned int niov;
	uint64_t offset;
	uint64_t len;             /* punch, zero range */
	bool dsync;               /* write: durable when complete (writethrough) */
	void *tag;                /* never NULL */
};

/* Who the disk reports to: on the I/O thread, under the user's lock. */
struct blk_disk_user {
	/* The completion eventfd fired: reap (blk_disk_reap) and go on. */
	void (*ready)(void *ctx);
	/* One I/O came back; true when the user answered a request with it. */
	bool (*complete)(void *ctx, void *tag, int res);
	void *ctx;
};

struct blk_disk {
	struct blk_image img;
	char name[64];            /* "virtio-blk PATH", for log lines and the device */
	struct eventloop *loop;
	struct blk_disk_user user;
	struct rl_clock clock;    /* for the waits' budget */
	int efd;                  /* io_uring completion eventfd (the spare's, with spare) */
	bool ring_ready;
	struct io_uring *ring;    /* &own_ring, or the spare's */
	struct io_uring own_ring;
	/* A ring made at start, claimed from the VM's spares (a disk plugged in later); NULL: own. */
	struct spare_ring *spare;
	unsigned int inflight;    /* I/Os queued or in the kernel */
};

/*
 * Takes up cfg's image (blk_image_open) and sets up the ring, its
 * eventfd on loop: a ring of its own, or cfg->ring, a spare made at start
 * (its image put in its empty slots), claimed until blk_disk_release
 * gives it back. clock (NULL: CLOCK_MONOTONIC) times the waits. 0, or
 * -errno with one line in err; blk_disk_release then undoes what was done.
 */
int blk_disk_init(struct blk_disk *d, const struct blk_config *cfg, struct eventloop *loop,
		  const struct rl_clock *clock, const struct blk_disk_user *user,
		  struct err *err);
/*
 * Drains what is in flight (the user's complete still hears of it), then
 * closes all; a spare goes back with its slots emptied (retired instead
 * when the drain left I/O in flight: spare_ring.h).
 */
void blk_disk_release(struct blk_disk *d);

/*
 * Queues io (a qcow2 image's through qdisk.h). 0, or -EBUSY when the ring
 * has no room (never with BLK_INFLIGHT I/Os at most).
 */
int blk_disk_submit(struct blk_disk *d, const struct blk_disk_io *io);
/* The same straight onto the ring at io's offset in the image file: a raw image's, qcow2's fast path. */
int blk_disk_submit_raw(struct blk_disk *d, const struct blk_disk_io *io);
/*
 * A read (io->op READ) straight onto the ring at io's offset in a qcow2
 * image's backing layer (its index under the top), read through the page
 * cache: an overlay's unwritten clusters. 0 or -EBUSY.
 */
int blk_disk_submit_layer(struct blk_disk *d, const struct blk_disk_io *io, unsigned int layer);
/* Hands queued I/O to the kernel. */
void blk_disk_kick(struct blk_disk *d);
/* Hands every result the kernel posted to the user's complete; true if one answered. */
bool blk_disk_reap(struct blk_disk *d);
/* The loop's callback on the completion eventfd, for tests too: calls the user's ready. */
void blk_disk_on_event(void *opaque, uint32_t events);

/*
 * For a reset: cancels what is in flight and waits until the kernel gave
 * each I/O back (reaped, so the user's complete sees them). If that cannot
 * be done within BLK_WAIT_MS, logs it and leaves them counted in inflight.
 */
void blk_disk_drain(struct blk_disk *d);
/*
 * Lets every I/O in flight finish, for a swap or a pause: nothing is
 * cancelled (a paused VM's requests complete into its rings, which a
 * snapshot then holds). Gives up after BLK_WAIT_MS (-ETIMEDOUT), the I/O
 * still in flight and counted; it completes later as usual.
 * *completed: complete answered one. 0 or -errno.
 */
int blk_disk_quiesce(struct blk_disk *d, bool *completed);
/*
 * Puts next behind the disk, which has nothing in flight (quiesce);
 * next gets the old image, for the caller to close. On failure (-errno,
 * one line in err) nothing changed.
 */
int blk_disk_switch(struct blk_disk *d, struct blk_image *next, struct err *err);

#endif
