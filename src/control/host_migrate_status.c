/*
 * Live migration's progress, as either side reports it (GET /migrate,
 * host_migrate.h): the state, under the lock, and the counters, atomics
 * the migration's threads add to.
 */
#include "control/host_migrate.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "control/host.h"
#include "util/log.h"

uint64_t host_mig_now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

void host_mig_set(struct host_mig *m, const char *state, const struct err *err)
{
	pthread_mutex_lock(&m->lock);
	m->state = state;
	if (err)
		snprintf(m->error, sizeof(m->error), "%s", err->msg);
	if (err || !strcmp(state, "completed"))
		m->t_end_us = host_mig_now_us();
	pthread_mutex_unlock(&m->lock);
	if (err)
		log_err("migration (%s): %s", m->role, err->msg);
}

void host_mig_stamp(struct host_mig *m, uint64_t *at)
{
	uint64_t now = host_mig_now_us();

	pthread_mutex_lock(&m->lock);
	*at = now;
	pthread_mutex_unlock(&m->lock);
}

int host_migrate_get(void *ctx, json_t **out)
{
	struct host *h = ctx;
	struct host_mig *m = h->mig;
	uint64_t now = host_mig_now_us(), end;

	if (!m || !m->role) {
		*out = json_pack("{s:s}", "state", "none");
		return *out ? 0 : -ENOMEM;
	}
	pthread_mutex_lock(&m->lock);
	end = m->t_end_us ? m->t_end_us : now;
	*out = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, "
			 "s:I}",
			 "role", m->role, "state", m->state, "uri", m->uri,
			 "iteration", (json_int_t)__atomic_load_n(&m->p.iteration, __ATOMIC_RELAXED),
			 "bytes", (json_int_t)__atomic_load_n(&m->p.bytes, __ATOMIC_RELAXED),
			 "pages", (json_int_t)__atomic_load_n(&m->p.pages, __ATOMIC_RELAXED),
			 "first_pass_pages",
			 (json_int_t)__atomic_load_n(&m->p.first_pass_pages, __ATOMIC_RELAXED),
			 "pages_left", (json_int_t)__atomic_load_n(&m->p.pages_left,
								   __ATOMIC_RELAXED),
			 "expected_downtime_ms",
			 (json_int_t)__atomic_load_n(&m->p.expected_downtime_ms, __ATOMIC_RELAXED),
			 "downtime_us", (json_int_t)m->downtime_us,
			 "load_us", (json_int_t)m->load_us,
			 "prelude_us", (json_int_t)m->prelude_us,
			 "total_ms", (json_int_t)((end - m->t_start_us) / 1000),
			 "postcopy", strcmp(m->role, "source") ? m->pc_run : m->postcopy,
			 "pages_requested",
			 (json_int_t)__atomic_load_n(&m->p.requested, __ATOMIC_RELAXED));
	if (*out && m->error[0])
		json_object_set_new(*out, "error", json_string(m->error));
	/* The source's pause, the destination's resume (CLOCK_MONOTONIC, us); 0: not (yet). */
	if (*out)
		json_object_set_new(*out, strcmp(m->role, "source") ? "resumed_at_us" :
				    "paused_at_us", json_integer((json_int_t)(strcmp(m->role,
				    "source") ? m->resumed_at_us : m->paused_at_us)));
	/* The source's downtime, phase by phase (all 0 until it is over). */
	if (*out && !strcmp(m->role, "source"))
		json_object_set_new(*out, "switch_us", json_pack("{s:I, s:I, s:I, s:I}",
			"state", (json_int_t)m->sw_us[0], "send", (json_int_t)m->sw_us[1],
			"ready", (json_int_t)m->sw_us[2], "running", (json_int_t)m->sw_us[3]));
	/* What the handshake agreed ("TLS1.3 AES-256-GCM"); false: a plain stream (or none yet). */
	if (*out)
		json_object_set_new(*out, "tls", m->tls_desc[0] ? json_string(m->tls_desc)
							: json_false());
	pthread_mutex_unlock(&m->lock);
	return *out ? 0 : -ENOMEM;
}
