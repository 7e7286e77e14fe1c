/*
 * The vCPU run state machine without KVM: a thread that loops as the
 * KVM_RUN loop does (runstate_enter around each "run") must park while
 * paused, continue on resume and leave on stop, from any state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "vcpu/runstate.h"

struct fake_vcpu {
	struct vcpu_runstate rs;
	pthread_t thread;
	uint64_t runs;      /* atomic: loop iterations, i.e. "KVM_RUN" calls */
};

static void *fake_thread(void *arg)
{
	struct fake_vcpu *f = arg;

	while (runstate_enter(&f->rs)) {
		__atomic_add_fetch(&f->runs, 1, __ATOMIC_RELAXED);
		usleep(100);    /* a short "guest run" */
	}
	runstate_exit(&f->rs);
	return NULL;
}

static uint64_t runs(struct fake_vcpu *f)
{
	return __atomic_load_n(&f->runs, __ATOMIC_RELAXED);
}

/* Waits (up to 10 s, only to turn a hang into a failure) until runs > n. */
static int ran_past(struct fake_vcpu *f, uint64_t n)
{
	for (int i = 0; i < 10000; i++) {
		if (runs(f) > n)
			return 1;
		usleep(1000);
	}
	return 0;
}

static void start(struct fake_vcpu *f)
{
	runstate_init(&f->rs);
	f->runs = 0;
	assert_int_equal(runstate_get(&f->rs), VCPU_CREATED);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_thread, f), 0);
}

static void finish(struct fake_vcpu *f)
{
	runstate_request(&f->rs, VCPU_STOPPED);
	assert_int_equal(pthread_join(f->thread, NULL), 0);
	assert_int_equal(runstate_get(&f->rs), VCPU_STOPPED);
	runstate_destroy(&f->rs);
}

static void test_pause_parks_and_resume_continues(void **state)
{
	struct fake_vcpu f;
	uint64_t before;

	(void)state;
	start(&f);
	assert_int_equal(runstate_wait(&f.rs, VCPU_RUNNING, 10000), VCPU_RUNNING);
	assert_true(ran_past(&f, 0));

	runstate_request(&f.rs, VCPU_PAUSED);
	assert_int_equal(runstate_wait(&f.rs, VCPU_PAUSED, 10000), VCPU_PAUSED);
	/* Parked: no run happens while paused (a negative check needs a window). */
	before = runs(&f);
	usleep(50 * 1000);
	assert_int_equal(runs(&f), before);
	assert_int_equal(runstate_get(&f.rs), VCPU_PAUSED);

	runstate_request(&f.rs, VCPU_RUNNING);
	assert_int_equal(runstate_wait(&f.rs, VCPU_RUNNING, 10000), VCPU_RUNNING);
	assert_true(ran_past(&f, before));
	finish(&f);
}

static void test_pause_twice_and_resume_running(void **state)
{
	struct fake_vcpu f;
	uint64_t before;

	(void)state;
	start(&f);
	runstate_request(&f.rs, VCPU_PAUSED);
	runstate_request(&f.rs, VCPU_PAUSED);
	assert_int_equal(runstate_wait(&f.rs, VCPU_PAUSED, 10000), VCPU_PAUSED);
	runstate_request(&f.rs, VCPU_PAUSED);
	assert_int_equal(runstate_get(&f.rs), VCPU_PAUSED);

	runstate_request(&f.rs, VCPU_RUNNING);
	runstate_request(&f.rs, VCPU_RUNNING);
	before = runs(&f);
	assert_true(ran_past(&f, before));
	assert_int_equal(runstate_get(&f.rs), VCPU_RUNNING);
	finish(&f);
}

static void test_stop_while_paused(void **state)
{
	struct fake_vcpu f;

	(void)state;
	start(&f);
	runstate_request(&f.rs, VCPU_PAUSED);
	assert_int_equal(runstate_wait(&f.rs, VCPU_PAUSED, 10000), VCPU_PAUSED);
	finish(&f);
}

static void test_stop_is_final(void **state)
{
	struct fake_vcpu f;

	(void)state;
	start(&f);
	finish(&f);
	runstate_init(&f.rs);
	runstate_request(&f.rs, VCPU_STOPPED);
	/* Never started: stopping needs no thread, and nothing revives it. */
	assert_int_equal(runstate_get(&f.rs), VCPU_STOPPED);
	runstate_request(&f.rs, VCPU_RUNNING);
	runstate_request(&f.rs, VCPU_PAUSED);
	assert_int_equal(runstate_wait(&f.rs, VCPU_RUNNING, 0), VCPU_STOPPED);
	assert_false(runstate_enter(&f.rs));
	runstate_destroy(&f.rs);
}

static void test_paused_before_start(void **state)
{
	struct fake_vcpu f;

	(void)state;
	runstate_init(&f.rs);
	f.runs = 0;
	/* Asked to pause before the thread exists: it starts parked. */
	runstate_request(&f.rs, VCPU_PAUSED);
	assert_int_equal(pthread_create(&f.thread, NULL, fake_thread, &f), 0);
	assert_int_equal(runstate_wait(&f.rs, VCPU_PAUSED, 10000), VCPU_PAUSED);
	assert_int_equal(runs(&f), 0);
	finish(&f);
}

static void test_wait_times_out(void **state)
{
	struct vcpu_runstate rs;

	(void)state;
	runstate_init(&rs);
	/* No thread acknowledges: the wait gives up and reports where it is. */
	runstate_request(&rs, VCPU_PAUSED);
	assert_int_equal(runstate_wait(&rs, VCPU_PAUSED, 20), VCPU_CREATED);
	assert_string_equal(runstate_name(VCPU_PAUSED), "paused");
	runstate_destroy(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pause_parks_and_resume_continues),
		cmocka_unit_test(test_pause_twice_and_resume_running),
		cmocka_unit_test(test_stop_while_paused),
		cmocka_unit_test(test_stop_is_final),
		cmocka_unit_test(test_paused_before_start),
		cmocka_unit_test(test_wait_times_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
