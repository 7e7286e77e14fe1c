/*
 * libslirp's host side (slirp_glue.h): timers in a list scanned each
 * round, and the poll() set slirp rebuilds every round.
 */
#include "slirp/slirp_glue.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "slirp/slirp_lib.h"
#include "util/log.h"

#define SLIRP_GLUE_PFD_MIN 16u

struct slirp_glue_timer {
	struct slirp_glue_timer *next;
	SlirpTimerId id;
	SlirpTimerCb cb; /* set by the pre-version-4 timer_new path */
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
};

static struct ratelimit glue_rl = RATELIMIT_INIT(10);

/*
 * libslirp reports through glib's logging (g_critical when a guest
 * connection cannot be forwarded, g_warning ...). glib's own writer stamps
 * the local time (gettimeofday, and /etc/localtime through tzset) or talks
 * to journald: on the io thread, sealed, those are syscalls its filter
 * refuses, and the process would die for a log line. Its messages go to
 * Hearth's log instead, rate-limited.
 */
static GLogWriterOutput slirp_glue_log(GLogLevelFlags level, const GLogField *fields,
				       gsize n_fields, gpointer user_data)
{
	const char *msg = NULL, *domain = "glib";

	(void)user_data;
	for (gsize i = 0; i < n_fields; i++) {
		if (!strcmp(fields[i].key, "MESSAGE") && fields[i].length < 0)
			msg = fields[i].value;
		else if (!strcmp(fields[i].key, "GLIB_DOMAIN") && fields[i].length < 0)
			domain = fields[i].value;
	}
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
		log_ratelimited(&glue_rl, LOG_WARN, "%s: %s", domain, msg ? msg : "(no message)");
	else
		log_ratelimited(&glue_rl, LOG_DEBUG, "%s: %s", domain, msg ? msg : "(no message)");
	return G_LOG_WRITER_HANDLED;
}

static void slirp_glue_log_once(void)
{
	slirp_lib.log_set_writer_func(slirp_glue_log, NULL, NULL);
}

int slirp_glue_init(struct slirp_glue *g, const struct slirp_glue_budget *b, struct err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int ret = slirp_lib_load(err);

	if (ret)
		return ret;
	pthread_once(&once, slirp_glue_log_once);
	if (net_tcp_gate_init(&g->gate, b->conns, b->per_conn, b->segs, b->bytes))
		return err_set(err, false, -ENOMEM, "out of memory");
	g->cap = SLIRP_GLUE_PFD_MIN;
	g->pfd = calloc(g->cap, sizeof(*g->pfd));
	return g->pfd ? 0 : err_set(err, false, -ENOMEM, "out of memory");
}

void slirp_glue_fini(struct slirp_glue *g)
{
	while (g->timers)
		slirp_glue_timer_free(g->timers, g);
	free(g->pfd);
	g->pfd = NULL;
	net_tcp_gate_fini(&g->gate);
}

int64_t slirp_glue_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t slirp_glue_clock(void *opaque)
{
	(void)opaque;
	return slirp_glue_now_ns();
}

static struct slirp_glue_timer *slirp_glue_timer_add(struct slirp_glue *g)
{
	struct slirp_glue_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->expire_ms = -1;
	t->next = g->timers;
	g->timers = t;
	return t;
}

void *slirp_glue_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct slirp_glue_timer *t = slirp_glue_timer_add(opaque);

	if (t) {
		t->cb = cb;
		t->cb_opaque = cb_opaque;
	}
	return t;
}

void *slirp_glue_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct slirp_glue_timer *t = slirp_glue_timer_add(opaque);

	if (t) {
		t->id = id;
		t->cb_opaque = cb_opaque;
	}
	return t;
}

void slirp_glue_timer_free(void *timer, void *opaque)
{
	struct slirp_glue *g = opaque;

	for (struct slirp_glue_timer **pp = &g->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = (*pp)->next;
			free(timer);
			return;
		}
	}
}

void slirp_glue_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	((struct slirp_glue_timer *)timer)->expire_ms = expire_ms;
}

