#include "sandbox/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/compile.h"
#include "sandbox/harden.h"
#include "sandbox/jail.h"
#include "sandbox/landlock.h"
#include "sandbox/ns.h"
#include "sandbox/pidns.h"
#include "sandbox/probe.h"
#include "sandbox/sandbox.h"
#include "sandbox/tsync.h"
#include "util/log.h"
#include "util/trim.h"
#include "util/uds.h"
#include "mmds/http.h"

static struct sandbox_opts opts;
static bool in_ns;         /* step 1 gave us namespaces: pivot and netns at the seal */
static bool fs_sealed;     /* the seal took the filesystem away: a new root, or Landlock */
static bool own_userns;    /* ... with a user namespace: RLIMIT_NPROC counts only us */
static bool jailed;
static bool net_kept = true; /* the seal left the host's network (a user NIC, --migrate-net) */
/* Where Hearth started (its own copy, on the heap: a static 4 KiB would be a page of each clone's own). */
static char *start_cwd_own;
static const char *start_cwd = "";
static struct sandbox_paths extra TRIM_COLD;   /* sandbox_allow_dir's */
static __thread enum thread_kind thread_kind;   /* for the probe's step at the seal */

/* dir, or the working directory when NULL, as start_cwd ("" when it cannot be had). */
static void cwd_take(const char *dir)
{
	char buf[PATH_MAX];
	char *copy;

	if (!dir)
		dir = getcwd(buf, sizeof(buf)) ? buf : "";
	copy = strdup(dir);
	free(start_cwd_own);
	start_cwd_own = copy;
	start_cwd = copy ? copy : "";
}

/* Relative paths given before sandbox_prepare() are taken from where Hearth started. */
static const char *confine_cwd(void)
{
	if (!start_cwd[0])
		cwd_take(NULL);
	return start_cwd;
}

/*
 * Which shared directory keeping dir (absolute) exposes, as named or
 * resolved; NULL: none. The names resolved one at a time on the stack:
 * a static table of them would be a page of each clone's own per name.
 * In a jail (after its chroot) every directory is the jail's own, "/tmp"
 * too, which nothing outside it shares.
 */
static const char *dir_shared(const char *dir)
{
	static char hit_real[PATH_MAX] TRIM_COLD;   /* written only when it is the answer */
	const char *names[SANDBOX_MAX_PATHS];
	const char *home = getenv("HOME");
	char dir_real[PATH_MAX], real[PATH_MAX];
	const char *hit;
	unsigned int n = 0;
	bool resolved;

	if (jailed)
		return NULL;

	for (unsigned int i = 0; i < sandbox_nshared_dirs; i++)
		names[n++] = sandbox_shared_dirs[i];
	if (home && home[0] == '/')
		names[n++] = home;
	resolved = realpath(dir, dir_real) != NULL;
	hit = sandbox_dir_shared(dir, names, n);
	if (!hit && resolved)
		hit = sandbox_dir_shared(dir_real, names, n);
	/* /var/run is a link to /run: the target counts as well as the name. */
	for (unsigned int i = 0; !hit && i < n; i++) {
		const char *one[1] = { real };

		if (!realpath(names[i], real))
			continue;
		if (sandbox_dir_shared(dir, one, 1) ||
		    (resolved && sandbox_dir_shared(dir_real, one, 1))) {
			snprintf(hit_real, sizeof(hit_real), "%s", real);
			hit = hit_real;
		}
	}
	return hit;
}

/*
 * A directory to keep whole: refused, naming it, when others share it.
 * Only the new entry is checked: every listed one was when it came, and
 * the entries it covers are below it, exposed by it if they exposed
 * anything. No copy of the list either: it is 196 KiB, and every page of
 * it a copy touches is a page of its own in each clone (docs/api.md "Fork
 * and reset").
 */
