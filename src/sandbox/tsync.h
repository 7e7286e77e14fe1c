/*
 * Every thread inside the same Landlock domain (tsync.c). Landlock binds
 * a thread and the threads it creates from then on; a thread that exists
 * before the seal (the api thread of `hearth serve`) would stay outside.
 * At the seal the sealing thread restricts the whole process at once with
 * LANDLOCK_RESTRICT_SELF_TSYNC (Landlock ABI 8+); on an older kernel it
 * signals each thread that entered service before the seal, whose
 * handler restricts that thread itself, and waits until all have. The
 * same signal runs a thread's share of the sandbox probe (probe.h).
 */
#ifndef HEARTH_SANDBOX_TSYNC_H
#define HEARTH_SANDBOX_TSYNC_H

#include <stdbool.h>

#include "util/err.h"

/* How long the seal waits for a thread to restrict itself before it fails. */
#define TSYNC_WAIT_SECONDS 5

/* The signal handler, process-wide; before any thread starts. 0 or -errno. */
int tsync_init(void);
/*
 * The calling thread entered service (the thread hook): before the seal it
 * is noted, to be restricted at the seal; after it, it was created by a
 * sealed thread and already is. Async-signal-unsafe; 0 or -ENOSPC.
 */
int tsync_register(void);
/*
 * On the sealing thread: every thread into ruleset_fd's domain (abi: the
 * kernel's Landlock ABI; 0: none, only the step runs), then
 * thread_step (may be NULL; async-signal-safe, runs on each noted thread
 * after its restriction, 0 or an errno, the first of which fails the
 * seal) on the noted threads. 0 or -errno with err.
 */
int tsync_seal(int ruleset_fd, int abi, int (*thread_step)(void), struct err *err);

#endif
