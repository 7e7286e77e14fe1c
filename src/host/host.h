/*
 * The process host: the control surface (control.h) with the VM behind
 * it, in this process. It owns the runner (src/vmm/runner.h: the io
 * thread's loop, the signals, the console, the VM), the metrics file and
 * the handler, and fills the handler's VM table with the real thing:
 * src/vmm for the VM and its devices, src/snapshot for snapshots, and
 * the sandbox's seal handed to the runner. The command that starts it
 * (src/cli) serves the API, if any, between host_open and host_close.
 */
#ifndef HEARTH_HOST_HOST_H
#define HEARTH_HOST_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "control/control.h"
#include "snapshot/request.h"
#include "util/err.h"
#include "vmm/config.h"
#include "vmm/metrics.h"
#include "vmm/runner.h"

struct tls_creds;

/* What the command line asks of the host. */
struct host_opts {
	const char *id;             /* --id; NULL: "anonymous-instance" */
	const char *config_file;    /* boot from this file's model (when no model is given) */
	const char *kvm_path;       /* --kvm (hearth serve); NULL: the model's */
	/* `hearth restore`: this snapshot is loaded instead of a model booted. */
	const struct snap_load_req *restore;
	/* The logger and metrics from the command line (as PUT /logger, PUT /metrics). */
	struct vm_logger logger;    /* log_path NULL: none */
	bool level_set;             /* --level given */
	const char *metrics_path;
	/* --mmds-size-limit (0: CTL_MMDS_DEFAULT_LIMIT) and --metadata FILE (NULL: none). */
	size_t mmds_size_limit;
	const char *metadata;
	const char *metadata_text;  /* a fork's clone: its MMDS contents, JSON (NULL: none) */
	/*
	 * The name the log file's start and exit lines give the process:
	 * "Firecracker" when run as firecracker (its tooling waits for them);
	 * NULL: "Hearth".
	 */
	const char *product;
	bool boot_timer;            /* --boot-timer: the model gets Firecracker's boot timer */
	const char *kernel_cache;   /* --kernel-cache DIR (hearth serve; boot/kcache.h); NULL: none */
	bool pci;                   /* --enable-pci: the model's devices on PCI */
	bool mem_merge;             /* --mem-merge: guest RAM offered to KSM (vmm/vm_ram.h) */
	/* Firecracker's process-startup reporting: 0 / false when not given. */
	bool have_start_time, have_start_cpu, have_parent_cpu;
	uint64_t start_time_us, start_time_cpu_us, parent_cpu_time_us;
	/* --fork-dir: the socket to the zygote zygote/zygote.c forked; has_zygote false: none. */
	bool has_zygote;
	int zygote_fd;
	/*
	 * A clone (zygote/zygote.c): once its VM runs and its API serves, "K" is
	 * written to ready_fd, or on failure "E" and the error's line; closed.
	 */
	bool report_ready;
	int ready_fd;
	/*
	 * A clone restored paused that all of its fork start together: "P" on
	 * ready_fd once its VM is built, then it waits for go_fd's end (the
	 * zygote closes it when every clone said "P": none runs a guest while
	 * the others are still being made), resumes when go_resume, serves
	 * its API and says "K". -1: none (report_ready alone).
	 */
	int go_fd;
	bool go_resume;
	/* An instance with an API that is no clone: its migration thread starts with it. */
	bool migrate;
	struct tls_creds *migrate_tls;  /* --migrate-tls's credentials (migrate/tls.h); NULL: none */
};

struct host {
	struct metrics metrics;     /* flushed on the loop's thread */
	/* Firecracker's startup reporting (--start-time-us ...), as metrics gauges. */
	bool have_startup, have_startup_cpu;
	uint64_t startup_us, startup_cpu_us;
	int exit_code;              /* >= 0: the process's, set by ctl_vm_ops.exit */
	const char *id;             /* the instance id, for the metrics' emit_id */
	bool failed_building;       /* host_open failed at what Firecracker does after its API starts */
	/* Fork and reset (host/fork.c). */
	int zygote_fd;              /* the zygote's socket (--fork-dir); -1: none */
	uint64_t fork_seq;
	/*
	 * The last fork's sealed state and RAM memfds, handed out again while
	 * ctl.epoch is still fork_epoch (the template paused throughout, and
	 * changed by nothing); -1: none.
	 */
	int fork_base[2];
	uint64_t fork_epoch;
	int base_fd;                /* the restore's state file, the base of a reset; -1: none */
	bool base_stale;            /* a snapshot since took pages out of the dirty log */
	struct host_mig *mig;       /* live migration's thread (host_mig_out.h); NULL: none */
	/*
	 * Last, each with its big part last (the model's slots, the VM's MSI
	 * routes): the scalars of all three share a few pages (util/trim.h).
	 */
	struct ctl ctl;
	struct runner run;
};

