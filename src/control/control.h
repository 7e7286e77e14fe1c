/*
 * The one control surface. Every request to the instance, whoever makes
 * it (the API's routes, `hearth run`'s flags, the config file, `hearth
 * restore`), is an action handed to ctl_handle, and the front ends only
 * translate into actions and render what comes back. The handler owns
 * the run state ("Not started", "Running", "Paused"), the machine model
 * (struct vm_config) and what is legal in which state: one table in
 * control.c, after Firecracker's handle_preboot_request and
 * handle_request.
 *
 * Threads: an action runs on the thread that sends it (the api thread;
 * before the API serves, the main thread, which is the io thread before
 * its loop runs), one at a time under the handler's lock. What must run
 * on the io thread (building the VM, changing a device, saving one, the
 * metrics file and its timer) goes there through eventloop_run_on inside
 * the VM behind (host.c, src/vmm, src/snapshot); pause and resume stay
 * on the sender, so the loop never waits for a vCPU that waits for the
 * loop. No action runs on a vCPU: only the api and main threads send.
 */
#ifndef HEARTH_CONTROL_CONTROL_H
#define HEARTH_CONTROL_CONTROL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "snapshot/request.h"
#include "util/err.h"
#include "vmm/config.h"
#include "vmm/metrics_api.h"

#define CTL_ID_MAX 64
/* The MMDS store's size limit when nothing sets one: Firecracker's API payload limit. */
#define CTL_MMDS_DEFAULT_LIMIT 51200

/* Firecracker's refusals of an action in the wrong state, word for word. */
#define CTL_NOT_BEFORE_START "The requested operation is not supported before starting the microVM."
#define CTL_NOT_AFTER_START "The requested operation is not supported after starting the microVM."

enum ctl_state { CTL_NOT_STARTED, CTL_RUNNING, CTL_PAUSED };
#define CTL_NSTATES 3

enum ctl_type {
	/* Reads, in every state: the answer is a JSON object. */
	CTL_GET_INFO,             /* GET / */
	CTL_GET_VERSION,          /* GET /version */
	CTL_GET_MACHINE,          /* GET /machine-config */
	CTL_GET_CONFIG,           /* GET /vm/config */
	/* The model, before boot: the body is Firecracker's object for it. */
	CTL_PUT_BOOT_SOURCE,
	CTL_PUT_MACHINE,
	CTL_PATCH_MACHINE,
	CTL_PUT_DRIVE,
	CTL_PUT_NET,
	CTL_PUT_VSOCK,
	CTL_PUT_ENTROPY,
	CTL_PUT_LOGGER,           /* opens the log file at once */
	CTL_PUT_METRICS,          /* opens the metrics file and starts its timer at once */
	CTL_PUT_SERIAL,
	CTL_PUT_CPU_CONFIG,       /* a custom CPU template */
	/* The run. */
	CTL_INSTANCE_START,
	CTL_SEND_CTRL_ALT_DEL,
	CTL_FLUSH_METRICS,
	CTL_PAUSE,
	CTL_RESUME,
	CTL_PATCH_DRIVE,          /* after boot only, as in Firecracker: the disk, then the model */
	CTL_PATCH_NET,            /* after boot only, as in Firecracker */
	CTL_SNAPSHOT_CREATE,
	CTL_SNAPSHOT_LOAD,        /* before boot, and before any boot_path action */
	/* The MMDS (metadata.c): its data in every state, its config before boot. */
	CTL_GET_MMDS,             /* the answer: the store's JSON value */
	CTL_PUT_MMDS,             /* the body: any JSON value */
	CTL_PATCH_MMDS,           /* the body: an RFC 7396 merge patch */
	CTL_PUT_MMDS_CONFIG,      /* the body: Firecracker's MmdsConfig, into the model */
	/* The balloon (balloon.c): its config before boot, the device after. */
	CTL_PUT_BALLOON,          /* the body: Firecracker's BalloonDeviceConfig */
	CTL_GET_BALLOON,          /* the answer: the config, the target as last set */
	CTL_PATCH_BALLOON,        /* a new target (ctl_action.balloon.amount_mib) */
	CTL_GET_BALLOON_STATS,    /* the answer: Firecracker's BalloonStats */
	CTL_PATCH_BALLOON_STATS,  /* a new interval (ctl_action.balloon.interval_s) */
	CTL_BALLOON_HINT_START,   /* ctl_action.balloon.ack_on_stop */
	CTL_BALLOON_HINT_STATUS,  /* the answer: Firecracker's HintingStatus */
	CTL_BALLOON_HINT_STOP,
	/* pmem: its config before boot (the body: Firecracker's PmemConfig), its limiter after. */
	CTL_PUT_PMEM,
	CTL_PATCH_PMEM,           /* ctl_action.pmem */
	/* Memory hotplug (hotplug.c): its config before boot, the device after. */
	CTL_PUT_HOTPLUG,          /* the body: Firecracker's MemoryHotplugConfig */
	CTL_GET_HOTPLUG,          /* the answer: Firecracker's VirtioMemStatus */
	CTL_PATCH_HOTPLUG,        /* a new requested size (ctl_action.hotplug_mib) */
	/* Hearth's virtio-fs (fcjson/config_json_fs.h), before boot. */
	CTL_PUT_FS,
	/*
	 * PCI hotplug (plug.c): after boot, CTL_PUT_DRIVE and CTL_PUT_NET
	 * plug the device into the running VM; these unplug the one {id} names.
	 */
	CTL_DELETE_DRIVE,
	CTL_DELETE_NET,
	CTL_DELETE_PMEM,
	/*
	 * Firecracker's VFIO branch: PUT /device-passthrough/{id} (the body:
	 * its DevicePassthroughConfig) before boot; after it, Hearth's plug of
	 * a device unplugged since (plug.c).
	 */
	CTL_PUT_PASSTHROUGH,
	/* After boot: a device passed through at start leaves the guest, kept for a later PUT. */
	CTL_DELETE_PASSTHROUGH,
	/* Hearth's (docs/api.md "Fork and reset"): a running or paused VM's clones; back to its base. */
	CTL_FORK,                 /* the body: api/json_fork.h's, checked; ctl_action.fork */
	CTL_RESET,
	/* Hearth's (docs/migration.md): live migration, its two ends and its progress. */
	CTL_MIGRATE,              /* ctl_action.migrate: send the running VM to its uri */
	CTL_MIGRATE_INCOMING,     /* ctl_action.migrate: receive one at its uri (before boot) */
	CTL_GET_MIGRATE,          /* the answer: either side's progress */
	CTL_MIGRATE_SWITCH,       /* the source's switch-over, sent by its migration thread only */
	CTL_MIGRATE_PRELUDE,      /* the source's first state, sent by its migration thread only */
	CTL_NTYPES
};

