#include "api/serve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/server.h"
#include "control/control.h"
#include "util/log.h"
#include "vmm/config_json.h"
#include "vmm/logger.h"
#include "vmm/metrics.h"
#include "vmm/runner.h"
#include "vmm/vm.h"
#include "vmm/vm_patch.h"

struct serve {
	const struct serve_snap_hooks *snap;
	struct runner run;          /* the loop, signals, console and VM (src/vmm) */
	struct ctl ctl;             /* the control surface: run state, model, rules */
	struct api_server *srv;
	struct metrics metrics;     /* flushed on the loop's thread */
	/* Firecracker's startup reporting (--start-time-us ...), as metrics gauges. */
	bool have_startup, have_startup_cpu;
	uint64_t startup_us, startup_cpu_us;
};

static int serve_vm_start(void *ctx, const struct vm_config *cfg, struct err *err)
{
	struct serve *s = ctx;

	return runner_start_vm(&s->run, cfg, err);
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

	int ret = vm_pause(&s->run.vm);

	/* A vCPU that would not park: the VM runs on rather than stay half paused. */
	if (ret)
		vm_resume(&s->run.vm);
	return ret;
}

static void serve_vm_resume(void *ctx)
{
	struct serve *s = ctx;

	vm_resume(&s->run.vm);
}

static int serve_vm_ctrl_alt_del(void *ctx)
{
	struct serve *s = ctx;

	return vm_send_ctrl_alt_del(&s->run.vm);
}

/* On the api thread: vm_patch opens files here and changes devices on the loop. */
static int serve_vm_patch_drive(void *ctx, const struct vm_drive *d,
				const struct vm_drive_patch *p, struct err *err)
{
	return vm_patch_drive(&((struct serve *)ctx)->run.vm, d, p, err);
}

static int serve_vm_patch_net(void *ctx, const struct vm_net_patch *p, struct err *err)
{
	return vm_patch_net(&((struct serve *)ctx)->run.vm, p, err);
}

/* The metrics' collector: on the loop's thread, which owns the VM (or at exit). */
static void serve_collect(void *ctx, json_t *counters, json_t *gauges)
{
	struct serve *s = ctx;

	ctl_metrics(&s->ctl, counters);
	if (s->run.have_vm)
		metrics_collect_vm(counters, &s->run.vm);
	if (s->have_startup)
		metrics_add(gauges, "api_server", "process_startup_time_us", s->startup_us);
	if (s->have_startup_cpu)
		metrics_add(gauges, "api_server", "process_startup_time_cpu_us", s->startup_cpu_us);
}

/* Both on the loop's thread: the timer joins its loop, and lines read the VM. */
struct metrics_open {
	struct serve *s;
	const char *path;
};

static int serve_metrics_open_fn(void *ctx, struct err *err)
{
	struct metrics_open *c = ctx;
	int ret = metrics_open(&c->s->metrics, c->path, err);

	if (ret)
		return ret;
	ret = metrics_start_timer(&c->s->metrics, &c->s->run.loop, METRICS_INTERVAL_MS);
	if (ret)
		log_warn("metrics: no periodic flush (timerfd: %s); FlushMetrics and exit still "
			 "write lines", strerror(-ret));
	return 0;
}

static int serve_metrics_flush_fn(void *ctx, struct err *err)
{
	struct serve *s = ctx;
	int ret = metrics_flush(&s->metrics);

	if (ret)
		err_set(err, false, ret, "the metrics file did not take the line: %s",
			strerror(-ret));
	return ret;
}

static int serve_metrics_open(void *ctx, const char *path, struct err *err)
{
	struct metrics_open c = { ctx, path };

	return eventloop_run_on(&c.s->run.loop, serve_metrics_open_fn, &c, err);
}

static int serve_metrics_flush(void *ctx, struct err *err)
{
	struct serve *s = ctx;

	return eventloop_run_on(&s->run.loop, serve_metrics_flush_fn, s, err);
}

/*
 * On the api thread, under the API's lock, with the VM paused: the
 * vCPUs are parked and the io thread idle, so the long writes of the
 * memory file stall no guest work and no vCPU waits for this thread.
 */
static int serve_snapshot_create(void *ctx, const struct vm_config *cfg,
				 const struct snap_create_req *req, struct err *err)
{
	struct serve *s = ctx;

	if (!s->snap)
		return err_set(err, true, -EOPNOTSUPP, "snapshots are not supported by this "
			       "instance");
	return s->snap->create(&s->run.vm, cfg, req, err);
}

static int serve_snapshot_load(void *ctx, const struct snap_load_req *req,
			       struct vm_config *cfg, struct err *err)
{
	struct serve *s = ctx;

	if (!s->snap)
		return err_set(err, true, -EOPNOTSUPP, "snapshots are not supported by this "
			       "instance");
	return s->snap->load(&s->run, req, cfg, err);
}

