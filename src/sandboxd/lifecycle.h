/*
 * What the API's endpoints and the timeouts do to sandboxes: create (a
 * clone of a template, or a restore of a snapshot template), kill, the
 * timeout, pause (a snapshot, then the VM ends), connect (a paused one
 * restored), fork (a snapshot of the running one, restored once per new
 * sandbox) and snapshots (a snapshot kept as a template). Each returns 0
 * or -errno with e, the errno saying which answer: -ENOENT no such
 * sandbox or template (404), -EINVAL a bad request (400), -EALREADY the
 * state forbids it (409), -EAGAIN the server is full (429), -ETIMEDOUT a
 * VM or agent took too long (504), others the host (500).
 */
#ifndef HEARTH_SANDBOXD_LIFECYCLE_H
#define HEARTH_SANDBOXD_LIFECYCLE_H

#include <jansson.h>

#include "sandboxd/priv.h"

struct sbx_create_req {
	const char *template_id;
	unsigned int timeout_s;
	json_t *metadata;           /* borrowed: an object of strings, or NULL */
	json_t *envs;               /* borrowed: an object of strings, or NULL */
	bool auto_pause;
};

/* *out: the Sandbox answer (201). */
int sbx_op_create(struct sbx *s, const struct sbx_create_req *q, json_t **out, struct err *e);
int sbx_op_kill(struct sbx *s, const char *id, struct err *e);
int sbx_op_set_timeout(struct sbx *s, const char *id, unsigned int timeout_s, struct err *e);
/* -EALREADY when it is paused already (E2B's 409). */
int sbx_op_pause(struct sbx *s, const char *id, struct err *e);
/* *resumed: it was paused (201) or ran already (200); *out the Sandbox answer. */
int sbx_op_connect(struct sbx *s, const char *id, unsigned int timeout_s, json_t **out,
		   bool *resumed, struct err *e);
/* *out: E2B's SandboxForkResult list (201), one entry per fork, each a sandbox or an error. */
int sbx_op_fork(struct sbx *s, const char *id, unsigned int count, unsigned int timeout_s,
		json_t **out, struct err *e);
/* *out: SnapshotInfo (201); name NULL: one is made. */
int sbx_op_snapshot(struct sbx *s, const char *id, const char *name, json_t **out,
		    struct err *e);
/* *out: a SandboxMetric list of one sample (200). */
int sbx_op_metrics(struct sbx *s, const char *id, json_t **out, struct err *e);
/* The timer's round: every running sandbox past its end is paused or killed. */
void sbx_op_expire(struct sbx *s);
/* The server's end: every sandbox's VM ended, every snapshot removed. */
void sbx_op_kill_all(struct sbx *s);

/* lifecycle_snap.c, for lifecycle.c: a VM restored from snap for b (lock not held). */
int sbx_restore_vm(struct sbx *s, const struct sbx_box *b, struct sbx_snap *snap,
		   struct sbx_vm *vm, struct err *e);
/* b claimed (busy), lock not held: its snapshot taken, its VM ended, PAUSED and released; on failure still claimed. */
int sbx_pause_claimed(struct sbx *s, struct sbx_box *b, struct err *e);
/* b claimed, lock not held: its VM or snapshot gone, b out of the list and freed. */
void sbx_kill_claimed(struct sbx *s, struct sbx_box *b);

#endif
