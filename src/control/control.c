/* The action handler: its table of what is legal when, and the actions of the run itself. */
#include "control/control.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "control/model.h"
#include "hearth-config.h"
#include "fcjson/config_json.h"
#include "util/log.h"
#include "util/trim.h"
#include "vmm/metrics.h"
#include "vmm/refusal.h"

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* An action that succeeded took this long since start: which is 0 (the request) or 1 (the VM). */
static void took(struct ctl *ctl, int which, enum ctl_latency l, uint64_t start)
{
	if (l < CTL_NLAT)
		__atomic_store_n(&ctl->latency_us[which][l], now_us() - start, __ATOMIC_RELAXED);
}

/* A read's answer; a missing one is the host's failure (the API's 500). */
static int answer(json_t *o, json_t **out, struct err *err)
{
	*out = o;
	return o ? 0 : err_set(err, false, -ENOMEM, "out of memory");
}

static int get_info(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	/* Firecracker's InstanceInfo; app_name says who answers ("hearth 0.1.0"). */
	return answer(json_pack("{s:s, s:s, s:s, s:s+}", "id", ctl->id, "state",
				ctl_state_name(ctl->state), "vmm_version",
				HEARTH_FIRECRACKER_VERSION, "app_name", "hearth ", HEARTH_VERSION),
		      out, err);
}

static int get_version(struct ctl *ctl, const struct ctl_action *a, json_t **out,
		       struct err *err)
{
	return answer(json_pack("{s:s}", "firecracker_version", HEARTH_FIRECRACKER_VERSION), out,
		      err);
}

static int get_machine(struct ctl *ctl, const struct ctl_action *a, json_t **out,
		       struct err *err)
{
	return answer(config_json_dump_machine(&ctl->cfg), out, err);
}

static int get_config(struct ctl *ctl, const struct ctl_action *a, json_t **out,
		      struct err *err)
{
	json_t *o = config_json_dump_full(&ctl->cfg);

	/* Firecracker's schema refuses any key it does not list: its swagger has no "pci". */
	if (o && ctl->cfg.fc_rules)
		json_object_del(o, "pci");
	return answer(o, out, err);
}

static int start(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	int ret = vm_config_check_bootable(&ctl->cfg, err);

	if (ret)
		return ret;
	err->msg[0] = '\0';
	ret = ctl->vm->start(ctl->vm_ctx, &ctl->cfg, err);
	if (ret)
		return err->msg[0] ? ret : err_set(err, false, ret, "%s", strerror(-ret));
	ctl->state = CTL_RUNNING;
	return 0;
}

static int ctrl_alt_del(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			struct err *err)
{
	int ret = ctl->vm->ctrl_alt_del(ctl->vm_ctx);

	if (ret == -ENOSPC)
		err_set(err, false, ret, "SendCtrlAltDel: the guest is not reading its keyboard "
			"(the i8042's queue is full); is i8042/atkbd in the guest kernel?");
	else if (ret)
		err_set(err, false, ret, "SendCtrlAltDel failed: %s", strerror(-ret));
	return ret;
}

static int flush_metrics(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			 struct err *err)
{
	if (!ctl->cfg.metrics.metrics_path)
		return err_set(err, true, -EINVAL, "FlushMetrics: metrics are not configured (PUT "
			       "/metrics or --metrics-path)");
	if (ctl->vm->metrics_flush(ctl->vm_ctx, err))
		return err_prefix(err, -EINVAL, "FlushMetrics: ");
	return 0;
}

/* Asking for the state the VM is in is a no-op, as in Firecracker. */
int ctl_pause(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	uint64_t start = now_us();
	int ret = ctl->state == CTL_PAUSED ? 0 : ctl->vm->pause(ctl->vm_ctx);

	if (!ret)
		took(ctl, 1, CTL_LAT_PAUSE, start);
	if (ret == -EBUSY)
		return err_set(err, false, ret, "cannot pause the microVM: a disk's requests in "
			       "flight did not complete in time (see the log); the microVM runs "
			       "on, try again");
	if (ret == -ETIMEDOUT)
		return err_set(err, false, ret, "cannot pause the microVM: a vCPU did not stop "
			       "in time; the microVM runs on");
	if (ret)
		return err_set(err, false, ret, "cannot pause the microVM: %s", strerror(-ret));
	ctl->state = CTL_PAUSED;
	return 0;
}

