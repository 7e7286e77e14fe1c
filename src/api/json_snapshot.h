/*
 * The bodies of PUT /snapshot/create and PUT /snapshot/load, in
 * Firecracker's shapes (SnapshotCreateParams, SnapshotLoadParams,
 * NetworkOverride). Pure parsing: strings point into the JSON object,
 * which must outlive the request.
 */
#ifndef HEARTH_API_JSON_SNAPSHOT_H
#define HEARTH_API_JSON_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "vmm/config.h"

struct api_snap_create {
	bool diff;                      /* snapshot_type "Diff" (default "Full") */
	const char *snapshot_path;
	const char *mem_file_path;
};

struct api_snap_net_override {
	const char *iface_id;
	const char *host_dev_name;
};

struct api_snap_load {
	const char *snapshot_path;
	const char *mem_path;           /* mem_backend.backend_path, or the deprecated mem_file_path */
	bool track_dirty_pages;         /* or the deprecated enable_diff_snapshots */
	bool resume_vm;
	unsigned int n_overrides;
	struct api_snap_net_override overrides[VM_MAX_NETS];
};

/* 0, or -EINVAL with one line in err ("snapshot/create: ..."). */
int json_snapshot_create(json_t *o, struct api_snap_create *c, char *err, size_t errlen);
/* 0, or -EINVAL with one line in err; a Uffd backend is refused here. */
int json_snapshot_load(json_t *o, struct api_snap_load *l, char *err, size_t errlen);

#endif
