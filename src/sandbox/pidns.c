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

int pidns_split(int pid_fd, const char *pid_file, struct err *err)
{
	sigset_t stop, old;
	pid_t pid;
	int ret;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	/* Before the fork: a signal the moment the child exists would be dropped. */
	if (sigprocmask(SIG_BLOCK, &stop, &old))
		return err_set(err, false, -errno, "--new-pid-ns: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		return err_set(err, false, ret, "--new-pid-ns: cannot start the namespace's first "
			       "process: %s", strerror(-ret));
	}
	if (pid > 0)
		parent_finish(pid, pid_fd, pid_file);
	close(pid_fd);
	return 0;
}
