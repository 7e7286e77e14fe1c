/* A small epoll loop for the I/O thread. */
#ifndef HEARTH_CORE_EVENTLOOP_H
#define HEARTH_CORE_EVENTLOOP_H

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

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
	bool running;          /* eventloop_run is dispatching on owner */
	pthread_t owner;
	struct eventloop_poller pollers[EVENTLOOP_MAX_POLLERS];
	unsigned int npollers;
	struct pollfd *pfd;   /* the combined set, while pollers exist */
	unsigned int pfd_cap;
};

int eventloop_init(struct eventloop *el);
void eventloop_destroy(struct eventloop *el);
/* events: EPOLLIN / EPOLLOUT. */
int eventloop_add(struct eventloop *el, int fd, uint32_t events, eventloop_cb cb, void *opaque);
int eventloop_modify(struct eventloop *el, int fd, uint32_t events);
int eventloop_remove(struct eventloop *el, int fd);
int eventloop_add_poller(struct eventloop *el, const struct eventloop_poller_ops *ops,
			 void *opaque);
void eventloop_remove_poller(struct eventloop *el, void *opaque);
/*
 * Runs fn(arg) on the loop's thread and waits for it: how a vCPU hands
 * device work (reset, activation) to the I/O thread, so that blocking host
 * work never runs on a vCPU. Runs fn inline when called from the loop's
 * own thread or while the loop is not running (unit tests, start-up and
 * shutdown), so a caller can never wait for a loop that will not come.
 */
void eventloop_call_sync(struct eventloop *el, void (*fn)(void *arg), void *arg);
/* Dispatches until eventloop_stop(); returns 0 or -errno. */
int eventloop_run(struct eventloop *el);
void eventloop_stop(struct eventloop *el);

#endif
