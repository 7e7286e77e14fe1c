#include "host/host.h"
#include "host/migrate.h"

#include "hearth-config.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/confine.h"
#include "snapshot/snapshot.h"
#include "util/log.h"
#include "util/trim.h"
#include "fcjson/config_json.h"
#include "vmm/logger.h"
#include "vmm/vm.h"
#include "vmm/vm_ram.h"
#include "vmm/vm_patch.h"

/*
 * As Firecracker's periodic metrics, which start with the microVM: a
 * line now, with its devices in it, and the timer armed. On the loop's
 * thread; a line the file did not take is counted there, never the
 * start's failure.
 */
static int metrics_started_fn(void *ctx, struct err *err)
{
	struct host *h = ctx;
	int ret = metrics_started(&h->metrics);

	(void)err;
	if (ret && ret != -ENOENT)
		log_warn("metrics: the line at start was not written: %s", strerror(-ret));
	return 0;
}

static void host_metrics_started(struct host *h)
{
	struct err err = ERR_INIT;

	eventloop_run_on(&h->run.loop, metrics_started_fn, h, &err);
}

/* On the sender's thread: the runner builds and starts the VM on the loop's. */
static int host_start(void *ctx, const struct vm_config *cfg, struct err *err)
{
	struct host *h = ctx;
	int ret = runner_start_vm(&h->run, cfg, err);

	if (!ret)
		host_metrics_started(h);
	return ret;
}

/*
 * Pause and resume only move the vCPUs' run states, which are made for
 * other threads to request; they run on the sender's thread so that the
 * loop never waits for a vCPU that may itself be waiting for the loop.
 * The VM outlives them: no action is sent once host_close joins it.
 */
static int host_pause(void *ctx)
{
	struct host *h = ctx;
	int ret = vm_pause(&h->run.vm);

	/* A vCPU that would not park: the VM runs on rather than stay half paused. */
	if (ret)
		vm_resume(&h->run.vm);
	return ret;
}

static void host_resume(void *ctx)
{
	struct host *h = ctx;

	vm_resume(&h->run.vm);
}

static int host_ctrl_alt_del(void *ctx)
{
	struct host *h = ctx;

	return vm_send_ctrl_alt_del(&h->run.vm);
}

/* vm_patch opens files on the sender's thread and changes the device on the loop's. */
static int host_patch_drive(void *ctx, const struct vm_drive *d, const struct vm_drive_patch *p,
			    struct err *err)
{
	struct host *h = ctx;

	return vm_patch_drive(&h->run.vm, d, p, err);
}

static int host_patch_net(void *ctx, const struct vm_net_patch *p, struct err *err)
{
	struct host *h = ctx;

	return vm_patch_net(&h->run.vm, p, err);
}

static int host_patch_pmem(void *ctx, const struct vm_pmem_patch *p, struct err *err)
{
	return vm_patch_pmem(&((struct host *)ctx)->run.vm, p, err);
}


/* Both on the loop's thread: the timer joins its loop, and a line reads the VM. */
struct metrics_open {
	struct host *h;
	const struct vm_metrics *m;
};

static int metrics_open_fn(void *ctx, struct err *err)
{
	struct metrics_open *c = ctx;
	int ret = metrics_set_labels(&c->h->metrics, c->m->emit_id ? c->h->id : NULL,
				     c->m->properties);

	if (ret)
		return err_set(err, false, ret, "metrics: out of memory");
	ret = metrics_open(&c->h->metrics, c->m->metrics_path, err);

	if (ret)
		return ret;
	/* Armed when the VM starts; made now, while the io thread may still make one. */
	ret = metrics_start_timer(&c->h->metrics, &c->h->run.loop, METRICS_INTERVAL_MS);
	if (ret)
		log_warn("metrics: no periodic flush (timerfd: %s); the start, FlushMetrics and "
			 "exit still write lines", strerror(-ret));
	return 0;
}

static int metrics_flush_fn(void *ctx, struct err *err)
{
	struct host *h = ctx;
	int ret = metrics_flush(&h->metrics);

	if (ret)
		err_set(err, false, ret, "the metrics file did not take the line: %s",
			strerror(-ret));
	return ret;
}

static int host_metrics_open(void *ctx, const struct vm_metrics *m, struct err *err)
{
	struct metrics_open c = { ctx, m };

	return eventloop_run_on(&c.h->run.loop, metrics_open_fn, &c, err);
}

