/*
 * The signals the process stops or counts on, as Firecracker's handlers
 * take them (its vmm/src/signal_handler.rs), read on the loop's thread:
 *
 * - SIGINT, SIGTERM: a stop from the host (exit 3);
 * - SIGHUP: the same, with Firecracker's line and its `sighup` gauge;
 * - SIGBUS, SIGSEGV, SIGXFSZ, SIGXCPU, SIGILL sent to the process: the VM
 *   stops with Firecracker's line ("Shutting down VM after intercepting
 *   signal N, code C."), its gauge, the last metrics line and its exit code;
 * - SIGPIPE: counted, with Firecracker's "Received signal 13, code C.".
 *
 * The asynchronous ones are blocked in every thread and read from a
 * signalfd: a blocked signal is queued even for pid 1 of a PID namespace,
 * which drops one it has no handler for. SIGSEGV, SIGBUS and SIGILL cannot
 * be blocked for a real fault (the kernel forces them), so they get a
 * handler instead: one sent by kill() (si_code <= 0) is handed to the loop
 * through a pipe, async-signal-safely; a fault is left as it was, to the
 * handler before this one (a sanitizer's) or to the default's core dump.
 */
#include "vmm/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "util/log.h"

/* The fault signals' handler state: process-wide, as dispositions are. */
static int fatal_wr = -1;
static const int fatal_sigs[] = { SIGSEGV, SIGBUS, SIGILL };
#define FATAL_NSIGS (sizeof(fatal_sigs) / sizeof(fatal_sigs[0]))
/* What each of fatal_sigs had before: a handler the fault is passed on to. */
static struct sigaction fatal_old[FATAL_NSIGS];
/* The SIGPIPE line's (take). */
static struct ratelimit sigpipe_rl = RATELIMIT_INIT(10);

struct sig_msg {
	int signo;
	int code;
};

static void fatal_handler(int signo, siginfo_t *info, void *uctx)
{
	struct sig_msg m = { signo, info ? info->si_code : 0 };
	const struct sigaction *old = NULL;
	int saved = errno;

	for (size_t i = 0; i < FATAL_NSIGS; i++)
		if (fatal_sigs[i] == signo)
			old = &fatal_old[i];

	if (info && info->si_code <= 0) {
		int fd = __atomic_load_n(&fatal_wr, __ATOMIC_SEQ_CST);

		/* Sent, not raised by a fault: the loop stops the VM (a full pipe: one is pending). */
		if (fd >= 0 && write(fd, &m, sizeof(m)) < 0)
			(void)0;
		errno = saved;
		return;
	}
	/* A fault: SA_RESETHAND made it SIG_DFL, so the retried instruction dumps core. */
	if (!old)
		(void)0;
	else if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction)
		old->sa_sigaction(signo, info, uctx);
	else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN)
		old->sa_handler(signo);
	errno = saved;
}

static int exit_code(int signo)
{
	switch (signo) {
	case SIGBUS:
		return HEARTH_EXIT_SIGBUS;
	case SIGSEGV:
		return HEARTH_EXIT_SIGSEGV;
	case SIGXFSZ:
		return HEARTH_EXIT_SIGXFSZ;
	case SIGXCPU:
		return HEARTH_EXIT_SIGXCPU;
	case SIGILL:
		return HEARTH_EXIT_SIGILL;
	}
	return HEARTH_EXIT_STOPPED;
}

static void stop(struct runner *r, int signo)
{
	if (r->have_vm)
		vm_request_stop(&r->vm, VM_STOP_HOST, strsignal(signo));
	else
		eventloop_stop(&r->loop);
}

static void take(struct runner *r, int signo, int code)
{
	switch (signo) {
	case SIGINT:
	case SIGTERM:
		break;
	case SIGPIPE:
		r->sigpipes++;
		/*
		 * Bounded: with stderr itself a closed pipe, each line raises
		 * the next SIGPIPE, which (the lower number) would be read
		 * before a SIGTERM for ever.
		 */
		log_ratelimited(&sigpipe_rl, LOG_ERR, "Received signal %d, code %d.", signo, code);
		return;
	default:
		/* The first one decides the exit code; any later one only adds its gauge. */
		r->sig_seen[signo] = true;
		if (!r->sig_exit)
			r->sig_exit = exit_code(signo);
		log_err("Shutting down VM after intercepting signal %d, code %d.", signo, code);
		break;
	}
	stop(r, signo);
}

static void on_signal(void *opaque, uint32_t events)
{
	struct runner *r = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(r->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	take(r, (int)si.ssi_signo, si.ssi_code);
}

static void on_fatal(void *opaque, uint32_t events)
{
	struct runner *r = opaque;
	struct sig_msg m;

	(void)events;
	if (read(r->fatal_fd, &m, sizeof(m)) != sizeof(m) || m.signo <= 0 || m.signo >= NSIG)
		return;
	take(r, m.signo, m.code);
}

static int fatal_handlers(struct runner *r)
{
	struct sigaction sa;
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fatal_handler;
	/* One shot: a second fault in the handler, or the retried one, is the default's. */
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	fatal_wr = p[1];
	r->fatal_fd = p[0];
	for (size_t i = 0; i < FATAL_NSIGS; i++) {
		struct sigaction old;

		/* A runner made again keeps what came before the first one's handler. */
		if (sigaction(fatal_sigs[i], &sa, &old) == 0 && old.sa_sigaction != fatal_handler)
			fatal_old[i] = old;
	}
	return eventloop_add(&r->loop, r->fatal_fd, EPOLLIN, on_fatal, r);
}

/*
 * Threads created later (vCPUs, api) inherit the mask, so only the loop
 * sees these (an api thread started before blocks them itself,
 * api/server.c, with the same set: runner_signals_mask).
 */
int runner_signals_init(struct runner *r)
{
	sigset_t mask;
	int ret;

	r->fatal_fd = -1;
	runner_signals_mask(&mask);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	r->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (r->sig_fd < 0)
		return -errno;
	ret = eventloop_add(&r->loop, r->sig_fd, EPOLLIN, on_signal, r);
	if (!ret)
		ret = fatal_handlers(r);
	return ret;
}

void runner_signals_mask(sigset_t *mask)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGXFSZ, SIGXCPU, SIGPIPE };

	sigemptyset(mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(mask, sigs[i]);
}

/*
 * The handlers stay (a sealed thread may not call sigaction): without the
 * pipe one takes a sent signal as the default would, and a fault as before.
 */
void runner_signals_destroy(struct runner *r)
{
	int fd;

	if (r->sig_fd >= 0) {
		eventloop_remove(&r->loop, r->sig_fd);
		close(r->sig_fd);
		r->sig_fd = -1;
	}
	if (r->fatal_fd >= 0) {
		eventloop_remove(&r->loop, r->fatal_fd);
		close(r->fatal_fd);
		r->fatal_fd = -1;
		fd = fatal_wr;
		__atomic_store_n(&fatal_wr, -1, __ATOMIC_SEQ_CST);
		close(fd);
	}
}
