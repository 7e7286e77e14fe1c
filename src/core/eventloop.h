/* A small epoll loop for the I/O thread. */
#ifndef HEARTH_CORE_EVENTLOOP_H
#define HEARTH_CORE_EVENTLOOP_H

#include <stdbool.h>
#include <stdint.h>

#define EVENTLOOP_MAX_FDS 32

typedef void (*eventloop_cb)(void *opaque, uint32_t events);

struct eventloop_handler {
	int fd;
	eventloop_cb cb;
	void *opaque;
};

struct eventloop {
	int epfd;
	bool stop;
	struct eventloop_handler handlers[EVENTLOOP_MAX_FDS];
};

int eventloop_init(struct eventloop *el);
void eventloop_destroy(struct eventloop *el);
/* events: EPOLLIN / EPOLLOUT. */
int eventloop_add(struct eventloop *el, int fd, uint32_t events, eventloop_cb cb, void *opaque);
int eventloop_modify(struct eventloop *el, int fd, uint32_t events);
int eventloop_remove(struct eventloop *el, int fd);
/* Dispatches until eventloop_stop(); returns 0 or -errno. */
int eventloop_run(struct eventloop *el);
void eventloop_stop(struct eventloop *el);

#endif
