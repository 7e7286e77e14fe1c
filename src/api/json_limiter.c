#include "api/json_limiter.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool is_uint(json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* Only names in allowed, each an object (objects) or a non-negative integer. */
static int check_keys(const char *what, json_t *o, const char *const *allowed, bool objects,
		      char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return fail(err, errlen, "%s: want a JSON object", what);
	json_object_foreach(o, key, v) {
		const char *const *a = allowed;

		while (*a && strcmp(*a, key) != 0)
			a++;
		if (!*a)
			return fail(err, errlen, "%s: unknown field '%.64s'", what, key);
		if (json_is_null(v))
			continue;
		if (objects ? !json_is_object(v) : !is_uint(v))
			return fail(err, errlen, "%s: field '%s' must be %s", what, key,
				    objects ? "an object" : "a non-negative integer");
	}
	return 0;
}

/* TokenBucket: size and refill_time required, one_time_burst optional. */
static int parse_bucket(const char *what, json_t *o, struct rl_bucket_config *b, char *err,
			size_t errlen)
{
	static const char *const fields[] = { "size", "one_time_burst", "refill_time", NULL };
	static const char *const required[] = { "size", "refill_time", NULL };
	int ret;

	memset(b, 0, sizeof(*b));
	if (!o || json_is_null(o))
		return 0;
	ret = check_keys(what, o, fields, false, err, errlen);
	if (ret)
		return ret;
	for (int i = 0; required[i]; i++) {
		json_t *v = json_object_get(o, required[i]);

		if (!v || json_is_null(v))
			return fail(err, errlen, "%s: missing required field '%s'", what,
				    required[i]);
	}
	b->set = true;
	b->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
	b->refill_time = (uint64_t)json_integer_value(json_object_get(o, "refill_time"));
	b->one_time_burst = (uint64_t)json_integer_value(json_object_get(o, "one_time_burst"));
	return 0;
}

int json_limiter_parse(const char *what, json_t *o, const char *field, struct rl_config *out,
		       char *err, size_t errlen)
{
	static const char *const buckets[] = { "bandwidth", "ops", NULL };
	json_t *rl = json_object_get(o, field);
	char where[96];
	int ret;

	memset(out, 0, sizeof(*out));
	if (!rl || json_is_null(rl))
		return 0;
	if (!json_is_object(rl))
		return fail(err, errlen, "%s: field '%s' must be an object", what, field);
	snprintf(where, sizeof(where), "%s: %s", what, field);
	ret = check_keys(where, rl, buckets, true, err, errlen);
	if (ret)
		return ret;
	snprintf(where, sizeof(where), "%s: %s: bandwidth", what, field);
	ret = parse_bucket(where, json_object_get(rl, "bandwidth"), &out->bandwidth, err, errlen);
	if (ret)
		return ret;
	snprintf(where, sizeof(where), "%s: %s: ops", what, field);
	return parse_bucket(where, json_object_get(rl, "ops"), &out->ops, err, errlen);
}

static int dump_bucket(json_t *rl, const char *name, const struct rl_bucket_config *b)
{
	if (!b->set)
		return 0;
	return json_object_set_new(rl, name, json_pack("{s:I, s:I, s:I}", "size",
						       (json_int_t)b->size, "one_time_burst",
						       (json_int_t)b->one_time_burst, "refill_time",
						       (json_int_t)b->refill_time));
}

int json_limiter_dump(json_t *o, const char *field, const struct rl_config *rl)
{
	json_t *v;

	if (!o)
		return -ENOMEM;
	if (!rl->bandwidth.set && !rl->ops.set)
		return 0;
	v = json_object();
	if (!v || dump_bucket(v, "bandwidth", &rl->bandwidth) || dump_bucket(v, "ops", &rl->ops) ||
	    json_object_set_new(o, field, v))
		return -ENOMEM;
	return 0;
}

/* The id field: there, a string, and the one in the path. */
static int patch_id(const char *what, json_t *o, const char *name, const char *path_id,
		    const char **id, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, name);

	*id = json_string_value(v);
	if (!v || json_is_null(v))
		return fail(err, errlen, "%s: missing required field '%s'", what, name);
	if (!*id)
		return fail(err, errlen, "%s: field '%s' must be a string", what, name);
	if (path_id && strcmp(*id, path_id) != 0)
		return fail(err, errlen, "%s: %s '%.64s' in the body does not match '%.64s' in "
			    "the path", what, name, *id, path_id);
	return 0;
}

/* Every key is one of names; strings and objects are typed by the callers. */
static int known_keys(const char *what, json_t *o, const char *const *names, char *err,
		      size_t errlen)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		const char *const *n = names;

		while (*n && strcmp(*n, key) != 0)
			n++;
		if (!*n)
			return fail(err, errlen, "%s: unknown field '%.64s'", what, key);
	}
	return 0;
}

int json_patch_drive(json_t *o, const char *path_id, struct vm_drive_patch *p, char *err,
		     size_t errlen)
{
	static const char *const fields[] = { "drive_id", "path_on_host", "rate_limiter", NULL };
	const char *what = "drives";
	json_t *path;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = known_keys(what, o, fields, err, errlen);
	if (!ret)
		ret = patch_id(what, o, "drive_id", path_id, &p->id, err, errlen);
	if (ret)
		return ret;
	path = json_object_get(o, "path_on_host");
	if (path && !json_is_null(path) && !json_is_string(path))
		return fail(err, errlen, "%s: field 'path_on_host' must be a string", what);
	p->path_on_host = json_string_value(path);
	return json_limiter_parse(what, o, "rate_limiter", &p->rate_limiter, err, errlen);
}

int json_patch_net(json_t *o, const char *path_id, struct vm_net_patch *p, char *err,
		   size_t errlen)
{
	static const char *const fields[] = { "iface_id", "rx_rate_limiter", "tx_rate_limiter",
					      NULL };
	const char *what = "network-interfaces";
	int ret;

	memset(p, 0, sizeof(*p));
	ret = known_keys(what, o, fields, err, errlen);
	if (!ret)
		ret = patch_id(what, o, "iface_id", path_id, &p->id, err, errlen);
	if (!ret)
		ret = json_limiter_parse(what, o, "rx_rate_limiter", &p->rx_rate_limiter, err,
					 errlen);
	if (!ret)
		ret = json_limiter_parse(what, o, "tx_rate_limiter", &p->tx_rate_limiter, err,
					 errlen);
	return ret;
}
