/*
 * Firecracker's API request counters: "get_api_requests",
 * "put_api_requests" and "patch_api_requests" (for each endpoint it
 * counts, "<endpoint>_count" and, for a PUT or PATCH, "<endpoint>_fails")
 * and "deprecated_api". A request counts where Firecracker's parser would
 * count it: by method and the path's first segment ("/drives/rootfs" is
 * "drives"), a GET without a body, a PUT or PATCH with one; before it
 * runs, so the line InstanceStart writes counts the InstanceStart.
 * Firecracker counts a fail only for a body it could not parse; Hearth
 * counts every such request answered 4xx or 5xx.
 */
#ifndef HEARTH_VMM_METRICS_API_H
#define HEARTH_VMM_METRICS_API_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

/* The endpoints Firecracker counts: 5 GETs, 13 PUTs, 6 PATCHes. */
#define METRICS_API_ROUTES 24

struct metrics_api {
	uint64_t count[METRICS_API_ROUTES];   /* atomics: any thread counts, the io thread reads */
	uint64_t fails[METRICS_API_ROUTES];
	uint64_t deprecated;                  /* requests answered "Deprecation: true" */
};

/* The endpoint counter a request counts in (0 to METRICS_API_ROUTES - 1), or -1. */
int metrics_api_route(const char *method, const char *path, bool has_body);
/* Counts a request to route (from metrics_api_route; -1: nothing). */
void metrics_api_count(struct metrics_api *a, int route);
/* The request to route was answered 4xx or 5xx; deprecated: it used a deprecated field. */
void metrics_api_done(struct metrics_api *a, int route, bool failed, bool deprecated);
/* The totals, into Firecracker's three groups and "deprecated_api" at counters' top. */
void metrics_api_collect(struct metrics_api *a, json_t *counters);

#endif
