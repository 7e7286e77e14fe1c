#include "sandbox/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "util/log.h"

/* The child could not even start its attempt (no filter): neither verdict. */
#define PROBE_SETUP_FAILED 255

static int listen_fd = -1;
static struct sockaddr_in listen_addr;

int probe_prepare(void)
{
	socklen_t len = sizeof(listen_addr);

	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0)
		return -errno;
	memset(&listen_addr, 0, sizeof(listen_addr));
	listen_addr.sin_family = AF_INET;
	listen_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listen_fd, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) ||
	    listen(listen_fd, 8) ||
	    getsockname(listen_fd, (struct sockaddr *)&listen_addr, &len)) {
		close(listen_fd);
		listen_fd = -1;
		return -errno;
	}
	return 0;
}

static int try_open(void)
{
	return syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY | O_CLOEXEC) < 0 ? errno : 0;
}

static int try_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return errno;
	return connect(fd, (struct sockaddr *)&listen_addr, sizeof(listen_addr)) ? errno : 0;
}

static int try_execve(void)
{
	char *const argv[] = { "hearth", "--version", NULL };
	char *const envp[] = { NULL };

	/* Without a sandbox this prints nowhere (stdout is closed) and exits 0. */
	syscall(SYS_execve, "/proc/self/exe", argv, envp);
	return errno;
}

static int try_ptrace(void)
{
	/* The io thread (the main thread: its tid is the pid), without stopping it. */
	return syscall(SYS_ptrace, PTRACE_SEIZE, getppid(), 0, 0) ? errno : 0;
}

static int try_ioctl(void)
{
	struct ifconf ifc;

	/* The host's interfaces: no thread's filter lets SIOCGIFCONF through. */
	memset(&ifc, 0, sizeof(ifc));
	return syscall(SYS_ioctl, listen_fd, SIOCGIFCONF, &ifc) ? errno : 0;
}

static const struct probe_try {
	const char *what;
	int (*fn)(void);
} tries[] = {
	{ "open /etc/passwd", try_open },
	{ "connect 127.0.0.1", try_connect },
	{ "execve /proc/self/exe", try_execve },
	{ "ptrace PTRACE_SEIZE hearth", try_ptrace },
	{ "ioctl SIOCGIFCONF", try_ioctl },
};

void probe_outcome(int status, char *buf, size_t len)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	const char *name;

	if (code == 0)
		snprintf(buf, len, "allowed");
	else if (code == HEARTH_EXIT_SECCOMP || (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS))
		snprintf(buf, len, "refused (seccomp)");
	else if (code > 0 && code != PROBE_SETUP_FAILED && (name = strerrorname_np(code)))
		snprintf(buf, len, "refused (%s)", name);
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "error (killed by signal %d)", WTERMSIG(status));
	else
		snprintf(buf, len, "error (exit %d)", code);
}

/* The child: only raw syscalls after fork, as in any multithreaded process's child. */
static void probe_child(const struct probe_try *t, bool seccomp)
{
	close(STDOUT_FILENO);
	/* The SIGSYS line would say "exiting" about a child; the verdict line says it. */
	close(STDERR_FILENO);
	if (seccomp && sandbox_enter(THREAD_IO))
		syscall(SYS_exit_group, PROBE_SETUP_FAILED);
	syscall(SYS_exit_group, t->fn());
}

void probe_run(bool seccomp, FILE *out)
{
	char verdict[64];

	/*
	 * Yama's relation check would refuse the ptrace attempt with or
	 * without a sandbox; lifted for the probe so the attempt measures
	 * Hearth's own walls (dumpable, capabilities, seccomp). EINVAL: no Yama.
	 */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	for (unsigned int i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		int status = 0;
		pid_t pid;

		fflush(out);
		pid = fork();
		if (pid == 0)
			probe_child(&tries[i], seccomp);
		if (pid < 0) {
			fprintf(out, "probe: %s: error (fork: %s)\n", tries[i].what, strerror(errno));
			continue;
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		probe_outcome(status, verdict, sizeof(verdict));
		fprintf(out, "probe: %s: %s\n", tries[i].what, verdict);
	}
	prctl(PR_SET_PTRACER, 0, 0, 0, 0);
	fprintf(out, "probe: done\n");
	fflush(out);
}
