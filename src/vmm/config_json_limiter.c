#include "vmm/config_json_limiter.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool is_uint(json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* Only names in allowed, each an object (objects) or a non-negative integer. */
static int check_keys(const char *what, json_t *o, const char *const *allowed, bool objects,
		      struct err *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return err_set(err, true, -EINVAL, "%s: want a JSON object", what);
	json_object_foreach(o, key, v) {
		const char *const *a = allowed;

		while (*a && strcmp(*a, key) != 0)
			a++;
		if (!*a)
			return err_set(err, true, -EINVAL, "%s: unknown field '%.64s'", what, key);
		if (json_is_null(v))
			continue;
		if (objects ? !json_is_object(v) : !is_uint(v))
			return err_set(err, true, -EINVAL, "%s: field '%s' must be %s", what, key,
				       objects ? "an object" : "a non-negative integer");
	}
	return 0;
}

/* TokenBucket: size and refill_time required, one_time_burst optional. */
static int parse_bucket(const char *what, json_t *o, struct rl_bucket_config *b, struct err *err)
{
	static const char *const fields[] = { "size", "one_time_burst", "refill_time", NULL };
	static const char *const required[] = { "size", "refill_time", NULL };
	int ret;

	memset(b, 0, sizeof(*b));
	if (!o || json_is_null(o))
		return 0;
	ret = check_keys(what, o, fields, false, err);
	if (ret)
		return ret;
	for (int i = 0; required[i]; i++) {
		json_t *v = json_object_get(o, required[i]);

		if (!v || json_is_null(v))
			return err_set(err, true, -EINVAL, "%s: missing required field '%s'", what,
				       required[i]);
	}
	b->set = true;
	b->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
	b->refill_time = (uint64_t)json_integer_value(json_object_get(o, "refill_time"));
	b->one_time_burst = (uint64_t)json_integer_value(json_object_get(o, "one_time_burst"));
	b->burst_given = json_is_integer(json_object_get(o, "one_time_burst"));
	return 0;
}

int config_json_limiter(const char *what, json_t *o, const char *field, struct rl_config *out,
			struct err *err)
{
	static const char *const buckets[] = { "bandwidth", "ops", NULL };
	json_t *rl = json_object_get(o, field);
	char where[96];
	int ret;

	memset(out, 0, sizeof(*out));
	if (!rl || json_is_null(rl))
		return 0;
	if (!json_is_object(rl))
		return err_set(err, true, -EINVAL, "%s: field '%s' must be an object", what, field);
	snprintf(where, sizeof(where), "%s: %s", what, field);
	ret = check_keys(where, rl, buckets, true, err);
	if (ret)
		return ret;
	snprintf(where, sizeof(where), "%s: %s: bandwidth", what, field);
	ret = parse_bucket(where, json_object_get(rl, "bandwidth"), &out->bandwidth, err);
	if (ret)
		return ret;
	snprintf(where, sizeof(where), "%s: %s: ops", what, field);
	return parse_bucket(where, json_object_get(rl, "ops"), &out->ops, err);
}

/* Firecracker's TokenBucketConfig: a bucket or one_time_burst not given is null. */
static int dump_bucket(json_t *rl, const char *name, const struct rl_bucket_config *b)
{
	if (!b->set)
		return json_object_set_new(rl, name, json_null());
	return json_object_set_new(rl, name, json_pack("{s:I, s:o, s:I}", "size",
						       (json_int_t)b->size, "one_time_burst",
						       b->burst_given ?
						       json_integer((json_int_t)b->one_time_burst) :
						       json_null(), "refill_time",
						       (json_int_t)b->refill_time));
}

int config_json_dump_limiter(json_t *o, const char *field, const struct rl_config *rl)
{
	json_t *v;

	if (!o)
		return -ENOMEM;
	/* No bucket: null, as Firecracker reports a limiter given as {} or not at all. */
	if (!rl->bandwidth.set && !rl->ops.set)
		return json_object_set_new(o, field, json_null());
	v = json_object();
	if (!v || dump_bucket(v, "bandwidth", &rl->bandwidth) || dump_bucket(v, "ops", &rl->ops) ||
	    json_object_set_new(o, field, v))
		return -ENOMEM;
	return 0;
}
