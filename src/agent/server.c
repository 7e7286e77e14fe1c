/*
 * The agent's routes, what every request passes first (the access token,
 * a stale identity, where its body goes), and the handing of each to its
 * handler: envd's REST routes here, Connect's calls to rpc.c.
 *   GET  /health      204, never behind the token
 *   POST /init        init.c
 *   GET  /envs        init.c
 *   GET  /files       files.c
 *   POST /files       files.c
 *   POST /process.Process/..., /filesystem.Filesystem/...   rpc.c
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "agent/agent.h"
#include "agent/auth.h"
#include "agent/files.h"
#include "agent/http.h"
#include "agent/init.h"
#include "agent/proc.h"
#include "agent/rpc.h"
#include "agent/server.h"
#include "agent/vmgenid.h"
#include "agent/watch.h"

/* /init's body: a CA bundle is the largest thing in it. */
#define INIT_MAX_BODY (1u << 20)
#define SMALL_BODY (64u << 10)

enum route { R_NONE, R_HEALTH, R_INIT, R_ENVS, R_FILES, R_RPC };

struct route_ctx {
	enum route route;
	const struct rpc_method *m;
};

static enum route classify(const struct http_req *r, const struct rpc_method **m)
{
	*m = NULL;
	if (!strcmp(r->path, "/health"))
		return R_HEALTH;
	if (!strcmp(r->path, "/init"))
		return R_INIT;
	if (!strcmp(r->path, "/envs"))
		return R_ENVS;
	if (!strcmp(r->path, "/files"))
		return R_FILES;
	*m = rpc_find(r->path);
	return *m ? R_RPC : R_NONE;
}

static bool method_ok(enum route route, unsigned int method)
{
	switch (route) {
	case R_HEALTH:
		/* 204 has no body, so HEAD is answered as GET is. */
		return method == HTTP_GET || method == HTTP_HEAD;
	case R_ENVS:
		return method == HTTP_GET;
	case R_INIT:
		return method == HTTP_POST;
	case R_FILES:
		return method == HTTP_GET || method == HTTP_POST;
	default:
		/* rpc.c answers a Connect call's wrong method in Connect's words. */
		return true;
	}
}

/* An error before the body: in Connect's words for a call, envd's for the rest. */
static void refuse(struct http_conn *c, struct http_req *r, enum route route,
		   unsigned int status, enum rpc_code code, const char *msg)
{
	struct rpc_err e;

	if (route == R_RPC) {
		rpc_fail(&e, code, "%s", msg);
		rpc_reply_error(c, r, &e);
		return;
	}
	files_error(c, status, "%s", msg);
}

static void on_headers(void *opaque, struct http_conn *c, struct http_req *r)
{
	struct agent *a = opaque;
	const struct rpc_method *m;
	enum route route = classify(r, &m);

	if (route == R_NONE) {
		files_error(c, 404, "no route for %s %s", r->method_str, r->path);
		return;
	}
	if (!method_ok(route, r->method)) {
		files_error(c, 405, "method %s not allowed on %s", r->method_str, r->path);
		return;
	}
	if (route != R_HEALTH && !auth_token_ok(a, r)) {
		refuse(c, r, route, 401, RPC_UNAUTHENTICATED,
		       "unauthorized access, please provide a valid access token");
		return;
	}
	if (a->stale && route != R_HEALTH && route != R_INIT) {
		refuse(c, r, route, 503, RPC_UNAVAILABLE,
		       "the sandbox was cloned or restored and waits for its new identity (POST /init)");
		return;
	}
	switch (route) {
	case R_INIT:
		http_body_memory(c, INIT_MAX_BODY);
		break;
	case R_RPC:
		http_body_memory(c, a->cfg.max_body);
		break;
	case R_FILES:
		if (r->method == HTTP_POST) {
			files_post_headers(a, c, r);
			break;
		}
		/* fall through */
	default:
		http_body_memory(c, SMALL_BODY);
		break;
	}
}

static void on_request(void *opaque, struct http_conn *c, struct http_req *r)
{
	struct agent *a = opaque;
	const struct rpc_method *m;

	switch (classify(r, &m)) {
	case R_HEALTH:
		http_reply(c, 204, NULL, NULL, NULL, 0);
		break;
	case R_INIT:
		init_post(a, c, r);
		break;
	case R_ENVS:
		init_envs(a, c, r);
		break;
	case R_FILES:
		if (r->method == HTTP_POST)
			files_post(a, c, r);
		else
			files_get(a, c, r);
		break;
	case R_RPC:
		rpc_serve(a, m, c, r);
		break;
	default:
		files_error(c, 404, "no route for %s %s", r->method_str, r->path);
		break;
	}
}

const struct http_ops agent_http_ops = {
	.on_headers = on_headers,
	.on_request = on_request,
};
