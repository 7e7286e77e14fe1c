/*
 * The I/O loop: epoll handlers, and pollers (libslirp's poll() sets) run
 * in the same thread, each woken by its own fds or its deadline.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/eventloop.h"

struct fake_poller {
	struct eventloop *loop;
	struct pollfd pfd;
	int timeout_ms;       /* what prepare() asks for; -1 none */
	int rounds, readable; /* dispatches, and those with POLLIN */
	bool stop_when_readable, stop_on_round;
	int ready_fd;         /* > 0: the first dispatch writes it (an epoll fd's pipe) */
	bool poke;            /* ...and says so (eventloop_poke) */
};

static struct pollfd *fake_prepare(void *opaque, unsigned int *n, int *timeout_ms)
{
	struct fake_poller *p = opaque;

	p->pfd.revents = 0;
	*n = p->pfd.fd >= 0 ? 1 : 0;
	if (p->timeout_ms >= 0 && (*timeout_ms < 0 || p->timeout_ms < *timeout_ms))
		*timeout_ms = p->timeout_ms;
	return &p->pfd;
}

static void fake_dispatch(void *opaque, bool poll_failed)
{
	struct fake_poller *p = opaque;

	assert_false(poll_failed);
	p->rounds++;
	if (p->pfd.revents & POLLIN) {
		char c;

		p->readable++;
		assert_int_equal(read(p->pfd.fd, &c, 1), 1);
		if (p->stop_when_readable)
			eventloop_stop(p->loop);
	}
	if (p->stop_on_round)
		eventloop_stop(p->loop);
	if (p->ready_fd > 0 && p->rounds == 1) {
		assert_int_equal(write(p->ready_fd, "r", 1), 1);
		if (p->poke)
			eventloop_poke(p->loop);
	}
}

static const struct eventloop_poller_ops fake_ops = {
	.prepare = fake_prepare,
	.dispatch = fake_dispatch,
};

struct epoll_side {
	int fd, calls;
	struct eventloop *loop;
};

static void on_epoll_fd(void *opaque, uint32_t events)
{
	struct epoll_side *e = opaque;
	char c;

	assert_true(events & EPOLLIN);
	assert_int_equal(read(e->fd, &c, 1), 1);
	e->calls++;
	eventloop_stop(e->loop);
}

/* A poller's own fd wakes the loop; nothing else is dispatched as readable. */
static void test_poller_fd_wakes(void **state)
{
	struct eventloop loop;
	struct fake_poller p = { .loop = &loop, .timeout_ms = -1, .stop_when_readable = true };
	int fds[2];

	(void)state;
	assert_int_equal(eventloop_init(&loop), 0);
	assert_int_equal(pipe(fds), 0);
	p.pfd = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	assert_int_equal(eventloop_add_poller(&loop, &fake_ops, &p), 0);
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_int_equal(eventloop_run(&loop), 0);
	assert_int_equal(p.readable, 1);
	eventloop_remove_poller(&loop, &p);
	assert_int_equal(loop.npollers, 0);
	close(fds[0]);
	close(fds[1]);
	eventloop_destroy(&loop);
}

/* With a poller present, epoll handlers still run, in the same round. */
static void test_epoll_handlers_with_poller(void **state)
{
	struct eventloop loop;
	struct fake_poller p = { .loop = &loop, .timeout_ms = -1 };
	struct epoll_side e = { .loop = &loop };
	int fds[2], idle[2];

	(void)state;
	assert_int_equal(eventloop_init(&loop), 0);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(pipe(idle), 0);
	e.fd = fds[0];
	p.pfd = (struct pollfd){ .fd = idle[0], .events = POLLIN };
	assert_int_equal(eventloop_add(&loop, fds[0], EPOLLIN, on_epoll_fd, &e), 0);
	assert_int_equal(eventloop_add_poller(&loop, &fake_ops, &p), 0);
	assert_int_equal(write(fds[1], "y", 1), 1);
	assert_int_equal(eventloop_run(&loop), 0);
	assert_int_equal(e.calls, 1);
	assert_int_equal(p.readable, 0);
	assert_true(p.rounds >= 1);
	eventloop_remove_poller(&loop, &p);
	eventloop_remove(&loop, fds[0]);
	close(fds[0]);
	close(fds[1]);
	close(idle[0]);
	close(idle[1]);
	eventloop_destroy(&loop);
}

