/*
 * The sandbox probe (probe.c), a test hook compiled in always and active
 * only with HEARTH_SANDBOX_PROBE=1 in the environment: once the sandbox
 * is in place, the io thread tries what a compromised Hearth would (read
 * /etc/passwd, connect to 127.0.0.1, connect to a Unix socket beside the
 * API socket, signal a process outside Hearth, execve, ptrace Hearth, an
 * ioctl no filter allows, make an io_uring ring of its own) and prints
 * one line per attempt on stderr:
 *
 *     probe: open /etc/passwd: refused (ENOENT)
 *     probe: execve /proc/self/exe: refused (seccomp)
 *     probe: ptrace PTRACE_SEIZE hearth: allowed
 *
 * Each attempt runs in a child forked from the io thread just before its
 * seccomp filter goes on: the child inherits the namespaces, Landlock,
 * limits and dropped capabilities, installs the very same io filter
 * itself, then tries. A forbidden syscall kills the child alone (its
 * SIGSYS exit, 148, is "refused (seccomp)"); an errno is its exit code.
 *
 * A thread that runs since before the seal (the api thread of `hearth
 * serve`) makes the two attempts that matter from there at the seal,
 * right after it is restricted (tsync.h), in its own thread and under its
 * own filter, as "probe: api thread: ..." lines. An attempt its filter
 * forbids is not made (the trap would end Hearth): "refused (seccomp)".
 *
 * The targets are made in main, before anything is confined: a Unix
 * socket listening beside the API socket (in the start directory without
 * one), named hearth-probe-PID.sock and left there (the sealed process
 * cannot remove it), and a child that only waits, killed with Hearth.
 */
#ifndef HEARTH_SANDBOX_PROBE_H
#define HEARTH_SANDBOX_PROBE_H

#include <stdbool.h>
#include <stdio.h>

#include "sandbox/policy.h"
#include "util/thread_hook.h"

/*
 * In main, before anything is confined: the TCP listener, the Unix socket
 * beside api_sock (NULL: in the start directory) and the process outside.
 * 0, or the first -errno (the attempts without a target say "error").
 */
int probe_prepare(const char *api_sock);
/*
 * On a thread of kind, right after the seal restricted it; seccomp: its
 * filter is on. Async-signal-safe (it runs in the seal's signal handler).
 */
void probe_thread(enum thread_kind kind, bool seccomp);
/*
 * The paths the seal kept (not copied: they must outlive the probe), for
 * the io thread's last step: "probe: write PATH[ (read only)]: allowed"
 * or "refused (ERRNO)" for each, opened for writing in the sealed process.
 */
void probe_set_kept(const struct sandbox_paths *paths);
/* On the io thread, before its filter; seccomp: the children install it. */
void probe_run(bool seccomp, FILE *out);
/* The line for a child's wait status (pure, for the unit tests). */
void probe_outcome(int status, char *buf, size_t len);

#endif
