/* `hearth serve`: the Firecracker-compatible API, and the VM it starts, in this process. */
#ifndef HEARTH_API_SERVE_H
#define HEARTH_API_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"
#include "vmm/config.h"

/* Firecracker's default --api-sock, for the binary run as `firecracker`. */
#define SERVE_FIRECRACKER_SOCK "/run/firecracker.socket"

struct vm;
struct runner;
struct snap_create_req;
struct snap_load_req;
struct err;

/* Snapshots (src/snapshot), wired by the front end that starts the API. */
struct serve_snap_hooks {
	int (*create)(struct vm *vm, const struct vm_config *cfg,
		      const struct snap_create_req *req, struct err *err);
	int (*load)(struct runner *run, const struct snap_load_req *req, struct vm_config *cfg,
		    struct err *err);
};

struct serve_opts {
	const struct serve_snap_hooks *snap;   /* NULL: snapshots answer 400 */
	/* `hearth restore`: this snapshot is loaded instead of a config booted. */
	const struct snap_load_req *restore;
	const char *api_sock;
	const char *config_file;
	const char *id;
	bool no_api;
	size_t max_payload;
	int verbose;
	bool help;
	bool version;
	bool firecracker;           /* invoked as `firecracker`: its flags and defaults */
	bool no_seccomp;            /* --no-seccomp: no per-thread filters (src/sandbox) */
	bool no_sandbox;            /* --no-sandbox: no process sandbox (src/sandbox) */
	const char *snapshot_dir;   /* --snapshot-dir: kept writable by the sandbox; NULL: none */
	const char *kvm_path;       /* --kvm (hearth serve only); NULL: /dev/kvm */
	/* --jail DIR --uid U --gid G as given: src/sandbox checks them; NULL: not given. */
	const char *jail, *jail_uid, *jail_gid;
	/* The logger and metrics from the command line (as PUT /logger, PUT /metrics). */
	struct vm_logger logger;    /* log_path NULL: none */
	bool level_set;             /* --level given */
	const char *metrics_path;
	/* Firecracker's process-startup reporting: 0 / false when not given. */
	bool have_start_time, have_start_cpu, have_parent_cpu;
	uint64_t start_time_us, start_time_cpu_us, parent_cpu_time_us;
};

/*
 * Serves until the VM stops or a signal; returns the exit code (enum
 * hearth_exit). boot, when not NULL, is a VM to start at once (`hearth
 * run --api-sock`); it is taken over. Otherwise o->config_file's VM is.
 */
int serve_run(const struct serve_opts *o, struct vm_config *boot);

#endif
