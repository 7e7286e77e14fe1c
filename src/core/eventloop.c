#include "core/eventloop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

int eventloop_init(struct eventloop *el)
{
	memset(el, 0, sizeof(*el));
	for (int i = 0; i < EVENTLOOP_MAX_FDS; i++)
		el->handlers[i].fd = -1;
	el->epfd = epoll_create1(EPOLL_CLOEXEC);
	return el->epfd < 0 ? -errno : 0;
}

void eventloop_destroy(struct eventloop *el)
{
	if (el->epfd >= 0)
		close(el->epfd);
	el->epfd = -1;
}

static struct eventloop_handler *find(struct eventloop *el, int fd)
{
	for (int i = 0; i < EVENTLOOP_MAX_FDS; i++)
		if (el->handlers[i].fd == fd)
			return &el->handlers[i];
	return NULL;
}

int eventloop_add(struct eventloop *el, int fd, uint32_t events, eventloop_cb cb, void *opaque)
{
	struct eventloop_handler *h = find(el, -1);
	struct epoll_event ev = { .events = events };

	if (fd < 0 || !cb)
		return -EINVAL;
	if (!h)
		return -ENOSPC;
	ev.data.ptr = h;
	if (epoll_ctl(el->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	*h = (struct eventloop_handler){ fd, cb, opaque };
	return 0;
}

int eventloop_modify(struct eventloop *el, int fd, uint32_t events)
{
	struct eventloop_handler *h = find(el, fd);
	struct epoll_event ev = { .events = events };

	if (!h || fd < 0)
		return -ENOENT;
	ev.data.ptr = h;
	return epoll_ctl(el->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int eventloop_remove(struct eventloop *el, int fd)
{
	struct eventloop_handler *h = find(el, fd);

	if (!h || fd < 0)
		return -ENOENT;
	epoll_ctl(el->epfd, EPOLL_CTL_DEL, fd, NULL);
	h->fd = -1;
	return 0;
}

int eventloop_run(struct eventloop *el)
{
	struct epoll_event evs[EVENTLOOP_MAX_FDS];

	while (!el->stop) {
		int n = epoll_wait(el->epfd, evs, EVENTLOOP_MAX_FDS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !el->stop; i++) {
			struct eventloop_handler *h = evs[i].data.ptr;
			/* A callback may have removed this handler already. */
			if (h->fd >= 0)
				h->cb(h->opaque, evs[i].events);
		}
	}
	return 0;
}

void eventloop_stop(struct eventloop *el)
{
	el->stop = true;
}
