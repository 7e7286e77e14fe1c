#include "core/eventloop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* A slot removed within a batch: no fd, and not free until the batch ends. */
#define EVENTLOOP_RETIRED (-2)

static void eventloop_on_call(void *opaque, uint32_t events);

int eventloop_init(struct eventloop *el)
{
	int ret;

	memset(el, 0, sizeof(*el));
	el->call_efd = -1;
	pthread_mutex_init(&el->call_lock, NULL);
	pthread_cond_init(&el->call_cond, NULL);
	el->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (el->epfd < 0)
		return -errno;
	el->call_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (el->call_efd < 0)
		return -errno;
	ret = eventloop_add(el, el->call_efd, EPOLLIN, eventloop_on_call, el);
	return ret;
}

void eventloop_destroy(struct eventloop *el)
{
	if (el->epfd >= 0)
		close(el->epfd);
	el->epfd = -1;
	if (el->call_efd >= 0)
		close(el->call_efd);
	el->call_efd = -1;
	for (unsigned int i = 0; i < el->nchunks; i++)
		free(el->chunks[i]);
	el->nchunks = 0;
	free(el->pfd);
	el->pfd = NULL;
	el->pfd_cap = 0;
}

static struct eventloop_handler *find(struct eventloop *el, int fd)
{
	for (unsigned int c = 0; c < el->nchunks; c++)
		for (unsigned int i = 0; i < EVENTLOOP_CHUNK; i++)
			if (el->chunks[c][i].fd == fd)
				return &el->chunks[c][i];
	return NULL;
}

/* A free slot, adding a chunk when all are taken; chunks never move. */
static struct eventloop_handler *eventloop_slot(struct eventloop *el)
{
	struct eventloop_handler *h = find(el, -1), *chunk;

	if (h || el->nchunks == EVENTLOOP_MAX_CHUNKS)
		return h;
	chunk = malloc(EVENTLOOP_CHUNK * sizeof(*chunk));
	if (!chunk)
		return NULL;
	for (unsigned int i = 0; i < EVENTLOOP_CHUNK; i++)
		chunk[i] = (struct eventloop_handler){ .fd = -1 };
	el->chunks[el->nchunks++] = chunk;
	return chunk;
}

int eventloop_add(struct eventloop *el, int fd, uint32_t events, eventloop_cb cb, void *opaque)
{
	struct eventloop_handler *h;
	struct epoll_event ev = { .events = events };

	if (fd < 0 || !cb)
		return -EINVAL;
	h = eventloop_slot(el);
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
	h->fd = el->in_batch ? EVENTLOOP_RETIRED : -1;
	el->retired |= el->in_batch;
	return 0;
}

void eventloop_batch_begin(struct eventloop *el)
{
	el->in_batch = true;
}

void eventloop_batch_end(struct eventloop *el)
{
	el->in_batch = false;
	if (!el->retired)
		return;
	el->retired = false;
	for (unsigned int c = 0; c < el->nchunks; c++)
		for (unsigned int i = 0; i < EVENTLOOP_CHUNK; i++)
			if (el->chunks[c][i].fd == EVENTLOOP_RETIRED)
				el->chunks[c][i].fd = -1;
}

int eventloop_add_poller(struct eventloop *el, const struct eventloop_poller_ops *ops,
			 void *opaque)
{
	if (!ops || !ops->prepare || !ops->dispatch)
		return -EINVAL;
	if (el->npollers == EVENTLOOP_MAX_POLLERS)
		return -ENOSPC;
	el->pollers[el->npollers++] = (struct eventloop_poller){ ops, opaque };
	return 0;
}

void eventloop_remove_poller(struct eventloop *el, void *opaque)
{
	for (unsigned int i = 0; i < el->npollers; i++) {
		if (el->pollers[i].opaque == opaque) {
			el->pollers[i] = el->pollers[--el->npollers];
			return;
		}
	}
}

void eventloop_poke(struct eventloop *el)
{
	el->poked = true;
}

/*
 * With pollers, one poll() covers the epoll fd and every poller's set.
 * Revents are copied back to the pollers. Returns 1 when the epoll fd
 * may have events (poll() saw it ready, a poller poked, or poll() was
 * interrupted), 0 when it has none, or -errno.
 */
static int eventloop_poll_round(struct eventloop *el)
{
	struct pollfd *sets[EVENTLOOP_MAX_POLLERS];
	unsigned int counts[EVENTLOOP_MAX_POLLERS], total = 1, pos = 1;
	unsigned int np = el->npollers;
	int timeout = -1, n;
	bool failed;

	for (unsigned int i = 0; i < np; i++) {
		sets[i] = el->pollers[i].ops->prepare(el->pollers[i].opaque, &counts[i], &timeout);
		if (!sets[i])
			counts[i] = 0;
		total += counts[i];
	}
	if (total > el->pfd_cap) {
		struct pollfd *p = realloc(el->pfd, total * sizeof(*p));

		if (!p)
			return -ENOMEM;
		el->pfd = p;
		el->pfd_cap = total;
	}
	el->pfd[0] = (struct pollfd){ .fd = el->epfd, .events = POLLIN };
	for (unsigned int i = 0; i < np; i++) {
		memcpy(el->pfd + pos, sets[i], counts[i] * sizeof(*el->pfd));
		pos += counts[i];
	}
	el->poked = false;
	n = poll(el->pfd, total, timeout);
	if (n < 0 && errno != EINTR)
		return -errno;
	failed = n < 0;
	pos = 1;
	for (unsigned int i = 0; i < np && i < el->npollers; i++) {
		for (unsigned int j = 0; j < counts[i]; j++)
			sets[i][j].revents = failed ? 0 : el->pfd[pos + j].revents;
		pos += counts[i];
		/* Timers are due even when no fd is ready, so always dispatch. */
		el->pollers[i].ops->dispatch(el->pollers[i].opaque, failed);
	}
	return failed || el->poked || (el->pfd[0].revents & POLLIN);
}

