/* The default environment (env.h): a small array, looked up by key. */
#include "agent/env.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool env_key_ok(const char *key)
{
	return key[0] && !strchr(key, '=');
}

static struct env_var *env_find(const struct env_vars *e, const char *key)
{
	for (size_t i = 0; i < e->n; i++)
		if (!strcmp(e->v[i].key, key))
			return &e->v[i];
	return NULL;
}

const char *env_get(const struct env_vars *e, const char *key)
{
	struct env_var *v = env_find(e, key);

	return v ? v->value : NULL;
}

int env_set(struct env_vars *e, const char *key, const char *value, bool internal)
{
	struct env_var *v = env_find(e, key);
	char *nv;

	if (!env_key_ok(key))
		return -EINVAL;
	if (v && v->internal && !internal)
		return 0;
	nv = strdup(value);
	if (!nv)
		return -ENOMEM;
	if (v) {
		free(v->value);
		v->value = nv;
		v->internal = internal;
		return 0;
	}
	if (e->n == ENV_MAX_VARS)
		goto err_free;
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct env_var *na = realloc(e->v, cap * sizeof(*na));

		if (!na)
			goto err_free;
		e->v = na;
		e->cap = cap;
	}
	e->v[e->n].key = strdup(key);
	if (!e->v[e->n].key)
		goto err_free;
	e->v[e->n].value = nv;
	e->v[e->n].internal = internal;
	e->n++;
	return 0;

err_free:
	free(nv);
	return e->n == ENV_MAX_VARS ? -E2BIG : -ENOMEM;
}

int env_replace_user(struct env_vars *e, json_t *obj)
{
	const char *key;
	json_t *val;
	size_t kept = 0;
	int ret;

	if (!json_is_object(obj) || json_object_size(obj) > ENV_MAX_VARS)
		return -EINVAL;
	json_object_foreach(obj, key, val) {
		/* No NUL inside either: pjson_parse refuses \u0000 (no JSON_ALLOW_NUL). */
		if (!json_is_string(val) || !env_key_ok(key))
			return -EINVAL;
	}
	for (size_t i = 0; i < e->n; i++) {
		if (e->v[i].internal) {
			e->v[kept++] = e->v[i];
			continue;
		}
		free(e->v[i].key);
		free(e->v[i].value);
	}
	e->n = kept;
	json_object_foreach(obj, key, val) {
		ret = env_set(e, key, json_string_value(val), false);
		if (ret)
			return ret;
	}
	return 0;
}

json_t *env_to_json(const struct env_vars *e)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < e->n; i++)
		if (json_object_set_new(o, e->v[i].key, json_string(e->v[i].value))) {
			json_decref(o);
			return NULL;
		}
	return o;
}

void env_free(struct env_vars *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].key);
		free(e->v[i].value);
	}
	free(e->v);
	*e = (struct env_vars){ 0 };
}
