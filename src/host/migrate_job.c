/*
 * Live migration's thread (migrate.h): started with the host, before the
 * seal, and filtered as its kind; it waits for a job the api thread hands
 * over (a source's or a destination's), runs it, and waits again.
 */
#include "host/migrate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/host.h"
#include "migrate/transport.h"
#include "util/thread_hook.h"

/* The job's first step done: the api thread, waiting in hand_over, answers with it. */
void host_mig_answer(struct host_mig *m, int ret, const struct err *err)
{
	pthread_mutex_lock(&m->lock);
	m->answered = true;
	m->answer = ret;
	if (ret)
		m->answer_err = *err;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static void *mig_main(void *arg)
{
	struct host_mig *m = arg;
	int ret;

	pthread_setname_np(pthread_self(), "migrate");
	ret = thread_hook_enter(THREAD_MIGRATE);
	pthread_mutex_lock(&m->lock);
	m->entered = true;
	m->enter_ret = ret;
	pthread_cond_broadcast(&m->cond);
	while (!ret) {
		enum host_mig_job job;
		void (*run)(struct host_mig *m);

		while (m->job == HOST_MIG_NONE)
			pthread_cond_wait(&m->cond, &m->lock);
		job = m->job;
		if (job == HOST_MIG_QUIT)
			break;
		run = m->run;
		pthread_mutex_unlock(&m->lock);
		run(m);
		/* Closed outside the lock: a TLS session's end writes to the peer. */
		mig_link_close(&m->link);
		pthread_mutex_lock(&m->lock);
		if (m->job == job)
			m->job = HOST_MIG_NONE;
		/* A refused start's api thread waits for this (host_mig_hand_over). */
		pthread_cond_broadcast(&m->cond);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int host_mig_start(struct host *h, struct tls_creds *creds, struct err *err)
{
	struct host_mig *m = calloc(1, sizeof(*m));
	int ret;

	if (!m)
		return err_set(err, false, -ENOMEM, "out of memory");
	m->h = h;
	mig_link_init(&m->link, creds, &m->lock);
	m->postcopy.uffd = -1;
	/*
	 * A stream may lay out no more RAM than this host has: it is filled
	 * before its config is checked. Asked here, unfiltered (sysinfo(2)).
	 */
	m->dest.ram_limit = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->wlock, NULL);
	pthread_cond_init(&m->cond, NULL);
	ret = -pthread_create(&m->thread, NULL, mig_main, m);
	if (ret) {
		pthread_mutex_destroy(&m->wlock);
		pthread_mutex_destroy(&m->lock);
		pthread_cond_destroy(&m->cond);
		free(m);
		return err_set(err, false, ret, "cannot start the migration thread: %s",
			       strerror(-ret));
	}
	/* Before the seal goes on: a thread not yet entered would escape it. */
	pthread_mutex_lock(&m->lock);
	while (!m->entered)
		pthread_cond_wait(&m->cond, &m->lock);
	ret = m->enter_ret;
	pthread_mutex_unlock(&m->lock);
	h->mig = m;
	if (ret) {
		host_mig_stop(h);
		return err_set(err, false, ret, "the migration thread: %s", strerror(-ret));
	}
	return 0;
}

void host_mig_stop(struct host *h)
{
	struct host_mig *m = h->mig;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->job = HOST_MIG_QUIT;
	/* Post-copy's thread, cut from its source below, ends as asked, not as failed. */
	m->postcopy.quit = true;
	/* A read, write or accept under way returns at once. */
	mig_link_cut(&m->link);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	pthread_join(m->thread, NULL);
	host_mig_postcopy_stop(m);
	mig_maps_free(m->source.to_come);
	for (unsigned int i = 0; i < m->dest.nstrs; i++)
		free(m->dest.strs[i]);
	free(m->source.prelude);
	pthread_mutex_destroy(&m->wlock);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
	free(m);
	h->mig = NULL;
}

/* Hands job to the thread and waits for its first step's answer. */
int host_mig_hand_over(struct host_mig *m, enum host_mig_job job,
		       void (*run)(struct host_mig *m), const char *role, struct err *err)
{
	int ret;

	pthread_mutex_lock(&m->lock);
	m->job = job;
	m->run = run;
	m->status.role = role;
	m->status.state = job == HOST_MIG_SEND ? "connecting" : "listening";
	m->status.error[0] = '\0';
	m->answered = false;
	memset(&m->status.p, 0, sizeof(m->status.p));
	m->status.t_start_us = host_mig_now_us();
	m->status.t_end_us = m->status.downtime_us = m->status.load_us = m->status.prelude_us = 0;
	m->status.paused_at_us = m->status.resumed_at_us = 0;
	memset(m->status.sw_us, 0, sizeof(m->status.sw_us));
	pthread_cond_broadcast(&m->cond);
	while (!m->answered)
		pthread_cond_wait(&m->cond, &m->lock);
	ret = m->answer;
	/*
	 * A refused start ends its job at once: waited for, so the next request
	 * finds the thread free (not "a migration is under way").
	 */
	while (ret && m->job == job)
		pthread_cond_wait(&m->cond, &m->lock);
	if (ret) {
		*err = m->answer_err;
		m->status.state = "failed";
		m->status.t_end_us = host_mig_now_us();
		snprintf(m->status.error, sizeof(m->status.error), "%s", err->msg);
	} else {
		m->status.state = job == HOST_MIG_SEND ? "active" : "waiting";
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

bool host_mig_busy(struct host_mig *m)
{
	bool b;

	pthread_mutex_lock(&m->lock);
	b = m->job != HOST_MIG_NONE;
	pthread_mutex_unlock(&m->lock);
	return b;
}

