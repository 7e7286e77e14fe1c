#include "sandbox/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <net/if.h>
#include <seccomp.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/allow.h"
#include "sandbox/sandbox.h"
#include "util/log.h"

/* The child could not even start its attempt (no filter): neither verdict. */
#define PROBE_SETUP_FAILED 255

static int listen_fd = -1;
static struct sockaddr_in listen_addr;
static int unix_fd = -1;
static struct sockaddr_un unix_addr;
static pid_t outside = -1;

/* A Unix socket listening in api_sock's directory (the start directory without one). */
static int prepare_unix(const char *api_sock)
{
	const char *slash = api_sock ? strrchr(api_sock, '/') : NULL;
	int dirlen = slash ? (int)(slash - api_sock) : 0;
	int n;

	unix_addr.sun_family = AF_UNIX;
	if (!slash)
		n = snprintf(unix_addr.sun_path, sizeof(unix_addr.sun_path),
			     "hearth-probe-%d.sock", (int)getpid());
	else
		n = snprintf(unix_addr.sun_path, sizeof(unix_addr.sun_path),
			     "%.*s/hearth-probe-%d.sock", dirlen, api_sock, (int)getpid());
	if (n < 0 || (size_t)n >= sizeof(unix_addr.sun_path))
		return -ENAMETOOLONG;
	/* Relative: made absolute, as the sealed process will name it. */
	if (unix_addr.sun_path[0] != '/') {
		char cwd[sizeof(unix_addr.sun_path)], rel[sizeof(unix_addr.sun_path)];

		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		memcpy(rel, unix_addr.sun_path, sizeof(rel));
		n = snprintf(unix_addr.sun_path, sizeof(unix_addr.sun_path), "%s/%s", cwd, rel);
		if (n < 0 || (size_t)n >= sizeof(unix_addr.sun_path))
			return -ENAMETOOLONG;
	}
	unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (unix_fd < 0)
		return -errno;
	unlink(unix_addr.sun_path);
	if (bind(unix_fd, (struct sockaddr *)&unix_addr, sizeof(unix_addr)) ||
	    listen(unix_fd, 8)) {
		int ret = -errno;

		close(unix_fd);
		unix_fd = -1;
		return ret;
	}
	return 0;
}

/*
 * A process outside Hearth to signal. It waits for the end of a pipe whose
 * other end only Hearth holds: a parent-death signal would come from the
 * sealed process, and Landlock refuses that signal too.
 */
