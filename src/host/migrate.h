/*
 * Live migration, the process host's side (docs/migration.md): one thread
 * of its own, "migrate", started with the host before the sandbox seals
 * (a sealed thread makes no thread) and filtered as its kind
 * (THREAD_MIGRATE), idle until a migration needs it (migrate_job.c). It
 * runs the source's passes and switch-over (migrate_send.c) or the
 * destination's reading and load (migrate_recv.c); post-copy adds a
 * second thread on the destination (migrate_postcopy.c). The api thread
 * only hands it the request and waits for the connection or the
 * listening socket. The stream's records, its transport and post-copy's
 * bookkeeping are migrate/'s.
 */
#ifndef HEARTH_HOST_MIGRATE_H
#define HEARTH_HOST_MIGRATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "control/control.h"
#include "migrate/image.h"
#include "migrate/send.h"
#include "migrate/transport.h"
#include "util/err.h"

struct host;
struct tls_creds;

enum host_mig_job { HOST_MIG_NONE, HOST_MIG_SEND, HOST_MIG_RECV, HOST_MIG_QUIT };

/* What GET /migrate says (migrate_status.c): under the lock, but p (atomics). */
struct host_mig_status {
	const char *role;           /* "source", "destination", NULL: none yet */
	const char *state;
	char error[ERR_MSG_MAX];
	struct mig_progress p;
	uint64_t t_start_us, t_end_us, downtime_us;
	/*
	 * The source's pause and the destination's resume, on CLOCK_MONOTONIC
	 * (L1's /proc/uptime, which the lab bench stamps the guest's lines
	 * with): where a gap in the guest's output lies against them.
	 */
	uint64_t paused_at_us, resumed_at_us;
	uint64_t load_us;           /* the destination's load of the VM from the stream */
	uint64_t prelude_us;        /* the source's pause for the prelude; the destination's build */
	/*
	 * The source's switch-over, phase by phase (us): its state taken, the
	 * last pages and the state sent, the destination's READY, its RUNNING.
	 */
	uint64_t sw_us[4];
};

/* The source's job (migrate_send.c). */
struct host_mig_source {
	uint32_t downtime_ms, max_iterations;
	bool postcopy;              /* the request's */
	bool had_tracking;          /* the dirty log was on before (a failure marks all of RAM) */
	/* The first state (PRELUDE), taken paused, sent after LAYOUT; freed then. */
	void *prelude;
	size_t prelude_len;
	/* Post-copy: the pages still to come (a bitmap per region) and how many. */
	uint64_t *to_come[GUEST_MEM_DIRTY_MAPS];
	uint64_t left;
};

/* The destination's job (migrate_recv.c). */
struct host_mig_dest {
	struct snap_load_req load;  /* the request's; its strings in strs */
	char *strs[128];          /* 64 before qcow2 drives brought their chains */
	unsigned int nstrs;
	uint64_t ram_limit;         /* the most RAM a stream may lay out */
	struct guest_mem *gm;       /* the VM's RAM, handed over by the prelude's load */
	struct mig_image *im;       /* while it receives */
};

/*
 * The destination's post-copy (migrate_postcopy.c): its userfaultfd and
 * second thread, made with the prelude's VM (before the seal); what the
 * thread saw, under the lock.
 */
struct host_mig_postcopy {
	int uffd;                   /* -1: none, uffd_why says why */
	const char *uffd_why;
	pthread_t thread;
	bool started, run, quit, end, go, done, idle;
	bool ready;                 /* READY sent: only now may GO come */
	int ret, enter_ret;
	struct err err;
};

struct host_mig {
	struct host *h;
	/* The thread and its job (migrate_job.c). */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool entered;               /* the thread is filtered and waits for jobs */
	int enter_ret;
	enum host_mig_job job;
	void (*run)(struct host_mig *m);  /* the job's work: the source's, or the destination's */
	/* The job's first step, answered to the api thread: connected, or listening. */
	bool answered;
	int answer;
	struct err answer_err;
	/* The connection and its TLS (fd, lfd and tls_desc under lock). */
	struct mig_link link;
	pthread_mutex_t wlock;      /* a record's write, when two threads write (post-copy) */
	struct host_mig_status status;
	struct host_mig_source source;
	struct host_mig_dest dest;
	struct host_mig_postcopy postcopy;
};

/* migrate_job.c: the thread, before anything seals; creds --migrate-tls's (NULL: none). */
int host_mig_start(struct host *h, struct tls_creds *creds, struct err *err);
/* Cuts any connection, ends the thread, joins it. */
void host_mig_stop(struct host *h);
/* On the api thread: job handed over, its first step's answer awaited. 0 or -errno with err. */
int host_mig_hand_over(struct host_mig *m, enum host_mig_job job,
		       void (*run)(struct host_mig *m), const char *role, struct err *err);
/* On the thread: the first step's outcome, for host_mig_hand_over. */
void host_mig_answer(struct host_mig *m, int ret, const struct err *err);
/* Whether a job runs now. */
bool host_mig_busy(struct host_mig *m);

/* ctl_vm_ops' five (control.h): PUT /migrate and its phases (migrate_send.c), the rest. */
int host_mig_out(void *ctx, const struct vm_config *cfg, const struct ctl_migrate_req *r,
		 struct err *err);
int host_mig_in(void *ctx, const struct ctl_migrate_req *r, struct err *err);
int host_mig_get(void *ctx, json_t **out);
int host_mig_switch(void *ctx, const struct vm_config *cfg, bool *sent_go, struct err *err);
int host_mig_prelude(void *ctx, const struct vm_config *cfg, struct err *err);

/* migrate_status.c: the state and the end, under the lock. */
void host_mig_set(struct host_mig *m, const char *state, const struct err *err);
uint64_t host_mig_now_us(void);
/* *at = now (CLOCK_MONOTONIC, us), under the lock GET /migrate reads it with. */
void host_mig_stamp(struct host_mig *m, uint64_t *at);

/*
 * migrate_postcopy.c. The source's: PAGE_REQ answered while it waits for
 * an answer; the pages pushed once the VM runs there, until POSTCOPY_DONE.
 * The destination's: the userfaultfd and thread made (on the prelude's
 * build, before the seal); the thread set reading (after POSTCOPY);
 * waiting for what it sees (END, GO, every page in); its end. A record's
 * write to the destination's connection, under wlock.
 */
int host_mig_postcopy_answer(struct host_mig *m, const uint8_t *req, struct err *err);
int host_mig_postcopy_serve(struct host_mig *m, struct err *err);
void host_mig_postcopy_prepare(struct host_mig *m);
int host_mig_postcopy_run(struct host_mig *m);
enum host_mig_postcopy_event {
	HOST_MIG_POSTCOPY_END,
	HOST_MIG_POSTCOPY_GO,
	HOST_MIG_POSTCOPY_DONE,
};
int host_mig_postcopy_wait(struct host_mig *m, enum host_mig_postcopy_event what,
			   struct err *err);
void host_mig_postcopy_stop(struct host_mig *m);
int host_mig_write(struct host_mig *m, uint32_t type, const void *buf, size_t len);

#endif
