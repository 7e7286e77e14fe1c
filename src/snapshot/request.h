/*
 * What a snapshot create or load asks for, whoever asks: the API's
 * PUT /snapshot/create and /snapshot/load (api/json_snapshot.c parses
 * Firecracker's SnapshotCreateParams, SnapshotLoadParams and
 * NetworkOverride into these) or `hearth restore`'s flags. Strings are
 * borrowed from whatever the request came in, which must outlive it.
 */
#ifndef HEARTH_SNAPSHOT_REQUEST_H
#define HEARTH_SNAPSHOT_REQUEST_H

#include <stdbool.h>

#include "vmm/config.h"

struct snap_create_req {
	bool diff;                      /* snapshot_type "Diff" (default "Full") */
	const char *snapshot_path;
	const char *mem_file_path;
};

struct snap_net_override {
	const char *iface_id;
	const char *host_dev_name;
};

struct snap_load_req {
	const char *snapshot_path;
	const char *mem_path;           /* mem_backend.backend_path, or the deprecated mem_file_path */
	bool track_dirty_pages;         /* or the deprecated enable_diff_snapshots */
	bool resume_vm;
	unsigned int n_overrides;
	struct snap_net_override overrides[VM_MAX_NETS];
};

#endif
