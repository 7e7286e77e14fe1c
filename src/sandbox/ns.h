/*
 * Namespaces (ns.c): Hearth's own user (when not root), mount, IPC and
 * UTS namespaces, entered by the front end (host_sandbox_enter, host/process.c) before any
 * thread exists (a process with threads cannot unshare its user or mount
 * namespace); at seal, a network namespace and pivot_root into an empty
 * root that holds only the paths the VM still uses.
 */
#ifndef HEARTH_SANDBOX_NS_H
#define HEARTH_SANDBOX_NS_H

#include <stdbool.h>
#include <stddef.h>

#include "sandbox/policy.h"
#include "util/err.h"

/*
 * unshare and, with userns, map our uid and gid to themselves (setgroups
 * denied, as an unprivileged map requires); mounts become private. Single
 * threaded only. 0 or -errno (what failed in err); *unshared says
 * whether the kernel let us have the namespaces at all.
 */
int ns_enter(bool userns, bool *unshared, struct err *err);
/* A new, empty network namespace for the calling thread and those it creates. */
int ns_enter_net(struct err *err);
/*
 * A tmpfs root holding each path (fds[i]: an O_PATH fd of it opened
 * before, -1: skipped) bind-mounted at its own name, pivot_root into it,
 * the old root detached, the new root read-only. Every thread of the
 * process moves with it. 0 or -errno.
 */
int ns_pivot(const struct sandbox_paths *paths, const int *fds, struct err *err);

#endif