int ctl_resume(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	uint64_t start = now_us();

	if (ctl->state == CTL_PAUSED)
		ctl->vm->resume(ctl->vm_ctx);
	took(ctl, 1, CTL_LAT_RESUME, start);
	ctl->state = CTL_RUNNING;
	return 0;
}

/*
 * On the sender's thread with the VM paused: the vCPUs are parked and the
 * io thread idle, so the long writes of the memory file stall no guest
 * work and no vCPU waits for this thread.
 */
static int snapshot_create(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			   struct err *err)
{
	uint64_t start = now_us();
	char why[512];
	int ret;


	/* Refused before a file is touched (the device's save would refuse too, late). */
	if (vm_refusal(&ctl->cfg, VM_OP_SNAPSHOT, why, sizeof(why)))
		return err_set(err, true, -EOPNOTSUPP, "%s", why);
	ret = ctl->vm->snapshot_create(ctl->vm_ctx, &ctl->cfg, &a->create, err);
	if (!ret)
		took(ctl, 1, a->create.diff ? CTL_LAT_DIFF_CREATE : CTL_LAT_FULL_CREATE, start);
	return ret;
}

static int snapshot_load(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			 struct err *err)
{
	struct snap_load_req req;
	struct vm_metrics metrics;
	struct vm_logger logger;
	struct vm_config cfg;
	uint64_t start;
	int ret;

	err->usage = true;
	err->msg[0] = '\0';
	/*
	 * Firecracker's boot_path: once the boot source, the machine or a
	 * device was configured, the snapshot's own would silently replace it.
	 */
	if (ctl->boot_path)
		return err_set(err, true, -EINVAL, "Load snapshot error: Loading a microVM snapshot "
			       "not allowed after configuring boot-specific resources.");
	/* The process's own, never the state file's: --kvm, and PUT /serial before the load. */
	req = a->load;
	req.kvm_path = ctl->cfg.kvm_path;
	/* A fork's clone names its own (zygote/zygote.c); no request's body can. */
	if (!req.serial_out_path)
		req.serial_out_path = ctl->cfg.serial_out_path;
	req.serial_rl = &ctl->cfg.serial_rl;
	vm_config_init(&cfg);
	cfg.mmds_store = ctl->mmds;
	start = now_us();
	ret = ctl->vm->snapshot_load(ctl->vm_ctx, &req, &cfg, err);
	if (ret) {
		vm_config_release(&cfg);
		if (ctl->load_failure_fatal)
			__atomic_store_n(&ctl->exit_due, HEARTH_EXIT_FAILURE + 1, __ATOMIC_RELEASE);
		return ret;
	}
	took(ctl, 1, CTL_LAT_LOAD, start);
	/* The store is the process's: the loaded model answers from it too. */
	cfg.mmds_store = ctl->mmds;
	if (cfg.mmds.on)
		mmds_set_version(ctl->mmds, cfg.mmds.version, cfg.mmds.imds_compat);
	/*
	 * The logger and metrics set before the load stay: they are this
	 * process's, and no snapshot has them (FlushMetrics goes on working).
	 */
	logger = cfg.logger;
	metrics = cfg.metrics;
	cfg.logger = ctl->cfg.logger;
	cfg.metrics = ctl->cfg.metrics;
	ctl->cfg.logger = logger;
	ctl->cfg.metrics = metrics;
	/* The process's name, not the snapshot's: set after the load, whose devices all fit. */
	cfg.fc_rules = ctl->cfg.fc_rules;
	vm_config_release(&ctl->cfg);
	/* Only the model's pages that change: a clone's load is most of its setup. */
	trim_copy(&ctl->cfg, &cfg, sizeof(cfg));
	ctl->state = a->load.resume_vm ? CTL_RUNNING : CTL_PAUSED;
	return 0;
}

/*
 * THE table: for each action, by state ("Not started", "Running",
 * "Paused"), NULL where it is legal, else the refusal (a 400, exit 2);
 * then what runs it. The refusals are Firecracker's words, and its rules:
 * handle_preboot_request and handle_request in its rpc_interface.rs. To
 * add an action: a ctl_type, its row here, its function (here for the
 * run, model.c for the model), what asks for it in the front ends, and
 * its row in tests/unit/test_control.c.
 */
#define ALWAYS { NULL, NULL, NULL }
#define PRE_BOOT { NULL, CTL_NOT_AFTER_START, CTL_NOT_AFTER_START }
#define BOOTED { CTL_NOT_BEFORE_START, NULL, NULL }

