/*
 * Landlock (landlock.c): once sealed, a thread reaches only the listed
 * paths, and (ABI 4+) makes no TCP connection or listener unless the VM
 * has a user-mode NIC. Raw syscalls: glibc has no wrappers.
 */
#ifndef HEARTH_SANDBOX_LANDLOCK_H
#define HEARTH_SANDBOX_LANDLOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "sandbox/policy.h"
#include "util/err.h"

/* The kernel's Landlock ABI version; 0 when it has none (or it is off). */
int landlock_abi(void);
/*
 * A ruleset for paths (each opened O_PATH in fds[i], -1 where it does not
 * exist: skipped; a read-only one gets read rights alone), denying TCP
 * when !tcp. Returns its fd, or -errno with
 * err filled.
 */
int landlock_build(int abi, const struct sandbox_paths *paths, const int *fds, bool tcp,
		   struct err *err);
/*
 * Adds to ruleset rfd the file rights (no execute; only reading and
 * device ioctls when ro) for every file beneath dirfd, a directory of
 * the sealed root (which holds only what Hearth bound there): a file the
 * host mounts over a bound one later is another inode, which the rule on
 * the bound file does not cover. 0 or -errno.
 */
int landlock_allow_files_beneath(int rfd, int abi, int dirfd, bool ro);
/* Applied to every thread at the seal by tsync.h. */

#endif