/*
 * A poller's dispatch makes an epoll fd ready (slirp queueing frames for a
 * NIC): with a poke its handler runs in that same round; without one, the
 * loop skipped its epoll fd as idle, and the next poll() finds it.
 */
static void test_poller_readies_epoll_fd(void **state)
{
	for (int poke = 0; poke < 2; poke++) {
		struct eventloop loop;
		struct fake_poller p = { .loop = &loop, .timeout_ms = 1000, .poke = poke };
		struct epoll_side e = { .loop = &loop };
		int fds[2], own[2];

		(void)state;
		assert_int_equal(eventloop_init(&loop), 0);
		assert_int_equal(pipe(fds), 0);
		assert_int_equal(pipe(own), 0);
		e.fd = fds[0];
		p.ready_fd = fds[1];
		/* The first round ends on the poller's own fd, the epoll fd idle. */
		p.pfd = (struct pollfd){ .fd = own[0], .events = POLLIN };
		assert_int_equal(write(own[1], "o", 1), 1);
		assert_int_equal(eventloop_add(&loop, fds[0], EPOLLIN, on_epoll_fd, &e), 0);
		assert_int_equal(eventloop_add_poller(&loop, &fake_ops, &p), 0);
		assert_int_equal(eventloop_run(&loop), 0);
		assert_int_equal(e.calls, 1);
		/* Without the poke, one more round; never a wait for the deadline. */
		assert_int_equal(p.rounds, poke ? 1 : 2);
		assert_int_equal(p.readable, 1);
		eventloop_remove_poller(&loop, &p);
		eventloop_remove(&loop, fds[0]);
		close(fds[0]);
		close(fds[1]);
		close(own[0]);
		close(own[1]);
		eventloop_destroy(&loop);
	}
}

/* A deadline alone (slirp's timers) ends the wait: dispatch runs, no fd ready. */
static void test_poller_timeout(void **state)
{
	struct eventloop loop;
	struct fake_poller p = { .loop = &loop, .timeout_ms = 5, .stop_on_round = true };

	(void)state;
	p.pfd.fd = -1;
	assert_int_equal(eventloop_init(&loop), 0);
	assert_int_equal(eventloop_add_poller(&loop, &fake_ops, &p), 0);
	assert_int_equal(eventloop_run(&loop), 0);
	assert_int_equal(p.rounds, 1);
	assert_int_equal(p.readable, 0);
	eventloop_remove_poller(&loop, &p);
	eventloop_destroy(&loop);
}

static void test_poller_limits(void **state)
{
	struct eventloop loop;
	struct fake_poller p[EVENTLOOP_MAX_POLLERS + 1];
	static const struct eventloop_poller_ops half = { .prepare = fake_prepare };

	(void)state;
	assert_int_equal(eventloop_init(&loop), 0);
	assert_int_equal(eventloop_add_poller(&loop, NULL, &p[0]), -EINVAL);
	assert_int_equal(eventloop_add_poller(&loop, &half, &p[0]), -EINVAL);
	for (int i = 0; i < EVENTLOOP_MAX_POLLERS; i++)
		assert_int_equal(eventloop_add_poller(&loop, &fake_ops, &p[i]), 0);
	assert_int_equal(eventloop_add_poller(&loop, &fake_ops, &p[EVENTLOOP_MAX_POLLERS]),
			 -ENOSPC);
	/* Removing one in the middle keeps the others. */
	eventloop_remove_poller(&loop, &p[2]);
	assert_int_equal(loop.npollers, EVENTLOOP_MAX_POLLERS - 1);
	for (unsigned int i = 0; i < loop.npollers; i++)
		assert_ptr_not_equal(loop.pollers[i].opaque, &p[2]);
	eventloop_destroy(&loop);
}

struct many {
	struct eventloop *loop;
	unsigned int fired, want;
};

static void many_cb(void *opaque, uint32_t events)
{
	struct many *m = opaque;

	(void)events;
	if (++m->fired == m->want)
		eventloop_stop(m->loop);
}

/*
 * Two 4-queue TAP NICs with vhost-vsock and a disk need more than the old
 * fixed table of 32 handlers; handlers also must not move when it grows
 * (epoll holds pointers to them).
 */