int sandbox_allow_dir(const char *dir, struct err *err)
{
	char abs[sizeof(extra.p[0].path)];
	const char *hit;
	int ret = sandbox_path_abs(dir, confine_cwd(), abs, sizeof(abs));

	if (!ret) {
		hit = dir_shared(abs);
		if (hit)
			return err_set(err, true, -EPERM, "the sealed sandbox would keep %s, which "
				       "exposes %s: a directory other programs share, with their "
				       "files and Unix sockets (Landlock does not guard connect(2) "
				       "to a socket); name a directory of this VM's own", abs, hit);
		ret = sandbox_paths_add(&extra, abs, true, NULL);
	}
	if (ret)
		return err_set(err, true, ret, "%s", ret == -ENAMETOOLONG ? "path too long"
								  : strerror(-ret));
	return 0;
}

/* Step 3: every thread, when it enters service. */
static int sandbox_thread(enum thread_kind kind)
{
	int ret;

	thread_kind = kind;
	/* Created before the seal (`hearth serve`): it still holds what main had. */
	if (!opts.off && (kind == THREAD_API || kind == THREAD_MIGRATE)) {
		ret = harden_thread();
		if (ret)
			return ret;
	}
	/* Noted before the seal, restricted at it (tsync.h); after it, inherited. */
	if (!opts.off) {
		ret = tsync_register();
		if (ret)
			return ret;
	}
	if (kind == THREAD_IO && opts.probe)
		probe_run(!opts.seccomp_off, stderr);
	return opts.seccomp_off ? 0 : sandbox_enter(kind);
}

/* The pid file of --new-pid-ns, unless Hearth never got as far as writing it. */
static void pidfile_drop(int fd)
{
	if (fd < 0)
		return;
	close(fd);
	/* Inside the jail the host's path names nothing of ours. */
	if (!jailed)
		unlink(opts.pid_file);
}

/*
 * --new-pid-ns, once the namespaces (or the jail) are in place: the PID
 * namespace, unless the jail made it as root, then the fork; only the
 * child, its pid 1, returns (pidns.h).
 */
static int pidns_start(int pid_fd, struct err *err)
{
	int ret = jailed ? 0 : pidns_unshare();

	if (ret) {
		err_set(err, false, ret, "--new-pid-ns: cannot make a PID namespace: %s%s",
			strerror(-ret), in_ns ? "" : " (it needs root or user namespaces)");
		goto err_pidfile;
	}
	ret = pidns_split(pid_fd, opts.pid_file, err);
	if (ret)
		goto err_pidfile;
	/* getpid() is 1 from here on, and the filters name the pid tgkill may reach. */
	return sandbox_repin(err);
err_pidfile:
	pidfile_drop(pid_fd);
	return ret;
}

int sandbox_prepare(const struct sandbox_opts *o, struct err *err)
{
	struct err why;
	bool unshared;
	int pid_fd = -1, ret;

	opts = *o;
	cwd_take(NULL);
	thread_hook_set(sandbox_thread);
	if (o->probe) {
		ret = probe_prepare(o->api_sock);
		if (ret)
			log_warn("sandbox probe: a target is missing: %s", strerror(-ret));
	}
	if (o->off) {
		log_debug("sandbox: off (--no-sandbox)");
		return 0;
	}
	ret = tsync_init();
	if (ret)
		return err_set(err, false, ret, "sandbox: cannot install the seal's signal "
			       "handler: %s", strerror(-ret));
	/* Made first, by its host path: the jail and the pivot hide it. */
	if (o->new_pid_ns) {
		pid_fd = pidns_pidfile_open(o->pid_file, err);
		if (pid_fd < 0)
			return pid_fd;
	}
	if (o->jail) {
		ret = jail_enter(o->jail, o->uid, o->gid, o->no_nics && !o->migrate_net,
				 o->new_pid_ns, err);
		if (ret) {
			pidfile_drop(pid_fd);
			return ret;
		}
		jailed = true;
		cwd_take("/");
		/* The namespace was made while root; the fork is the jail user's. */
		return o->new_pid_ns ? pidns_start(pid_fd, err) : 0;
	}
	own_userns = geteuid() != 0;
	ret = ns_enter(own_userns, &unshared, &why);
	if (ret && !unshared) {
		log_warn("sandbox: no %snamespaces (%s): the host's filesystem and network stay "
			 "visible%s", own_userns ? "user " : "", why.msg,
			 own_userns ? ", no RLIMIT_NPROC" : "");
		own_userns = false;
	} else if (ret) {
		pidfile_drop(pid_fd);
		return err_set(err, false, ret, "sandbox: %s (--no-sandbox runs without it)",
			       why.msg);
	} else {
		in_ns = true;
	}
	return o->new_pid_ns ? pidns_start(pid_fd, err) : 0;
}

