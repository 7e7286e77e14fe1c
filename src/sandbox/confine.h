/*
 * The sandbox around the whole process (confine.c), on by default; the
 * per-thread seccomp filters (sandbox.h) come on top of it. In order:
 *
 *  1. sandbox_prepare(), in the front end (host_sandbox_enter, host/process.c) before any
 *     thread: with --jail, the chroot and the drop to --uid/--gid;
 *     otherwise Hearth's own user (unless root), mount, IPC and UTS
 *     namespaces. With --new-pid-ns, then a PID namespace and a fork
 *     (pidns.h): the process started writes the pid file and exits, its
 *     child goes on as pid 1. Paths still resolve as on the host, so the
 *     API can configure the VM.
 *  2. sandbox_seal(), on the io thread once the VM has opened everything
 *     and just before its vCPUs start (the process host, host/host.c,
 *     hands it to the runner as its seal): a network namespace unless a
 *     user-mode NIC needs the host's network; the limits and not
 *     dumpable; pivot_root into an empty root holding only the paths the
 *     VM still uses; Landlock on those same paths; every capability
 *     dropped and no_new_privs. Landlock goes on every thread at once
 *     (tsync.h): the api thread, which runs since before the seal, is
 *     restricted before it serves another request. The vCPU threads start
 *     after it and inherit it.
 *
 * What the sealed process still reaches by path (policy.h): each drive's
 * image file, the hybrid vsock socket (and its directory only when Hearth
 * made it: guests' connections to uds_path_PORT), /dev/vhost-vsock,
 * /etc/resolv.conf with a user-mode NIC, and --snapshot-dir. Files, not
 * their directories: a PATCH /drives after the seal reaches only an image
 * among those (or in --snapshot-dir); the API socket is not kept (its
 * listening fd serves), so the sealed process cannot remove it at exit
 * and the next start replaces it. Logger, metrics and serial outputs are
 * open before the seal. A directory others share (/, /run, /tmp,
 * /var/run, /dev, $HOME, or one above them) is refused.
 *  3. The thread hook (sandbox_thread): the api thread drops its
 *     capabilities, the io thread runs the probe when asked, and each
 *     thread installs its seccomp filter.
 *
 * What the kernel does not offer (no user namespaces, no Landlock) is
 * skipped with one "hearth: warning: sandbox: ..." line each.
 */
#ifndef HEARTH_SANDBOX_CONFINE_H
#define HEARTH_SANDBOX_CONFINE_H

#include <stddef.h>
#include <stdio.h>

#include "sandbox/policy.h"
#include "util/err.h"
#include "util/thread_hook.h"
#include "vmm/config.h"

/*
 * A directory the VM still uses after start (--snapshot-dir), kept
 * reachable by the pivot and Landlock. Before the seal; relative paths
 * are taken from the directory Hearth started in (in a jail, once it is
 * entered: its root). 0, or -errno with err (usage): -EPERM for a
 * directory others share (policy.h), named; a jail's are its own.
 */
int sandbox_allow_dir(const char *dir, struct err *err);
/* Step 1 (see above). 0, or -errno with one line in err: Hearth must not go on. */
int sandbox_prepare(const struct sandbox_opts *o, struct err *err);
/* Step 2: the runner's seal (vmm/runner.h). 0 or -errno with err filled. */
int sandbox_seal(const struct vm_config *cfg, struct err *err);
/*
 * Whether the filesystem is sealed now (a new root or Landlock): a path
 * a request names outside what was kept is then unreachable, and the
 * caller should say which flag keeps it (--snapshot-dir).
 */
bool sandbox_fs_sealed(void);
/*
 * Whether TCP still reaches the host's network: no sandbox, not sealed
 * yet, or sealed keeping it (a user-mode NIC, --migrate-net).
 */
bool sandbox_net_kept(void);
/* `hearth --sandbox-report`: what this kernel lets the sandbox do. */
void sandbox_confine_report(FILE *out);

#endif