static void test_many_fds(void **state)
{
	enum { N = 200 };
	struct eventloop loop;
	struct many m = { .loop = &loop, .want = N };
	int fds[N][2];

	(void)state;
	assert_int_equal(eventloop_init(&loop), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(pipe(fds[i]), 0);
		assert_int_equal(eventloop_add(&loop, fds[i][0], EPOLLIN, many_cb, &m), 0);
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(write(fds[i][1], "x", 1), 1);
	/* Level-triggered and never read: each fires once before the stop. */
	assert_int_equal(eventloop_run(&loop), 0);
	assert_int_equal(m.fired, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(eventloop_remove(&loop, fds[i][0]), 0);
		close(fds[i][0]);
		close(fds[i][1]);
	}
	eventloop_destroy(&loop);
}

struct reuse {
	struct eventloop *loop;
	int first[2], victim[2], fresh[2], stopper[2];
	int victim_calls, fresh_calls;
};

static void reuse_victim(void *opaque, uint32_t events)
{
	(void)events;
	((struct reuse *)opaque)->victim_calls++;
}

static void reuse_fresh(void *opaque, uint32_t events)
{
	(void)events;
	((struct reuse *)opaque)->fresh_calls++;
}

static void reuse_stop(void *opaque, uint32_t events)
{
	(void)events;
	eventloop_stop(((struct reuse *)opaque)->loop);
}

/* First in the batch: ends the victim, whose event comes next, and adds a fresh fd. */
static void reuse_first(void *opaque, uint32_t events)
{
	struct reuse *r = opaque;
	char c;

	(void)events;
	assert_int_equal(read(r->first[0], &c, 1), 1);
	assert_int_equal(eventloop_remove(r->loop, r->victim[0]), 0);
	close(r->victim[0]);
	close(r->victim[1]);
	/* Not readable: it gets the victim's fd numbers, but must not get its event. */
	assert_int_equal(pipe(r->fresh), 0);
	assert_int_equal(eventloop_add(r->loop, r->fresh[0], EPOLLIN, reuse_fresh, r), 0);
	assert_int_equal(write(r->stopper[1], "x", 1), 1);
}

/*
 * A callback removes a handler whose event is later in the same batch
 * and adds another: the new one must not take the removed one's slot
 * before the batch is over, or the stale event would reach it.
 */
static void test_removed_slot_waits_for_batch_end(void **state)
{
	struct eventloop loop;
	struct reuse r = { .loop = &loop };

	(void)state;
	assert_int_equal(eventloop_init(&loop), 0);
	assert_int_equal(pipe(r.first), 0);
	assert_int_equal(pipe(r.victim), 0);
	assert_int_equal(pipe(r.stopper), 0);
	assert_int_equal(eventloop_add(&loop, r.first[0], EPOLLIN, reuse_first, &r), 0);
	assert_int_equal(eventloop_add(&loop, r.victim[0], EPOLLIN, reuse_victim, &r), 0);
	assert_int_equal(eventloop_add(&loop, r.stopper[0], EPOLLIN, reuse_stop, &r), 0);
	/* Ready in this order, so one batch delivers them in this order. */
	assert_int_equal(write(r.first[1], "x", 1), 1);
	assert_int_equal(write(r.victim[1], "x", 1), 1);
	assert_int_equal(eventloop_run(&loop), 0);
	assert_int_equal(r.victim_calls, 0);
	assert_int_equal(r.fresh_calls, 0);
	/* After the batch the slot is free again. */
	for (unsigned int c = 0; c < loop.nchunks; c++)
		for (unsigned int i = 0; i < EVENTLOOP_CHUNK; i++)
			assert_true(loop.chunks[c][i].fd >= -1);
	eventloop_remove(&loop, r.first[0]);
	eventloop_remove(&loop, r.fresh[0]);
	eventloop_remove(&loop, r.stopper[0]);
	for (int i = 0; i < 2; i++) {
		close(r.first[i]);
		close(r.fresh[i]);
		close(r.stopper[i]);
	}
	eventloop_destroy(&loop);
}

struct call_ctx {
	struct eventloop *loop;
	pthread_t ran_on;
	int calls;
	int late_ret;
};

static void record_call(void *arg)
{
	struct call_ctx *c = arg;

	c->ran_on = pthread_self();
	c->calls++;
}

static void stop_call(void *arg)
{
	eventloop_stop(((struct call_ctx *)arg)->loop);
}

static void *caller_main(void *arg)
{
	struct call_ctx *c = arg;

	/* The loop was claimed before this thread started: the call is queued, not run here. */
	assert_int_equal(eventloop_call_sync(c->loop, record_call, c), 0);
	assert_int_equal(eventloop_call_sync(c->loop, stop_call, c), 0);
	return NULL;
}

/* Another thread's call runs on the loop's thread; before any claim, inline. */
static void test_call_sync(void **state)
{
	struct eventloop loop;
	struct call_ctx c = { .loop = &loop };
	pthread_t caller;

	(void)state;
	assert_int_equal(eventloop_init(&loop), 0);
	assert_int_equal(eventloop_call_sync(&loop, record_call, &c), 0);
	assert_int_equal(c.calls, 1);
	assert_true(pthread_equal(c.ran_on, pthread_self()));
	eventloop_claim(&loop);
	assert_int_equal(pthread_create(&caller, NULL, caller_main, &c), 0);
	assert_int_equal(eventloop_run(&loop), 0);
	pthread_join(caller, NULL);
	assert_int_equal(c.calls, 2);
	assert_true(pthread_equal(c.ran_on, pthread_self()));
	eventloop_destroy(&loop);
}

static void *late_caller_main(void *arg)
{
	struct call_ctx *c = arg;

	c->late_ret = eventloop_call_sync(c->loop, record_call, c);
	return NULL;
}

/*
 * Once the loop has stopped for good, another thread's call is refused and
 * never runs on that thread: a vCPU that resets a device while Hearth shuts
 * down must not do the io thread's work under its own seccomp filter (it
 * was killed for epoll_ctl). Its own thread may still call inline.
 */
static void test_call_sync_after_close(void **state)
{
	struct eventloop loop;
	struct call_ctx c = { .loop = &loop };
	pthread_t caller;

	(void)state;
	assert_int_equal(eventloop_init(&loop), 0);
	eventloop_claim(&loop);
	eventloop_stop(&loop);
	assert_int_equal(eventloop_run(&loop), 0);
	assert_int_equal(pthread_create(&caller, NULL, late_caller_main, &c), 0);
	pthread_join(caller, NULL);
	assert_int_equal(c.late_ret, -ESHUTDOWN);
	assert_int_equal(c.calls, 0);
	assert_int_equal(eventloop_call_sync(&loop, record_call, &c), 0);
	assert_int_equal(c.calls, 1);
	assert_true(pthread_equal(c.ran_on, pthread_self()));
	eventloop_destroy(&loop);
}

static int counted_fail(void *ctx, struct err *e)
{
	struct call_ctx *c = ctx;

	c->ran_on = pthread_self();
	c->calls++;
	return err_set(e, true, -EIO, "call %d", c->calls);
}

struct run_on_late {
	struct call_ctx *c;
	struct err e;
	int ret;
};

static void *late_run_on_main(void *arg)
{
	struct run_on_late *l = arg;

	l->ret = eventloop_run_on(l->c->loop, counted_fail, l->c, &l->e);
	return NULL;
}

/* fn's result and words come back; a stopped loop gives -ESHUTDOWN and says so. */
static void test_run_on(void **state)
{
	struct eventloop loop;
	struct call_ctx c = { .loop = &loop };
	struct run_on_late late = { .c = &c };
	struct err e = ERR_INIT;
	pthread_t caller;

	(void)state;
	assert_int_equal(eventloop_run_on(NULL, counted_fail, &c, &e), -EIO);
	assert_string_equal(e.msg, "call 1");
	assert_int_equal(eventloop_init(&loop), 0);
	assert_int_equal(eventloop_run_on(&loop, counted_fail, &c, &e), -EIO);
	assert_string_equal(e.msg, "call 2");
	assert_true(e.usage);
	eventloop_claim(&loop);
	eventloop_stop(&loop);
	assert_int_equal(eventloop_run(&loop), 0);
	assert_int_equal(pthread_create(&caller, NULL, late_run_on_main, &late), 0);
	pthread_join(caller, NULL);
	assert_int_equal(late.ret, -ESHUTDOWN);
	assert_string_equal(late.e.msg, "Hearth is shutting down");
	assert_false(late.e.usage);
	assert_int_equal(c.calls, 2);
	eventloop_destroy(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poller_fd_wakes),
		cmocka_unit_test(test_epoll_handlers_with_poller),
		cmocka_unit_test(test_poller_timeout),
		cmocka_unit_test(test_poller_readies_epoll_fd),
		cmocka_unit_test(test_poller_limits),
		cmocka_unit_test(test_many_fds),
		cmocka_unit_test(test_call_sync),
		cmocka_unit_test(test_call_sync_after_close),
		cmocka_unit_test(test_run_on),
		cmocka_unit_test(test_removed_slot_waits_for_batch_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
