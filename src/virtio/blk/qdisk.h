/*
 * A qcow2 image behind the disk backend: its stack of qcow2 handles
 * (qdisk.c: the top image over the backing files blk/chain.c opened) and
 * its I/O (qio.c). A read or write whose bytes are one extent of the top
 * image's own clusters, written in place, goes to io_uring at that host
 * offset as a raw image's I/O does (the fast path: no byte of it through
 * the engine). Everything else (an allocating write, a compressed,
 * zeroed or backing cluster, a request over several extents, flush,
 * discard, write-zeroes) the engine does at once on the I/O thread, never
 * a vCPU's, and its result is posted back to the same reap as a ring's:
 * a queue of (tag, result), as deep as the disk (BLK_INFLIGHT), drained
 * by blk_disk_reap after the disk's eventfd is written.
 *
 * A discard or write-zeroes can let clusters go, which the engine may
 * hand to another guest offset after its next flush: one must not run
 * while a fast I/O mapped before it is on the ring, whose write would
 * land in a cluster since given away. So it waits until the ring holds
 * none, and what the guest queues meanwhile waits behind it, in order
 * (deferred, counted in flight like the rest).
 *
 * The handles are the I/O thread's alone (disk/qcow2.h): made before the
 * disk serves, then used only from its submit, reap, pause and hold.
 */
#ifndef HEARTH_VIRTIO_BLK_QDISK_H
#define HEARTH_VIRTIO_BLK_QDISK_H

#include <stdbool.h>
#include <stdint.h>

#include "disk/qcow2.h"
#include "virtio/blk/disk.h"

struct blk_qposted {
	void *tag;
	int res;
};

struct blk_qdisk {
	/* The stack (qdisk.c). */
	struct qcow2 *top;        /* NULL only after a failed reopen: every I/O fails */
	int fd;                   /* the top image's buffered descriptor (one of the image's) */
	bool writable;            /* top is open for writing */
	unsigned int nlayers;     /* backing layers, top's first */
	struct qcow2 *layer[BLK_BACKING_MAX];   /* NULL for a raw layer */
	int layer_fd[BLK_BACKING_MAX];
	bool layer_raw[BLK_BACKING_MAX];
	uint64_t layer_size[BLK_BACKING_MAX];   /* each layer's file's size (fixed: read only) */
	/* The I/O (qio.c), under the disk's user's lock. */
	uint64_t file_size;       /* the top file's size as last seen: fast reads stay inside */
	unsigned int fast;        /* I/Os of this disk on the ring */
	uint64_t nfast, nslow;    /* I/Os each path took, for the tests' eyes */
	uint64_t nbelow;          /* reads that went to the ring on a backing file (qio_below) */
	uint64_t nwaited;         /* I/Os that waited behind a discard or write-zeroes */
	unsigned int posted_head, nposted;
	struct blk_qposted posted[BLK_INFLIGHT];
	unsigned int deferred_head, ndeferred;
	struct blk_disk_io deferred[BLK_INFLIGHT];
};

/*
 * img holds the top image's descriptors (dups of cfg's): opens the qcow2
 * stack over dups of cfg's chain, as img->qd, and sizes img from the
 * virtual disk. The top image is writable unless cfg is read only or its
 * lock comes later (a migration's destination: blk_qdisk_hold). 0 or
 * -errno with err, img->qd NULL.
 */
int blk_qdisk_open(struct blk_image *img, const struct blk_config *cfg, struct err *err);
/* Flushes and closes the stack (the top's refcounts settle), frees img->qd. */
void blk_qdisk_close(struct blk_image *img);
/*
 * A live migration's switch-over (blk_image_hold): hold false flushes
 * twice (everything and the refcounts it let go are durable) and reopens
 * the top read only, so this process writes nothing more; hold true
 * reopens it writable (unless readonly), reading the metadata afresh,
 * which the other side may have changed. 0 or -errno.
 */
int blk_qdisk_hold(struct blk_image *img, bool hold, bool readonly);

/* A regular file's size, or a block device's (a qcow2 image may be either). 0 or -errno. */
int blk_qdisk_file_size(int fd, uint64_t *size);

/* qio.c: blk_disk_submit for a qcow2 disk. 0, or -EBUSY when full (never within BLK_INFLIGHT). */
int blk_qdisk_submit(struct blk_disk *d, const struct blk_disk_io *io);
/* The posted results to the user's complete; true if one answered a request. */
bool blk_qdisk_reap(struct blk_disk *d);
/* A fast I/O came back from the ring: what waited for the ring to empty may run. */
void blk_qdisk_fast_done(struct blk_disk *d);
/* Results posted and not reaped yet. */
bool blk_qdisk_posted(const struct blk_disk *d);
/* A reset: what waits is stale, posted back as cancelled, never run. */
void blk_qdisk_cancel(struct blk_disk *d);
/* A pause: writes made durable, let-go clusters settled (a snapshot's copy checks clean). */
void blk_qdisk_settle(struct blk_disk *d);

#endif
