/*
 * The process-wide and per-thread hardening once everything is open
 * (harden.c): not dumpable, no core files, bounded fds and processes, no
 * capabilities, no new privileges.
 */
#ifndef HEARTH_SANDBOX_HARDEN_H
#define HEARTH_SANDBOX_HARDEN_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/*
 * PR_SET_DUMPABLE 0 (no ptrace, no /proc/PID/mem for the user's other
 * processes), RLIMIT_CORE 0, RLIMIT_NOFILE, and RLIMIT_NPROC when
 * nproc_own (Hearth's uid counts only Hearth). 0 or -errno, what
 * failed in err.
 */
int harden_process(unsigned int vcpus, bool nproc_own, struct err *err);
/*
 * The calling thread: no_new_privs, every capability out of the bounding,
 * ambient, inheritable, permitted and effective sets. Threads it creates
 * inherit that. 0 or -errno.
 */
int harden_thread(void);

#endif
