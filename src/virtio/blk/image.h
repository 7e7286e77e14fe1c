/*
 * A disk image, open: its descriptors, locked, and its size; for a qcow2
 * image also its stack of qcow2 handles over its backing chain (qd,
 * qdisk.h), sized by its header. The disk backend (disk.c) runs its I/O
 * on one; a drive swap opens the next one before it lets go of the old,
 * so a failure leaves the old in place.
 */
#ifndef HEARTH_VIRTIO_BLK_IMAGE_H
#define HEARTH_VIRTIO_BLK_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "virtio/blk.h"

#define BLK_SECTOR 512u

struct blk_qdisk;

struct blk_image {
	char *path;
	bool direct;              /* fd is O_DIRECT; fd_buffered takes unaligned I/O */
	int fd, fd_buffered;      /* -1: none */
	int lock_fd;              /* holds the flock: a description no io_uring holds */
	uint64_t capacity;        /* sectors */
	uint8_t phys_exp;         /* the host's block size as 512 << phys_exp */
	struct blk_qdisk *qd;     /* a qcow2 image's stack; NULL: raw */
};

/*
 * Takes up the image cfg names: dups of its descriptors once
 * virtio_blk_open ran (they share its lock), else opened and locked here;
 * then sized. 0, or -errno with one line in err and img holding nothing.
 */
int blk_image_open(struct blk_image *img, const struct blk_config *cfg, struct err *err);
/*
 * Reads the size again (the host grew or shrank the file). 0 or -errno +
 * err; img as it was. A qcow2 image's size is its header's: -EOPNOTSUPP.
 */
int blk_image_resize(struct blk_image *img, struct err *err);
/* True when path names this image (the same inode). */
bool blk_image_is(const struct blk_image *img, const char *path);
/*
 * A live migration's switch-over (docs/migration.md): hold false lets the
 * image's lock go, so the destination, on shared storage, can take it;
 * hold true takes it again (shared when readonly), -EWOULDBLOCK while
 * another process has it. A qcow2 image is flushed and reopened read only
 * before its lock goes, and reopened writable (its metadata read afresh)
 * once it is taken (blk_qdisk_hold). 0 or -errno.
 */
int blk_image_hold(struct blk_image *img, bool hold, bool readonly);
/* Closes the descriptors (the lock goes with the last) and frees the path. */
void blk_image_close(struct blk_image *img);

#endif
