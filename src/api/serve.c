#include "api/serve.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "api/controller.h"
#include "api/json_config.h"
#include "api/server.h"
#include "core/eventloop.h"
#include "util/log.h"
#include "vmm/cli.h"
#include "vmm/console.h"
#include "vmm/vm.h"
#include "vmm/vm_patch.h"

struct serve {
	struct eventloop loop;      /* the process's; the VM adds its fds to it */
	struct vm vm;
	bool have_vm;               /* set on the loop's thread by serve_start_fn */
	struct console con;
	int sig_fd;
	bool signalled;
	struct api_ctl ctl;
	struct api_server *srv;
};

void serve_usage(FILE *out)
{
	fprintf(out,
		"Usage: hearth serve --api-sock PATH [--config-file FILE] [--id ID]\n"
		"                    [--http-api-max-payload-size BYTES] [-v | -q]\n"
		"       hearth serve --no-api --config-file FILE [--id ID] [-v | -q]\n"
		"\n"
		"Serves Firecracker's HTTP API on the Unix socket PATH; the guest's COM1 is this\n"
		"process's stdin and stdout. --config-file boots the VM it describes (Firecracker's\n"
		"config file: the JSON of GET /vm/config) at once. --id names the instance\n"
		"(1 to 64 letters, digits and '-'). Request bodies are limited to BYTES (default %d).\n"
		"\n"
		"Exit codes: as 'hearth run' once a VM ran; 2 bad usage or a bad config file;\n"
		"            3 stopped by SIGINT, SIGTERM or SIGHUP (with or without a VM).\n",
		API_DEFAULT_MAX_PAYLOAD);
}

int serve_parse(int argc, char **argv, struct serve_opts *o, char *err, size_t errlen)
{
	memset(o, 0, sizeof(*o));
	o->max_payload = API_DEFAULT_MAX_PAYLOAD;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			o->help = true;
			return 0;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			o->verbose = 1;
			continue;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			o->verbose = -1;
			continue;
		} else if (!strcmp(a, "--no-api")) {
			o->no_api = true;
			continue;
		}
		const char *max = NULL;

		if (!strcmp(a, "--api-sock"))
			slot = &o->api_sock;
		else if (!strcmp(a, "--config-file"))
			slot = &o->config_file;
		else if (!strcmp(a, "--id"))
			slot = &o->id;
		else if (!strcmp(a, "--http-api-max-payload-size"))
			slot = &max;
		if (!slot) {
			snprintf(err, errlen, "unknown option '%s' for serve (see 'hearth serve "
				 "--help')", a);
			return -EINVAL;
		}
		if (i + 1 >= argc) {
			snprintf(err, errlen, "option '%s' needs a value", a);
			return -EINVAL;
		}
		*slot = argv[++i];
		if (max) {
			uint64_t v;

			if (cli_parse_uint(max, 1, 1ull << 30, &v)) {
				snprintf(err, errlen, "--http-api-max-payload-size '%.64s': want 1 to "
					 "%llu bytes", max, 1ull << 30);
				return -EINVAL;
			}
			o->max_payload = (size_t)v;
		}
	}
	if (o->id && api_ctl_check_id(o->id, err, errlen))
		return -EINVAL;
	if (o->no_api && !o->config_file) {
		snprintf(err, errlen, "--no-api needs --config-file: nothing would configure the VM");
		return -EINVAL;
	}
	if (o->no_api && o->api_sock) {
		snprintf(err, errlen, "--no-api and --api-sock exclude each other");
		return -EINVAL;
	}
	if (!o->no_api && !o->api_sock) {
		snprintf(err, errlen, "serve needs --api-sock PATH (or --no-api --config-file FILE)");
		return -EINVAL;
	}
	return 0;
}

static void on_vm_stop(void *ctx)
{
	struct serve *s = ctx;

	eventloop_stop(&s->loop);
}

static void on_console_quit(void *ctx)
{
	struct serve *s = ctx;

	vm_request_stop(&s->vm, VM_STOP_HOST, "Ctrl-A x");
}

static void on_signal(void *opaque, uint32_t events)
{
	struct serve *s = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(s->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	s->signalled = true;
	if (s->have_vm)
		vm_request_stop(&s->vm, VM_STOP_HOST, strsignal((int)si.ssi_signo));
	else
		eventloop_stop(&s->loop);
}

/* As in `hearth run`: only the loop's thread sees SIGINT/SIGTERM/SIGHUP. */
static int serve_signals(struct serve *s)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	s->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sig_fd < 0)
		return -errno;
	return eventloop_add(&s->loop, s->sig_fd, EPOLLIN, on_signal, s);
}

struct start_call {
	struct serve *s;
	const struct vm_config *cfg;
	struct vm_error *err;
	int ret;
};

