/*
 * What a forbidden syscall does: SECCOMP_RET_TRAP sends SIGSYS to the
 * thread that made it, and this handler writes one line, removes the API
 * socket (util/uds.h: nothing else unwinds) and exits the process with
 * HEARTH_EXIT_SECCOMP. Only syscalls the thread's filter allows: write(2)
 * and exit_group(2), which every filter does; unlink(2) where the filter
 * has it (io, api). A vCPU's has not: it asks the main thread, the io
 * thread, with a SIGSYS of its own (tgkill, which a vCPU may send) to
 * unlink and exit, and exits itself if that has not happened in a second.
 * Syscall names come from the table the build wrote (compile.h).
 */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <linux/audit.h>
#include <signal.h>
#include <stdbool.h>
#include <stdnoreturn.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/compile.h"
#include "util/log.h"
#include "util/uds.h"

static __thread char thread_name[16];
static __thread bool thread_may_unlink;

void sandbox_sigsys_name_thread(const char *name, bool may_unlink)
{
	snprintf(thread_name, sizeof(thread_name), "%s", name);
	thread_may_unlink = may_unlink;
}

/* Appends s at *pos, leaving room for the newline. */
static void put_str(char *buf, size_t size, size_t *pos, const char *s)
{
	while (*s && *pos + 1 < size)
		buf[(*pos)++] = *s++;
}

static void put_uint(char *buf, size_t size, size_t *pos, unsigned long v, unsigned int base)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && *pos + 1 < size)
		buf[(*pos)++] = digits[--n];
}

/* The raw call: a sanitizer's _exit would first run its leak check, under this filter. */
static noreturn void exit_seccomp(void)
{
	for (;;)
		syscall(SYS_exit_group, HEARTH_EXIT_SECCOMP);
}

/* The API socket goes with the process: here if this thread may, else by the main thread. */
static void remove_socket(void)
{
	const char *path = uds_exit_unlink();
	pid_t pid = (pid_t)syscall(SYS_getpid);
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	if (!path)
		return;
	if (thread_may_unlink || (pid_t)syscall(SYS_gettid) == pid) {
		syscall(SYS_unlink, path);
		return;
	}
	if (syscall(SYS_tgkill, pid, pid, SIGSYS))
		return;
	/* The main thread exits the process; should it not, in a second, this one does. */
	for (int i = 0; i < 100; i++)
		syscall(SYS_nanosleep, &tick, NULL);
}

static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	char line[160];
	size_t pos = 0;
	int nr = si->si_syscall;
	bool native = si->si_arch == AUDIT_ARCH_X86_64;

	(void)sig;
	(void)uctx;
	/* A vCPU's request (remove_socket): its line is written, the socket and process are ours. */
	if (si->si_code == SI_TKILL && si->si_pid == (pid_t)syscall(SYS_getpid)) {
		const char *path = uds_exit_unlink();

		if (path)
			syscall(SYS_unlink, path);
		exit_seccomp();
	}
	put_str(line, sizeof(line), &pos, "hearth: seccomp: thread ");
	put_str(line, sizeof(line), &pos, thread_name[0] ? thread_name : "?");
	put_str(line, sizeof(line), &pos, " made forbidden syscall ");
	put_uint(line, sizeof(line), &pos, (unsigned long)(unsigned int)nr, 10);
	put_str(line, sizeof(line), &pos, " (");
	if (native && nr >= 0 && nr < SANDBOX_SYSCALL_NAMES && sandbox_syscall_names[nr][0]) {
		put_str(line, sizeof(line), &pos, sandbox_syscall_names[nr]);
	} else {
		put_str(line, sizeof(line), &pos, "arch 0x");
		put_uint(line, sizeof(line), &pos, si->si_arch, 16);
	}
	put_str(line, sizeof(line), &pos, "); exiting\n");
	if (pos && line[pos - 1] != '\n')
		line[pos++] = '\n';
	if (write(STDERR_FILENO, line, pos) < 0) {
		/* Nothing else to tell; the exit code still says it. */
	}
	remove_socket();
	exit_seccomp();
}

int sandbox_sigsys_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) ? -errno : 0;
}
