/*
 * The `hearth serve` processes behind templates and sandboxes (priv.h):
 * started from the server's own binary, tracked by pidfd (a clone is the
 * zygote's child, not ours, and a pid alone could be reused by the time
 * it is signalled), ended with SIGKILL. Every VM keeps Hearth's sandbox
 * and seccomp filters: no flag here turns them off.
 */
#include "sandboxd/priv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandboxd/hclient.h"
#include "util/log.h"

#define VM_MAX_ARGS 24
/* How long a killed VM may take to be gone, and its API to first answer. */
#define VM_EXIT_WAIT_MS 10000

extern char **environ;

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_kill(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

bool sbx_vm_alive(const struct sbx_vm *vm)
{
	struct pollfd p = { .fd = vm->pidfd, .events = POLLIN };

	/* A pidfd is readable once its process has exited. */
	return vm->pid > 0 && vm->pidfd >= 0 && poll(&p, 1, 0) == 0;
}

int sbx_vm_adopt(struct sbx_vm *vm, pid_t pid, struct err *e)
{
	int fd = pidfd_open_(pid);

	if (fd < 0)
		return err_set(e, false, -errno, "pidfd_open %d: %s", (int)pid, strerror(errno));
	vm->pid = pid;
	vm->pidfd = fd;
	return 0;
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static void child_exec(const char *exe, char *const *argv, const char *dir, int logfd)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	/* A VM outlives no server that crashed: its clones' orphans are the subreaper's. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (null < 0 || dup2(null, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0 ||
	    chdir(dir))
		_exit(127);
	/* Nothing of the server's (listeners, pidfds, connections) goes into a VM. */
	syscall(SYS_close_range, 3u, ~0u, 0u);
	setpgid(0, 0);
	execve(exe, argv, environ);
	_exit(127);
}

/* Waits for the API socket to answer GET /, or the process to die. */
static int wait_api(struct sbx *s, struct sbx_vm *vm, struct err *e)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct hc_reply r;
		struct err ignored = ERR_INIT;

		if (!hc_request(vm->api_sock, "GET", "/", NULL, 1000, &r, &ignored)) {
			unsigned int st = r.status;

			hc_reply_free(&r);
			if (st == 200)
				return 0;
		}
		if (!sbx_vm_alive(vm))
			return err_set(e, false, -ECHILD, "hearth serve in %s exited (its log: %s/log)",
				       vm->dir, vm->dir);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > (time_t)s->cfg.op_timeout_s)
			return err_set(e, false, -ETIMEDOUT, "hearth serve in %s: no API after %u s",
				       vm->dir, s->cfg.op_timeout_s);
		usleep(5000);
	}
}

int sbx_vm_spawn(struct sbx *s, struct sbx_vm *vm, const char *const *args, struct err *e)
{
	char *argv[VM_MAX_ARGS + 16];
	char logpath[SBX_PATH + 8], uid[16], gid[16];
	unsigned int n = 0;
	int logfd, ret;
	pid_t pid;

	if (snprintf(vm->api_sock, sizeof(vm->api_sock), "%s/api.sock", vm->dir) >=
		    (int)sizeof(vm->api_sock) ||
	    snprintf(vm->snap_dir, sizeof(vm->snap_dir), "%s/snap", vm->dir) >=
		    (int)sizeof(vm->snap_dir))
		return err_set(e, false, -ENAMETOOLONG, "%s: path too long", vm->dir);
	if (mkdir(vm->snap_dir, 0700) && errno != EEXIST)
		return err_set(e, false, -errno, "mkdir %s: %s", vm->snap_dir, strerror(errno));
	snprintf(logpath, sizeof(logpath), "%s/log", vm->dir);
	logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0)
		return err_set(e, false, -errno, "open %s: %s", logpath, strerror(errno));
	argv[n++] = "hearth";
	argv[n++] = "serve";
	if (vm->jail) {
		/* Its paths are the jail's from here on (sbx_vm_in). */
		snprintf(uid, sizeof(uid), "%u", (unsigned int)vm->uid);
		snprintf(gid, sizeof(gid), "%u", (unsigned int)s->jail.gid);
		argv[n++] = "--jail";
		argv[n++] = vm->root;
		argv[n++] = "--uid";
		argv[n++] = uid;
		argv[n++] = "--gid";
		argv[n++] = gid;
		ret = sbx_jail_own(s, vm, vm->snap_dir, e);
		if (ret) {
			close(logfd);
			return ret;
		}
	}
	argv[n++] = "--api-sock";
	argv[n++] = (char *)sbx_vm_in(vm, vm->api_sock);
	argv[n++] = "--snapshot-dir";
	argv[n++] = (char *)sbx_vm_in(vm, vm->snap_dir);
	for (unsigned int i = 0; args && args[i] && i < VM_MAX_ARGS; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(logfd);
		return err_set(e, false, ret, "fork: %s", strerror(-ret));
	}
	if (!pid)
		child_exec(s->cfg.exe, argv, vm->dir, logfd);
	close(logfd);
	ret = sbx_vm_adopt(vm, pid, e);
	if (ret) {
		kill(pid, SIGKILL);
		return ret;
	}
	ret = wait_api(s, vm, e);
	if (ret)
		sbx_vm_kill(vm);
	return ret;
}

void sbx_vm_kill(struct sbx_vm *vm)
{
	struct pollfd p = { .fd = vm->pidfd, .events = POLLIN };
	bool gone = true;

	if (vm->pidfd >= 0) {
		pidfd_kill(vm->pidfd, SIGKILL);
		gone = poll(&p, 1, VM_EXIT_WAIT_MS) == 1;
		if (!gone)
			log_warn("sandboxes: VM %d still there %d ms after SIGKILL%s", (int)vm->pid,
				 VM_EXIT_WAIT_MS, vm->jail ? ": its uid stays taken" : "");
		close(vm->pidfd);
		/* Ours (a restore's) is reaped now; a clone is its zygote's (or, orphaned, the reaper's). */
		waitpid(vm->pid, NULL, WNOHANG);
	}
	vm->pidfd = -1;
	vm->pid = 0;
	if (vm->api_sock[0])
		unlink(vm->api_sock);
	if (vm->vsock[0])
		unlink(vm->vsock);
	if (vm->log[0])
		unlink(vm->log);
	if (vm->own_dir && (vm->root[0] || vm->dir[0]))
		sbx_remove_tree(vm->root[0] ? vm->root : vm->dir);
	/* A uid whose process may live on is not given to the next VM. */
	if (gone)
		sbx_jail_give(vm);
	if (vm->base)
		sbx_snap_put(vm->base);
	vm->base = NULL;
}

void sbx_vm_reap(void)
{
	siginfo_t si;

	for (int i = 0; i < 256; i++) {
		si.si_pid = 0;
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) || !si.si_pid)
			return;
	}
}
