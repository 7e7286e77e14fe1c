/*
 * Live migration's progress, as either side reports it (GET /migrate,
 * host_mig_out.h): the state, under the lock, and the counters, atomics
 * the migration's threads add to.
 */
#include "host/migrate.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "host/host.h"
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
	m->status.state = state;
	if (err)
		snprintf(m->status.error, sizeof(m->status.error), "%s", err->msg);
	if (err || !strcmp(state, "completed"))
		m->status.t_end_us = host_mig_now_us();
	pthread_mutex_unlock(&m->lock);
	if (err)
		log_err("migration (%s): %s", m->status.role, err->msg);
}

void host_mig_stamp(struct host_mig *m, uint64_t *at)
{
	uint64_t now = host_mig_now_us();

	pthread_mutex_lock(&m->lock);
	*at = now;
	pthread_mutex_unlock(&m->lock);
}

int host_mig_get(void *ctx, json_t **out)
{
	struct host *h = ctx;
	struct host_mig *m = h->mig;
	uint64_t now = host_mig_now_us(), end;

	if (!m || !m->status.role) {
		*out = json_pack("{s:s}", "state", "none");
		return *out ? 0 : -ENOMEM;
	}
	pthread_mutex_lock(&m->lock);
	end = m->status.t_end_us ? m->status.t_end_us : now;
	*out = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, "
			 "s:I}",
			 "role", m->status.role, "state", m->status.state, "uri", m->link.uri,
			 "iteration", (json_int_t)__atomic_load_n(&m->status.p.iteration, __ATOMIC_RELAXED),
			 "bytes", (json_int_t)__atomic_load_n(&m->status.p.bytes, __ATOMIC_RELAXED),
			 "pages", (json_int_t)__atomic_load_n(&m->status.p.pages, __ATOMIC_RELAXED),
			 "first_pass_pages",
			 (json_int_t)__atomic_load_n(&m->status.p.first_pass_pages, __ATOMIC_RELAXED),
			 "pages_left", (json_int_t)__atomic_load_n(&m->status.p.pages_left,
								   __ATOMIC_RELAXED),
			 "expected_downtime_ms",
			 (json_int_t)__atomic_load_n(&m->status.p.expected_downtime_ms, __ATOMIC_RELAXED),
			 "downtime_us", (json_int_t)m->status.downtime_us,
			 "load_us", (json_int_t)m->status.load_us,
			 "prelude_us", (json_int_t)m->status.prelude_us,
			 "total_ms", (json_int_t)((end - m->status.t_start_us) / 1000),
			 "postcopy", strcmp(m->status.role, "source") ? m->postcopy.run : m->source.postcopy,
			 "pages_requested",
			 (json_int_t)__atomic_load_n(&m->status.p.requested, __ATOMIC_RELAXED));
	if (*out && m->status.error[0])
		json_object_set_new(*out, "error", json_string(m->status.error));
	/* The source's pause, the destination's resume (CLOCK_MONOTONIC, us); 0: not (yet). */
	if (*out)
		json_object_set_new(*out, strcmp(m->status.role, "source") ? "resumed_at_us" :
				    "paused_at_us", json_integer((json_int_t)(strcmp(m->status.role,
				    "source") ? m->status.resumed_at_us : m->status.paused_at_us)));
	/* The source's downtime, phase by phase (all 0 until it is over). */
	if (*out && !strcmp(m->status.role, "source"))
		json_object_set_new(*out, "switch_us", json_pack("{s:I, s:I, s:I, s:I}",
			"state", (json_int_t)m->status.sw_us[0], "send", (json_int_t)m->status.sw_us[1],
			"ready", (json_int_t)m->status.sw_us[2], "running", (json_int_t)m->status.sw_us[3]));
	/* What the handshake agreed ("TLS1.3 AES-256-GCM"); false: a plain stream (or none yet). */
	if (*out)
		json_object_set_new(*out, "tls", m->link.tls_desc[0] ? json_string(m->link.tls_desc)
							: json_false());
	pthread_mutex_unlock(&m->lock);
	return *out ? 0 : -ENOMEM;
}
