/*
 * Create, kill, the timeout and its expiry (lifecycle.h); pause, connect,
 * fork and snapshots are lifecycle_snap.c's. The lock is never held
 * across a call to a VM or an agent: a sandbox being changed is busy.
 */
#include "sandboxd/lifecycle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sandboxd/agent.h"
#include "sandboxd/api_json.h"
#include "sandboxd/template.h"
#include "util/log.h"

/* The sandboxes the timer ends in one round, the rest in the next. */
#define EXPIRE_BATCH 16

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sbx_op_create(struct sbx *s, const struct sbx_create_req *q, json_t **out, struct err *e)
{
	int64_t t0, t1;
	struct sbx_tpl *t;
	struct sbx_box *b;
	struct sbx_vm vm;
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = sbx_tpl_find(s, q->template_id, &t, e);
	if (!ret)
		ret = sbx_tpl_ready(s, t, e);
	if (!ret) {
		ret = sbx_box_add(s, t, &b);
		if (ret == -EAGAIN)
			err_set(e, false, ret, "at most %u sandboxes run at once on this server",
				s->cfg.max_sandboxes);
		else if (ret)
			err_set(e, false, ret, "cannot make a sandbox: %s", strerror(-ret));
	}
	if (!ret) {
		b->metadata = q->metadata ? json_deep_copy(q->metadata) : json_object();
		b->envs = q->envs ? json_deep_copy(q->envs) : json_object();
		b->auto_pause = q->auto_pause;
		if (!b->metadata || !b->envs) {
			sbx_box_remove(s, b);
			ret = err_set(e, false, -ENOMEM, "out of memory");
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (ret)
		return ret;
	t0 = mono_ms();
	if (t->kind == SBX_TPL_SNAP)
		ret = sbx_restore_vm(s, b, t->snap, &vm, e);
	else
		ret = sbx_tpl_fork(s, t, b->id, &vm, e);
	t1 = mono_ms();
	if (!ret) {
		ret = sbx_agent_init(s, b, &vm, t->kind == SBX_TPL_SNAP ? t->snap->token : NULL, e);
		if (ret)
			sbx_vm_kill(&vm);
	}
	pthread_mutex_lock(&s->lock);
	if (ret) {
		sbx_box_remove(s, b);
		pthread_mutex_unlock(&s->lock);
		return err_prefix(e, ret, "sandbox of template '%s': ", q->template_id);
	}
	b->vm = vm;
	b->state = SBX_RUNNING;
	b->started_ms = sbx_now_ms();
	b->end_ms = b->started_ms + (int64_t)q->timeout_s * 1000;
	*out = sbx_json_sandbox(b);
	sbx_box_release(s, b);
	pthread_mutex_unlock(&s->lock);
	/* Where a create's time goes: the VM (fork or restore), then the agent's /init. */
	log_info("sandboxes: %s created from template %s (pid %d): VM %lld ms, /init %lld ms", b->id,
		 t->id, (int)vm.pid, (long long)(t1 - t0), (long long)(mono_ms() - t1));
	return *out ? 0 : err_set(e, false, -ENOMEM, "out of memory");
}

void sbx_kill_claimed(struct sbx *s, struct sbx_box *b)
{
	if (b->state == SBX_RUNNING)
		sbx_vm_kill(&b->vm);
	pthread_mutex_lock(&s->lock);
	log_info("sandboxes: %s killed", b->id);
	sbx_box_remove(s, b);
	pthread_mutex_unlock(&s->lock);
}

/* The sandbox id names, made busy: 0, or -ENOENT / -ETIMEDOUT with e (lock not held). */
static int claim(struct sbx *s, const char *id, struct sbx_box **out, struct err *e)
{
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = sbx_box_claim(s, id, out);
	pthread_mutex_unlock(&s->lock);
	if (ret == -ENOENT)
		return err_set(e, true, ret, "sandbox \"%.64s\" doesn't exist or you don't have "
			       "access to it", id);
	if (ret)
		return err_set(e, false, ret, "sandbox \"%.64s\" stayed busy", id);
	return 0;
}

int sbx_op_kill(struct sbx *s, const char *id, struct err *e)
{
	struct sbx_box *b;
	int ret = claim(s, id, &b, e);

	if (!ret)
		sbx_kill_claimed(s, b);
	return ret;
}

int sbx_op_set_timeout(struct sbx *s, const char *id, unsigned int timeout_s, struct err *e)
{
	struct sbx_box *b;
	int ret = 0;

	pthread_mutex_lock(&s->lock);
	b = sbx_box_find(s, id);
	if (b)
		b->end_ms = sbx_now_ms() + (int64_t)timeout_s * 1000;
	else
		ret = err_set(e, true, -ENOENT, "sandbox \"%.64s\" doesn't exist or you don't have "
			      "access to it", id);
	/* The timer waits for the nearest end: it has moved. */
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void sbx_op_expire(struct sbx *s)
{
	struct sbx_box *due[EXPIRE_BATCH];
	unsigned int n = 0;
	int64_t now = sbx_now_ms();

	pthread_mutex_lock(&s->lock);
	for (struct sbx_box *b = s->boxes; b && n < EXPIRE_BATCH; b = b->next) {
		/* A VM that ended by itself (its guest powered off, or it failed) ends its sandbox. */
		bool dead = b->state == SBX_RUNNING && !b->busy && !sbx_vm_alive(&b->vm);

		if (dead) {
			b->busy = true;
			b->auto_pause = false;
			log_warn("sandboxes: %s: its VM (pid %d) ended", b->id, (int)b->vm.pid);
			due[n++] = b;
			continue;
		}
		if (b->state != SBX_RUNNING || b->busy || b->end_ms > now)
			continue;
		b->busy = true;
		due[n++] = b;
	}
	pthread_mutex_unlock(&s->lock);
	for (unsigned int i = 0; i < n; i++) {
		struct sbx_box *b = due[i];
		struct err e = ERR_INIT;

		if (b->auto_pause) {
			log_info("sandboxes: %s timed out: pausing it", b->id);
			if (!sbx_pause_claimed(s, b, &e))
				continue;
			log_warn("sandboxes: %s: pause at its timeout failed (%s): killing it", b->id,
				 e.msg);
		} else {
			log_info("sandboxes: %s timed out: killing it", b->id);
		}
		sbx_kill_claimed(s, b);
	}
}

void sbx_op_kill_all(struct sbx *s)
{
	for (;;) {
		struct sbx_box *b;

		pthread_mutex_lock(&s->lock);
		for (b = s->boxes; b && b->busy; b = b->next)
			;
		if (b)
			b->busy = true;
		else if (s->boxes)
			pthread_cond_wait(&s->cond, &s->lock);
		pthread_mutex_unlock(&s->lock);
		if (b)
			sbx_kill_claimed(s, b);
		else if (!s->boxes)
			return;
	}
}
