#include "fcjson/config_json_limiter.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fcjson/config_json_fault.h"
#include "fcjson/config_json_fields.h"

/* Firecracker's TokenBucketConfig and RateLimiterConfig. */
static const struct jfield bucket_fields[] = {
	{ "size", J_UINT, true, NULL, NULL, NULL },
	{ "one_time_burst", J_UINT, false, NULL, NULL, NULL },
	{ "refill_time", J_UINT, true, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield limiter_fields[] = {
	{ "bandwidth", J_OBJ, false, NULL, "struct TokenBucketConfig", NULL },
	{ "ops", J_OBJ, false, NULL, "struct TokenBucketConfig", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

/* A bucket: size and refill_time required, one_time_burst optional; null is none. */
static int parse_bucket(const char *what, json_t *o, struct rl_bucket_config *b, struct err *err)
{
	int ret;

	memset(b, 0, sizeof(*b));
	if (!o || json_is_null(o))
		return 0;
	ret = config_json_check(what, o, bucket_fields, err);
	if (ret)
		return ret;
	b->set = true;
	b->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
	b->refill_time = (uint64_t)json_integer_value(json_object_get(o, "refill_time"));
	b->one_time_burst = (uint64_t)json_integer_value(json_object_get(o, "one_time_burst"));
	b->burst_given = json_is_integer(json_object_get(o, "one_time_burst"));
	return 0;
}

int config_json_bucket(const char *what, json_t *o, const char *field,
		       struct rl_bucket_config *out, struct err *err)
{
	json_t *b = json_object_get(o, field);
	char where[96];

	memset(out, 0, sizeof(*out));
	if (!b || json_is_null(b))
		return 0;
	if (!json_is_object(b))
		return jfault_type(err, what, o, field, "struct TokenBucketConfig");
	snprintf(where, sizeof(where), "%s: %s", what, field);
	return parse_bucket(where, b, out, err);
}

int config_json_limiter(const char *what, json_t *o, const char *field, struct rl_config *out,
			struct err *err)
{
	json_t *rl = json_object_get(o, field);
	char where[96];
	int ret;

	memset(out, 0, sizeof(*out));
	if (!rl || json_is_null(rl))
		return 0;
	if (!json_is_object(rl))
		return jfault_type(err, what, o, field, "struct RateLimiterConfig");
	snprintf(where, sizeof(where), "%s: %s", what, field);
	ret = config_json_check(where, rl, limiter_fields, err);
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
