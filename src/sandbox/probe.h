/*
 * The sandbox probe (probe.c), a test hook compiled in always and active
 * only with HEARTH_SANDBOX_PROBE=1 in the environment: once the sandbox
 * is in place, the io thread tries what a compromised Hearth would (read
 * /etc/passwd, connect to 127.0.0.1, execve, ptrace Hearth, an ioctl no
 * filter allows) and prints one line per attempt on stderr:
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
 */
#ifndef HEARTH_SANDBOX_PROBE_H
#define HEARTH_SANDBOX_PROBE_H

#include <stdbool.h>
#include <stdio.h>

/* In main, before anything is confined: the TCP listener the connect attempt aims at. */
int probe_prepare(void);
/* On the io thread, before its filter; seccomp: the children install it. */
void probe_run(bool seccomp, FILE *out);
/* The line for a child's wait status (pure, for the unit tests). */
void probe_outcome(int status, char *buf, size_t len);

#endif
