#include "vcpu/runstate.h"

#include <errno.h>
#include <time.h>

#include "util/deadline.h"

void runstate_init(struct vcpu_runstate *rs)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&rs->lock, NULL);
	/* Timed waits measure on the monotonic clock: wall-clock jumps don't cut them short. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&rs->cond, &attr);
	pthread_condattr_destroy(&attr);
	rs->state = VCPU_CREATED;
	rs->want = VCPU_RUNNING;
}

void runstate_destroy(struct vcpu_runstate *rs)
{
	pthread_cond_destroy(&rs->cond);
	pthread_mutex_destroy(&rs->lock);
}

bool runstate_enter(struct vcpu_runstate *rs)
{
	return runstate_next(rs, false) == VCPU_NEXT_RUN;
}

enum vcpu_next runstate_next(struct vcpu_runstate *rs, bool pending)
{
	bool run;

	pthread_mutex_lock(&rs->lock);
	if (pending && rs->want == VCPU_PAUSED) {
		pthread_mutex_unlock(&rs->lock);
		return VCPU_NEXT_FINISH;
	}
	while (rs->want == VCPU_PAUSED) {
		if (rs->state != VCPU_PAUSED) {
			rs->state = VCPU_PAUSED;
			pthread_cond_broadcast(&rs->cond);
		}
		pthread_cond_wait(&rs->cond, &rs->lock);
	}
	run = rs->want == VCPU_RUNNING;
	if (run && rs->state != VCPU_RUNNING) {
		rs->state = VCPU_RUNNING;
		pthread_cond_broadcast(&rs->cond);
	}
	pthread_mutex_unlock(&rs->lock);
	return run ? VCPU_NEXT_RUN : VCPU_NEXT_STOP;
}

void runstate_exit(struct vcpu_runstate *rs)
{
	pthread_mutex_lock(&rs->lock);
	rs->state = VCPU_STOPPED;
	rs->want = VCPU_STOPPED;
	pthread_cond_broadcast(&rs->cond);
	pthread_mutex_unlock(&rs->lock);
}

void runstate_request(struct vcpu_runstate *rs, enum vcpu_state want)
{
	if (want != VCPU_RUNNING && want != VCPU_PAUSED && want != VCPU_STOPPED)
		return;
	pthread_mutex_lock(&rs->lock);
	if (rs->want != VCPU_STOPPED) {
		rs->want = want;
		/* Never started: a stop needs no thread to acknowledge it. */
		if (want == VCPU_STOPPED && rs->state == VCPU_CREATED)
			rs->state = VCPU_STOPPED;
		pthread_cond_broadcast(&rs->cond);
	}
	pthread_mutex_unlock(&rs->lock);
}

enum vcpu_state runstate_wait(struct vcpu_runstate *rs, enum vcpu_state target, int timeout_ms)
{
	struct timespec deadline;
	enum vcpu_state s;

	if (timeout_ms >= 0)
		deadline = deadline_after_ms((unsigned int)timeout_ms);
	pthread_mutex_lock(&rs->lock);
	while (rs->state != target && rs->state != VCPU_STOPPED) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&rs->cond, &rs->lock);
		} else if (pthread_cond_timedwait(&rs->cond, &rs->lock, &deadline) == ETIMEDOUT) {
			break;
		}
	}
	s = rs->state;
	pthread_mutex_unlock(&rs->lock);
	return s;
}

enum vcpu_state runstate_get(struct vcpu_runstate *rs)
{
	enum vcpu_state s;

	pthread_mutex_lock(&rs->lock);
	s = rs->state;
	pthread_mutex_unlock(&rs->lock);
	return s;
}

const char *runstate_name(enum vcpu_state s)
{
	static const char *const names[] = {
		[VCPU_CREATED] = "created",
		[VCPU_RUNNING] = "running",
		[VCPU_PAUSED] = "paused",
		[VCPU_STOPPED] = "stopped",
	};

	return (unsigned int)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}