static int host_metrics_flush(void *ctx, struct err *err)
{
	struct host *h = ctx;

	return eventloop_run_on(&h->run.loop, metrics_flush_fn, h, err);
}

/* The VM is paused: the vCPUs' state is read from here, the devices save on the loop. */
static int host_snapshot_create(void *ctx, const struct vm_config *cfg,
				const struct snap_create_req *req, struct err *err)
{
	struct host *h = ctx;

	int ret = snap_create(&h->run.vm, cfg, req, err);

	/* Its pages left the dirty log: a reset then drops all of RAM. */
	h->base_stale = true;
	/* A path the sealed sandbox does not hold: say which flag keeps one. */
	if ((ret == -ENOENT || ret == -EACCES || ret == -EROFS) && sandbox_fs_sealed())
		err_append(err, ret, " (the sandbox is sealed: snapshots go to a directory named "
			   "by --snapshot-dir, or run without the sandbox)");
	return ret;
}

static int host_exit_fn(void *arg, struct err *err)
{
	struct host *h = arg;

	(void)err;
	eventloop_stop(&h->run.loop);
	return 0;
}

static void host_exit(void *ctx, int code)
{
	struct host *h = ctx;
	struct err err = ERR_INIT;

	h->exit_code = code;
	if (eventloop_run_on(&h->run.loop, host_exit_fn, h, &err))
		log_warn("cannot end the I/O loop: %s", err.msg);
}

static int host_snapshot_load(void *ctx, const struct snap_load_req *req, struct vm_config *cfg,
			      struct err *err)
{
	struct host *h = ctx;
	int base = host_base_open(req);
	int ret = snap_load(&h->run, req, cfg, err);

	if (!ret) {
		host_metrics_started(h);
		host_base_take(h, base);
	} else if (base >= 0) {
		close(base);
	}
	return ret;
}

static const struct ctl_vm_ops host_vm_ops = {
	.check_boot_source = host_check_boot_source,
	.check_drive = host_check_drive,
	.check_net = host_check_net,
	.check_cpu_template = host_check_cpu_template,
	.check_vfio = host_check_vfio,
	.start = host_start,
	.pause = host_pause,
	.resume = host_resume,
	.ctrl_alt_del = host_ctrl_alt_del,
	.patch_drive = host_patch_drive,
	.patch_net = host_patch_net,
	.patch_pmem = host_patch_pmem,
	.balloon = host_balloon,
	.hotplug = host_hotplug,
	.plug = host_plug,
	.unplug = host_unplug,
	.metrics_open = host_metrics_open,
	.metrics_flush = host_metrics_flush,
	.snapshot_create = host_snapshot_create,
	.snapshot_load = host_snapshot_load,
	.fork = host_fork,
	.reset = host_reset,
	.migrate = host_mig_out,
	.migrate_incoming = host_mig_in,
	.migrate_get = host_mig_get,
	.migrate_switch = host_mig_switch,
	.migrate_prelude = host_mig_prelude,
	.exit = host_exit,
};

/* Firecracker's signals group: a gauge for each signal it stops on, sigpipe counted. */
static void host_collect_signals(struct host *h, json_t *counters, json_t *gauges)
{
	static const struct {
		int sig;
		const char *name;
	} sigs[] = { { SIGBUS, "sigbus" }, { SIGSEGV, "sigsegv" }, { SIGXFSZ, "sigxfsz" },
		     { SIGXCPU, "sigxcpu" }, { SIGHUP, "sighup" }, { SIGILL, "sigill" } };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (h->run.sig_seen[sigs[i].sig])
			metrics_add(gauges, "signals", sigs[i].name, 1);
	if (h->run.sigpipes)
		metrics_add(counters, "signals", "sigpipe", h->run.sigpipes);
}

