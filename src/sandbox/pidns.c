#include "sandbox/pidns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"

int pidns_pidfile_open(const char *path, struct err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd >= 0)
		return fd;
	fd = -errno;
	if (fd == -EEXIST)
		return err_set(err, true, fd, "--pid-file '%s': exists (a Hearth that still runs, "
			       "or one that ended: remove it first)", path);
	return err_set(err, true, fd, "--pid-file '%s': %s", path, strerror(-fd));
}

int pidns_unshare(void)
{
	return unshare(CLONE_NEWPID) ? -errno : 0;
}

/* The parent's whole job: the pid where the caller looks for it, then out of the way. */
static _Noreturn void parent_finish(pid_t child, int fd, const char *path)
{
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d", (int)child);
	int e = 0;

	/* No newline: the jailer's file is the number alone. */
	if (write(fd, buf, (size_t)n) != n)
		e = errno ? errno : ENOSPC;
	if (close(fd) && !e)
		e = errno;
	if (!e)
		_exit(HEARTH_EXIT_OK);
	/* Nobody could find the child: it goes, and is gone before we say so. */
	kill(child, SIGKILL);
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	log_err("--pid-file '%s': cannot write the pid: %s", path, strerror(e));
	_exit(HEARTH_EXIT_FAILURE);
}

/*
 * A session leader's parent waits for its child to leave the session:
 * the leader's exit hangs up the terminal's foreground group, and the
 * child, still in it, would take the SIGHUP (pending across its exec, as
 * it is blocked) as a stop. Any answer but 0 (setsid failed, or the child
 * died first) ends the parent without a pid file; the child says why.
 */
static void parent_await(pid_t child, int fd)
{
	int e = -1;
	ssize_t n;

	while ((n = read(fd, &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(fd);
	if (n == (ssize_t)sizeof(e) && e == 0)
		return;
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	_exit(HEARTH_EXIT_FAILURE);
}

int pidns_split(int pid_fd, const char *pid_file, struct err *err)
{
	/* Firecracker's jailer makes the same setsid, for the same reason (parent_await). */
	bool leader = getsid(0) == getpid();
	int sync[2] = { -1, -1 }, e;
	sigset_t stop, old;
	pid_t pid;
	int ret;

	if (leader && pipe2(sync, O_CLOEXEC))
		return err_set(err, false, -errno, "--new-pid-ns: %s", strerror(errno));

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	/* Before the fork: a signal the moment the child exists would be dropped. */
	if (sigprocmask(SIG_BLOCK, &stop, &old)) {
		ret = -errno;
		goto err_sync;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		err_set(err, false, ret, "--new-pid-ns: cannot start the namespace's first "
			"process: %s", strerror(-ret));
		goto err_close;
	}
	if (pid > 0) {
		if (leader) {
			close(sync[1]);
			parent_await(pid, sync[0]);
		}
		parent_finish(pid, pid_fd, pid_file);
	}
	close(pid_fd);
	if (leader) {
		close(sync[0]);
		e = setsid() < 0 ? errno : 0;
		if (write(sync[1], &e, sizeof(e)) != (ssize_t)sizeof(e) && !e)
			e = errno ? errno : EPIPE;
		close(sync[1]);
		if (e)
			return err_set(err, false, -e, "--new-pid-ns: setsid: %s", strerror(e));
	}
	return 0;
err_sync:
	err_set(err, false, ret, "--new-pid-ns: %s", strerror(-ret));
err_close:
	if (leader) {
		close(sync[0]);
		close(sync[1]);
	}
	return ret;
}