static int prepare_outside(void)
{
	int p[2];
	char c;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	outside = fork();
	if (outside < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (outside == 0) {
		close(p[1]);
		close(STDIN_FILENO);
		close(STDOUT_FILENO);
		close(STDERR_FILENO);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		syscall(SYS_exit_group, 0);
	}
	/* The write end, p[1], stays open (close-on-exec) until Hearth exits. */
	close(p[0]);
	return 0;
}

int probe_prepare(const char *api_sock)
{
	socklen_t len = sizeof(listen_addr);
	int ret = prepare_unix(api_sock);
	int ret2 = prepare_outside();

	if (!ret)
		ret = ret2;
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
	return ret;
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

#define PROBE_UNIX "connect unix socket beside the API socket"
#define PROBE_SIGNAL "signal a process outside"

static int try_connect_unix(void)
{
	int fd;

	if (unix_fd < 0)
		return PROBE_SETUP_FAILED;
	fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	return syscall(SYS_connect, fd, &unix_addr, sizeof(unix_addr)) ? errno : 0;
}

/* Signal 0: every check a real signal passes, and nothing delivered. */
static int try_signal(void)
{
	if (outside <= 0)
		return PROBE_SETUP_FAILED;
	return syscall(SYS_tgkill, outside, outside, 0) ? errno : 0;
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

static int try_io_uring(void)
{
	struct io_uring_params p;
	int fd;

	/* A ring of its own, which no fence restricts: no thread may make one once filtered. */
	memset(&p, 0, sizeof(p));
	fd = (int)syscall(SYS_io_uring_setup, 2, &p);
	return fd < 0 ? errno : 0;
}

static const struct probe_try {
	const char *what;
	int (*fn)(void);
} tries[] = {
	{ "open /etc/passwd", try_open },
	{ "connect 127.0.0.1", try_connect },
	{ PROBE_UNIX, try_connect_unix },
	{ PROBE_SIGNAL, try_signal },
	{ "execve /proc/self/exe", try_execve },
	{ "ptrace PTRACE_SEIZE hearth", try_ptrace },
	{ "ioctl SIOCGIFCONF", try_ioctl },
	{ "io_uring_setup", try_io_uring },
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

/* Appends s at *pos (async-signal-safe), leaving room for the newline. */
static void put(char *buf, size_t size, size_t *pos, const char *s)
{
	while (*s && *pos + 1 < size)
		buf[(*pos)++] = *s++;
}

static void thread_line(const char *kind, const char *what, int code)
{
	char line[160];
	size_t pos = 0;
	const char *name = code > 0 && code != PROBE_SETUP_FAILED ? strerrorname_np(code) : NULL;

	put(line, sizeof(line), &pos, "probe: ");
	put(line, sizeof(line), &pos, kind);
	put(line, sizeof(line), &pos, " thread: ");
	put(line, sizeof(line), &pos, what);
	put(line, sizeof(line), &pos, code == 0 ? ": allowed" : code == HEARTH_EXIT_SECCOMP ?
	    ": refused (seccomp)" : name ? ": refused (" : ": error (no target)");
	if (name && code != HEARTH_EXIT_SECCOMP) {
		put(line, sizeof(line), &pos, name);
		put(line, sizeof(line), &pos, ")");
	}
	line[pos++] = '\n';
	if (write(STDERR_FILENO, line, pos) < 0)
		return;
}

void probe_thread(enum thread_kind kind, bool seccomp)
{
	const struct sandbox_list *l = sandbox_list_get(kind);
	int code;

	/* Its filter would trap socket(2), and the trap ends Hearth: not tried. */
	if (seccomp && !sandbox_list_has(l, SCMP_SYS(socket)))
		code = HEARTH_EXIT_SECCOMP;
	else
		code = try_connect_unix();
	thread_line(l->kind, PROBE_UNIX, code);
	/* tgkill reaches only Hearth's own threads (SB_TGKILL_SELF): the trap, not tried. */
	code = seccomp && (l->args & SB_TGKILL_SELF) ? HEARTH_EXIT_SECCOMP : try_signal();
	thread_line(l->kind, PROBE_SIGNAL, code);
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

static const struct sandbox_paths *kept;

void probe_set_kept(const struct sandbox_paths *paths)
{
	kept = paths;
}

/*
 * What a compromised Hearth could write among the paths the sandbox
 * kept: each file opened for writing (never truncated), each directory
 * asked for an unnamed file (O_TMPFILE, gone when closed). Sockets are
 * reached by connect(2), not open: skipped.
 */
static void probe_kept(FILE *out)
{
	for (unsigned int i = 0; kept && i < kept->n; i++) {
		const struct sandbox_path *p = &kept->p[i];
		struct stat st;
		int fd, e;

		if (stat(p->path, &st)) {
			fprintf(out, "probe: write %s: error (stat: %s)\n", p->path,
				strerrorname_np(errno));
			continue;
		}
		if (S_ISSOCK(st.st_mode))
			continue;
		if (S_ISDIR(st.st_mode))
			fd = open(p->path, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
		else
			fd = open(p->path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		e = errno;
		if (fd >= 0)
			close(fd);
		fprintf(out, "probe: write %s%s: %s%s%s\n", p->path, p->ro ? " (read only)" : "",
			fd >= 0 ? "allowed" : "refused (", fd >= 0 ? "" : strerrorname_np(e),
			fd >= 0 ? "" : ")");
	}
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
	probe_kept(out);
	fprintf(out, "probe: done\n");
	fflush(out);
}