/* The metrics' collector: on the loop's thread, which owns the VM (or at exit). */
static void host_collect(void *ctx, json_t *counters, json_t *gauges)
{
	struct host *h = ctx;

	ctl_collect_requests(&h->ctl, counters);
	ctl_collect_latencies(&h->ctl, gauges);
	if (h->run.have_vm)
		metrics_collect_vm(counters, &h->run.vm);
	host_collect_signals(h, counters, gauges);
	if (ctl_mmds(&h->ctl)) {
		uint64_t no_token, invalid_token;

		mmds_token_counts(ctl_mmds(&h->ctl), &no_token, &invalid_token);
		metrics_add(counters, "mmds", "rx_no_token", no_token);
		metrics_add(counters, "mmds", "rx_invalid_token", invalid_token);
	}
	if (h->have_startup)
		metrics_add(gauges, "api_server", "process_startup_time_us", h->startup_us);
	if (h->have_startup_cpu)
		metrics_add(gauges, "api_server", "process_startup_time_cpu_us", h->startup_cpu_us);
}

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
void host_measure_startup(struct host *h, const struct host_opts *o)
{
	uint64_t now;

	if (o->have_start_time) {
		now = clock_us(CLOCK_MONOTONIC);
		h->startup_us = now > o->start_time_us ? now - o->start_time_us : 0;
		h->have_startup = true;
		log_info("process startup took %llu us", (unsigned long long)h->startup_us);
	}
	if (o->have_start_cpu) {
		now = clock_us(CLOCK_PROCESS_CPUTIME_ID);
		h->startup_cpu_us = (now > o->start_time_cpu_us ? now - o->start_time_cpu_us : 0) +
				    o->parent_cpu_time_us;
		h->have_startup_cpu = true;
	}
}

/*
 * The logger and metrics of the command line, then the config file's
 * (which win for the logger, as in Firecracker; metrics are set once),
 * into the model c before the handler takes it. Before anything else
 * runs, so a bad path is exit 2 with nothing started.
 */
static int host_observe_init(struct host *h, const struct host_opts *o, struct vm_config *c,
			     struct err *err)
{
	bool file_logger = c->logger.log_path != NULL;
	const char *mpath = o->metrics_path ? o->metrics_path : c->metrics.metrics_path;
	int ret = 0;

	/* The command line's log file is open already (host_model): only its options. */
	if (!o->logger.log_path)
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
	if (o->metrics_path) {
		struct vm_metrics m = { .metrics_path = (char *)o->metrics_path };

		ret = host_metrics_open(h, &m, err);
		return ret ? ret : vm_config_set_metrics(c, &m, err);
	}
	return host_metrics_open(h, &c->metrics, err);
}

/* Firecracker's first line, which its tooling waits for in the log file. */
static void host_start_line(const struct host_opts *o)
{
	if (o->product)
		log_file(LOG_INFO, "Running %s v%s", o->product, HEARTH_FIRECRACKER_VERSION);
	else
		log_file(LOG_INFO, "Running Hearth v%s (Firecracker's API v%s)", HEARTH_VERSION,
			 HEARTH_FIRECRACKER_VERSION);
}

int host_exit_line(const struct host_opts *o, int code)
{
	const char *who = o->product ? o->product : "Hearth";

	if (code == HEARTH_EXIT_OK)
		log_file(LOG_INFO, "%s exiting successfully. exit_code=0", who);
	else
		log_file(LOG_ERR, "%s exiting with error. exit_code=%d", who, code);
	return code;
}

/*
 * The model the handler starts from: boot (taken over), the config
 * file's, or an empty one for the API to fill; with the command line's
 * --kvm, logger and metrics. On failure the caller releases c.
 */
static int host_model(struct host *h, const struct host_opts *o, struct vm_config *boot,
		      struct vm_config *c, struct err *err)
{
	int ret;

	if (boot) {
		*c = *boot;
		memset(boot, 0, sizeof(*boot));
	} else {
		ctl_model_init(c);
	}
	/*
	 * The command line's log file first, so that what goes wrong from
	 * here (a config file refused) is in it too, as Firecracker has it,
	 * and so is the start line its tooling waits for.
	 */
	if (o->logger.log_path) {
		ret = vm_logger_apply(&o->logger, err);
		if (ret) {
			err->usage = ret != -ENOMEM;
			return ret;
		}
	}
	host_start_line(o);
	if (!boot && o->config_file) {
		ret = config_json_load_file(c, o->config_file, err);
		if (ret) {
			err->usage = true;
			/* Firecracker's words before its error: its tooling looks for them. */
			return o->product ? err_prefix(err, ret, "Configuration for VMM from one single "
						      "json failed: ") : ret;
		}
	}
	if (o->boot_timer)
		c->boot_timer = true;
	if (o->kernel_cache) {
		ret = vm_config_set_kernel_cache(c, o->kernel_cache, err);
		if (ret) {
			err->usage = true;
			return err_prefix(err, ret, "--kernel-cache: ");
		}
	}
	if (o->pci)
		c->pci = true;
	c->fc_rules = o->product != NULL;
	vm_ram_set_merge(o->mem_merge);
	if (o->kvm_path) {
		ret = vm_config_set_kvm_path(c, o->kvm_path, err);
		if (ret) {
			err->usage = true;
			return err_prefix(err, ret, "--kvm: ");
		}
	}
	ret = host_observe_init(h, o, c, err);
	if (ret)
		err->usage = ret != -ENOMEM;
	return ret;
}

