/*
 * A vCPU's run state: what the vCPU thread is doing (state) and what its
 * owner asked for (want). The thread parks on a condition variable while
 * paused, so a paused VM burns no CPU; stopped is final.
 */
#ifndef HEARTH_VCPU_RUNSTATE_H
#define HEARTH_VCPU_RUNSTATE_H

#include <pthread.h>
#include <stdbool.h>

enum vcpu_state {
	VCPU_CREATED,   /* thread not started yet */
	VCPU_RUNNING,
	VCPU_PAUSED,
	VCPU_STOPPED,
};

struct vcpu_runstate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vcpu_state state;  /* what the thread does, written by it */
	enum vcpu_state want;   /* VCPU_RUNNING, VCPU_PAUSED or VCPU_STOPPED */
};

void runstate_init(struct vcpu_runstate *rs);
void runstate_destroy(struct vcpu_runstate *rs);

/* What the vCPU thread does next (runstate_next). */
enum vcpu_next {
	VCPU_NEXT_STOP,
	VCPU_NEXT_RUN,
	VCPU_NEXT_FINISH,   /* finish the last exit first, then ask again */
};

/*
 * The vCPU thread, before each KVM_RUN: parks while a pause is wanted and
 * returns VCPU_NEXT_RUN to run or VCPU_NEXT_STOP to stop. pending: its
 * last exit is not complete until KVM_RUN is entered again (an I/O or
 * MMIO exit: KVM's api.rst); a pause then gets VCPU_NEXT_FINISH instead
 * of parking, decided under the lock, so no pause parks a vCPU halfway
 * through an instruction whose state a snapshot would save.
 */
enum vcpu_next runstate_next(struct vcpu_runstate *rs, bool pending);
/* runstate_next with nothing pending: true to run, false to stop. */
bool runstate_enter(struct vcpu_runstate *rs);
/* The vCPU thread, on its way out. */
void runstate_exit(struct vcpu_runstate *rs);

/*
 * The owner asks for want (VCPU_RUNNING, VCPU_PAUSED or VCPU_STOPPED). A
 * stop is final: later requests leave it stopped. The caller kicks the
 * vCPU out of KVM_RUN so it sees the request.
 */
void runstate_request(struct vcpu_runstate *rs, enum vcpu_state want);

/*
 * Waits until the thread reached target, or stopped, or timeout_ms passed
 * (< 0: no limit). Returns the state it ended in.
 */
enum vcpu_state runstate_wait(struct vcpu_runstate *rs, enum vcpu_state target, int timeout_ms);

enum vcpu_state runstate_get(struct vcpu_runstate *rs);
const char *runstate_name(enum vcpu_state s);

#endif
