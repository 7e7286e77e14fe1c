/*
 * Firecracker 1.16's metrics line, group by group and field by field, as
 * its FirecrackerMetrics serializes it and its tests' fcmetrics.py checks
 * it (every key required, no other key allowed, at every level). The
 * groups are in Firecracker's order; a line is made by filling each
 * with the values Hearth has and 0 for the rest (metrics_schema_render).
 */
#ifndef HEARTH_VMM_METRICS_SCHEMA_H
#define HEARTH_VMM_METRICS_SCHEMA_H

#include <stdbool.h>

#include <jansson.h>

enum metrics_field_kind {
	MF_COUNT,    /* a counter: each line has what happened since the previous one */
	MF_GAUGE,    /* a value as it is now (Firecracker's StoreMetric) */
	MF_LATENCY,  /* {"min_us", "max_us" (gauges), "sum_us" (a counter)} */
};

struct metrics_field {
	const char *name;
	enum metrics_field_kind kind;
};

enum metrics_group_kind {
	MG_ONE,         /* one group, always there */
	MG_PER_DEVICE,  /* "<name>_<id>" per device, then "<name>": their sum, always there */
	MG_DEVICES,     /* "<name>_<id>" per device, no sum (vhost_user) */
};

struct metrics_group {
	const char *name;
	enum metrics_group_kind kind;
	const struct metrics_field *fields;
	unsigned int nfields;
};

/* Every group of a line, in Firecracker's order (x86: no "rtc"). */
extern const struct metrics_group metrics_schema[];
extern const unsigned int metrics_schema_groups;

const struct metrics_group *metrics_schema_find(const char *name);
/* The field of g named name, or NULL. */
const struct metrics_field *metrics_schema_field(const struct metrics_group *g, const char *name);

/*
 * Appends Firecracker's groups to line, from values: a tree whose
 * fixed groups are at its top ({"vcpu": {"exit_io_in": N}}), whose
 * per-device groups are under METRICS_DEVICES by group and id
 * ({"devices": {"block": {"rootfs": {...}}}}), with a latency aggregate
 * as an object of its own. A field values lacks is 0; a key the schema
 * lacks is left out. Each aggregate ("block", "net", "pmem") is the sum
 * of its devices' values in this line, its latencies' min_us and max_us
 * 0, as Firecracker's aggregate is. 0 or -ENOMEM.
 */
int metrics_schema_render(json_t *line, json_t *values);

#endif