/*
 * Everything before the API serves: the runner; the model (boot, taken
 * over, or o->config_file's, or an empty one for the API to fill), with
 * the command line's --kvm, logger and metrics; then, as actions, the
 * snapshot load of `hearth restore` or the boot of a given model. 0, or
 * -errno with err (err->usage: the input was at fault, exit 2) and
 * nothing left running; h->failed_building then says it failed at what
 * Firecracker's VMM thread does once its API thread has started (the
 * --metadata store).
 */
int host_open(struct host *h, const struct host_opts *o, struct vm_config *boot,
	      struct err *err);
/*
 * The log file's last line, Firecracker's words ("... exiting
 * successfully. exit_code=0" / "... exiting with error. exit_code=N"):
 * returns code.
 */
int host_exit_line(const struct host_opts *o, int code);
/* The API serves from now: the startup times are measured. */
void host_measure_startup(struct host *h, const struct host_opts *o);
/* Runs the io thread's loop until the VM stops or a signal arrives. */
void host_run(struct host *h);
/*
 * Once nothing sends actions any more: joins the VM, writes the last
 * metrics line, tears everything down. Returns the exit status: code,
 * unless it is negative, else the VM's (enum hearth_exit).
 */
int host_close(struct host *h, int code);

/* host_balloon.c: ctl_vm_ops.balloon, on the VM host runs (ctx: the struct host). */
int host_balloon(void *ctx, const struct ctl_balloon_req *req, json_t **out, struct err *err);
/* host_hotplug.c: ctl_vm_ops.hotplug, on the VM host runs. */
int host_hotplug(void *ctx, bool patch, uint32_t requested_mib, json_t **out, struct err *err);
/* host_check.c: ctl_vm_ops.check_*, Firecracker's checks at PUT time. */
int host_check_boot_source(void *ctx, const struct vm_boot_source *b, struct err *err);
int host_check_drive(void *ctx, const struct vm_drive *d, struct err *err);
int host_check_cpu_template(void *ctx, enum cpu_template_id id, struct err *err);
int host_check_net(void *ctx, const struct vm_net *n, struct err *err);
int host_check_vfio(void *ctx, const struct vm_vfio *v, struct err *err);
/*
 * Under the name firecracker, --metadata's file read and parsed as
 * Firecracker's main does before anything else starts (its panics'
 * words): before the API socket is even looked at. 0 or -errno with err.
 */
int host_metadata_check(const struct host_opts *o, struct err *err);

/*
 * --mmds-size-limit and --metadata (host_metadata.c): the store, filled
 * from the file at start, in Firecracker's words as `firecracker`.
 */
int host_mmds(struct host *h, const struct host_opts *o, struct err *err);
/*
 * serde_json's words for text that is not JSON, where Hearth can tell
 * them ("EOF while parsing an object at line 6 column 0"); else jansson's.
 */
void host_json_fault(const char *buf, size_t len, char *out, size_t n);

/* PCI hotplug (ctl_vm_ops.plug and .unplug): vmm/vm_pci_hotplug.h on the running VM. */
/* The kept base of the last fork (struct host's fork_base) closed. */
void host_fork_forget(struct host *h);
int host_fork(void *ctx, const struct vm_config *cfg, const char *body, size_t len,
	      json_t **out, struct err *err);
int host_reset(void *ctx, json_t **out, struct err *err);
/*
 * A reset's base: the restore's state file (or a clone's memfd), opened
 * before the load (which seals the sandbox), -1 where there is none (a
 * Uffd restore); taken by the host once the load succeeded.
 */
int host_base_open(const struct snap_load_req *req);
void host_base_take(struct host *h, int fd);

int host_plug(void *ctx, const struct vm_config *cfg, const char *type, unsigned int i,
	      struct err *err);
int host_unplug(void *ctx, const char *type, const char *id, struct err *err);

#endif
