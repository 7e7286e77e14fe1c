#include "sandbox/tsync.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Newer than this machine's headers: the kernel's ABI 8 value. */
#define SB_LANDLOCK_RESTRICT_SELF_TSYNC (1U << 3)
#define TSYNC_ABI 8
#define TSYNC_MAX_THREADS 8

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t noted[TSYNC_MAX_THREADS];
static unsigned int nnoted;
static bool sealed;
static sem_t done;

/* What the handler reads: set before the signals go out, disarmed after the wait. */
static bool armed;
static int seal_fd = -1;
static bool seal_self;      /* no TSYNC: each thread restricts itself */
static int (*seal_step)(void);
static int seal_errno;      /* the first thread's failure */

/* glibc's first real-time signal that it does not keep for itself; nothing else here uses it. */
static int tsync_signal(void)
{
	return SIGRTMIN;
}

/* On a noted thread: raw syscalls, sem_post and the async-signal-safe step only. */
static void on_seal(int sig, siginfo_t *si, void *uctx)
{
	int saved = errno;
	int zero = 0;

	(void)sig;
	(void)uctx;
	/* The sealing thread's tgkill only; the same signal from anyone else does nothing. */
	if (si->si_code != SI_TKILL || si->si_pid != (pid_t)syscall(SYS_getpid) ||
	    !__atomic_load_n(&armed, __ATOMIC_ACQUIRE))
		goto out;
	if (seal_self && syscall(SYS_landlock_restrict_self, seal_fd, 0))
		__atomic_compare_exchange_n(&seal_errno, &zero, errno, false, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST);
	if (seal_step) {
		int e = seal_step();

		if (e)
			__atomic_compare_exchange_n(&seal_errno, &zero, e, false, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST);
	}
	sem_post(&done);
out:
	errno = saved;
}

int tsync_init(void)
{
	struct sigaction sa;

	if (sem_init(&done, 0, 0))
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_seal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	return sigaction(tsync_signal(), &sa, NULL) ? -errno : 0;
}

int tsync_register(void)
{
	int ret = 0;

	pthread_mutex_lock(&lock);
	if (!sealed) {
		if (nnoted < TSYNC_MAX_THREADS)
			noted[nnoted++] = gettid();
		else
			ret = -ENOSPC;
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

/* Waits for n handlers, all within TSYNC_WAIT_SECONDS. 0 or -ETIMEDOUT. */
static int wait_all(unsigned int n)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += TSYNC_WAIT_SECONDS;
	while (n) {
		if (!sem_clockwait(&done, CLOCK_MONOTONIC, &deadline))
			n--;
		else if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int tsync_seal(int ruleset_fd, int abi, int (*thread_step)(void), struct err *err)
{
	pid_t self = gettid(), pid = getpid();
	pid_t tids[TSYNC_MAX_THREADS];
	unsigned int n = 0, sent = 0;
	bool tsync = false;
	int ret = 0;

	pthread_mutex_lock(&lock);
	sealed = true;
	for (unsigned int i = 0; i < nnoted; i++)
		if (noted[i] != self)
			tids[n++] = noted[i];
	pthread_mutex_unlock(&lock);

	if (abi > 0 && n && abi >= TSYNC_ABI) {
		tsync = !syscall(SYS_landlock_restrict_self, ruleset_fd,
				 SB_LANDLOCK_RESTRICT_SELF_TSYNC);
		if (!tsync && errno != EINVAL)
			return err_set(err, false, -errno, "Landlock: cannot restrict every thread "
				       "(TSYNC): %s", strerror(errno));
	}
	if (abi > 0 && !tsync && syscall(SYS_landlock_restrict_self, ruleset_fd, 0))
		return err_set(err, false, -errno, "Landlock: cannot restrict the io thread: %s",
			       strerror(errno));
	if (!n || (tsync && !thread_step))
		return 0;

	seal_fd = ruleset_fd;
	seal_self = abi > 0 && !tsync;
	seal_step = thread_step;
	seal_errno = 0;
	__atomic_store_n(&armed, true, __ATOMIC_RELEASE);
	for (unsigned int i = 0; i < n; i++) {
		if (!syscall(SYS_tgkill, pid, tids[i], tsync_signal()))
			sent++;
		else if (errno != ESRCH)     /* ESRCH: the thread has ended; nothing to restrict */
			ret = -errno;
	}
	if (!ret)
		ret = wait_all(sent);
	__atomic_store_n(&armed, false, __ATOMIC_RELEASE);
	if (!ret && seal_errno)
		ret = -seal_errno;
	if (ret)
		err_set(err, false, ret, "Landlock: a thread that runs since before the seal (the "
			"api thread) %s: %s", ret == -ETIMEDOUT ? "did not restrict itself in time" :
			"could not restrict itself", strerror(-ret));
	return ret;
}
