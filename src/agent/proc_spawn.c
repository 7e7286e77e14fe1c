/*
 * Starting a process (proc.h): fork, then in the child its session, its
 * standard fds (pipes, or a pseudo-terminal that becomes its controlling
 * terminal), its user, its directory and exec; a close-on-exec pipe says
 * whether exec happened, and why not. The parent waits only for that
 * (exec or a failure right after fork), never for the process.
 */
#include "agent/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

/* What failed in the child, for the parent's words. */
enum spawn_stage { STAGE_SETUP, STAGE_USER, STAGE_CHDIR, STAGE_EXEC };

struct spawn_fail {
	int stage;
	int err;
};

static const char *const sig_names[32] = {
	[1] = "hangup", [2] = "interrupt", [3] = "quit", [4] = "illegal instruction",
	[5] = "trace/breakpoint trap", [6] = "aborted", [7] = "bus error",
	[8] = "floating point exception", [9] = "killed", [10] = "user defined signal 1",
	[11] = "segmentation fault", [12] = "user defined signal 2", [13] = "broken pipe",
	[14] = "alarm clock", [15] = "terminated", [16] = "stack fault", [17] = "child exited",
	[18] = "continued", [19] = "stopped (signal)", [20] = "stopped",
	[21] = "stopped (tty input)", [22] = "stopped (tty output)",
	[23] = "urgent I/O condition", [24] = "CPU time limit exceeded",
	[25] = "file size limit exceeded", [26] = "virtual timer expired",
	[27] = "profiling timer expired", [28] = "window changed", [29] = "I/O possible",
	[30] = "power failure", [31] = "bad system call",
};

void proc_status_string(int code, int status, char *out, size_t n)
{
	if (code == CLD_EXITED) {
		snprintf(out, n, "exit status %d", status);
		return;
	}
	/* Go's words for a signal, and its note for a core. */
	if (status > 0 && status < 32 && sig_names[status])
		snprintf(out, n, "signal: %s%s", sig_names[status],
			 code == CLD_DUMPED ? " (core dumped)" : "");
	else
		snprintf(out, n, "signal: signal %d%s", status,
			 code == CLD_DUMPED ? " (core dumped)" : "");
}

/* The child's side: never returns. */
static void __attribute__((noreturn)) child(const struct proc_spawn_args *a, int fds[3],
					     int tty, int errfd)
{
	struct spawn_fail f = { STAGE_SETUP, 0 };
	sigset_t none;
	int oom;

	/* What the agent ignores (SIGPIPE) would stay ignored across exec. */
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0)
		goto err;
	if (tty >= 0 && ioctl(tty, TIOCSCTTY, 0))
		goto err;
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			goto err;
	/* Under memory pressure the sandbox's work goes before the agent that serves it. */
	oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (oom >= 0) {
		if (write(oom, "100", 3) < 0) {
			/* best effort */
		}
		close(oom);
	}
	f.stage = STAGE_USER;
	if (user_can_switch() &&
	    (setgroups((size_t)a->user->ngroups, a->user->groups) || setgid(a->user->gid) ||
	     setuid(a->user->uid)))
		goto err;
	f.stage = STAGE_CHDIR;
	if (chdir(a->cwd))
		goto err;
	f.stage = STAGE_EXEC;
	/* execvp looks the command up in the PATH of environ: the process's own. */
	environ = (char **)a->envp;
	execvp(a->cmd, a->argv);
