/*
 * --new-pid-ns (confine.c, step 1), as Firecracker's jailer does it: the
 * VM runs in a child that is pid 1 of a new PID namespace, where no
 * process outside has a pid it could name (signal, ptrace), whatever
 * Landlock or seccomp allow. The process the caller started is left
 * outside, since unshare(CLONE_NEWPID) moves only its children: it writes
 * the child's pid (as the caller's namespace numbers it) to the pid file
 * and exits 0 at once, so the caller tracks the VM by that pid, never by
 * a parent that would outlive or predecease it.
 */
#ifndef HEARTH_SANDBOX_PIDNS_H
#define HEARTH_SANDBOX_PIDNS_H

#include "util/err.h"

/*
 * The pid file, made now (before the jail or namespaces hide its
 * directory): created, never replaced (O_EXCL, as the jailer's), mode
 * 0644. Its fd, or -errno with err filled (usage: the path is the
 * caller's).
 */
int pidns_pidfile_open(const char *path, struct err *err);
/* The namespace the next fork's child is pid 1 of. 0 or -errno. */
int pidns_unshare(void);
/*
 * After pidns_unshare (or the jail's), single-threaded: forks. Returns 0
 * in the child, pid 1, with SIGINT, SIGTERM and SIGHUP blocked (pid 1
 * drops a signal it has no handler for: the runner's signalfd takes them
 * from there) and pid_fd closed; when the caller leads its session, the
 * child leads a new one, made before the parent exits. Never returns in the parent: it writes
 * the child's pid to pid_fd and exits 0 (or, when it cannot, kills and
 * reaps the child, says so on stderr and exits 1). -errno with err filled
 * when the fork fails.
 */
int pidns_split(int pid_fd, const char *pid_file, struct err *err);

#endif