int host_open(struct host *h, const struct host_opts *o, struct vm_config *boot,
	      struct err *err)
{
	/* A model to boot now: the command line's, or the config file's. */
	bool start = boot || o->config_file;
	struct ctl_action a = { .type = CTL_INSTANCE_START };
	struct vm_config model;
	int ret;

	trim_zero(h, sizeof(*h));
	h->exit_code = -1;
	h->zygote_fd = o->has_zygote ? o->zygote_fd : -1;
	h->base_fd = -1;
	h->fork_base[0] = h->fork_base[1] = -1;
	h->id = o->id ? o->id : "anonymous-instance";
	log_set_instance(o->id ? o->id : "anonymous-instance");
	ret = runner_init(&h->run, err);
	if (ret)
		return ret;
	/* The process sandbox seals itself once the VM has opened what it needs. */
	h->run.seal = sandbox_seal;
	metrics_init(&h->metrics, host_collect, h);
	/* Firecracker's schema has no room for Hearth's own counters: not under its name. */
	metrics_keep_own(&h->metrics, o->product == NULL);
	ret = host_model(h, o, boot, &model, err);
	if (!ret) {
		ret = ctl_init(&h->ctl, o->id, &model, &host_vm_ops, h);
		if (ret)
			err_set(err, false, ret, "cannot set up the control surface: %s",
				strerror(-ret));
		/* Firecracker's rule under its name; `hearth serve`'s load is check-then-apply. */
		ctl_set_load_failure_fatal(&h->ctl, o->product != NULL);
	}
	if (ret) {
		vm_config_release(&model);
		goto err_run;
	}
	/* Its thread before anything seals (a sealed thread makes none). */
	if (o->migrate) {
		ret = host_mig_start(h, o->migrate_tls, err);
		if (ret)
			goto err_ctl;
	}
	if (o->mmds_size_limit || o->metadata || o->metadata_text) {
		ret = host_mmds(h, o, err);
		if (ret) {
			h->failed_building = true;
			goto err_ctl;
		}
	}
	/*
	 * `hearth restore` loads as PUT /snapshot/load does; a given model
	 * boots as InstanceStart does; both before the API serves, which then
	 * reports the state from the start.
	 */
	if (o->restore) {
		a.type = CTL_SNAPSHOT_LOAD;
		a.load = *o->restore;
	}
	if (o->restore || start) {
		ret = ctl_handle(&h->ctl, &a, NULL, err);
		if (ret && o->product && o->config_file && !o->restore)
			err_prefix(err, ret, "Building VMM configured from cmdline json failed: ");
		if (ret)
			goto err_ctl;
		if (o->product && o->config_file && !o->restore)
			log_info("Successfully started microvm that was configured from one single "
				 "json");
	}
	return 0;
err_ctl:
	host_mig_stop(h);
	ctl_destroy(&h->ctl);
err_run:
	metrics_destroy(&h->metrics);
	runner_finish(&h->run);
	return ret;
}

void host_run(struct host *h)
{
	runner_loop(&h->run);
}

int host_close(struct host *h, int code)
{
	int ret;

	/* Its connection cut and its thread joined first: it acts on the VM and the handler. */
	host_mig_stop(h);
	ret = runner_join(&h->run);
	if (code < 0)
		code = h->exit_code >= 0 ? h->exit_code : ret;
	/* The last metrics line, with the VM's final counts: its vCPUs are joined, its devices there. */
	if (metrics_configured(&h->metrics)) {
		ret = metrics_flush(&h->metrics);
		if (ret)
			log_warn("metrics: the last line was not written: %s", strerror(-ret));
	}
	ctl_destroy(&h->ctl);
	metrics_destroy(&h->metrics);
	runner_finish(&h->run);
	if (h->base_fd >= 0)
		close(h->base_fd);
	host_fork_forget(h);
	return code;
}
