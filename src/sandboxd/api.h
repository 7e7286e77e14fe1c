/*
 * E2B's REST API on util/httpd.c: the key, the routes (router.h) to the
 * operations (lifecycle.h), and every answer's status and body in E2B's
 * shapes, errors as {"code", "message"} naming the fault.
 */
#ifndef HEARTH_SANDBOXD_API_H
#define HEARTH_SANDBOXD_API_H

#include <stdbool.h>

#include "sandboxd/priv.h"
#include "util/httpd.h"

/* The largest request body the API keeps (the rest is a 413). */
#define SBX_API_MAX_BODY (1u << 20)

/*
 * At the headers: a request without the server's X-API-Key is answered
 * 401 at once (its body never read); true when reply is filled.
 */
bool sbx_api_refuse(struct sbx *s, const struct httpd_request *r, struct httpd_reply *reply);
/* A whole request: its answer into reply (its body malloc'd). */
void sbx_api_handle(struct sbx *s, const struct httpd_request *r, struct httpd_reply *reply);
/* Whether key (n bytes) is the server's, in time that does not depend on where they differ. */
bool sbx_api_key_ok(const struct sbx *s, const char *key, size_t n);
/* The status of an operation's -errno. */
unsigned int sbx_api_status(int err);
/* reply: E2B's Error with code and msg. */
void sbx_api_error(struct httpd_reply *reply, unsigned int code, const char *msg);

/* api_list.c: GET /v2/sandboxes with its filters and pagination. */
void sbx_api_list(struct sbx *s, const struct httpd_request *r, struct httpd_reply *reply);

#endif
