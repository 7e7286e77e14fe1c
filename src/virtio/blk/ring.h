/*
 * The disk's io_uring, fenced in (ring.c): created disabled, restricted
 * to virtio-blk's opcodes on its registered files (slot 0 the image, slot
 * 1 its buffered twin, then a qcow2 image's backing files), then enabled.
 */
#ifndef HEARTH_VIRTIO_BLK_RING_H
#define HEARTH_VIRTIO_BLK_RING_H

#include <liburing.h>

/*
 * The ring, entries SQEs deep, with fd and fd_buffered (-1: an empty
 * slot) registered and efd as its completion eventfd. 0 or -errno
 * (nothing left open).
 */
int blk_ring_init(struct io_uring *ring, unsigned int entries, int fd, int fd_buffered, int efd);
/* Puts other image descriptors in the registered slots (nothing in flight). 0 or -errno. */
int blk_ring_set_files(struct io_uring *ring, int fd, int fd_buffered);
/* The registered slot of a qcow2 image's backing layer i (0: the top's own backing file). */
#define BLK_RING_SLOT_LAYER(i) (2u + (i))
/*
 * Puts a qcow2 image's n backing files (at most BLK_BACKING_MAX) in their
 * slots and empties the rest (n 0: all of them; nothing in flight on
 * them). 0 or -errno.
 */
int blk_ring_set_layers(struct io_uring *ring, const int *fds, unsigned int n);
/*
 * Points a prepared SQE at the registered slot of its descriptor (fd or
 * fd_buffered, the ring's files): the ring takes no other.
 */
void blk_ring_fix_sqe(struct io_uring_sqe *sqe, int fd, int fd_buffered);

#endif