/* A balloon action's parameters, and what the device is asked. */
struct ctl_balloon_req {
	enum ctl_type type;       /* one of CTL_PATCH_BALLOON ... CTL_BALLOON_HINT_STOP */
	uint32_t amount_mib;
	uint16_t interval_s;
	bool ack_on_stop;
};

/*
 * A live migration's request (docs/migration.md). The source's: its uri,
 * downtime budget and pass limit. The destination's: its uri, and in
 * load the host resources a restore would take (the overrides, whether
 * to resume), none of which the stream may choose.
 */
struct ctl_migrate_req {
	const char *uri;                /* "unix:PATH" */
	uint32_t downtime_ms;           /* the source's budget for the switch-over */
	uint32_t max_iterations;        /* passes before it switches over regardless */
	bool postcopy;                  /* switch over after the first pass (post-copy) */
	bool tls;                       /* over TLS (--migrate-tls's credentials) */
	const char *tls_hostname;       /* the source's: the name the destination's certificate holds */
	/*
	 * The destination's: the most guest RAM (MiB) the stream may lay out
	 * before its state is read, 0: this host's RAM. A stream from
	 * whoever connects first fills memory up to it.
	 */
	uint32_t max_mem_mib;
	struct snap_load_req load;      /* the destination's overrides, resume_vm */
};

/* One action and its parameters; every string is borrowed for the call. */
struct ctl_action {
	enum ctl_type type;
	/*
	 * The model's actions: the request's JSON text, read with the
	 * model's codec (vmm/config_json.h) only once the state allows the
	 * action, so a closed endpoint is refused before its body is looked
	 * at; and the {id} of PUT /drives/{id} and /network-interfaces/{id}.
	 */
	const char *body;
	size_t len;
	const char *id;
	/* The other actions' parameters, decoded by the front end. */
	union {
		struct vm_drive_patch drive;       /* CTL_PATCH_DRIVE */
		struct vm_net_patch net;           /* CTL_PATCH_NET */
		struct snap_create_req create;     /* CTL_SNAPSHOT_CREATE */
		struct snap_load_req load;         /* CTL_SNAPSHOT_LOAD */
		struct ctl_balloon_req balloon;    /* the balloon's live actions */
		struct vm_pmem_patch pmem;         /* CTL_PATCH_PMEM */
		uint32_t hotplug_mib;              /* CTL_PATCH_HOTPLUG's requested_size_mib */
		struct {                           /* CTL_FORK: the body stays in body, len */
			int template_state;        /* -1: as it was; 0: Paused; 1: Resumed */
			unsigned int n;
		} fork;
		struct ctl_migrate_req migrate;    /* CTL_MIGRATE, CTL_MIGRATE_INCOMING */
	};
};