static const struct ctl_rule {
	const char *refused[CTL_NSTATES];
	ctl_run_fn run;
} rules[CTL_NTYPES] = {
	[CTL_GET_INFO] =          { ALWAYS, get_info },
	[CTL_GET_VERSION] =       { ALWAYS, get_version },
	[CTL_GET_MACHINE] =       { ALWAYS, get_machine },
	[CTL_GET_CONFIG] =        { ALWAYS, get_config },
	[CTL_PUT_BOOT_SOURCE] =   { PRE_BOOT, ctl_model_put },
	[CTL_PUT_MACHINE] =       { PRE_BOOT, ctl_model_put },
	[CTL_PATCH_MACHINE] =     { PRE_BOOT, ctl_model_put },
	/* Firecracker 1.16's: after boot, the PUT plugs the device into a PCI VM. */
	[CTL_PUT_DRIVE] =         { ALWAYS, ctl_plug },
	[CTL_PUT_NET] =           { ALWAYS, ctl_plug },
	[CTL_PUT_VSOCK] =         { PRE_BOOT, ctl_model_put },
	[CTL_PUT_ENTROPY] =       { PRE_BOOT, ctl_model_put },
	[CTL_PUT_LOGGER] =        { PRE_BOOT, ctl_model_put },
	[CTL_PUT_METRICS] =       { PRE_BOOT, ctl_model_put },
	[CTL_PUT_SERIAL] =        { PRE_BOOT, ctl_model_put },
	[CTL_PUT_CPU_CONFIG] =    { PRE_BOOT, ctl_model_put },
	[CTL_INSTANCE_START] =    { PRE_BOOT, start },
	[CTL_SEND_CTRL_ALT_DEL] = { BOOTED, ctrl_alt_del },
	[CTL_FLUSH_METRICS] =     { BOOTED, flush_metrics },
	[CTL_PAUSE] =             { BOOTED, ctl_pause },
	[CTL_RESUME] =            { BOOTED, ctl_resume },
	/* Firecracker's rule: before boot, PUT the drive or interface again instead. */
	[CTL_PATCH_DRIVE] =       { BOOTED, ctl_model_patch_drive },
	[CTL_PATCH_NET] =         { BOOTED, ctl_model_patch_net },
	/* A running guest would change memory under the writer. */
	[CTL_SNAPSHOT_CREATE] =   { { CTL_NOT_BEFORE_START, "Create snapshot error: Cannot save "
				      "the microVM state: Operation not allowed: save/restore "
				      "unavailable while running (pause it first: PATCH /vm "
				      "{\"state\": \"Paused\"})", NULL }, snapshot_create },
	[CTL_SNAPSHOT_LOAD] =     { PRE_BOOT, snapshot_load },
	/* As Firecracker: the data in every state, the config before boot only. */
	[CTL_GET_MMDS] =          { ALWAYS, ctl_mmds_get },
	[CTL_PUT_MMDS] =          { ALWAYS, ctl_mmds_put },
	[CTL_PATCH_MMDS] =        { ALWAYS, ctl_mmds_put },
	[CTL_PUT_MMDS_CONFIG] =   { PRE_BOOT, ctl_model_put },
	/* Firecracker's: the config before boot, the device's actions after it. */
	[CTL_PUT_BALLOON] =         { PRE_BOOT, ctl_model_put },
	[CTL_GET_BALLOON] =         { ALWAYS, ctl_balloon_get },
	[CTL_PATCH_BALLOON] =       { BOOTED, ctl_balloon_live },
	[CTL_GET_BALLOON_STATS] =   { BOOTED, ctl_balloon_live },
	[CTL_PATCH_BALLOON_STATS] = { BOOTED, ctl_balloon_live },
	[CTL_BALLOON_HINT_START] =  { BOOTED, ctl_balloon_live },
	[CTL_BALLOON_HINT_STATUS] = { BOOTED, ctl_balloon_live },
	[CTL_BALLOON_HINT_STOP] =   { BOOTED, ctl_balloon_live },
	[CTL_PUT_PMEM] =            { ALWAYS, ctl_plug },
	[CTL_PUT_FS] =              { PRE_BOOT, ctl_model_put },
	[CTL_PATCH_PMEM] =          { BOOTED, ctl_model_patch_pmem },
	/* Firecracker's: the config before boot, the device's status and size after it. */
	[CTL_PUT_HOTPLUG] =         { PRE_BOOT, ctl_model_put },
	[CTL_GET_HOTPLUG] =         { BOOTED, ctl_hotplug_live },
	[CTL_PATCH_HOTPLUG] =       { BOOTED, ctl_hotplug_live },
	[CTL_DELETE_DRIVE] =        { BOOTED, ctl_unplug },
	[CTL_DELETE_NET] =          { BOOTED, ctl_unplug },
	[CTL_DELETE_PMEM] =         { BOOTED, ctl_unplug },
	/* Firecracker's VFIO branch: InsertPassthroughDevice, before boot only. */
	[CTL_PUT_PASSTHROUGH] =     { ALWAYS, ctl_plug_vfio },
	[CTL_DELETE_PASSTHROUGH] =  { BOOTED, ctl_unplug_vfio },
	[CTL_FORK] =                { BOOTED, ctl_fork },
	[CTL_RESET] =               { BOOTED, ctl_reset },
	[CTL_MIGRATE] =             { BOOTED, ctl_migrate },
	[CTL_MIGRATE_INCOMING] =    { PRE_BOOT, ctl_migrate_incoming },
	[CTL_GET_MIGRATE] =         { ALWAYS, ctl_migrate_get },
	[CTL_MIGRATE_SWITCH] =      { BOOTED, ctl_migrate_switch },
	[CTL_MIGRATE_PRELUDE] =     { BOOTED, ctl_migrate_prelude },
};

