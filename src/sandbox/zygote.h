/*
 * The zygote's own filter (zygote.c; docs/security.md "The zygote"). The
 * zygote is not sealed: each clone it forks must still sandbox itself
 * (unshare, mount, pivot_root, Landlock, KVM, its io_uring) exactly as
 * `hearth restore` does. What no clone ever does before or after its own
 * seal, the zygote gives up at its start, for itself and every clone: a
 * compromised template's hostile request that took the zygote over could
 * not exec a program, trace or read another process, load a module or a
 * BPF program, open a file by handle, make a userfaultfd or a device
 * node, or join another namespace. Filters stack, so each clone's own
 * (allow.c) still applies on top of this one. The list is allow.c's
 * (sandbox_list_zygote_denied); the build compiles it (compile.h).
 */
#ifndef HEARTH_SANDBOX_ZYGOTE_H
#define HEARTH_SANDBOX_ZYGOTE_H

#include "util/err.h"

/*
 * On the zygote, single-threaded, before its first request: no new
 * privileges, and the deny list in force for it and its clones. Another
 * architecture's syscalls (int 0x80, x32) are refused too, so the list
 * cannot be stepped around through another table. 0 or -errno (err says
 * why).
 */
int sandbox_zygote_confine(struct err *err);

#endif
