/*
 * The MMDS store: one JSON document, replaced by PUT /mmds and merged
 * into by PATCH /mmds (RFC 7396), both refused when the result's compact
 * text passes the size limit, as Firecracker's data_store.rs does.
 */
#include "mmds/mmds.h"
#include "mmds/mmds_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int mmds_new(size_t size_limit, struct mmds **out)
{
	struct mmds *m = calloc(1, sizeof(*m));
	int ret;

	if (!m)
		return -ENOMEM;
	ret = pthread_mutex_init(&m->lock, NULL);
	if (ret) {
		free(m);
		return -ret;
	}
	m->limit = size_limit;
	m->version = MMDS_V1;
	*out = m;
	return 0;
}

void mmds_free(struct mmds *m)
{
	if (!m)
		return;
	json_decref(m->data);
	if (m->tokens)
		explicit_bzero(m->tokens, MMDS_TOKENS_MAX * sizeof(*m->tokens));
	free(m->tokens);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void mmds_set_version(struct mmds *m, enum mmds_version v, bool imds_compat)
{
	pthread_mutex_lock(&m->lock);
	m->version = v == MMDS_V2 ? MMDS_V2 : MMDS_V1;
	m->imds_compat = imds_compat;
	pthread_mutex_unlock(&m->lock);
}

enum mmds_version mmds_get_version(struct mmds *m)
{
	enum mmds_version v;

	pthread_mutex_lock(&m->lock);
	v = m->version;
	pthread_mutex_unlock(&m->lock);
	return v;
}

/* The text as a JSON value; NULL with err (usage) when it is not one. */
static json_t *parse(const char *json, size_t len, struct err *err)
{
	json_error_t je;
	json_t *v;

	if (!json || !len) {
		err_set(err, true, -EINVAL, "MMDS: the body must be a JSON value, and is empty");
		return NULL;
	}
	v = json_loadb(json, len, JSON_DECODE_ANY, &je);
	if (!v)
		err_set(err, true, -EINVAL, "MMDS: the body is not JSON: %s at line %d column %d",
			je.text, je.line, je.column);
	return v;
}

/* Whether v's compact text fits the limit; measured without building it. */
static bool fits(const struct mmds *m, const json_t *v)
{
	return json_dumpb(v, NULL, 0, MMDS_DUMP_FLAGS) <= m->limit;
}

static int too_big(struct err *err)
{
	/* Firecracker's words, and its status: the API answers -EFBIG with 413. */
	return err_set(err, true, -EFBIG, "MMDS limit exceeded error: The MMDS patch request "
		       "doesn't fit.");
}

int mmds_put(struct mmds *m, const char *json, size_t len, struct err *err)
{
	json_t *v = parse(json, len, err);

	if (!v)
		return -EINVAL;
	if (!fits(m, v)) {
		json_decref(v);
		return too_big(err);
	}
	pthread_mutex_lock(&m->lock);
	json_decref(m->data);
	m->data = v;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/*
 * RFC 7396: patch merged into target (a reference merge takes over, NULL
 * for none), changed in place; returns the result (a reference) or NULL on
 * ENOMEM. target is the caller's own copy, so changing it in place is
 * safe. Recursion is as deep as the patch, which jansson's parser bounds
 * (2048 levels).
 */
static json_t *merge(json_t *target, json_t *patch)
{
	const char *key;
	json_t *pv;

	if (!json_is_object(patch)) {
		json_decref(target);
		return json_incref(patch);
	}
	if (!json_is_object(target)) {
		json_decref(target);
		target = json_object();
		if (!target)
			return NULL;
	}
	json_object_foreach(patch, key, pv) {
		json_t *merged;

		if (json_is_null(pv)) {
			json_object_del(target, key);
			continue;
		}
		merged = merge(json_incref(json_object_get(target, key)), pv);
		if (!merged || json_object_set_new(target, key, merged)) {
			json_decref(target);
			return NULL;
		}
	}
	return target;
}

int mmds_patch(struct mmds *m, const char *json, size_t len, struct err *err)
{
	json_t *p = parse(json, len, err), *v;
	int ret = 0;

	if (!p)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (!m->data) {
		ret = err_set(err, true, -EINVAL, "MMDS error: The MMDS data store is not "
			      "initialized.");
		goto out;
	}
	v = json_deep_copy(m->data);
	v = v ? merge(v, p) : NULL;
	if (!v) {
		ret = err_set(err, false, -ENOMEM, "MMDS: out of memory");
		goto out;
	}
	if (!fits(m, v)) {
		json_decref(v);
		ret = too_big(err);
		goto out;
	}
	json_decref(m->data);
	m->data = v;
out:
	pthread_mutex_unlock(&m->lock);
	json_decref(p);
	return ret;
}

char *mmds_get(struct mmds *m)
{
	char *s;

	pthread_mutex_lock(&m->lock);
	/* Firecracker answers {} for a store never PUT, or PATCHed to null. */
	s = m->data && !json_is_null(m->data) ? json_dumps(m->data, MMDS_DUMP_FLAGS) : strdup("{}");
	pthread_mutex_unlock(&m->lock);
	return s;
}
