/*
 * The event loop (loop.h): epoll for the fds, an unsorted list for the
 * timers (an agent has a few dozen at most: one per stream and process,
 * so a scan is cheaper than keeping a heap), and a list of deferred calls.
 */
#include "agent/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define LOOP_EVENTS 64

struct loop_deferred {
	loop_fn fn;
	void *opaque;
	struct loop_deferred *next;
};

struct agent_loop {
	int epfd;
	struct loop_timer *timers;
	struct loop_deferred *deferred, **deferred_tail;
};

uint64_t loop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int loop_create(struct agent_loop **out)
{
	struct agent_loop *l = calloc(1, sizeof(*l));
	int ret;

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		ret = -errno;
		goto err_free;
	}
	l->deferred_tail = &l->deferred;
	*out = l;
	return 0;

err_free:
	free(l);
	return ret;
}

static void loop_run_deferred(struct agent_loop *l)
{
	/* Deferred work may defer more; it runs in the same pass. */
	while (l->deferred) {
		struct loop_deferred *d = l->deferred;

		l->deferred = d->next;
		if (!l->deferred)
			l->deferred_tail = &l->deferred;
		d->fn(d->opaque);
		free(d);
	}
}

void loop_destroy(struct agent_loop *l)
{
	if (!l)
		return;
	loop_run_deferred(l);
	close(l->epfd);
	free(l);
}

int loop_fd_add(struct agent_loop *l, struct loop_fd *w, int fd, uint32_t events, loop_fd_fn fn,
		void *opaque)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->opaque = opaque;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		w->fd = -1;
		return -errno;
	}
	return 0;
}

int loop_fd_mod(struct agent_loop *l, struct loop_fd *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->fd < 0 || w->events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev))
		return -errno;
	w->events = events;
	return 0;
}

void loop_fd_del(struct agent_loop *l, struct loop_fd *w)
{
	if (w->fd < 0)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->fd = -1;
	w->fn = NULL;
}

void loop_timer_cancel(struct agent_loop *l, struct loop_timer *t)
{
	if (!t->armed)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		l->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
	t->armed = false;
}

void loop_timer_arm(struct agent_loop *l, struct loop_timer *t, uint64_t ms, loop_fn fn,
		    void *opaque)
{
	loop_timer_cancel(l, t);
	t->due_ns = loop_now_ns() + ms * 1000000ull;
	t->fn = fn;
	t->opaque = opaque;
	t->prev = NULL;
	t->next = l->timers;
	if (l->timers)
		l->timers->prev = t;
	l->timers = t;
	t->armed = true;
}

int loop_defer(struct agent_loop *l, loop_fn fn, void *opaque)
{
	struct loop_deferred *d = malloc(sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->fn = fn;
	d->opaque = opaque;
	d->next = NULL;
	*l->deferred_tail = d;
	l->deferred_tail = &d->next;
	return 0;
}

static int loop_wait_ms(struct agent_loop *l, int max_ms)
{
	uint64_t now = loop_now_ns(), first = UINT64_MAX;
	int ms;

	if (l->deferred)
		return 0;
	for (struct loop_timer *t = l->timers; t; t = t->next)
		if (t->due_ns < first)
			first = t->due_ns;
	if (first == UINT64_MAX)
		return max_ms;
	if (first <= now)
		return 0;
	ms = (first - now) / 1000000ull + 1 > 600000 ? 600000 : (int)((first - now) / 1000000ull + 1);
	return max_ms >= 0 && max_ms < ms ? max_ms : ms;
}

/* Fires the due timers one at a time: a callback may arm or cancel any of them. */
static void loop_run_timers(struct agent_loop *l)
{
	uint64_t now = loop_now_ns();
	struct loop_timer *t;

	do {
		for (t = l->timers; t && t->due_ns > now; t = t->next)
			;
		if (t) {
			loop_timer_cancel(l, t);
			t->fn(t->opaque);
		}
	} while (t);
}

int loop_run_once(struct agent_loop *l, int max_ms)
{
	struct epoll_event ev[LOOP_EVENTS];
	int n = epoll_wait(l->epfd, ev, LOOP_EVENTS, loop_wait_ms(l, max_ms));

	if (n < 0 && errno != EINTR)
		return -errno;
	for (int i = 0; i < n; i++) {
		struct loop_fd *w = ev[i].data.ptr;

		/* Deleted by an earlier callback of this batch (its memory is still ours). */
		if (w->fd >= 0 && w->fn)
			w->fn(w->opaque, ev[i].events);
	}
	loop_run_timers(l);
	loop_run_deferred(l);
	return 0;
}