/*
 * The VM behind the handler. The process host's (host.c) runs a struct
 * vm on the io thread's loop; unit tests and the API's fuzz target plug
 * in a fake through the same table, so no KVM is needed. Every entry is
 * called under the handler's lock, on the sender's thread, and only
 * when the table allowed the action; each returns 0 or -errno, with err
 * filled where it takes one.
 */
struct ctl_vm_ops {
	/* Builds and starts the VM described by cfg. */
	int (*start)(void *ctx, const struct vm_config *cfg, struct err *err);
	/*
	 * -ETIMEDOUT: a vCPU did not park in time; -EBUSY: a device's I/O in
	 * flight did not complete in time. The VM then runs on.
	 */
	int (*pause)(void *ctx);
	void (*resume)(void *ctx);
	/* Ctrl-Alt-Del on the guest's keyboard; -ENOSPC: it is not being read. */
	int (*ctrl_alt_del)(void *ctx);
	/* Ends the process's loop with code (a fatal snapshot load); any thread. */
	void (*exit)(void *ctx, int code);
	/* A checked PATCH to the running device (d: the model's drive before it). */
	int (*patch_drive)(void *ctx, const struct vm_drive *d, const struct vm_drive_patch *p,
			   struct err *err);
	int (*patch_net)(void *ctx, const struct vm_net_patch *p, struct err *err);
	/* A checked PATCH of a pmem device's rate limiter. */
	int (*patch_pmem)(void *ctx, const struct vm_pmem_patch *p, struct err *err);
	/*
	 * A balloon action on the running device: *out gets the answer of
	 * the reads (statistics, hinting status), NULL for the others. err
	 * in Firecracker's words after its prefix ("Balloon: ...").
	 */
	int (*balloon)(void *ctx, const struct ctl_balloon_req *req, json_t **out,
		       struct err *err);
	/*
	 * The running memory hotplug device: its status into *out (patch
	 * false), or a new requested size (patch true). err in the device's
	 * words (VmmError's, after Firecracker's prefix). NULL: no device.
	 */
	int (*hotplug)(void *ctx, bool patch, uint32_t requested_mib, json_t **out,
		       struct err *err);
	/*
	 * PCI hotplug: plugs the i-th device of family type (vmm's
	 * "virtio-blk", ...) of cfg into the running VM, or unplugs the one
	 * of that type and id (the guest asked to let go first, and waited
	 * for; -EBUSY when it would not). NULL: the VM has no PCI hotplug.
	 */
	int (*plug)(void *ctx, const struct vm_config *cfg, const char *type, unsigned int i,
		    struct err *err);
	int (*unplug)(void *ctx, const char *type, const char *id, struct err *err);
	/*
	 * Firecracker's checks at PUT time (vmm/config.h, struct
	 * vm_config_probe): the kernel and initrd, a drive's file, a NIC's
	 * TAP are opened (and closed again) on the sender's thread before the
	 * model takes them. NULL: not checked.
	 */
	int (*check_boot_source)(void *ctx, const struct vm_boot_source *b, struct err *err);
	int (*check_drive)(void *ctx, const struct vm_drive *d, struct err *err);
	int (*check_net)(void *ctx, const struct vm_net *n, struct err *err);
	/* Whether this host can take a static CPU template (its vendor, T2CL's model). */
	int (*check_cpu_template)(void *ctx, enum cpu_template_id id, struct err *err);
	/* A device passed through: there on this host, and bound to vfio-pci. */
	int (*check_vfio)(void *ctx, const struct vm_vfio *v, struct err *err);
	/* Opens the metrics file and starts the periodic flush; writes a line now. */
	int (*metrics_open)(void *ctx, const struct vm_metrics *m, struct err *err);
	int (*metrics_flush)(void *ctx, struct err *err);
	/* The VM is paused. */
	int (*snapshot_create)(void *ctx, const struct vm_config *cfg,
			       const struct snap_create_req *req, struct err *err);
	/*
	 * No VM yet: builds and starts (paused, or running with resume_vm)
	 * the snapshot's, and fills *cfg with its config; err->usage says
	 * whether the files or the request were at fault.
	 */
	int (*snapshot_load)(void *ctx, const struct snap_load_req *req, struct vm_config *cfg,
			     struct err *err);
	/*
	 * The VM is paused. PUT /fork: its state and RAM handed to the
	 * zygote with the request's body, which makes the clones; *out the
	 * zygote's answer. NULL: no forks here.
	 */
	int (*fork)(void *ctx, const struct vm_config *cfg, const char *body, size_t len,
		    json_t **out, struct err *err);
	/* The VM is paused. PUT /reset: back to its base; *out what it took. NULL: none. */
	int (*reset)(void *ctx, json_t **out, struct err *err);
	/*
	 * Live migration (docs/migration.md; NULL: none here). migrate: the
	 * running or paused VM's migration starts (connected, or -errno
	 * with err); it goes on on its own thread. incoming: no VM yet; the
	 * uri listens (or -errno), and the VM comes in on its own thread.
	 * migrate_get: either side's progress into *out. migrate_switch: the
	 * source paused, the rest sent and the destination asked to run it;
	 * 0 once it runs there, -errno with err else (*sent_go: past the
	 * point where it may run there, so it must never run here again).
	 */
	int (*migrate)(void *ctx, const struct vm_config *cfg, const struct ctl_migrate_req *r,
		       struct err *err);
	int (*migrate_incoming)(void *ctx, const struct ctl_migrate_req *r, struct err *err);
	int (*migrate_get)(void *ctx, json_t **out);
	int (*migrate_switch)(void *ctx, const struct vm_config *cfg, bool *sent_go,
			      struct err *err);
	/* The source paused: its state now, the destination's prelude (kept by the host). */
	int (*migrate_prelude)(void *ctx, const struct vm_config *cfg, struct err *err);
};

