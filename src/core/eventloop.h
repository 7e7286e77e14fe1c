/* A small epoll loop for the I/O thread. */
#ifndef HEARTH_CORE_EVENTLOOP_H
#define HEARTH_CORE_EVENTLOOP_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

/*
 * Handlers live in chunks that never move (epoll keeps pointers to them),
 * added as needed up to this many fds: every device, backend queue and
 * vhost call fd has one, so a VM with several multiqueue NICs needs more
 * than a fixed small table.
 */
#define EVENTLOOP_CHUNK 32
#define EVENTLOOP_MAX_CHUNKS 32
#define EVENTLOOP_MAX_FDS (EVENTLOOP_CHUNK * EVENTLOOP_MAX_CHUNKS)
#define EVENTLOOP_MAX_POLLERS 8

typedef void (*eventloop_cb)(void *opaque, uint32_t events);

/*
 * A library that wants a poll() set rebuilt every round (libslirp) runs in
 * the loop's own thread through a poller: the loop polls its epoll fd
 * together with every poller's fds.
 */
struct eventloop_poller_ops {
	/* Fills the poller's pollfd array; returns it, its count in *n and
	 * lowers *timeout_ms (-1: no timeout yet) to its next deadline. */
	struct pollfd *(*prepare)(void *opaque, unsigned int *n, int *timeout_ms);
	/* After the wait: revents are in the array prepare() returned. */
	void (*dispatch)(void *opaque, bool poll_failed);
};

struct eventloop_handler {
	int fd;
	eventloop_cb cb;
	void *opaque;
};

struct eventloop_poller {
	const struct eventloop_poller_ops *ops;
	void *opaque;
};

/* A function run on the loop's thread for another thread (eventloop_call_sync). */
struct eventloop_call {
	void (*fn)(void *arg);
	void *arg;
	bool done;
	struct eventloop_call *next;
};

struct eventloop {
	int epfd;
	bool stop;
	struct eventloop_handler *chunks[EVENTLOOP_MAX_CHUNKS];
	unsigned int nchunks;
	/* Cross-thread calls: queued under call_lock, woken through call_efd. */
	pthread_mutex_t call_lock;
	pthread_cond_t call_cond;
	struct eventloop_call *calls;
	int call_efd;
	/*
	 * Who runs cross-thread calls: nobody yet (callers run them inline),
	 * the owner (claimed: callers wait for it), or nobody any more
	 * (closed: calls from other threads are refused).
	 */
	enum { EVENTLOOP_UNCLAIMED, EVENTLOOP_CLAIMED, EVENTLOOP_CLOSED } state;
	pthread_t owner;
	struct eventloop_poller pollers[EVENTLOOP_MAX_POLLERS];
	unsigned int npollers;
	struct pollfd *pfd;   /* the combined set, while pollers exist */
	unsigned int pfd_cap;
	bool poked;           /* a poller readied an epoll fd this round (eventloop_poke) */
	bool in_batch;        /* between eventloop_batch_begin and _end */
	bool retired;         /* a slot was retired in this batch */
};

int eventloop_init(struct eventloop *el);
void eventloop_destroy(struct eventloop *el);
/* events: EPOLLIN / EPOLLOUT. */
int eventloop_add(struct eventloop *el, int fd, uint32_t events, eventloop_cb cb, void *opaque);
int eventloop_modify(struct eventloop *el, int fd, uint32_t events);
int eventloop_remove(struct eventloop *el, int fd);
/*
 * One epoll_wait's events are a batch, and a callback may remove handlers
 * whose events come later in it (a device freeing a connection): those are
 * skipped, their fd being negative. So that a handler added meanwhile (the
 * next connection) cannot take the removed one's slot and get its stale
 * events, a slot removed within a batch is retired until the batch ends.
 * eventloop_run brackets its batches; so must code that turns the loop by
 * hand (tests, fuzz targets).
 */
void eventloop_batch_begin(struct eventloop *el);
void eventloop_batch_end(struct eventloop *el);
int eventloop_add_poller(struct eventloop *el, const struct eventloop_poller_ops *ops,
			 void *opaque);
void eventloop_remove_poller(struct eventloop *el, void *opaque);
/*
 * From a poller's dispatch, on the loop's thread: it made one of the
 * loop's epoll fds ready (libslirp's frames for a NIC), so the loop looks
 * at them before it waits again. Without it they are still seen, one
 * poll() later: the loop only skips its epoll fd when poll() found it
 * idle and no poller poked.
 */
void eventloop_poke(struct eventloop *el);
/*
 * Runs fn(arg) on the loop's thread and waits for it: how a vCPU hands
 * device work (reset, activation) to the I/O thread, so that blocking host
 * work never runs on a vCPU. Returns 0 once fn ran. fn runs inline when
 * called from the loop's own thread, or before any thread claimed the
 * loop (unit tests, start-up). Once the loop has stopped for good
 * (eventloop_run returned), a call from another thread is refused with
 * -ESHUTDOWN and fn does not run: a vCPU still running while the VM is
 * torn down must not do the io thread's work on its own thread, whose
 * seccomp filter forbids it (and the work is moot then).
 */
int eventloop_call_sync(struct eventloop *el, void (*fn)(void *arg), void *arg)
	__attribute__((warn_unused_result));
/*
 * eventloop_call_sync for work that can fail: returns what fn(ctx, e)
 * returned, or -ESHUTDOWN with "Hearth is shutting down" in e (when e is
 * not NULL) once the loop has stopped and fn did not run. el NULL: fn
 * runs here (a device without an I/O loop, in unit tests).
 */
int eventloop_run_on(struct eventloop *el, int (*fn)(void *ctx, struct err *e), void *ctx,
		     struct err *e);
/*
 * Makes this thread the loop's before it dispatches: calls from other
 * threads wait for eventloop_run instead of running on their own thread.
 */
void eventloop_claim(struct eventloop *el);
/*
 * Dispatches until eventloop_stop(); returns 0 or -errno. The calls
 * queued by then are run before it returns; later ones are refused.
 */
int eventloop_run(struct eventloop *el);
/* A claimed loop that will not run after all: as eventloop_run's end. */
void eventloop_close(struct eventloop *el);
void eventloop_stop(struct eventloop *el);

#endif
