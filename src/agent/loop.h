/*
 * The agent's one event loop: file descriptors on an epoll fd, each with
 * its callback, and one-shot timers. Everything the agent does runs on
 * this thread, so nothing needs a lock. An object that embeds a
 * loop_fd is freed through loop_defer: an epoll batch may still hold an
 * event for it, and the batch is finished before deferred work runs.
 */
#ifndef HEARTH_AGENT_LOOP_H
#define HEARTH_AGENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct agent_loop;

typedef void (*loop_fd_fn)(void *opaque, uint32_t events);
typedef void (*loop_fn)(void *opaque);

struct loop_fd {
	int fd;                 /* -1: not watched */
	uint32_t events;
	loop_fd_fn fn;
	void *opaque;
};

struct loop_timer {
	uint64_t due_ns;
	loop_fn fn;
	void *opaque;
	struct loop_timer *prev, *next;
	bool armed;
};

int loop_create(struct agent_loop **out);
/* Runs what was deferred, then frees the loop; the fds are the owners'. */
void loop_destroy(struct agent_loop *l);
uint64_t loop_now_ns(void);

/* Watches fd for events (EPOLLIN, ...): 0 or -errno. */
int loop_fd_add(struct agent_loop *l, struct loop_fd *w, int fd, uint32_t events, loop_fd_fn fn,
		void *opaque);
int loop_fd_mod(struct agent_loop *l, struct loop_fd *w, uint32_t events);
/* Stops watching (the fd stays open); a no-op when not watched. */
void loop_fd_del(struct agent_loop *l, struct loop_fd *w);

/* Arms (or re-arms) t to run fn once, ms from now. */
void loop_timer_arm(struct agent_loop *l, struct loop_timer *t, uint64_t ms, loop_fn fn,
		    void *opaque);
void loop_timer_cancel(struct agent_loop *l, struct loop_timer *t);

/* Runs fn(opaque) once the current batch of events is done (frees, mostly). */
int loop_defer(struct agent_loop *l, loop_fn fn, void *opaque);

/*
 * Waits at most max_ms (-1: until something happens) for events, runs
 * their callbacks, the timers that are due and the deferred work.
 * 0 or -errno (only epoll_wait's own failures; EINTR is 0).
 */
int loop_run_once(struct agent_loop *l, int max_ms);

#endif
