/*
 * The sandbox's pure decisions, kept apart from the syscalls that carry
 * them out so unit tests can check them: the flags, the paths the VM may
 * still reach once it runs, and the resource limits.
 */
#ifndef HEARTH_SANDBOX_POLICY_H
#define HEARTH_SANDBOX_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"
#include "vmm/config.h"

struct sandbox_opts {
	bool off;               /* --no-sandbox */
	bool seccomp_off;       /* --no-seccomp: the per-thread filters (sandbox.c) */
	const char *jail;       /* --jail DIR (root only); NULL: none */
	uid_t uid;              /* --uid, --gid: who Hearth becomes in the jail */
	gid_t gid;
	bool probe;             /* HEARTH_SANDBOX_PROBE=1 (probe.c): test only */
	/*
	 * Known to the front end that the VM has no NIC (`hearth run` without
	 * --net): the jail, which has no capabilities left at the seal, then
	 * enters its network namespace up front.
	 */
	bool no_nics;
	/* The API socket (NULL: none): the probe listens beside it, in its directory. */
	const char *api_sock;
	/*
	 * --new-pid-ns: the VM runs in a child, pid 1 of a new PID namespace
	 * (pidns.h); the process started writes its pid to pid_file and exits.
	 */
	bool new_pid_ns;
	char pid_file[4096];
	/*
	 * A fork's clone (zygote/zygote.c): its uid is the template's and its
	 * siblings', and RLIMIT_NPROC counts per uid, so a limit sized for one
	 * VM would stop the thousandth clone's threads. None is set; its
	 * filters let no sealed thread make a process or thread anyway.
	 */
	bool uid_shared;
	/*
	 * --migrate-net: the host's network is kept (no network namespace of
	 * its own; Landlock's TCP rules off), for PUT /migrate to a tcp:
	 * destination, which a sealed process cannot otherwise reach.
	 */
	bool migrate_net;
};

/*
 * The raw flag values (NULL: not given) into o. euid decides whether
 * --jail may be used. 0, or -EINVAL with one line in err (exit 2).
 */
int sandbox_opts_parse(bool no_sandbox, bool no_seccomp, const char *jail, const char *uid,
		       const char *gid, uid_t euid, struct sandbox_opts *o, struct err *err);

/*
 * --new-pid-ns and --pid-file (NULL: not given) into o, after
 * sandbox_opts_parse: the pid file is --pid-file, or JAIL/NAME.pid with
 * --jail (Firecracker's jailer writes <exec file name>.pid there; NAME is
 * "firecracker" or "hearth"). 0, or -EINVAL with one line in err (exit 2).
 */
int sandbox_pidns_parse(bool new_pid_ns, const char *pid_file, const char *name,
			struct sandbox_opts *o, struct err *err);

/*
 * A file per device (at most one per PCI slot: VM_PCI_SLOTS_MAX, which is
 * more than virtio-mmio's lines), and room for what else the VM keeps (the
 * vsock socket, /dev/vhost-net, resolv.conf, the snapshot directory, the
 * operator's --allow-dir ones). Never on the stack (196 KiB a list): mapped for a seal
 * (confine.c), or static (the --allow-dir list).
 */
#define SANDBOX_MAX_PATHS (VM_PCI_SLOTS_MAX + 17)

/*
 * A path the VM still uses after start: one file, or a directory (all of
 * it) that Hearth made for this VM or the operator named for it
 * (--snapshot-dir). Never a directory others share (sandbox_dir_shared).
 */
struct sandbox_path {
	char path[4096];
	bool dir;
	bool ro; /* read only: bound MS_RDONLY, read rights alone in Landlock */
};

struct sandbox_paths {
	unsigned int n;    /* first: beside p[0], not a page of its own past 196 KiB of paths */
	struct sandbox_path p[SANDBOX_MAX_PATHS];
};

/*
 * Adds path (made absolute against cwd, not resolved: the VM names it the
 * same way later). Already covered by a listed directory: nothing to do;
 * a directory that covers listed entries replaces them. 0, -EINVAL
 * (empty, or cwd missing for a relative path), -ENAMETOOLONG or -ENOSPC.
 */
int sandbox_paths_add(struct sandbox_paths *l, const char *path, bool dir, const char *cwd);
/* path made absolute against cwd as the list keeps it, trailing '/' dropped: 0 or -errno. */
int sandbox_path_abs(const char *path, const char *cwd, char *out, size_t outlen);
/*
 * The same, read only. An entry is read only while everything it stands
 * for is: a writable one covering or covered by it makes it writable.
 */
int sandbox_paths_add_ro(struct sandbox_paths *l, const char *path, bool dir, const char *cwd);
/* The directory holding file (its dirname), added as a directory. */
int sandbox_paths_add_parent(struct sandbox_paths *l, const char *file, const char *cwd);
/*
 * What cfg's devices reach after start, each a file and never its
 * directory: each drive's image (a PATCH /drives after the seal can swap
 * in only a file the sealed root still holds; read only for a read-only
 * drive), the hybrid vsock socket (its directory only when Hearth made
 * it: confine.c), /dev/vhost-vsock (reopened when a device will not
 * stop), /etc/resolv.conf for user-mode networking (libslirp's DNS proxy
 * reads it; read only). 0 or -errno.
 */
int sandbox_paths_from_config(struct sandbox_paths *l, const struct vm_config *cfg,
			      const char *cwd);
/*
 * The directories other programs share: keeping one (or one above it)
 * reachable would hand a compromised Hearth their files and, since
 * neither pivot_root's root nor Landlock guards connect(2) to a Unix
 * socket by path, their services (docker.sock, the D-Bus socket).
 * $HOME comes on top, given by the caller.
 */
extern const char *const sandbox_shared_dirs[];
extern const unsigned int sandbox_nshared_dirs;
/*
 * Which of shared[0..n) the directory dir (absolute) would expose: dir
 * itself, or any directory below dir ("/" exposes them all). NULL: none.
 */
const char *sandbox_dir_shared(const char *dir, const char *const *shared, unsigned int n);

/* A user-mode NIC reaches the host's network: no network namespace then. */
bool sandbox_needs_host_net(const struct vm_config *cfg);

/*
 * RLIMIT_NOFILE once sealed: what is open now plus room for what the VM
 * still opens (vsock connections, API clients, drive swaps, snapshot
 * files), never above the hard limit it had.
 */
#define SANDBOX_NOFILE_SPARE 512
#define SANDBOX_NOFILE_MIN 1024
unsigned long sandbox_nofile_limit(unsigned long highest_fd, unsigned long old_hard);
/*
 * RLIMIT_NPROC, where the count is Hearth's alone (a user namespace of
 * its own, or the jail's uid): its threads, the vCPUs and io_uring's
 * workers, and nothing like a fork bomb.
 */
#define SANDBOX_NPROC_SPARE 64
unsigned long sandbox_nproc_limit(unsigned int vcpus);

#endif
