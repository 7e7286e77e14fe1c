/*
 * Live migration, the process host's side (docs/migration.md): one thread
 * of its own, "migrate", started with the host before the sandbox seals
 * (a sealed thread makes no thread) and filtered as its kind
 * (THREAD_MIGRATE), idle until a migration needs it. It runs the
 * source's passes and switch-over (host_migrate.c) or the destination's
 * reading and load (host_migrate_in.c); the api thread only hands it the
 * request and waits for the connection or the listening socket.
 */
#ifndef HEARTH_CONTROL_HOST_MIGRATE_H
#define HEARTH_CONTROL_HOST_MIGRATE_H

#include <pthread.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdint.h>

#include "control/control.h"
#include "migrate/send.h"
#include "migrate/stream.h"
#include "util/err.h"

struct host;
struct tls_creds;

enum host_mig_job { HOST_MIG_NONE, HOST_MIG_SEND, HOST_MIG_RECV, HOST_MIG_QUIT };

struct host_mig {
	struct host *h;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool entered;               /* the thread is filtered and waits for jobs */
	int enter_ret;
	enum host_mig_job job;
	/* The job's first step, answered to the api thread: connected, or listening. */
	bool answered;
	int answer;
	struct err answer_err;
	/* The request, copied: the api thread's is gone once it answered. */
	char uri[128];
	char path[108];
	/* tcp:HOST:PORT (HOST an address: nothing is resolved), else unix:PATH. */
	bool tcp;
	struct sockaddr_storage sa;
	socklen_t salen;
	/*
	 * TLS (migrate/tls.h): --migrate-tls's credentials (NULL: none); this
	 * job's request for it and the name the destination must hold (""
	 * none); what the handshake agreed, for GET /migrate ("" none).
	 */
	struct tls_creds *creds;
	bool tls;
	char tls_hostname[256];
	char tls_desc[64];
	uint32_t downtime_ms, max_iterations;
	struct snap_load_req load;  /* the destination's; its strings in strs */
	char *strs[64];
	unsigned int nstrs;
	/* The connection (-1: none), the listening socket, for host_migrate_stop to cut. */
	int fd, lfd;
	/* What GET /migrate says; under lock. */
	const char *role;           /* "source", "destination", NULL: none yet */
	const char *state;
	char error[ERR_MSG_MAX];
	struct mig_progress p;      /* atomics */
	uint64_t t_start_us, t_end_us, downtime_us;
	/*
	 * The source's pause and the destination's resume, on CLOCK_MONOTONIC
	 * (L1's /proc/uptime, which the lab bench stamps the guest's lines
	 * with): where a gap in the guest's output lies against them.
	 */
	uint64_t paused_at_us, resumed_at_us;
	uint64_t load_us;           /* the destination's load of the VM from the stream */
	/*
	 * The source's switch-over, phase by phase (us): its state taken, the
	 * last pages and the state sent, the destination's READY, its RUNNING.
	 */
	uint64_t sw_us[4];
	/* The source's: the dirty log was on before (a failure marks all of RAM dirty again). */
	bool had_tracking;
	uint64_t ram_limit;         /* the destination's: the most RAM a stream may lay out */
	/* The source's first state (PRELUDE), taken paused, sent after LAYOUT; freed then. */
	void *prelude;
	size_t prelude_len;
	uint64_t prelude_us;        /* the source's pause for it; the destination's build from it */
	/* The destination's VM RAM, handed over by the prelude's load (snapshot/request.h). */
	struct guest_mem *gm;
	struct mig_image *im;       /* the destination's, while it receives (its layout) */
	/* Post-copy (host_migrate_pc.c). The source's request, and its pages still to come. */
	bool postcopy;
	uint64_t *pc_maps[GUEST_MEM_DIRTY_MAPS];
	uint64_t pc_left;
	/*
	 * The destination's: its userfaultfd and second thread, made with the
	 * prelude's VM (before the seal); the writes both threads make, under
	 * wlock; what the second thread saw, under lock.
	 */
	int uffd;
	const char *uffd_why;
	pthread_t pc_thread;
	bool pc_started, pc_run, pc_quit, pc_end, pc_go, pc_done, pc_idle;
	bool pc_ready;              /* READY sent: only now may GO come */
	int pc_ret, pc_enter_ret;
	struct err pc_err;
	pthread_mutex_t wlock;
};