/* Requests the API answered, by method, for Hearth's own "api_server" metrics group. */
enum ctl_request { CTL_REQ_GET, CTL_REQ_PUT, CTL_REQ_PATCH, CTL_REQ_OTHER, CTL_NREQ };

/* The actions Firecracker's "latencies_us" times, in its order. */
enum ctl_latency {
	CTL_LAT_FULL_CREATE, CTL_LAT_DIFF_CREATE, CTL_LAT_LOAD, CTL_LAT_PAUSE, CTL_LAT_RESUME,
	CTL_NLAT
};

struct ctl {
	pthread_mutex_t lock;       /* one action at a time */
	enum ctl_state state;
	/*
	 * Firecracker's boot_path: a boot source, machine config or device was
	 * PUT (tried, even), so snapshot/load is refused.
	 */
	bool boot_path;
	/*
	 * Bumped under the lock by every action that may change the VM (all
	 * but the reads and PUT /fork) and by every run of its guest: the
	 * same value at two forks means the second may hand out the first's
	 * frozen base again (host/fork.c).
	 */
	uint64_t epoch;
	char id[CTL_ID_MAX + 1];
	const struct ctl_vm_ops *vm;
	void *vm_ctx;
	/*
	 * The MMDS store (mmds/mmds.h): this process's, through snapshot
	 * loads too (Firecracker's snapshots carry no MMDS data); cfg.mmds_store
	 * points at it. Freed by ctl_destroy, once no VM reads it.
	 */
	struct mmds *mmds;
	uint64_t requests[CTL_NREQ];   /* atomics, read by any thread */
	uint64_t failed_requests;      /* answered 4xx or 5xx */
	struct metrics_api api;        /* Firecracker's counts, by endpoint */
	/*
	 * Atomics: the last of each action that succeeded, in microseconds,
	 * [0] the whole request's (Firecracker's "pause_vm"), [1] the VM's
	 * part ("vmm_pause_vm").
	 */
	uint64_t latency_us[2][CTL_NLAT];
	/*
	 * Firecracker's rule, taken when run as firecracker: a snapshot load
	 * that failed past its request's checks leaves the process too dirty
	 * to go on. It answers 400, then exits with 1 (ctl_exit_due).
	 */
	bool load_failure_fatal;
	/*
	 * Live migration (migrate.c): an incoming one owns the instance until
	 * its VM is loaded; an outgoing one refuses what would change the VM
	 * under it; once moved (the destination runs it, or may), this VM
	 * never runs here again.
	 */
	bool mig_incoming, mig_outgoing, mig_moved;
	int exit_due;                  /* atomic: 0, or the exit code + 1 once a reply is out */
	/* Last, 30 KiB: the fields above share a page (util/trim.h). */
	/* The model: changed by actions only; after boot, the running VM's. */
	struct vm_config cfg;
};

