/*
 * The moment each long-lived thread has finished its setup and is about to
 * serve: the sandbox (src/sandbox, the top layer) installs its filter then.
 * Lower layers only call thread_hook_enter(); they never learn what the
 * hook does, so the layer order holds.
 */
#ifndef HEARTH_UTIL_THREAD_HOOK_H
#define HEARTH_UTIL_THREAD_HOOK_H

/* Every kind of thread Hearth runs; the io thread is the main thread. */
enum thread_kind {
	THREAD_IO,      /* the event loop: devices, slirp, console, signals */
	THREAD_VCPU,    /* one per vCPU: the KVM_RUN loop */
	THREAD_API,     /* the HTTP API (util/httpd.c, on its own thread) */
	THREAD_MIGRATE, /* live migration's (host/migrate.h), idle until one runs */
	THREAD_KINDS,
};

/* Returns 0, or -errno: the thread must not go on without what it was given. */
typedef int (*thread_hook_fn)(enum thread_kind kind);

/* Once, before any thread of the kinds above starts; NULL: no hook. */
void thread_hook_set(thread_hook_fn fn);
/* On the thread itself. 0 when no hook is set. */
int thread_hook_enter(enum thread_kind kind);

#endif