static void close_fds(int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* O_PATH handles on what stays reachable: pivot's bind sources and Landlock's rules. */
static void open_paths(const struct sandbox_paths *paths, int *fds)
{
	for (unsigned int i = 0; i < paths->n; i++) {
		fds[i] = open(paths->p[i].path,
			      O_PATH | O_CLOEXEC | (paths->p[i].dir ? O_DIRECTORY : 0));
		if (fds[i] < 0)
			log_debug("sandbox: %s: %s; not reachable once sealed", paths->p[i].path,
				  strerror(errno));
	}
}

static bool root_used(const struct sandbox_paths *paths)
{
	for (unsigned int i = 0; i < paths->n; i++)
		if (!strcmp(paths->p[i].path, "/"))
			return true;
	return false;
}

static int collect_paths(const struct vm_config *cfg, struct sandbox_paths *paths, struct err *err)
{
	int ret;

	/* The listed entries only: a whole copy would write every page of its 196 KiB. */
	memcpy(paths->p, extra.p, extra.n * sizeof(extra.p[0]));
	paths->n = extra.n;
	ret = sandbox_paths_from_config(paths, cfg, start_cwd);
	/*
	 * Guest-initiated hybrid vsock connections reach uds_path_PORT, made by
	 * host services at any time: the directory, but only one Hearth made.
	 */
	if (!ret && cfg->vsock.present && cfg->vsock.uds_path) {
		if (uds_dir_made(cfg->vsock.uds_path))
			ret = sandbox_paths_add_parent(paths, cfg->vsock.uds_path, start_cwd);
		else
			log_warn("sandbox: hybrid vsock: once sealed, the guest's connections to "
				 "%s_PORT are refused: its directory is not one Hearth made (name "
				 "a uds_path in a directory that does not exist yet: Hearth makes "
				 "it, mode 0700, and keeps it)", cfg->vsock.uds_path);
	}
	/*
	 * Each NIC's MMDS stack connects to its HTTP server's socket once per
	 * guest connection (libslirp's slirp_add_unix): the sockets, as files.
	 */
	if (!ret) {
		static char socks[NET_MMDS_MAX_SOCKETS][NET_MMDS_PATH_MAX];
		unsigned int n = net_mmds_sockets(socks, NET_MMDS_MAX_SOCKETS);

		for (unsigned int i = 0; !ret && i < n; i++)
			ret = sandbox_paths_add(paths, socks[i], false, start_cwd);
	}
#if defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer's check at exit reads /proc: sanitizer builds only. */
	if (!ret)
		ret = sandbox_paths_add_ro(paths, "/proc", true, start_cwd);
#endif
	if (ret)
		return err_set(err, false, ret, "sandbox: cannot list the paths the VM still "
			       "uses: %s", strerror(-ret));
	for (unsigned int i = 0; i < paths->n; i++) {
		const char *hit = paths->p[i].dir ? dir_shared(paths->p[i].path) : NULL;

		if (hit)
			return err_set(err, false, -EPERM, "sandbox: refusing to seal: the VM "
				       "would keep %s, which exposes %s, a directory other "
				       "programs share", paths->p[i].path, hit);
	}
	return 0;
}

/*
 * Path lists for one seal, mapped for it and unmapped after: 196 KiB
 * each, zero pages but for the entries written, and none left behind (a
 * static list's written pages would stay each clone's own; malloc would
 * move its own mapping threshold past them).
 */
static struct sandbox_paths *paths_map(unsigned int n)
{
	void *p = mmap(NULL, n * sizeof(struct sandbox_paths), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void paths_unmap(struct sandbox_paths *l, unsigned int n)
{
	if (l)
		munmap(l, n * sizeof(*l));
}

/*
 * After the pivot: each drive's directory in the new root, which holds
 * only the files Hearth bound there, gets the file rights for what lies
 * beneath it. Kata swaps a pool drive's image by mounting over the
 * drive's file on the host (it reaches us: ns.c makes our mounts the
 * host's slaves) and PATCHes the drive with the same path; the new file
 * is another inode, which the rule on the old one does not cover. The
 * rights are the drives' own: read only where every drive in that
 * directory is read only. Where read-only and writable drives share a
 * directory, the writable ones' rule covers the read-only ones too, and
 * only their read-only bind mounts keep them so (docs/security.md).
 */
static int allow_drive_swaps(const struct vm_config *cfg, int rfd, int abi, struct err *err)
{
	struct sandbox_paths *lists = paths_map(2), *drives = lists, *rw = lists + 1;
	const char *rw_names[SANDBOX_MAX_PATHS];
	int ret = 0;

	if (!lists)
		return err_set(err, false, -ENOMEM, "sandbox: out of memory");
	for (unsigned int i = 0; !ret && i < cfg->ndrives; i++) {
		const char *path = cfg->drives[i].path_on_host;

		if (!path)
			continue;
		ret = sandbox_paths_add_parent(drives, path, start_cwd);
		if (!ret && !cfg->drives[i].is_read_only)
			ret = sandbox_paths_add_parent(rw, path, start_cwd);
	}
	for (unsigned int i = 0; i < rw->n; i++)
		rw_names[i] = rw->p[i].path;
	for (unsigned int i = 0; !ret && i < drives->n; i++) {
		/* Read only unless a writable drive's directory is this one or below it. */
		bool ro = !sandbox_dir_shared(drives->p[i].path, rw_names, rw->n);
		int fd = open(drives->p[i].path, O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0) {
			ret = -errno;
			break;
		}
		ret = landlock_allow_files_beneath(rfd, abi, fd, ro);
		close(fd);
	}
	paths_unmap(lists, 2);
	if (ret)
		return err_set(err, false, ret, "sandbox: cannot allow the drives' directories in "
			       "the new root: %s", strerror(-ret));
	return 0;
}

/* A noted thread's step at the seal, in its signal handler: its share of the probe. */
/*
 * A namespace is a thread's own: the seal's network namespace holds the
 * thread that makes it and those made after it, not the migration
 * thread, which runs since before it (without its capabilities, so it
 * cannot follow) and alone may open TCP sockets. When the seal keeps no
 * network, that thread stacks a filter on its own here (socket(2) for
 * AF_UNIX only): a sealed Hearth on a kernel whose Landlock has no TCP
 * rules (ABI < 4) reached the host's network from it. A destination's
 * stream, on a socket it opened before the seal, goes on.
 */
static bool seal_keeps_net;

/* A noted thread's step at the seal, in its signal handler: 0 or an errno. */
static int seal_step(void)
{
	if (thread_kind == THREAD_MIGRATE && !seal_keeps_net && !opts.seccomp_off) {
		struct sock_fprog prog = { sandbox_precompiled_unix_only.len,
					   (struct sock_filter *)sandbox_precompiled_unix_only.insns };

		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
			return errno;
	}
	if (opts.probe)
		probe_thread(thread_kind, !opts.seccomp_off);
	return 0;
}

int sandbox_seal(const struct vm_config *cfg, struct err *err)
{
	struct sandbox_paths *paths;
	int fds[SANDBOX_MAX_PATHS];
	bool host_net = sandbox_needs_host_net(cfg) || opts.migrate_net;
	int abi, rfd = -1, ret;

	/* Before the io thread's filter goes on (after this hook), sandbox or not. */
	if (cfg->pci)
		sandbox_allow_pci_hotplug();
	if (cfg->nvfio)
		sandbox_allow_vfio();
	if (cfg->firmware.path)
		sandbox_allow_firmware();
	if (vm_config_has_qcow2(cfg))
		sandbox_allow_qcow2();
	if (opts.off)
		return 0;
	paths = paths_map(1);
	if (!paths)
		return err_set(err, false, -ENOMEM, "sandbox: out of memory");
	ret = collect_paths(cfg, paths, err);
	if (ret) {
		paths_unmap(paths, 1);
		return ret;
	}
	/* The probe reads the list after the seal: kept for it. */
	if (opts.probe)
		probe_set_kept(paths);
	open_paths(paths, fds);
	abi = landlock_abi();
	if (abi > 0) {
		rfd = landlock_build(abi, paths, fds, host_net, err);
		if (rfd < 0) {
			ret = rfd;
			goto err_close;
		}
	} else {
		log_warn("sandbox: no Landlock (kernel ABI 0): filesystem not restricted%s",
			 in_ns ? " beyond the mount namespace" : jailed ? " beyond the jail" : "");
	}
	/* Before the pivot: it counts the open fds in /proc. */
	ret = harden_process(cfg->machine.vcpu_count, own_userns || (jailed && !opts.uid_shared),
			     err);
	if (!ret && in_ns && !host_net)
		ret = ns_enter_net(err);
	if (!ret && in_ns && root_used(paths))
		log_warn("sandbox: the VM uses files directly in /: no new root (pivot_root "
			 "skipped)");
	else if (!ret && in_ns)
		ret = ns_pivot(paths, fds, err);
	if (!ret && in_ns && rfd >= 0 && !root_used(paths))
		ret = allow_drive_swaps(cfg, rfd, abi, err);
	if (ret)
		goto err_close;
	ret = harden_thread();
	if (ret) {
		err_set(err, false, ret, "sandbox: cannot drop the capabilities: %s",
			strerror(-ret));
		goto err_close;
	}
	/* This thread, and every other one that runs since before the seal. */
	seal_keeps_net = host_net;
	/*
	 * --migrate-net keeps the host's network for the migration thread
	 * alone: this thread (and the vCPUs it starts) opens a TCP socket only
	 * for a user-mode NIC (libslirp), which a VM without one at the seal,
	 * and without PCI to plug one in, never has.
	 */
	if (!ret && opts.migrate_net && !sandbox_needs_host_net(cfg) && !cfg->pci &&
	    !opts.seccomp_off) {
		struct sock_fprog prog = { sandbox_precompiled_unix_only.len,
					   (struct sock_filter *)sandbox_precompiled_unix_only.insns };

		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
			ret = err_set(err, false, -errno, "sandbox: the io thread's socket filter: "
				      "%s", strerror(errno));
	}
	if (!ret)
		ret = tsync_seal(rfd, rfd >= 0 ? abi : 0, seal_step, err);
	if (!ret) {
		fs_sealed = rfd >= 0 || (in_ns && !root_used(paths));
		net_kept = host_net;
	}
	if (!ret)
		log_debug("sandbox: sealed (%s, Landlock ABI %d, %u paths)",
			  jailed ? "jail" : in_ns ? "namespaces" : "no namespaces", abi, paths->n);
err_close:
	if (rfd >= 0)
		close(rfd);
	close_fds(fds, paths->n);
	if (!opts.probe)
		paths_unmap(paths, 1);
	return ret;
}

bool sandbox_fs_sealed(void)
{
	return fs_sealed || jailed;
}

bool sandbox_net_kept(void)
{
	return opts.off || net_kept;
}

/* In a child: whether this kernel lets an unprivileged process have its namespaces. */
static int userns_errno(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		syscall(SYS_exit_group, unshare(CLONE_NEWUSER | CLONE_NEWNS) ? errno : 0);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

void sandbox_confine_report(FILE *out)
{
	int abi = landlock_abi();
	int e = userns_errno();

	fprintf(out, "landlock: ABI %d%s\n", abi,
		abi <= 0 ? " (none: the filesystem is not restricted)" :
		abi < 4 ? " (files only: TCP is not restricted)" : " (files and TCP)");
	fprintf(out, "namespaces: %s%s\n", e ? "unavailable: " : "available",
		e ? strerror(e) : "");
	fprintf(out, "running as: %s\n", geteuid() ? "a user (namespaces with a user namespace)"
						   : "root (--jail available)");
}
