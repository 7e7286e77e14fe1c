/*
 * Memory files are locked (issue 18, item 5): a VM restored from a
 * memory file maps it MAP_PRIVATE, so pages it has not touched yet are
 * read from the file when first touched, and a merge that rewrote the
 * file in place would change that VM's memory under it (or, truncated,
 * SIGBUS it). The restore holds a shared lock on the file for as long
 * as it maps it; `hearth snapshot-merge` takes an exclusive one on the
 * base it rewrites, without waiting, and refuses while a VM holds it.
 *
 * flock(2), not fcntl locks: a flock lock belongs to the open file
 * description, so it is neither dropped when another fd of the same
 * file in the process is closed (POSIX F_SETLK locks are) nor tied to a
 * thread; and unlike OFD locks (F_OFD_SETLK, whose owner F_OFD_GETLK and
 * /proc/locks report as PID -1) its taker's PID is in /proc/locks, which
 * is how a refused merge names the VM in its way. It is the same kind
 * of lock a drive's image takes (virtio/blk/image.c). Advisory: it
 * keeps Hearth from Hearth, not from other writers.
 */
#ifndef HEARTH_SNAPSHOT_MEMFILE_LOCK_H
#define HEARTH_SNAPSHOT_MEMFILE_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/*
 * A restore's lock on its memory file fd (path for the message): shared,
 * without waiting. 0; or -EBUSY when a merge holds it (its PID named),
 * another -errno otherwise, with one line in err.
 */
int memfile_lock_shared(int fd, const char *path, struct err *err);

/*
 * A merge's lock on the base it rewrites: exclusive, without waiting. 0;
 * or -EBUSY with a line naming the PID(s) of the VMs that hold it, or
 * saying that they cannot be known; another -errno otherwise.
 */
int memfile_lock_exclusive(int fd, const char *path, struct err *err);

/* One lock on a file, as /proc/locks lists it. */
struct memfile_holder {
	pid_t pid;          /* its taker's, as this process's /proc sees it; 0: not visible */
	bool exclusive;     /* a merge's (WRITE); else a restored VM's (READ) */
};

/*
 * Up to max locks held on fd's file, from /proc/locks (waiters are not
 * holders). The count found, which may exceed max, or -errno when
 * /proc/locks cannot be read.
 */
int memfile_lock_holders(int fd, struct memfile_holder *h, size_t max);

#endif
