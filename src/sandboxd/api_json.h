/*
 * E2B's JSON, in the shapes of its OpenAPI spec (spec/openapi.yml, as the
 * `e2b` SDK 2.51 reads them): request bodies checked whole (a wrong type
 * or an unserved option is a 400 naming the field, never ignored), and
 * the answers built from a sandbox (lock held).
 */
#ifndef HEARTH_SANDBOXD_API_JSON_H
#define HEARTH_SANDBOXD_API_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sandboxd/lifecycle.h"
#include "sandboxd/priv.h"

/* Limits on what a client may store in the server. */
#define SBX_MAX_KV 64              /* metadata's and envVars' entries */
#define SBX_MAX_KV_LEN 4096        /* one key or value */

/*
 * The body as an object (NULL or empty: {} when allow_empty): 0 with *out
 * (decref it), or -EINVAL with e naming the fault and where.
 */
int sbx_json_body(const char *body, size_t len, bool allow_empty, json_t **out, struct err *e);
/* POST /v2/sandboxes: NewSandboxV2 into q (its objects borrowed from o). */
int sbx_json_new_sandbox(json_t *o, const struct sbx_config *cfg, struct sbx_create_req *q,
			 struct err *e);
/*
 * A "timeout" in seconds (what: the request, for the message): absent is
 * dflt when allowed (need false), 0 or past max_timeout refused.
 */
int sbx_json_timeout(json_t *o, const struct sbx_config *cfg, bool need, unsigned int dflt,
		     unsigned int *out, struct err *e);
/* POST .../fork: count (1 to 16, default 1) and timeout. */
int sbx_json_fork_req(json_t *o, const struct sbx_config *cfg, unsigned int *count,
		      unsigned int *timeout_s, struct err *e);
/* POST .../pause and .../connect: "memory" must be absent, null or true. */
int sbx_json_memory(json_t *o, struct err *e);

/* RFC 3339 in UTC with milliseconds, as E2B's dates. */
void sbx_json_date(int64_t ms, char out[32]);
/* Sandbox (create, connect, fork). */
json_t *sbx_json_sandbox(const struct sbx_box *b);
/* SandboxDetail (GET /sandboxes/{id}). */
json_t *sbx_json_detail(const struct sbx_box *b);
/* ListedSandbox (GET /v2/sandboxes). */
json_t *sbx_json_listed(const struct sbx_box *b);
/* E2B's Error: {"code", "message"}. */
char *sbx_json_error(unsigned int code, const char *msg);

#endif