/*
 * The model names the section at fault ("drives: ...", the config file's
 * words); the API answers with Firecracker's VmmActionError words in its
 * place ("Drive config error: ...").
 */
static const struct {
	const char *section, *words;
} fc_words[CTL_NTYPES] = {
	[CTL_PUT_BOOT_SOURCE] = { "boot-source: ", "Boot source error: " },
	[CTL_PUT_MACHINE] =     { "machine-config: ", "Machine config error: " },
	[CTL_PATCH_MACHINE] =   { "machine-config: ", "Machine config error: " },
	[CTL_PUT_DRIVE] =       { "drives: ", "Drive config error: " },
	[CTL_PATCH_DRIVE] =     { "drives: ", "Drive config error: " },
	[CTL_PUT_NET] =         { "network-interfaces: ", "Network config error: " },
	[CTL_PATCH_NET] =       { "network-interfaces: ", "Network config error: " },
	[CTL_PUT_VSOCK] =       { "vsock: ", "Vsock config error: " },
	[CTL_PUT_ENTROPY] =     { "entropy: ", "Entropy config error: " },
	[CTL_PUT_LOGGER] =      { "logger: ", "Logger error: " },
	[CTL_PUT_METRICS] =     { "metrics: ", "Metrics error: " },
	[CTL_PUT_BALLOON] =     { "balloon: ", "Balloon config error: " },
	[CTL_PUT_PMEM] =        { "pmem: ", "Pmem config error: " },
	[CTL_PATCH_PMEM] =      { "pmem: ", "Pmem config error: " },
	[CTL_PUT_HOTPLUG] =     { "memory-hotplug: ", "Memory hotplug config error: " },
	[CTL_PUT_PASSTHROUGH] = { "device-passthrough: ", "Device passthrough config error: " },
	[CTL_PUT_FS] =          { "fs: ", "Virtio-fs config error: " },
};

static void fc_reword(enum ctl_type t, struct err *err)
{
	const char *sec = t < CTL_NTYPES ? fc_words[t].section : NULL;
	size_t n = sec ? strlen(sec) : 0;
	char rest[ERR_MSG_MAX];
	unsigned int at_off = err->at_off;

	if (!sec || strncmp(err->msg, sec, n))
		return;
	snprintf(rest, sizeof(rest), "%s", err->msg + n);
	snprintf(err->msg, sizeof(err->msg), "%s%s", fc_words[t].words, rest);
	if (at_off >= n)
		err->at_off = at_off - (unsigned int)n + (unsigned int)strlen(fc_words[t].words);
}

/* Which of Firecracker's latencies times a; CTL_NLAT: none. */
static enum ctl_latency latency_of(const struct ctl_action *a)
{
	switch (a->type) {
	case CTL_PAUSE:
		return CTL_LAT_PAUSE;
	case CTL_RESUME:
		return CTL_LAT_RESUME;
	case CTL_SNAPSHOT_CREATE:
		return a->create.diff ? CTL_LAT_DIFF_CREATE : CTL_LAT_FULL_CREATE;
	case CTL_SNAPSHOT_LOAD:
		return CTL_LAT_LOAD;
	default:
		return CTL_NLAT;
	}
}

