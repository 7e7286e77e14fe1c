/*
 * The field checks every part of the codec runs first (config_json_fields.h):
 * types, ranges, unknown and missing fields, in serde's words.
 */
#include "fcjson/config_json_fields.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fcjson/config_json_fault.h"

/* serde's name for a field's Rust type, in "invalid type: ..., expected NAME". */
static const char *expect_name(const struct jfield *f)
{
	static const char *const names[] = {
		[J_STR] = "a string",
		[J_BOOL] = "a boolean",
		[J_UINT] = "u64",
		[J_OBJ] = "a map",
		[J_ARR] = "a sequence",
		[J_ENUM] = "a string",
	};

	return f->expect ? f->expect : names[f->type];
}

/* The largest value of J_UINT's Rust type (jansson reads no more than int64's). */
static json_int_t uint_max(const struct jfield *f)
{
	if (f->expect && !strcmp(f->expect, "u8"))
		return UINT8_MAX;
	if (f->expect && !strcmp(f->expect, "u16"))
		return UINT16_MAX;
	if (f->expect && !strcmp(f->expect, "u32"))
		return UINT32_MAX;
	return INT64_MAX;
}

/* One field's value, not null, as Firecracker's deserializer takes it. */
static int check_value(const char *what, json_t *o, const char *key, json_t *v,
		       const struct jfield *f, struct err *err)
{
	switch (f->type) {
	case J_STR:
		return json_is_string(v) ? 0 : jfault_type(err, what, o, key, expect_name(f));
	case J_BOOL:
		return json_is_boolean(v) ? 0 : jfault_type(err, what, o, key, expect_name(f));
	case J_UINT:
		if (!json_is_integer(v))
			return jfault_type(err, what, o, key, expect_name(f));
		if (json_integer_value(v) < 0 || json_integer_value(v) > uint_max(f))
			return jfault_range(err, what, o, key, expect_name(f));
		return 0;
	case J_OBJ:
		return json_is_object(v) ? 0 : jfault_type(err, what, o, key, expect_name(f));
	case J_ARR:
		return json_is_array(v) ? 0 : jfault_type(err, what, o, key, expect_name(f));
	case J_ENUM:
		/* serde_json takes an enum from a string only: anything else is "expected value". */
		if (!json_is_string(v))
			return jfault_enum_type(err, what, o, key);
		for (const char *const *n = f->variants; n && *n; n++)
			if (!strcmp(*n, json_string_value(v)))
				return 0;
		return f->variants ? jfault_variant(err, what, o, key, f->variants) : 0;
	}
	return 0;
}

/*
 * Checks o against its fields: an object, no unknown field, each of the
 * right type, nothing unsupported, every required one there. A null value
 * counts as left out, but where Firecracker's field is no Option (a
 * required one) null is its wrong type. Key by key in the body's order,
 * then the missing ones in Firecracker's, as serde finds them.
 */
int config_json_check_fields(const char *what, json_t *o, const struct jfield *fields,
			     bool enforce_required, struct err *err)
{
	const char *names[32];
	const char *key;
	size_t n = 0;
	json_t *v;
	int ret;

	if (!json_is_object(o))
		return err_set(err, true, -EINVAL, "%s: want a JSON object", what);
	for (const struct jfield *f = fields; f->name && n < 31; f++)
		names[n++] = f->name;
	names[n] = NULL;
	json_object_foreach(o, key, v) {
		const struct jfield *f = fields;

		while (f->name && strcmp(f->name, key) != 0)
			f++;
		if (!f->name)
			return jfault_unknown(err, what, o, key, names);
		if (json_is_null(v)) {
			if (f->required && enforce_required)
				return jfault_type(err, what, o, key, expect_name(f));
			continue;
		}
		ret = check_value(what, o, key, v, f, err);
		if (ret)
			return ret;
		if (f->unsupported)
			return err_set(err, true, -EINVAL, "%s: %s is not supported yet%s%s", what,
				       key, *f->unsupported ? ": " : "", f->unsupported);
	}
	for (const struct jfield *f = fields; enforce_required && f->name; f++) {
		if (f->required && !json_object_get(o, f->name))
			return jfault_missing(err, what, o, f->name);
	}
	return 0;
}

int config_json_check(const char *what, json_t *o, const struct jfield *fields, struct err *err)
{
	return config_json_check_fields(what, o, fields, true, err);
}
