#include "api/serve.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "api/controller.h"
#include "api/json_config.h"
#include "api/observe.h"
#include "api/server.h"
#include "core/eventloop.h"
#include "util/log.h"
#include "vmm/cli.h"
#include "vmm/console.h"
#include "vmm/logger.h"
#include "vmm/metrics.h"
#include "vmm/vm.h"

struct serve {
	struct eventloop loop;      /* the process's; the VM adds its fds to it */
	struct vm vm;
	bool have_vm;               /* set on the loop's thread by serve_start_fn */
	struct console con;
	int sig_fd;
	bool signalled;
	struct api_ctl ctl;
	struct api_server *srv;
	struct metrics metrics;     /* flushed on the loop's thread */
	/* Firecracker's startup reporting (--start-time-us ...), as metrics gauges. */
	bool have_startup, have_startup_cpu;
	uint64_t startup_us, startup_cpu_us;
};

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

/* The metrics' collector: on the loop's thread, which owns the VM (or at exit). */
static void serve_collect(void *ctx, json_t *counters, json_t *gauges)
{
	struct serve *s = ctx;

	api_ctl_metrics(&s->ctl, counters);
	if (s->have_vm)
		metrics_collect_vm(counters, &s->vm);
	if (s->have_startup)
		metrics_add(gauges, "api_server", "process_startup_time_us", s->startup_us);
	if (s->have_startup_cpu)
		metrics_add(gauges, "api_server", "process_startup_time_cpu_us", s->startup_cpu_us);
}

struct metrics_call {
	struct serve *s;
	const char *path;   /* NULL: flush */
	char *err;
	size_t errlen;
	int ret;
};

/* Both on the loop's thread: the timer joins its loop, and lines read the VM. */
static void serve_metrics_fn(void *arg)
{
	struct metrics_call *c = arg;
	int ret;

	if (!c->path) {
		c->ret = metrics_flush(&c->s->metrics);
		if (c->ret)
			snprintf(c->err, c->errlen, "the metrics file did not take the line: %s",
				 strerror(-c->ret));
		return;
	}
	c->ret = metrics_open(&c->s->metrics, c->path, c->err, c->errlen);
	if (c->ret)
		return;
	ret = metrics_start_timer(&c->s->metrics, &c->s->loop, METRICS_INTERVAL_MS);
	if (ret)
		log_warn("metrics: no periodic flush (timerfd: %s); FlushMetrics and exit still "
			 "write lines", strerror(-ret));
}

static int serve_metrics_open(void *ctx, const char *path, char *err, size_t errlen)
{
	struct metrics_call c = { ctx, path, err, errlen, 0 };

	eventloop_call_sync(&((struct serve *)ctx)->loop, serve_metrics_fn, &c);
	return c.ret;
}

static int serve_metrics_flush(void *ctx, char *err, size_t errlen)
{
	struct metrics_call c = { ctx, NULL, err, errlen, 0 };

	eventloop_call_sync(&((struct serve *)ctx)->loop, serve_metrics_fn, &c);
	return c.ret;
}

static const struct api_vm_ops serve_vm_ops = {
	.start = serve_vm_start,
	.pause = serve_vm_pause,
	.resume = serve_vm_resume,
	.metrics_open = serve_metrics_open,
	.metrics_flush = serve_metrics_flush,
};

static uint64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * As Firecracker: --start-time-us is the monotonic clock when the parent
 * (a jailer) started us, --start-time-cpu-us our CPU time then, and
 * --parent-cpu-time-us what the parent spent; measured once the API serves.
 */
