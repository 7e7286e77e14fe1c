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
 * exist: skipped), denying TCP when !tcp. Returns its fd, or -errno with
 * err filled.
 */
int landlock_build(int abi, const struct sandbox_paths *paths, const int *fds, bool tcp,
		   struct err *err);
/* Applied to every thread at the seal by tsync.h. */

#endif