static int slirp_glue_add_poll(int fd, int events, void *opaque)
{
	struct slirp_glue *g = opaque;
	short ev = 0;

	if (g->npfd == g->cap) {
		unsigned int cap = g->cap * 2;
		struct pollfd *p = realloc(g->pfd, cap * sizeof(*p));

		if (!p)
			return -1; /* slirp skips this fd for one round */
		g->pfd = p;
		g->cap = cap;
	}
	ev |= (events & SLIRP_POLL_IN) ? POLLIN : 0;
	ev |= (events & SLIRP_POLL_OUT) ? POLLOUT : 0;
	ev |= (events & SLIRP_POLL_PRI) ? POLLPRI : 0;
	g->pfd[g->npfd] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)g->npfd++;
}

static int slirp_glue_get_revents(int idx, void *opaque)
{
	struct slirp_glue *g = opaque;
	short r;

	if (idx < 0 || (unsigned int)idx >= g->npfd)
		return 0;
	r = g->pfd[idx].revents;
	return ((r & POLLIN) ? SLIRP_POLL_IN : 0) | ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
	       ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) | ((r & POLLERR) ? SLIRP_POLL_ERR : 0) |
	       ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

/* poll() timeout: slirp's own wish bounded by the nearest timer. */
static int slirp_glue_timeout(struct slirp_glue *g, uint32_t slirp_ms)
{
	int64_t now = slirp_glue_now_ns() / 1000000;
	int64_t best = slirp_ms == UINT32_MAX ? -1 : (int64_t)slirp_ms;

	for (struct slirp_glue_timer *t = g->timers; t; t = t->next) {
		int64_t left;

		if (t->expire_ms < 0)
			continue;
		left = t->expire_ms > now ? t->expire_ms - now : 0;
		if (best < 0 || left < best)
			best = left;
	}
	return best > 60000 ? 60000 : (int)best;
}

void slirp_glue_run_timers(struct slirp_glue *g)
{
	int64_t now = slirp_glue_now_ns() / 1000000;
	struct slirp_glue_timer *t;

	/* Rescan after each one: a callback may re-arm or free timers. */
	do {
		for (t = g->timers; t; t = t->next)
			if (t->expire_ms >= 0 && t->expire_ms <= now)
				break;
		if (!t)
			break;
		t->expire_ms = -1;
		if (t->cb)
			t->cb(t->cb_opaque);
		else
			slirp_lib.handle_timer(g->slirp, t->id, t->cb_opaque);
	} while (t);
}

struct pollfd *slirp_glue_prepare(struct slirp_glue *g, unsigned int own, unsigned int *n,
				  int *timeout_ms)
{
	uint32_t slirp_ms = UINT32_MAX;
	int mine;

	g->npfd = own;
	slirp_lib.pollfds_fill(g->slirp, &slirp_ms, slirp_glue_add_poll, g);
	mine = slirp_glue_timeout(g, slirp_ms);
	if (mine >= 0 && (*timeout_ms < 0 || mine < *timeout_ms))
		*timeout_ms = mine;
	*n = g->npfd;
	return g->pfd;
}

void slirp_glue_poll(struct slirp_glue *g, bool poll_failed)
{
	slirp_lib.pollfds_poll(g->slirp, poll_failed, slirp_glue_get_revents, g);
}

static int64_t slirp_glue_now_ms(void)
{
	return slirp_glue_now_ns() / 1000000;
}

bool slirp_glue_admit(struct slirp_glue *g, const uint8_t *frame, size_t len)
{
	int64_t now;
	char *info;

	if (net_tcp_gate_input(&g->gate, frame, len))
		return true;
	if (!net_tcp_gate_full(&g->gate) || !g->slirp)
		return false;
	now = slirp_glue_now_ms();
	if (g->pruned_ms && now - g->pruned_ms < 1000)
		return false;
	g->pruned_ms = now;
	info = slirp_lib.connection_info(g->slirp);
	if (!info)
		return false;
	net_tcp_gate_prune(&g->gate, info);
	free(info); /* glib's g_free is free() since 2.46 */
	return net_tcp_gate_input(&g->gate, frame, len);
}

void slirp_glue_sent(struct slirp_glue *g, const uint8_t *frame, size_t len)
{
	net_tcp_gate_output(&g->gate, frame, len);
}

bool slirp_glue_trim(struct slirp_glue *g, bool freed)
{
	int64_t now = slirp_glue_now_ms();

	if (now - g->trimmed_ms < 1000 || (!net_tcp_gate_take_released(&g->gate) && !freed))
		return false;
	g->trimmed_ms = now;
	malloc_trim(0);
	return true;
}
