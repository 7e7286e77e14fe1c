#include "vmm/runner.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "mmds/mmds.h"
#include "util/log.h"
#include "util/term.h"
#include "util/thread_hook.h"
#include "util/thread_name.h"
#include "util/trim.h"

static void on_vm_stop(void *ctx)
{
	struct runner *r = ctx;

	eventloop_stop(&r->loop);
}

static void on_console_quit(void *ctx)
{
	struct runner *r = ctx;

	vm_request_stop(&r->vm, VM_STOP_HOST, "Ctrl-A x");
}

int runner_init(struct runner *r, struct err *err)
{
	struct sigaction old;
	int ret;

	trim_zero(r, sizeof(*r));   /* the host is zero pages in a clone (cli.c) */
	r->sig_fd = -1;
	r->fatal_fd = -1;
	thread_name_set(THREAD_ROLE_IO, 0);
	if (eventloop_init(&r->loop)) {
		ret = -errno;
		return err_set(err, false, ret, "cannot create the event loop: %s", strerror(-ret));
	}
	/*
	 * An unblocked thread (none, past this) drops it rather than dying of
	 * it. Only when not ignored already: making it ignored discards a
	 * SIGPIPE pending, blocked, for the signalfd (host_process_run blocks
	 * the set before the API socket exists).
	 */
	if (!sigaction(SIGPIPE, NULL, &old) && old.sa_handler != SIG_IGN)
		signal(SIGPIPE, SIG_IGN);
	ret = runner_signals_init(r);
	if (ret) {
		err_set(err, false, ret, "cannot set up signal handling: %s", strerror(-ret));
		goto err_loop;
	}
	/*
	 * This thread runs the loop: work other threads hand it (a vCPU's
	 * device reset, the api thread's requests) waits for it from now on,
	 * even before runner_loop, rather than run on their own threads.
	 */
	eventloop_claim(&r->loop);
	return 0;
err_loop:
	runner_signals_destroy(r);
	eventloop_destroy(&r->loop);
	return ret;
}

/*
 * The io thread's filter (the sandbox's thread hook), once the VM runs
 * and the loop serves it: the vCPU and api threads exist by then, so
 * neither inherits this filter on top of its own. Before that the loop
 * only waits for the VM's configuration.
 */
static int runner_sandbox(struct runner *r)
{
	if (!thread_hook_enter(THREAD_IO))
		return 0;
	log_err("cannot install the io thread's seccomp filter");
	vm_request_stop(&r->vm, VM_STOP_FAILURE, "seccomp filter");
	return -EPERM;
}

struct runner_start {
	struct runner *r;
	const struct vm_config *cfg;
	const struct runner_restore *rs;   /* NULL: a fresh boot */
};

/* On the loop's thread: the VM's fds join the loop with nothing else running there. */
static int runner_start_fn(void *ctx, struct err *err)
{
	struct runner_start *c = ctx;
	struct runner *r = c->r;
	int ret;

	ret = vm_create_from(&r->vm, c->cfg, c->rs ? c->rs->mem : NULL, &r->loop, err);
	if (ret)
		return ret;
	/* The snapshot's state goes in before anything can run: irqchip, vCPUs, devices. */
	if (c->rs) {
		if (c->rs->pause_first)
			vm_start_paused(&r->vm);
		ret = c->rs->apply(c->rs->ctx, &r->vm, err);
		if (ret)
			goto err_vm;
		/*
		 * The record's MMDS version, now that every record was taken and
		 * before anything runs: never a refused load's, and no window in
		 * which a V2 snapshot's MMDS answers without a session token.
		 */
		if (c->cfg->mmds.on && c->cfg->mmds_store)
			mmds_set_version(c->cfg->mmds_store, c->cfg->mmds.version,
					 c->cfg->mmds.imds_compat);
		/*
		 * Paused, then resumed unless asked to stay paused: a device's resume
		 * looks at each queue once, and buffers the guest posted before the
		 * snapshot (vsock's and a NIC's receive buffers) are only seen so;
		 * the guest will not kick for them again.
		 */
		if (!c->rs->pause_first)
			vm_start_paused(&r->vm);
		if (!c->rs->paused && !c->rs->pause_first)
			vm_resume_here(&r->vm);
	}
	ret = console_init(&r->con, r->vm.serial, &r->loop, STDIN_FILENO, on_console_quit, r);
	if (ret) {
		err_set(err, false, ret, "cannot attach the console: %s", strerror(-ret));
		goto err_vm;
	}
	if (r->seal) {
		ret = r->seal(c->cfg, err);
		if (ret) {
			err->usage = false;
			goto err_console;
		}
	}
	if (term_raw_enter(STDIN_FILENO))
		log_warn("cannot put the terminal in raw mode; input is line-buffered");
	r->raw_term = term_is_raw();
	ret = vm_start(&r->vm, on_vm_stop, r);
	if (ret) {
		err_set(err, false, ret, "cannot start the vCPUs: %s", strerror(-ret));
		vm_finish(&r->vm);
		goto err_console;
	}
	r->have_vm = true;
	/* A restore that runs at once: its vCPUs run, the guest is told of its new generation. */
	if (c->rs && !c->rs->paused)
		vm_vmgenid_notify(&r->vm);
	/*
	 * What setup freed (libseccomp's compilers, parsed JSON, the loaders'
	 * buffers) goes back to the host rather than staying in the VM's
	 * RSS for its whole life (issue 29).
	 */
	malloc_trim(0);
	/* Started from the API while the loop runs: nothing else is still to come. */
	if (r->in_loop)
		runner_sandbox(r);
	return 0;
err_console:
	console_destroy(&r->con);
	if (r->raw_term)
		term_restore();
	r->raw_term = false;
err_vm:
	vm_destroy(&r->vm);
	return ret;
}

int runner_start_vm(struct runner *r, const struct vm_config *cfg, struct err *err)
{
	struct runner_start c = { r, cfg, NULL };

	return eventloop_run_on(&r->loop, runner_start_fn, &c, err);
}

int runner_restore_vm(struct runner *r, const struct vm_config *cfg,
		      const struct runner_restore *rs, struct err *err)
{
	struct runner_start c = { r, cfg, rs };

	return eventloop_run_on(&r->loop, runner_start_fn, &c, err);
}

void runner_loop(struct runner *r)
{
	r->in_loop = true;
	if (r->have_vm && runner_sandbox(r)) {
		/* No loop after all: what waits for it runs now, later calls are refused. */
		eventloop_close(&r->loop);
		return;
	}
	if (eventloop_run(&r->loop) && r->have_vm)
		vm_request_stop(&r->vm, VM_STOP_FAILURE, "I/O loop failed");
}

int runner_join(struct runner *r)
{
	if (!r->joined) {
		r->code = r->have_vm ? vm_finish(&r->vm) : HEARTH_EXIT_STOPPED;
		/* A signal Firecracker exits on with its own code: that code. */
		if (r->sig_exit)
			r->code = r->sig_exit;
		r->joined = true;
	}
	return r->code;
}

int runner_finish(struct runner *r)
{
	int code = runner_join(r);

	if (r->have_vm) {
		/* The guest's last output goes out in the terminal mode it was written for. */
		console_destroy(&r->con);
		if (r->raw_term)
			term_restore();
		vm_destroy(&r->vm);
		r->have_vm = false;
	}
	runner_signals_destroy(r);
	eventloop_destroy(&r->loop);
	return code;
}
