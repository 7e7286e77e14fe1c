/*
 * The bodies of PUT /snapshot/create and PUT /snapshot/load, in
 * Firecracker's shapes (SnapshotCreateParams, SnapshotLoadParams,
 * NetworkOverride), into the snapshot layer's requests. Pure parsing:
 * strings point into the JSON object, which must outlive the request.
 */
#ifndef HEARTH_API_JSON_SNAPSHOT_H
#define HEARTH_API_JSON_SNAPSHOT_H

#include <stddef.h>

#include <jansson.h>

#include "snapshot/request.h"
#include "util/err.h"

/* 0, or -EINVAL with one line in err ("snapshot/create: ..."). */
int json_snapshot_create(json_t *o, struct snap_create_req *c, struct err *err);
/* 0, or -EINVAL with one line in err. A Uffd backend sets l->mem_uffd, its socket in mem_path. */
int json_snapshot_load(json_t *o, struct snap_load_req *l, struct err *err);

/*
 * A restore's host resources alone (network_overrides, drive_overrides,
 * pmem_overrides, vsock_override) from o into l, which the caller zeroed;
 * what begins every refusal ("snapshot/load", "fork: clones[3]").
 */
int json_snapshot_overrides(json_t *o, struct snap_load_req *l, const char *what,
			    struct err *err);

#endif