/* The thread, before anything seals; creds --migrate-tls's (NULL: none). 0, or -errno with err. */
int host_migrate_start(struct host *h, struct tls_creds *creds, struct err *err);
/* Cuts any connection, ends the thread, joins it. */
void host_migrate_stop(struct host *h);

/* ctl_vm_ops' four (control.h). */
int host_migrate(void *ctx, const struct vm_config *cfg, const struct ctl_migrate_req *r,
		 struct err *err);
int host_migrate_incoming(void *ctx, const struct ctl_migrate_req *r, struct err *err);
int host_migrate_get(void *ctx, json_t **out);
int host_migrate_switch(void *ctx, const struct vm_config *cfg, bool *sent_go, struct err *err);
int host_migrate_prelude(void *ctx, const struct vm_config *cfg, struct err *err);

/* host_migrate.c, for the destination's side: the state and the end, under the lock. */
void host_mig_set(struct host_mig *m, const char *state, const struct err *err);
uint64_t host_mig_now_us(void);
/* *at = now (CLOCK_MONOTONIC, us), under the lock GET /migrate reads it with. */
void host_mig_stamp(struct host_mig *m, uint64_t *at);
/* On the api thread: job handed over, its first step's answer awaited. 0 or -errno with err. */
int host_mig_hand_over(struct host_mig *m, enum host_mig_job job, const char *role,
		       struct err *err);
/* On the thread: the first step's outcome, for host_mig_hand_over. */
void host_mig_answer(struct host_mig *m, int ret, const struct err *err);
/* host_migrate_in.c: the destination's job, on the thread. */
void host_mig_recv(struct host_mig *m);
/*
 * host_migrate_pc.c. The source's: PAGE_REQ answered while it waits for
 * an answer; the pages pushed once the VM runs there, until PC_DONE.
 * The destination's: the userfaultfd and thread made (on the prelude's
 * build, before the seal); the thread set reading (after POSTCOPY);
 * waiting for what it sees (END, GO, every page in); its end. A record's
 * write to the destination's connection, under wlock.
 */
int host_mig_pc_answer(struct host_mig *m, const uint8_t *req, struct err *err);
int host_mig_pc_serve(struct host_mig *m, struct err *err);
void host_mig_pc_prepare(struct host_mig *m);
int host_mig_pc_run(struct host_mig *m);
enum host_mig_pc_wait { HOST_MIG_PC_END, HOST_MIG_PC_GO, HOST_MIG_PC_DONE };
int host_mig_pc_wait(struct host_mig *m, enum host_mig_pc_wait what, struct err *err);
void host_mig_pc_stop(struct host_mig *m);
int host_mig_send(struct host_mig *m, uint32_t type, const void *buf, size_t len);
/*
 * host_migrate_net.c: the uri into m (unix:PATH's path, or tcp:ADDR:PORT's
 * address): 0, or -EINVAL with err naming the fault. The source's
 * connection (m->fd); the destination's listening socket (m->lfd) and its
 * end. 0 or -errno with err.
 */
int host_mig_uri(struct host_mig *m, const char *uri, struct err *err);
int host_mig_connect(struct host_mig *m, struct err *err);
/*
 * The request's TLS into m (checked against the credentials the instance
 * has: 400 naming the missing flag or file); the connection's handshake,
 * on fd (m->fd), its session then used by every read and write; the
 * connection closed (its session's end first). 0 or -errno with err.
 */
int host_mig_tls_request(struct host_mig *m, const struct ctl_migrate_req *r, bool server,
			 struct err *err);
int host_mig_tls_open(struct host_mig *m, int fd, bool server, struct err *err);
void host_mig_close(int fd);
int host_mig_listen(struct host_mig *m, struct err *err);
void host_mig_unlisten(struct host_mig *m);

#endif