static void serve_startup_times(struct serve *s, const struct serve_opts *o)
{
	uint64_t now;

	if (o->have_start_time) {
		now = clock_us(CLOCK_MONOTONIC);
		s->startup_us = now > o->start_time_us ? now - o->start_time_us : 0;
		s->have_startup = true;
		log_info("process startup took %llu us", (unsigned long long)s->startup_us);
	}
	if (o->have_start_cpu) {
		now = clock_us(CLOCK_PROCESS_CPUTIME_ID);
		s->startup_cpu_us = (now > o->start_time_cpu_us ? now - o->start_time_cpu_us : 0) +
				    o->parent_cpu_time_us;
		s->have_startup_cpu = true;
	}
}

/*
 * The logger and metrics of the command line, then the config file's
 * (which win for the logger, as in Firecracker; metrics are set once).
 * Before anything else runs, so a bad path is exit 2 with nothing started.
 */
static int serve_observe_init(struct serve *s, const struct serve_opts *o, char *err,
			      size_t errlen)
{
	struct vm_config *c = &s->ctl.cfg;
	bool file_logger = c->logger.log_path != NULL;
	const char *mpath = o->metrics_path ? o->metrics_path : c->metrics.metrics_path;
	int ret;

	ret = vm_logger_apply(&o->logger, err, errlen);
	if (!ret && file_logger)
		ret = vm_logger_apply(&c->logger, err, errlen);
	else if (!ret && (o->logger.log_path || o->level_set || o->logger.show_level ||
			  o->logger.show_log_origin))
		ret = vm_config_set_logger(c, &o->logger, err, errlen);
	if (ret)
		return ret;
	if (o->metrics_path && c->metrics.metrics_path) {
		snprintf(err, errlen, "metrics are configured twice: --metrics-path and %s's "
			 "\"metrics\"", o->config_file);
		return -EINVAL;
	}
	if (!mpath)
		return 0;
	ret = serve_metrics_open(s, mpath, err, errlen);
	if (!ret && o->metrics_path)
		ret = vm_config_set_metrics(c, mpath, err, errlen);
	return ret;
}

/* The last line, with the VM's final counts (its vCPUs are joined, its devices still there). */
static void serve_metrics_final(struct serve *s)
{
	int ret;

	if (!metrics_configured(&s->metrics))
		return;
	ret = metrics_flush(&s->metrics);
	if (ret)
		log_warn("metrics: the last line was not written: %s", strerror(-ret));
}

int serve_run(const struct serve_opts *o)
{
	struct serve s = { .sig_fd = -1 };
	char err[VM_CONFIG_ERR_MAX + 512];
	struct vm_config cfg;
	int code = HEARTH_EXIT_FAILURE;
	int ret;

	pthread_setname_np(pthread_self(), "io");
	metrics_init(&s.metrics, serve_collect, &s);
	log_set_instance(o->id ? o->id : "anonymous-instance");
	if (eventloop_init(&s.loop)) {
		log_err("cannot create the event loop: %s", strerror(errno));
		metrics_destroy(&s.metrics);
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
	ret = serve_observe_init(&s, o, err, sizeof(err));
	if (ret) {
		log_err("%s", err);
		code = ret == -ENOMEM ? HEARTH_EXIT_FAILURE : HEARTH_EXIT_USAGE;
		goto err_ctl;
	}
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
		serve_startup_times(&s, o);
	}
	if (eventloop_run(&s.loop) && s.have_vm)
		vm_request_stop(&s.vm, VM_STOP_FAILURE, "I/O loop failed");
	code = HEARTH_EXIT_STOPPED;
err_vm:
	/* No request may touch the VM from here on. */
	api_server_stop(s.srv);
	if (s.have_vm)
		code = vm_finish(&s.vm);
	serve_metrics_final(&s);
	if (s.have_vm) {
		console_destroy(&s.con);
		vm_destroy(&s.vm);
	}
err_ctl:
	api_ctl_destroy(&s.ctl);
err_loop:
	metrics_destroy(&s.metrics);
	if (s.sig_fd >= 0) {
		eventloop_remove(&s.loop, s.sig_fd);
		close(s.sig_fd);
	}
	eventloop_destroy(&s.loop);
	return code;
}
