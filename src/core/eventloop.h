/* A small epoll loop for the I/O thread. */
#ifndef HEARTH_CORE_EVENTLOOP_H
#define HEARTH_CORE_EVENTLOOP_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#define EVENTLOOP_MAX_FDS 32
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

struct eventloop {
	int epfd;
	bool stop;
	struct eventloop_handler handlers[EVENTLOOP_MAX_FDS];
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
/* Dispatches until eventloop_stop(); returns 0 or -errno. */
int eventloop_run(struct eventloop *el);
void eventloop_stop(struct eventloop *el);

#endif
