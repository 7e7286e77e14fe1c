/*
 * The bodies of PUT /migrate and PUT /migrate/incoming (Hearth's;
 * docs/migration.md):
 *
 *   PUT /migrate           {"uri": "unix:PATH", "downtime_limit_ms": 300,
 *                           "max_iterations": 30}
 *   PUT /migrate/incoming  {"uri": "unix:PATH", "resume_vm": true,
 *                           "track_dirty_pages": false, and a restore's
 *                           overrides: "network_overrides", "drive_overrides",
 *                           "pmem_overrides", "vsock_override"}
 *
 * Strings are borrowed from o.
 */
#ifndef HEARTH_API_JSON_MIGRATE_H
#define HEARTH_API_JSON_MIGRATE_H

#include <stdbool.h>

#include <jansson.h>

#include "control/control.h"
#include "util/err.h"

#define MIGRATE_MAX_DOWNTIME_MS 60000u
#define MIGRATE_MAX_ITERATIONS 1000u
/* max_mem_mib's ceiling: a machine-config's largest RAM (1 TiB). */
#define MIGRATE_MAX_MEM_MIB (1024u * 1024u)

/* 0, or -EINVAL with one line in err naming the field ("migrate: ..."). */
int json_migrate_parse(json_t *o, bool incoming, struct ctl_migrate_req *r, struct err *err);

#endif
