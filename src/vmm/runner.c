#include "vmm/runner.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/eventloop.h"
#include "util/log.h"
#include "util/term.h"
#include "vmm/console.h"
#include "vmm/vm.h"

struct runner {
	struct eventloop loop;      /* the process's: the VM only adds its fds */
	struct vm vm;
	bool have_vm;
	int sig_fd;
};

static void on_signal(void *opaque, uint32_t events)
{
	struct runner *r = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(r->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (r->have_vm)
		vm_request_stop(&r->vm, VM_STOP_HOST, strsignal((int)si.ssi_signo));
	else
		eventloop_stop(&r->loop);
}

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

/*
 * SIGINT/SIGTERM/SIGHUP arrive through a signalfd on the loop; threads
 * created later (vCPUs) inherit the mask, so only the loop sees them.
 */
static int runner_signals(struct runner *r)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	r->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (r->sig_fd < 0)
		return -errno;
	return eventloop_add(&r->loop, r->sig_fd, EPOLLIN, on_signal, r);
}

int runner_run(const struct vm_config *cfg)
{
	struct runner r = { .sig_fd = -1 };
	struct vm_error err;
	struct console con;
	int code = HEARTH_EXIT_FAILURE;
	int ret;

	pthread_setname_np(pthread_self(), "io");
	if (eventloop_init(&r.loop)) {
		log_err("cannot create the event loop: %s", strerror(errno));
		return HEARTH_EXIT_FAILURE;
	}
	ret = runner_signals(&r);
	if (ret) {
		log_err("cannot set up signal handling: %s", strerror(-ret));
		goto err_loop;
	}
	ret = vm_create(&r.vm, cfg, &r.loop, &err);
	if (ret) {
		log_err("%s", err.msg);
		code = err.usage ? HEARTH_EXIT_USAGE : HEARTH_EXIT_FAILURE;
		goto err_loop;
	}
	r.have_vm = true;
	ret = console_init(&con, r.vm.serial, &r.loop, STDIN_FILENO, on_console_quit, &r);
	if (ret) {
		log_err("cannot attach the console: %s", strerror(-ret));
		goto err_vm;
	}
	if (term_raw_enter(STDIN_FILENO))
		log_warn("cannot put the terminal in raw mode; input is line-buffered");
	ret = vm_start(&r.vm, on_vm_stop, &r);
	if (!ret && eventloop_run(&r.loop))
		vm_request_stop(&r.vm, VM_STOP_FAILURE, "I/O loop failed");
	code = vm_finish(&r.vm);
	/* The guest's last output goes out in the terminal mode it was written for. */
	console_destroy(&con);
	term_restore();
err_vm:
	vm_destroy(&r.vm);
err_loop:
	if (r.sig_fd >= 0) {
		eventloop_remove(&r.loop, r.sig_fd);
		close(r.sig_fd);
	}
	eventloop_destroy(&r.loop);
	return code;
}