/* Actions that change nothing of the VM: the reads, and PUT /fork, which bumps the epoch itself. */
static bool ctl_type_reads(enum ctl_type t)
{
	switch (t) {
	case CTL_GET_INFO: case CTL_GET_VERSION: case CTL_GET_MACHINE: case CTL_GET_CONFIG:
	case CTL_GET_MMDS: case CTL_GET_BALLOON: case CTL_GET_BALLOON_STATS:
	case CTL_BALLOON_HINT_STATUS: case CTL_GET_HOTPLUG: case CTL_FLUSH_METRICS: case CTL_FORK:
	case CTL_GET_MIGRATE:
		return true;
	default:
		return false;
	}
}

int ctl_handle(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	const struct ctl_rule *r = a->type < CTL_NTYPES ? &rules[a->type] : NULL;
	json_t *reply = NULL;  /* set by the reads only */
	uint64_t start = now_us();
	int ret;

	if (!r || !r->run) {
		if (out)
			*out = NULL;
		return err_set(err, false, -EINVAL, "action %d is not one the handler knows",
			       (int)a->type);
	}
	pthread_mutex_lock(&ctl->lock);
	if (ctl_migrate_refuses(ctl, a, ctl_type_reads(a->type))) {
		ret = err_set(err, true, -EBUSY, "%s",
			      ctl_migrate_refuses(ctl, a, ctl_type_reads(a->type)));
	} else if (r->refused[ctl->state]) {
		/* As Firecracker, which reads a body before it looks at the state. */
		ret = r->run == ctl_model_put ? ctl_model_body_fault(ctl, a, err) : 0;
		if (!ret)
			ret = err_set(err, true, -EINVAL, "%s", r->refused[ctl->state]);
	} else {
		ret = r->run(ctl, a, &reply, err);
		if (!ctl_type_reads(a->type))
			ctl->epoch++;
	}
	pthread_mutex_unlock(&ctl->lock);
	if (ret)
		fc_reword(a->type, err);
	else
		took(ctl, 0, latency_of(a), start);
	if (out)
		*out = reply;
	else
		json_decref(reply);
	return ret;
}

