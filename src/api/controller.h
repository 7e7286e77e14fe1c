/*
 * The API's view of the instance: its state ("Not started", "Running",
 * "Paused"), its machine model while it is being configured, and the VM
 * behind a small ops table (the real one builds and runs a struct vm on
 * the process's event loop; unit tests plug in a fake, so no KVM is needed).
 */
#ifndef HEARTH_API_CONTROLLER_H
#define HEARTH_API_CONTROLLER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "snapshot/request.h"
#include "util/err.h"
#include "vmm/config.h"
#include "vmm/vm.h"

#define API_INSTANCE_ID_MAX 64

enum api_state { API_NOT_STARTED, API_RUNNING, API_PAUSED };

struct api_vm_ops {
	/* Builds and starts the VM described by cfg; 0, or -errno with err filled. */
	int (*start)(void *ctx, const struct vm_config *cfg, struct err *err);
	/* 0 or -errno (-ETIMEDOUT: a vCPU did not park in time). */
	int (*pause)(void *ctx);
	void (*resume)(void *ctx);
	/* Ctrl-Alt-Del on the guest's keyboard; 0 or -errno (-ENOSPC: not being read). */
	int (*ctrl_alt_del)(void *ctx);
	/*
	 * After boot: apply a checked PATCH to the running device (d is the
	 * model's drive before the change). 0, or -errno with err and the
	 * device as it was. NULL: live changes are refused.
	 */
	int (*patch_drive)(void *ctx, const struct vm_drive *d, const struct vm_drive_patch *p,
			   struct err *err);
	int (*patch_net)(void *ctx, const struct vm_net_patch *p, struct err *err);
	/*
	 * Metrics (NULL: not offered). metrics_open opens the file and starts
	 * the periodic flush (PUT /metrics); metrics_flush writes a line now
	 * (FlushMetrics). 0, or -errno with err filled.
	 */
	int (*metrics_open)(void *ctx, const char *path, struct err *err);
	int (*metrics_flush)(void *ctx, struct err *err);
	/*
	 * Snapshots (NULL: not offered; serve.c passes them on to the hooks
	 * the front end wired, serve_opts.snap). create: the VM is paused; 0
	 * or -errno with err. load: before any boot, builds and starts
	 * (paused, or running with resume_vm) the VM of the snapshot, and
	 * fills *cfg with its config; 0, or -errno with err (err->usage: the
	 * input was at fault).
	 */
	int (*snapshot_create)(void *ctx, const struct vm_config *cfg,
			       const struct snap_create_req *req, struct err *err);
	int (*snapshot_load)(void *ctx, const struct snap_load_req *req, struct vm_config *cfg,
			     struct err *err);
};

/* Requests served, for the metrics' "api_server" group; atomics, read by any thread. */
struct api_counts {
	uint64_t get, put, patch, other;
	uint64_t failed;            /* answered 4xx or 5xx */
};

struct api_ctl {
	pthread_mutex_t lock;       /* every request runs under it */
	struct vm_config cfg;       /* filled by PUTs; read-only once started */
	enum api_state state;
	char id[API_INSTANCE_ID_MAX + 1];
	const struct api_vm_ops *ops;
	void *ops_ctx;
	struct api_counts counts;
};

/* Firecracker's rule for --id: 1 to 64 characters, letters, digits and '-'. */
int api_ctl_check_id(const char *id, struct err *err);
/*
 * Takes over cfg (NULL: an empty model, entropy off as in Firecracker);
 * id NULL is "anonymous-instance", Firecracker's default.
 */
int api_ctl_init(struct api_ctl *ctl, const char *id, struct vm_config *cfg,
		 const struct api_vm_ops *ops, void *ops_ctx);
void api_ctl_destroy(struct api_ctl *ctl);
const char *api_state_name(enum api_state s);

/*
 * PATCH /drives/{id} and /network-interfaces/{id} (routes_patch.c): the
 * body o for the id in the path. A drive is patched in the model before
 * boot and in the model and the running disk after; a NIC only after
 * boot, as in Firecracker. The caller holds ctl->lock. 0 or -errno + err.
 */
int api_patch_drive(struct api_ctl *ctl, const char *id, json_t *o, struct err *err);
int api_patch_net(struct api_ctl *ctl, const char *id, json_t *o, struct err *err);

/* The InstanceStart action; the caller holds ctl->lock. 0, or -errno with err. */
int api_ctl_start(struct api_ctl *ctl, struct err *err);
/*
 * PUT /snapshot/create and /snapshot/load (controller_snap.c); the caller
 * holds ctl->lock. 0, or -errno with err; load's err->usage says whether
 * the request was at fault (the CLI's exit 2) or the host (exit 1).
 */
int api_ctl_snapshot_create(struct api_ctl *ctl, const struct snap_create_req *req,
			    struct err *err);
int api_ctl_snapshot_load(struct api_ctl *ctl, const struct snap_load_req *req,
			  struct err *err);

/* The SendCtrlAltDel action (after boot only); the caller holds ctl->lock. */
int api_ctl_ctrl_alt_del(struct api_ctl *ctl, struct err *err);

#endif