err:
	f.err = errno;
	if (write(errfd, &f, sizeof(f)) < 0) {
		/* the parent sees a failure without a reason */
	}
	_exit(127);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int proc_spawn(const struct proc_spawn_args *a, struct proc_spawned *out, char *why, size_t n)
{
	int out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 }, in_p[2] = { -1, -1 };
	int status_p[2] = { -1, -1 }, master = -1, slave = -1, devnull = -1;
	struct winsize ws = { .ws_col = a->cols ? a->cols : 80, .ws_row = a->rows ? a->rows : 24 };
	struct spawn_fail f;
	int fds[3], ret;
	ssize_t got;
	pid_t pid;

	*out = (struct proc_spawned){ .pid = -1, .pidfd = -1, .out_fd = -1, .err_fd = -1,
				      .in_fd = -1 };
	if (pipe2(status_p, O_CLOEXEC))
		goto err_sys;
	if (a->pty) {
		if (openpty(&master, &slave, NULL, NULL, &ws))
			goto err_sys;
		if (fcntl(master, F_SETFL, O_NONBLOCK) || fcntl(master, F_SETFD, FD_CLOEXEC) ||
		    fcntl(slave, F_SETFD, FD_CLOEXEC))
			goto err_sys;
		/* The terminal is the user's, as a login's would be. */
		if (user_can_switch() && fchown(slave, a->user->uid, (gid_t)-1)) {
			/* programs that check it complain; the terminal still works */
		}
		fds[0] = fds[1] = fds[2] = slave;
	} else {
		if (pipe2(out_p, O_CLOEXEC) || pipe2(err_p, O_CLOEXEC))
			goto err_sys;
		if (a->stdin_open ? pipe2(in_p, O_CLOEXEC) :
				    (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
			goto err_sys;
		fds[0] = a->stdin_open ? in_p[0] : devnull;
		fds[1] = out_p[1];
		fds[2] = err_p[1];
	}
	pid = fork();
	if (pid < 0)
		goto err_sys;
	if (!pid)
		child(a, fds, slave, status_p[1]);
	close_fd(&status_p[1]);
	close_fd(&slave);
	close_fd(&out_p[1]);
	close_fd(&err_p[1]);
	close_fd(&in_p[0]);
	close_fd(&devnull);
	do
		got = read(status_p[0], &f, sizeof(f));
	while (got < 0 && errno == EINTR);
	close_fd(&status_p[0]);
	if (got > 0) {
		waitpid(pid, NULL, 0);
		ret = got == sizeof(f) && f.err ? -f.err : -ECHILD;
		if (f.stage == STAGE_CHDIR)
			snprintf(why, n, "chdir %s: %s", a->cwd, strerror(-ret));
		else if (f.stage == STAGE_USER)
			snprintf(why, n, "cannot become %s: %s", a->user->name, strerror(-ret));
		else
			snprintf(why, n, "fork/exec %s: %s", a->cmd, strerror(-ret));
		goto err_close;
	}
	out->pid = pid;
	out->pidfd = pidfd_open(pid, 0);
	if (out->pidfd < 0) {
		/* Without it the end cannot be heard: the process must not run unwatched. */
		ret = -errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		snprintf(why, n, "pidfd_open: %s", strerror(-ret));
		goto err_close;
	}
	if (a->pty) {
		out->out_fd = master;
		out->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
		if (out->in_fd < 0) {
			/* No way to type into it: it still runs and is heard. */
		}
		return 0;
	}
	if (fcntl(out_p[0], F_SETFL, O_NONBLOCK) || fcntl(err_p[0], F_SETFL, O_NONBLOCK) ||
	    (in_p[1] >= 0 && fcntl(in_p[1], F_SETFL, O_NONBLOCK))) {
		/* blocking pipes would only make reads wait: the loop polls first anyway */
	}
	out->out_fd = out_p[0];
	out->err_fd = err_p[0];
	out->in_fd = in_p[1];
	return 0;

err_sys:
	ret = -errno;
	snprintf(why, n, "error starting process: %s", strerror(-ret));
err_close:
	close_fd(&status_p[0]);
	close_fd(&status_p[1]);
	close_fd(&master);
	close_fd(&slave);
	close_fd(&out_p[0]);
	close_fd(&out_p[1]);
	close_fd(&err_p[0]);
	close_fd(&err_p[1]);
	close_fd(&in_p[0]);
	close_fd(&in_p[1]);
	close_fd(&devnull);
	return ret;
}
