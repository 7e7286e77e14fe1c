/*
 * Who may call, and as whom. The access token (POST /init's accessToken)
 * is compared in constant time with X-Access-Token; the user a call acts
 * as comes from "Authorization: Basic base64(user:)", the SDK's way of
 * naming it (the password is empty and ignored: the token is the secret).
 */
#ifndef HEARTH_AGENT_AUTH_H
#define HEARTH_AGENT_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct agent;
struct http_req;

/* Whether r may be served: no token is set, or X-Access-Token is it. */
bool auth_token_ok(const struct agent *a, const struct http_req *r);
/* Authorization's user into name: 0, -ENOENT (no header), -EINVAL (not Basic, or malformed). */
int auth_basic_user(const struct http_req *r, char *name, size_t n);

#endif
