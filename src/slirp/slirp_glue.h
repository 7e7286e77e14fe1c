/*
 * What every libslirp instance of Hearth's needs from its host program:
 * a clock, timers, and a poll() set rebuilt every round, all run on the
 * I/O thread as a poller of its loop. Shared by the user-mode backend
 * (slirp.c) and the MMDS stack (mmds.c).
 *
 * The opaque passed to slirp_new must point at a struct whose first
 * member is its struct slirp_glue: the callbacks below take it so.
 */
#ifndef HEARTH_SLIRP_SLIRP_GLUE_H
#define HEARTH_SLIRP_SLIRP_GLUE_H

#include <poll.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <libslirp.h>

#include "util/err.h"

#include "slirp/tcp_gate.h"

struct slirp_glue_timer;

struct slirp_glue {
	Slirp *slirp;
	struct slirp_glue_timer *timers;
	struct pollfd *pfd;
	unsigned int npfd, cap;
	struct net_tcp_gate gate; /* set up by the instance's owner (tcp_gate.h) */
	int64_t pruned_ms, trimmed_ms;
};

/* What a guest may make one instance queue out of order (tcp_gate.h). */
struct slirp_glue_budget {
	unsigned int conns;    /* connections tracked */
	unsigned int per_conn; /* segments ahead of slirp's ACK, a connection */
	unsigned int segs;     /* ... and all connections */
	size_t bytes;          /* ... their bytes */
};

/* The pollfd array (room for the caller's own first entries), the gate. 0 or -ENOMEM. */
int slirp_glue_init(struct slirp_glue *g, const struct slirp_glue_budget *b, struct err *err);
/* Frees the timers and the array; slirp_cleanup is the caller's, before. */
void slirp_glue_fini(struct slirp_glue *g);

int64_t slirp_glue_now_ns(void);

/* SlirpCb members. */
int64_t slirp_glue_clock(void *opaque);
void *slirp_glue_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque);
void *slirp_glue_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque);
void slirp_glue_timer_free(void *timer, void *opaque);
void slirp_glue_timer_mod(void *timer, int64_t expire_ms, void *opaque);

/*
 * A poller's prepare: pfd[0..own) are the caller's, already filled;
 * slirp's sockets follow. Lowers *timeout_ms to slirp's next deadline.
 * Returns the whole array, its count in *n.
 */
struct pollfd *slirp_glue_prepare(struct slirp_glue *g, unsigned int own, unsigned int *n,
				  int *timeout_ms);
/*
 * A guest frame through the instance's in-order gate: false if slirp
 * must not have it. A full gate is pruned from slirp's own connection
 * table first, at most once a second.
 */
bool slirp_glue_admit(struct slirp_glue *g, const uint8_t *frame, size_t len);
/* A frame slirp sends the guest, for the gate. */
void slirp_glue_sent(struct slirp_glue *g, const uint8_t *frame, size_t len);
/*
 * After a round: once connections have ended, or the caller freed a
 * burst's worth of its own (freed), at most once a second, the heap
 * slirp's buffers came from goes back to the host (malloc_trim).
 * Whether it did.
 */
bool slirp_glue_trim(struct slirp_glue *g, bool freed);

/* A poller's dispatch, slirp's part: its sockets' events. */
void slirp_glue_poll(struct slirp_glue *g, bool poll_failed);
/* Then the timers that are due. */
void slirp_glue_run_timers(struct slirp_glue *g);

#endif