int ctl_check_id(const char *id, struct err *err)
{
	size_t n = strlen(id);

	if (n < 1 || n > CTL_ID_MAX)
		return err_set(err, true, -EINVAL, "--id '%.80s': want 1 to %d characters", id,
			       CTL_ID_MAX);
	for (size_t i = 0; i < n; i++) {
		char ch = id[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-'))
			return err_set(err, true, -EINVAL, "--id '%s': only letters, digits and "
				       "'-' are allowed", id);
	}
	return 0;
}

/* The model's checks at set time go to the VM's (struct vm_config_probe). */
static int probe_boot_source(void *ctx, const struct vm_boot_source *b, struct err *err)
{
	struct ctl *ctl = ctx;

	return ctl->vm->check_boot_source ? ctl->vm->check_boot_source(ctl->vm_ctx, b, err) : 0;
}

static int probe_drive(void *ctx, const struct vm_drive *d, struct err *err)
{
	struct ctl *ctl = ctx;

	return ctl->vm->check_drive ? ctl->vm->check_drive(ctl->vm_ctx, d, err) : 0;
}

static int probe_net(void *ctx, const struct vm_net *n, struct err *err)
{
	struct ctl *ctl = ctx;

	return ctl->vm->check_net ? ctl->vm->check_net(ctl->vm_ctx, n, err) : 0;
}

static int probe_cpu_template(void *ctx, enum cpu_template_id id, struct err *err)
{
	struct ctl *ctl = ctx;

	return ctl->vm->check_cpu_template ? ctl->vm->check_cpu_template(ctl->vm_ctx, id, err) : 0;
}

static int probe_vfio(void *ctx, const struct vm_vfio *v, struct err *err)
{
	struct ctl *ctl = ctx;

	return ctl->vm->check_vfio ? ctl->vm->check_vfio(ctl->vm_ctx, v, err) : 0;
}

static const struct vm_config_probe ctl_probe = {
	.boot_source = probe_boot_source,
	.drive = probe_drive,
	.net = probe_net,
	.cpu_template = probe_cpu_template,
	.vfio = probe_vfio,
};

int ctl_init(struct ctl *ctl, const char *id, struct vm_config *cfg,
	     const struct ctl_vm_ops *vm, void *vm_ctx)
{
	int ret;

	trim_zero(ctl, sizeof(*ctl));
	ret = mmds_new(CTL_MMDS_DEFAULT_LIMIT, &ctl->mmds);
	if (ret)
		return ret;
	ret = pthread_mutex_init(&ctl->lock, NULL);
	if (ret) {
		mmds_free(ctl->mmds);
		return -ret;
	}
	if (cfg) {
		trim_copy(&ctl->cfg, cfg, sizeof(*cfg));
		memset(cfg, 0, sizeof(*cfg));
	} else {
		ctl_model_init(&ctl->cfg);
	}
	/* The API's PUTs from now on; a model given here was checked by whoever built it. */
	ctl->cfg.probe = &ctl_probe;
	ctl->cfg.probe_ctx = ctl;
	ctl->cfg.mmds_store = ctl->mmds;
	if (ctl->cfg.mmds.on)
		mmds_set_version(ctl->mmds, ctl->cfg.mmds.version, ctl->cfg.mmds.imds_compat);
	snprintf(ctl->id, sizeof(ctl->id), "%s", id ? id : "anonymous-instance");
	ctl->state = CTL_NOT_STARTED;
	ctl->vm = vm;
	ctl->vm_ctx = vm_ctx;
	return 0;
}

void ctl_destroy(struct ctl *ctl)
{
	vm_config_release(&ctl->cfg);
	mmds_free(ctl->mmds);
	pthread_mutex_destroy(&ctl->lock);
}

const char *ctl_state_name(enum ctl_state s)
{
	switch (s) {
	case CTL_NOT_STARTED:
		return "Not started";
	case CTL_RUNNING:
		return "Running";
	case CTL_PAUSED:
		return "Paused";
	}
	return "?";
}

int ctl_count_api(struct ctl *ctl, const char *method, const char *path, bool has_body)
{
	int route = metrics_api_route(method, path, has_body);

	metrics_api_count(&ctl->api, route);
	return route;
}

void ctl_count_request(struct ctl *ctl, enum ctl_request kind, int route, bool failed,
		       bool deprecated)
{
	__atomic_fetch_add(&ctl->requests[kind < CTL_NREQ ? kind : CTL_REQ_OTHER], 1,
			   __ATOMIC_RELAXED);
	if (failed)
		__atomic_fetch_add(&ctl->failed_requests, 1, __ATOMIC_RELAXED);
	metrics_api_done(&ctl->api, route, failed, deprecated);
}

void ctl_collect_requests(struct ctl *ctl, json_t *counters)
{
	static const char *const names[CTL_NREQ] = {
		[CTL_REQ_GET] = "get_requests", [CTL_REQ_PUT] = "put_requests",
		[CTL_REQ_PATCH] = "patch_requests", [CTL_REQ_OTHER] = "other_requests",
	};
	json_t *own = metrics_group(counters, METRICS_HEARTH);

	for (int i = 0; i < CTL_NREQ; i++)
		metrics_add(own, "api_server", names[i],
			    __atomic_load_n(&ctl->requests[i], __ATOMIC_RELAXED));
	metrics_add(own, "api_server", "failed_requests",
		    __atomic_load_n(&ctl->failed_requests, __ATOMIC_RELAXED));
	metrics_api_collect(&ctl->api, counters);
}

void ctl_collect_latencies(struct ctl *ctl, json_t *gauges)
{
	static const char *const names[CTL_NLAT] = {
		[CTL_LAT_FULL_CREATE] = "full_create_snapshot",
		[CTL_LAT_DIFF_CREATE] = "diff_create_snapshot",
		[CTL_LAT_LOAD] = "load_snapshot", [CTL_LAT_PAUSE] = "pause_vm",
		[CTL_LAT_RESUME] = "resume_vm",
	};
	char name[40];

	for (int i = 0; i < CTL_NLAT; i++) {
		metrics_add(gauges, "latencies_us", names[i],
			    __atomic_load_n(&ctl->latency_us[0][i], __ATOMIC_RELAXED));
		snprintf(name, sizeof(name), "vmm_%s", names[i]);
		metrics_add(gauges, "latencies_us", name,
			    __atomic_load_n(&ctl->latency_us[1][i], __ATOMIC_RELAXED));
	}
}

bool ctl_exit_due(struct ctl *ctl, int *code)
{
	int due = __atomic_exchange_n(&ctl->exit_due, 0, __ATOMIC_ACQ_REL);

	if (!due)
		return false;
	*code = due - 1;
	return true;
}
