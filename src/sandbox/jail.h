/*
 * --jail DIR --uid U --gid G (jail.c), for root: what Firecracker's
 * jailer does before it runs Firecracker, done by Hearth itself. The
 * device nodes the VM opens are made in DIR/dev as the jailer makes
 * them (jail_fs.h: fixed numbers, nothing in DIR followed), then Hearth
 * chroots into DIR and becomes U:G with no supplementary groups and no
 * capabilities, in IPC and UTS namespaces of its own. From then on every
 * path (the command line's, the API's) is resolved inside DIR.
 */
#ifndef HEARTH_SANDBOX_JAIL_H
#define HEARTH_SANDBOX_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/*
 * netns: also a new, empty network namespace (the VM has no NIC); pidns:
 * a PID namespace, made while still root, for the next fork's child
 * (pidns.h).
 */
int jail_enter(const char *dir, uid_t uid, gid_t gid, bool netns, bool pidns, struct err *err);

/*
 * Becomes uid:gid with no supplementary groups, and checks root cannot
 * be regained (unless uid is 0). 0, or -errno with *what saying which
 * step failed.
 */
int jail_drop(uid_t uid, gid_t gid, const char **what);

#endif