/*
 * Whether the process must exit now that the last reply went out (a
 * fatal snapshot load): the code in *code, once; the front end then
 * calls vm->exit.
 */
bool ctl_exit_due(struct ctl *ctl, int *code);

/*
 * An incoming migration's load is done (or failed): the instance takes
 * actions again. Called by the host's migration thread, without the lock.
 */
void ctl_migrate_incoming_done(struct ctl *ctl);

/* Firecracker's rule for --id: 1 to 64 characters, letters, digits and '-'. */
int ctl_check_id(const char *id, struct err *err);
/* The model an instance starts from when nothing configured it: Firecracker's (128 MiB, no entropy). */
void ctl_model_init(struct vm_config *c);
/*
 * Takes over cfg (NULL: ctl_model_init's); id NULL is
 * "anonymous-instance", Firecracker's default. 0 or -errno.
 */
int ctl_init(struct ctl *ctl, const char *id, struct vm_config *cfg,
	     const struct ctl_vm_ops *vm, void *vm_ctx);
void ctl_destroy(struct ctl *ctl);
/*
 * --mmds-size-limit and --metadata: a new store of limit bytes (0:
 * CTL_MMDS_DEFAULT_LIMIT) holding json (NULL: empty, never PUT), in place
 * of ctl_init's; before any action. 0, or -errno with err (usage: the
 * JSON is bad or does not fit).
 */
int ctl_mmds_init(struct ctl *ctl, size_t limit, const char *json, size_t len, struct err *err);
const char *ctl_state_name(enum ctl_state s);

/*
 * Runs a, or refuses it where the table says so in this state; takes
 * the lock. out, for the reads, gets a new reference to the answer
 * (NULL for the others; out may be NULL where no answer is wanted).
 * 0, or -errno with err: err->usage says whether the action was at
 * fault (the API's 400, exit 2) or the host (exit 1); -ENOMEM is the
 * API's 500.
 */
int ctl_handle(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err);

/*
 * Counts a request before it runs, where Firecracker's metrics count it
 * (vmm/metrics_api.h); any thread. Its endpoint counter, or -1, for
 * ctl_count_request.
 */
int ctl_count_api(struct ctl *ctl, const char *method, const char *path, bool has_body);
/* Counts one answered request: by method, failed (4xx, 5xx), deprecated; any thread. */
void ctl_count_request(struct ctl *ctl, enum ctl_request kind, int route, bool failed,
		       bool deprecated);
/*
 * The requests counted: Firecracker's groups ("put_api_requests" ...) at
 * counters' top, Hearth's "api_server" by method under METRICS_HEARTH.
 */
void ctl_collect_requests(struct ctl *ctl, json_t *counters);
/* The last latencies, as the gauges of Firecracker's "latencies_us" group. */
void ctl_collect_latencies(struct ctl *ctl, json_t *gauges);

/*
 * What the process host (src/host/) asks of the handler, which it reaches
 * only through these (access.c), never through struct ctl's fields.
 *
 * ctl_with_model: fn runs under the handler's lock (no action runs
 * meanwhile) with the model and the state; its return is returned.
 * ctl_config: the model, read by the host's ops while the handler runs
 * them (under its lock). ctl_epoch: changes with every action that may
 * change the VM (host/fork.c's frozen base). ctl_mmds: the MMDS store.
 * ctl_set_load_failure_fatal: a snapshot load that fails ends the
 * instance (Firecracker's). ctl_migrate_outgoing_end: the source's
 * migration is over (failed); whether the VM was moved first. ctl_exit:
 * the instance ends with code (ctl_vm_ops.exit).
 */
int ctl_with_model(struct ctl *ctl, int (*fn)(void *ctx, struct vm_config *cfg,
					      enum ctl_state state), void *ctx);
const struct vm_config *ctl_config(const struct ctl *ctl);
uint64_t ctl_epoch(const struct ctl *ctl);
struct mmds *ctl_mmds(const struct ctl *ctl);
void ctl_set_load_failure_fatal(struct ctl *ctl, bool fatal);
bool ctl_migrate_outgoing_end(struct ctl *ctl);
void ctl_exit(struct ctl *ctl, int code);

#endif