/*
 * Runs the queued cross-thread calls in order and wakes their callers:
 * those queued by now, one batch (all: until none is left, at the end).
 * A call queued while the batch runs has written the eventfd and waits
 * for the next round of the loop, so callers that keep queueing (a
 * guest's vCPUs asking for one device reset after another) cannot hold
 * the loop away from its signals and its devices.
 */
static void eventloop_run_calls(struct eventloop *el, bool all)
{
	pthread_mutex_lock(&el->call_lock);
	do {
		struct eventloop_call *batch = el->calls;

		el->calls = NULL;
		while (batch) {
			struct eventloop_call *c = batch;

			/* c is its caller's, gone once done is set: its next first. */
			batch = c->next;
			pthread_mutex_unlock(&el->call_lock);
			c->fn(c->arg);
			pthread_mutex_lock(&el->call_lock);
			c->done = true;
			pthread_cond_broadcast(&el->call_cond);
		}
	} while (all && el->calls);
	pthread_mutex_unlock(&el->call_lock);
}

static void eventloop_on_call(void *opaque, uint32_t events)
{
	struct eventloop *el = opaque;
	uint64_t v;

	(void)events;
	if (read(el->call_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	eventloop_run_calls(el, false);
}

int eventloop_call_sync(struct eventloop *el, void (*fn)(void *arg), void *arg)
{
	struct eventloop_call c = { .fn = fn, .arg = arg };
	struct eventloop_call **tail;
	uint64_t one = 1;

	pthread_mutex_lock(&el->call_lock);
	if (el->state == EVENTLOOP_UNCLAIMED || pthread_equal(el->owner, pthread_self())) {
		pthread_mutex_unlock(&el->call_lock);
		fn(arg);
		return 0;
	}
	if (el->state == EVENTLOOP_CLOSED) {
		pthread_mutex_unlock(&el->call_lock);
		return -ESHUTDOWN;
	}
	for (tail = &el->calls; *tail; tail = &(*tail)->next)
		;
	*tail = &c;
	/* An eventfd write only fails on counter overflow, which cannot happen here. */
	if (write(el->call_efd, &one, sizeof(one)) < 0)
		(void)0;
	while (!c.done)
		pthread_cond_wait(&el->call_cond, &el->call_lock);
	pthread_mutex_unlock(&el->call_lock);
	return 0;
}

struct run_on {
	int (*fn)(void *ctx, struct err *e);
	void *ctx;
	struct err *e;
	int ret;
};

static void run_on_fn(void *arg)
{
	struct run_on *r = arg;

	r->ret = r->fn(r->ctx, r->e);
}

int eventloop_run_on(struct eventloop *el, int (*fn)(void *ctx, struct err *e), void *ctx,
		     struct err *e)
{
	struct run_on r = { fn, ctx, e, 0 };

	if (!el)
		return fn(ctx, e);
	if (eventloop_call_sync(el, run_on_fn, &r))
		return e ? err_set(e, false, -ESHUTDOWN, "Hearth is shutting down") : -ESHUTDOWN;
	return r.ret;
}

void eventloop_claim(struct eventloop *el)
{
	pthread_mutex_lock(&el->call_lock);
	el->state = EVENTLOOP_CLAIMED;
	el->owner = pthread_self();
	pthread_mutex_unlock(&el->call_lock);
}

void eventloop_close(struct eventloop *el)
{
	/* The calls already queued still run, here; the queue is closed first. */
	pthread_mutex_lock(&el->call_lock);
	el->state = EVENTLOOP_CLOSED;
	pthread_mutex_unlock(&el->call_lock);
	eventloop_run_calls(el, true);
}

#define EVENTLOOP_BATCH 64

static int eventloop_dispatch(struct eventloop *el)
{
	struct epoll_event evs[EVENTLOOP_BATCH];

	while (!el->stop) {
		int n, timeout = -1;

		if (el->npollers) {
			n = eventloop_poll_round(el);
			if (n < 0)
				return n;
			/*
			 * Nothing for epoll: skip its call (a system call a round,
			 * on a loop that turns once per batch of frames). What
			 * becomes ready from now on, the next poll() sees.
			 */
			if (!n)
				continue;
			timeout = 0;
		}
		n = epoll_wait(el->epfd, evs, EVENTLOOP_BATCH, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		eventloop_batch_begin(el);
		for (int i = 0; i < n && !el->stop; i++) {
			struct eventloop_handler *h = evs[i].data.ptr;
			/* A callback may have removed this handler already. */
			if (h->fd >= 0)
				h->cb(h->opaque, evs[i].events);
		}
		eventloop_batch_end(el);
	}
	return 0;
}

int eventloop_run(struct eventloop *el)
{
	int ret;

	eventloop_claim(el);
	ret = eventloop_dispatch(el);
	eventloop_close(el);
	return ret;
}

void eventloop_stop(struct eventloop *el)
{
	el->stop = true;
}