static const struct ctl_vm_ops serve_vm_ops = {
	.snapshot_create = serve_snapshot_create,
	.snapshot_load = serve_snapshot_load,
	.start = serve_vm_start,
	.pause = serve_vm_pause,
	.resume = serve_vm_resume,
	.ctrl_alt_del = serve_vm_ctrl_alt_del,
	.patch_drive = serve_vm_patch_drive,
	.patch_net = serve_vm_patch_net,
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
static int serve_observe_init(struct serve *s, const struct serve_opts *o, struct err *err)
{
	struct vm_config *c = &s->ctl.cfg;
	bool file_logger = c->logger.log_path != NULL;
	const char *mpath = o->metrics_path ? o->metrics_path : c->metrics.metrics_path;
	int ret;

	ret = vm_logger_apply(&o->logger, err);
	if (!ret && file_logger)
		ret = vm_logger_apply(&c->logger, err);
	else if (!ret && (o->logger.log_path || o->level_set || o->logger.show_level ||
			  o->logger.show_log_origin))
		ret = vm_config_set_logger(c, &o->logger, err);
	if (ret)
		return ret;
	if (o->metrics_path && c->metrics.metrics_path)
		return err_set(err, true, -EINVAL, "metrics are configured twice: --metrics-path "
			       "and %s's \"metrics\"", o->config_file);
	if (!mpath)
		return 0;
	ret = serve_metrics_open(s, mpath, err);
	if (!ret && o->metrics_path)
		ret = vm_config_set_metrics(c, mpath, err);
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

int serve_run(const struct serve_opts *o, struct vm_config *boot)
{
	struct err err = ERR_INIT;
	struct vm_config cfg;
	struct serve s = { 0 };
	int code = HEARTH_EXIT_FAILURE;
	int ret;

	s.snap = o->snap;
	log_set_instance(o->id ? o->id : "anonymous-instance");
	if (runner_init(&s.run, &err)) {
		log_err("%s", err.msg);
		return HEARTH_EXIT_FAILURE;
	}
	metrics_init(&s.metrics, serve_collect, &s);
	if (o->config_file && !boot) {
		vm_config_init(&cfg);
		ret = config_json_load_file(&cfg, o->config_file, &err);
		if (ret) {
			log_err("%s", err.msg);
			vm_config_release(&cfg);
			code = HEARTH_EXIT_USAGE;
			goto err_run;
		}
		boot = &cfg;
	}
	ret = ctl_init(&s.ctl, o->id, boot, &serve_vm_ops, &s);
	if (boot)
		vm_config_release(boot);
	if (ret)
		goto err_run;
	if (o->kvm_path && vm_config_set_kvm_path(&s.ctl.cfg, o->kvm_path, &err)) {
		log_err("--kvm: %s", err.msg);
		code = HEARTH_EXIT_USAGE;
		goto err_ctl;
	}
	ret = serve_observe_init(&s, o, &err);
	if (ret) {
		log_err("%s", err.msg);
		code = ret == -ENOMEM ? HEARTH_EXIT_FAILURE : HEARTH_EXIT_USAGE;
		goto err_ctl;
	}
	if (o->restore || boot) {
		/*
		 * `hearth restore` loads as PUT /snapshot/load does; a VM from the
		 * command line or the config file boots as InstanceStart does. Both
		 * before the API serves, which then reports the state from the start.
		 */
		struct ctl_action a = { .type = CTL_INSTANCE_START };
		struct err verr = { .usage = true, .msg = "" };

		if (o->restore) {
			a.type = CTL_SNAPSHOT_LOAD;
			a.load = *o->restore;
		}
		if (ctl_handle(&s.ctl, &a, NULL, &verr)) {
			log_err("%s", verr.msg);
			code = verr.usage ? HEARTH_EXIT_USAGE : HEARTH_EXIT_FAILURE;
			goto err_ctl;
		}
	}
	if (!o->no_api) {
		ret = api_server_start(&s.srv, o->api_sock, &s.ctl, o->max_payload, &err);
		if (ret) {
			log_err("%s", err.msg);
			code = ret == -EEXIST || ret == -EINVAL ? HEARTH_EXIT_USAGE
								: HEARTH_EXIT_FAILURE;
			/* A VM booted from the config is stopped and joined by runner_join. */
			goto err_api;
		}
		log_info("serving the API on %s", o->api_sock);
		serve_startup_times(&s, o);
	}
	runner_loop(&s.run);
	code = -1;
err_api:
	/* No request may touch the VM from here on. */
	api_server_stop(s.srv);
	ret = runner_join(&s.run);
	if (code < 0)
		code = ret;
	/* The last metrics line, with the VM's final counts: its vCPUs are joined, its devices there. */
	serve_metrics_final(&s);
err_ctl:
	ctl_destroy(&s.ctl);
err_run:
	metrics_destroy(&s.metrics);
	ret = runner_finish(&s.run);
	return code < 0 ? ret : code;
}