/* On the loop's thread: the VM's fds join the loop with nothing else running there. */
static void serve_start_fn(void *arg)
{
	struct start_call *c = arg;
	struct serve *s = c->s;

	c->ret = vm_create(&s->vm, c->cfg, &s->loop, c->err);
	if (c->ret)
		return;
	c->ret = console_init(&s->con, s->vm.serial, &s->loop, STDIN_FILENO, on_console_quit, s);
	if (c->ret) {
		snprintf(c->err->msg, sizeof(c->err->msg), "cannot attach the console: %s",
			 strerror(-c->ret));
		c->err->usage = false;
		goto err_vm;
	}
	c->ret = vm_start(&s->vm, on_vm_stop, s);
	if (c->ret) {
		snprintf(c->err->msg, sizeof(c->err->msg), "cannot start the vCPUs: %s",
			 strerror(-c->ret));
		c->err->usage = false;
		vm_finish(&s->vm);
		console_destroy(&s->con);
		goto err_vm;
	}
	s->have_vm = true;
	return;
err_vm:
	vm_destroy(&s->vm);
}

static int serve_vm_start(void *ctx, const struct vm_config *cfg, struct vm_error *err)
{
	struct start_call c = { ctx, cfg, err, 0 };

	eventloop_call_sync(&((struct serve *)ctx)->loop, serve_start_fn, &c);
	return c.ret;
}

/*
 * Pause and resume only move the vCPUs' run states, which are made for
 * other threads to request; they run on the api thread so that the loop
 * never waits for a vCPU that may itself be waiting for the loop. The VM
 * outlives them: serve_run stops the api thread before vm_finish.
 */
static int serve_vm_pause(void *ctx)
{
	struct serve *s = ctx;

	return vm_pause(&s->vm);
}

static void serve_vm_resume(void *ctx)
{
	struct serve *s = ctx;

	vm_resume(&s->vm);
}

/* On the api thread: vm_patch opens files here and changes devices on the loop. */
static int serve_vm_patch_drive(void *ctx, const struct vm_drive *d,
				const struct vm_drive_patch *p, char *err, size_t errlen)
{
	return vm_patch_drive(&((struct serve *)ctx)->vm, d, p, err, errlen);
}

static int serve_vm_patch_net(void *ctx, const struct vm_net_patch *p, char *err, size_t errlen)
{
	return vm_patch_net(&((struct serve *)ctx)->vm, p, err, errlen);
}

static const struct api_vm_ops serve_vm_ops = {
	.start = serve_vm_start,
	.pause = serve_vm_pause,
	.resume = serve_vm_resume,
	.patch_drive = serve_vm_patch_drive,
	.patch_net = serve_vm_patch_net,
};

int serve_run(const struct serve_opts *o)
{
	struct serve s = { .sig_fd = -1 };
	char err[VM_CONFIG_ERR_MAX + 512];
	struct vm_config cfg;
	int code = HEARTH_EXIT_FAILURE;
	int ret;

	pthread_setname_np(pthread_self(), "io");
	if (eventloop_init(&s.loop)) {
		log_err("cannot create the event loop: %s", strerror(errno));
		return HEARTH_EXIT_FAILURE;
	}
	ret = serve_signals(&s);
	if (ret) {
		log_err("cannot set up signal handling: %s", strerror(-ret));
		goto err_loop;
	}
	if (o->config_file) {
		vm_config_init(&cfg);
		ret = json_config_load_file(&cfg, o->config_file, err, sizeof(err));
		if (ret) {
			log_err("%s", err);
			vm_config_release(&cfg);
			code = HEARTH_EXIT_USAGE;
			goto err_loop;
		}
	}
	ret = api_ctl_init(&s.ctl, o->id, o->config_file ? &cfg : NULL, &serve_vm_ops, &s);
	if (o->config_file)
		vm_config_release(&cfg);
	if (ret)
		goto err_loop;
	if (o->config_file) {
		/* Booted before the API serves: it then reports "Running" from the start. */
		struct vm_error verr = { .usage = true, .msg = "" };

		if (serve_vm_start(&s, &s.ctl.cfg, &verr)) {
			log_err("%s", verr.msg);
			code = verr.usage ? HEARTH_EXIT_USAGE : HEARTH_EXIT_FAILURE;
			goto err_ctl;
		}
		s.ctl.state = API_RUNNING;
	}
	if (!o->no_api) {
		ret = api_server_start(&s.srv, o->api_sock, &s.ctl, o->max_payload, err,
				       sizeof(err));
		if (ret) {
			log_err("%s", err);
			code = ret == -EEXIST || ret == -EINVAL ? HEARTH_EXIT_USAGE
								: HEARTH_EXIT_FAILURE;
			goto err_vm;
		}
		log_info("serving the API on %s", o->api_sock);
	}
	if (eventloop_run(&s.loop) && s.have_vm)
		vm_request_stop(&s.vm, VM_STOP_FAILURE, "I/O loop failed");
	code = HEARTH_EXIT_STOPPED;
err_vm:
	/* No request may touch the VM from here on. */
	api_server_stop(s.srv);
	if (s.have_vm) {
		code = vm_finish(&s.vm);
		console_destroy(&s.con);
		vm_destroy(&s.vm);
	}
err_ctl:
	api_ctl_destroy(&s.ctl);
err_loop:
	if (s.sig_fd >= 0) {
		eventloop_remove(&s.loop, s.sig_fd);
		close(s.sig_fd);
	}
	eventloop_destroy(&s.loop);
	return code;
}
