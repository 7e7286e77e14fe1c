/*
 * The API's routes: a request's method and path to an endpoint of E2B's
 * REST API (one static table), the sandbox id out of the path, and the
 * query's parameters. Pure: no server state, so the unit tests and the
 * fuzzer drive it alone.
 */
#ifndef HEARTH_SANDBOXD_ROUTER_H
#define HEARTH_SANDBOXD_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

enum sbx_route {
	SBX_R_NONE,         /* no such path: 404 */
	SBX_R_HEALTH,       /* GET /health (no key needed) */
	SBX_R_CREATE,       /* POST /v2/sandboxes, POST /sandboxes */
	SBX_R_LIST,         /* GET /v2/sandboxes, GET /sandboxes */
	SBX_R_GET,          /* GET /sandboxes/{id} */
	SBX_R_KILL,         /* DELETE /sandboxes/{id} */
	SBX_R_TIMEOUT,      /* POST /sandboxes/{id}/timeout */
	SBX_R_REFRESH,      /* POST /sandboxes/{id}/refreshes */
	SBX_R_PAUSE,        /* POST /sandboxes/{id}/pause */
	SBX_R_CONNECT,      /* POST /v2/sandboxes/{id}/connect, /sandboxes/{id}/connect, .../resume */
	SBX_R_FORK,         /* POST /sandboxes/{id}/fork */
	SBX_R_SNAPSHOT,     /* POST /sandboxes/{id}/snapshots */
	SBX_R_METRICS,      /* GET /sandboxes/{id}/metrics */
	SBX_R_UNSERVED,     /* an E2B endpoint Hearth does not serve: 501 naming it */
};

/* The most a path's id segment may take. */
#define SBX_ROUTE_ID_MAX 64

struct sbx_match {
	enum sbx_route route;
	bool method_ok;     /* false: the path is known, the method is not (405) */
	char id[SBX_ROUTE_ID_MAX + 1];
	const char *name;   /* the endpoint, for messages: "POST /sandboxes/{sandboxID}/pause" */
};

/* Fills m for method and path (path without its query). Never fails: SBX_R_NONE. */
void sbx_route_match(const char *method, const char *path, struct sbx_match *m);

/*
 * The first parameter called name in query ("a=1&b=2"), percent-decoded
 * ('+' a space) into out: its length, or -1 when absent, too long for
 * len (with its NUL) or badly escaped. Reads at most SBX_QUERY_MAX bytes
 * of query.
 */
#define SBX_QUERY_MAX 8192
int sbx_query_get(const char *query, const char *name, char *out, size_t len);
/* Percent-decodes in (n bytes) into out (len with its NUL): its length, or -1. */
int sbx_url_decode(const char *in, size_t n, char *out, size_t len);

#endif
