/*
 * A qcow2 image's backing chain, opened with the image (virtio_blk_open),
 * before the VM runs and before any sandbox seals. A backing file is a
 * host resource, so an image's header never chooses one: the request names
 * the chain (blk_config.backing, the top image's backing file first), or
 * with backing_from_header lets each header's own name stand, resolved
 * within the directory of the image that names it and nowhere else (no
 * absolute name, no '..', no symbolic link: openat2 with RESOLVE_BENEATH
 * and RESOLVE_NO_SYMLINKS), each level the same way.
 *
 * A layer's format is its parent's header's (backing_fmt, qcow2 or raw),
 * never guessed from its bytes: a header naming a backing file without
 * one is refused by name. A loop (one file twice, by inode) and a chain of
 * more than QCOW2_CHAIN_MAX files are refused (qcow2_chain_check) before
 * the file that would make one is locked. Every backing file is opened
 * read only and buffered, and locked shared (LOCK_SH) on its own
 * description as a read-only image is: a VM that writes it (LOCK_EX)
 * refuses this one, and the other way round.
 */
#ifndef HEARTH_VIRTIO_BLK_CHAIN_H
#define HEARTH_VIRTIO_BLK_CHAIN_H

#include "virtio/blk.h"

/*
 * cfg's image is open (cfg->fd, fd_buffered): opens its chain into
 * cfg->chain_fd. 0, or -errno with one line in err naming the image and
 * the file at fault, nothing of the chain left open.
 */
int blk_chain_open(struct blk_config *cfg, struct err *err);
/* Closes the chain's files (their locks go with the last descriptor on each). */
void blk_chain_close(struct blk_config *cfg);

#endif
