/*
 * The default environment every process the agent starts gets: the
 * agent's own variables (E2B_SANDBOX, ...) and those POST /init set,
 * which replace the previous /init's whole but never the agent's own.
 */
#ifndef HEARTH_AGENT_ENV_H
#define HEARTH_AGENT_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct env_var {
	char *key;
	char *value;
	bool internal;        /* the agent's own: /init cannot change it */
};

struct env_vars {
	struct env_var *v;
	size_t n, cap;
};

#define ENV_MAX_VARS 4096u

/* Whether key can name a variable: not empty, no '=', no NUL (a C string has none). */
bool env_key_ok(const char *key);
/* Sets key (internal or not); an internal one is not replaced by a user one. 0 or -errno. */
int env_set(struct env_vars *e, const char *key, const char *value, bool internal);
const char *env_get(const struct env_vars *e, const char *key);
/*
 * POST /init's envVars: a JSON object of strings (checked whole first:
 * -EINVAL leaves e as it was) replacing every user variable.
 */
int env_replace_user(struct env_vars *e, json_t *obj);
/* {"KEY": "value", ...}: GET /envs. */
json_t *env_to_json(const struct env_vars *e);
void env_free(struct env_vars *e);

#endif
