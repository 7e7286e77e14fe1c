/* Which request counts where in Firecracker's API groups, and the counting. */
#include "vmm/metrics_api.h"

#include <stdio.h>
#include <string.h>

#include "vmm/metrics.h"

struct metrics_api_route {
	const char *method;
	const char *segment;   /* the path's first ("" for "/") */
	const char *second;    /* the second too, where Firecracker's match needs it; or NULL */
	const char *group;
	const char *name;      /* "<name>_count", "<name>_fails" */
};

/* Firecracker's ParsedRequest match: the arms that count (its api_server request parsers). */
static const struct metrics_api_route api_routes[METRICS_API_ROUTES] = {
	{ "GET", "", NULL, "get_api_requests", "instance_info" },
	{ "GET", "machine-config", NULL, "get_api_requests", "machine_cfg" },
	{ "GET", "mmds", NULL, "get_api_requests", "mmds" },
	{ "GET", "version", NULL, "get_api_requests", "vmm_version" },
	{ "GET", "hotplug", "memory", "get_api_requests", "hotplug_memory" },
	{ "PUT", "actions", NULL, "put_api_requests", "actions" },
	{ "PUT", "boot-source", NULL, "put_api_requests", "boot_source" },
	{ "PUT", "cpu-config", NULL, "put_api_requests", "cpu_cfg" },
	{ "PUT", "drives", NULL, "put_api_requests", "drive" },
	{ "PUT", "pmem", NULL, "put_api_requests", "pmem" },
	{ "PUT", "logger", NULL, "put_api_requests", "logger" },
	{ "PUT", "serial", NULL, "put_api_requests", "serial" },
	{ "PUT", "machine-config", NULL, "put_api_requests", "machine_cfg" },
	{ "PUT", "metrics", NULL, "put_api_requests", "metrics" },
	/* /mmds and /mmds/config alike, as Firecracker's parse_put_mmds. */
	{ "PUT", "mmds", NULL, "put_api_requests", "mmds" },
	{ "PUT", "network-interfaces", NULL, "put_api_requests", "network" },
	{ "PUT", "vsock", NULL, "put_api_requests", "vsock" },
	{ "PUT", "hotplug", "memory", "put_api_requests", "hotplug_memory" },
	{ "PATCH", "drives", NULL, "patch_api_requests", "drive" },
	{ "PATCH", "machine-config", NULL, "patch_api_requests", "machine_cfg" },
	{ "PATCH", "mmds", NULL, "patch_api_requests", "mmds" },
	{ "PATCH", "network-interfaces", NULL, "patch_api_requests", "network" },
	{ "PATCH", "pmem", NULL, "patch_api_requests", "pmem" },
	{ "PATCH", "hotplug", "memory", "patch_api_requests", "hotplug_memory" },
};

/*
 * Whether the segment of path at *p (its leading '/'s skipped) is seg,
 * all of it; *p moves past it. "" is the empty one: "/" has it, "/x" not.
 */
static bool segment_is(const char **p, const char *seg)
{
	size_t n = strlen(seg);

	while (**p == '/')
		(*p)++;
	if (strncmp(*p, seg, n) || ((*p)[n] && (*p)[n] != '/'))
		return false;
	*p += n;
	return true;
}

int metrics_api_route(const char *method, const char *path, bool has_body)
{
	bool get = !strcmp(method, "GET");

	/* Firecracker's parser takes a GET without a body, a PUT or PATCH with one. */
	if (get == has_body)
		return -1;
	for (int i = 0; i < METRICS_API_ROUTES; i++) {
		const struct metrics_api_route *r = &api_routes[i];
		const char *p = path;

		if (strcmp(r->method, method) || !segment_is(&p, r->segment))
			continue;
		if (r->second && !segment_is(&p, r->second))
			continue;
		return i;
	}
	return -1;
}

void metrics_api_count(struct metrics_api *a, int route)
{
	if (route >= 0 && route < METRICS_API_ROUTES)
		__atomic_fetch_add(&a->count[route], 1, __ATOMIC_RELAXED);
}

void metrics_api_done(struct metrics_api *a, int route, bool failed, bool deprecated)
{
	if (failed && route >= 0 && route < METRICS_API_ROUTES)
		__atomic_fetch_add(&a->fails[route], 1, __ATOMIC_RELAXED);
	if (deprecated)
		__atomic_fetch_add(&a->deprecated, 1, __ATOMIC_RELAXED);
}

void metrics_api_collect(struct metrics_api *a, json_t *counters)
{
	char name[40];

	for (int i = 0; i < METRICS_API_ROUTES; i++) {
		const struct metrics_api_route *r = &api_routes[i];

		snprintf(name, sizeof(name), "%s_count", r->name);
		metrics_add(counters, r->group, name,
			    __atomic_load_n(&a->count[i], __ATOMIC_RELAXED));
		/* Firecracker's GETs have no fails: they take no body to refuse. */
		if (!strcmp(r->method, "GET"))
			continue;
		snprintf(name, sizeof(name), "%s_fails", r->name);
		metrics_add(counters, r->group, name,
			    __atomic_load_n(&a->fails[i], __ATOMIC_RELAXED));
	}
	metrics_add(counters, "deprecated_api", "deprecated_http_api_calls",
		    __atomic_load_n(&a->deprecated, __ATOMIC_RELAXED));
}
