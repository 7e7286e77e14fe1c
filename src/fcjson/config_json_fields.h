/*
 * The field tables every part of the codec checks Firecracker's objects
 * with (config_json_fields.c), shared with the API's snapshot bodies, so
 * their objects get the same checks and messages. The codec's ground
 * floor: it includes no other part of it but the fault words.
 */
#ifndef HEARTH_FCJSON_CONFIG_JSON_FIELDS_H
#define HEARTH_FCJSON_CONFIG_JSON_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/err.h"

/* J_ENUM: a string, one of the field's variants (a Rust enum of unit variants). */
enum jtype { J_STR, J_BOOL, J_UINT, J_OBJ, J_ARR, J_ENUM };

/* One field of a Firecracker object: its JSON type, and whether Hearth takes it. */
struct jfield {
	const char *name;
	enum jtype type;
	bool required;
	const char *unsupported;  /* non-NULL: given (not null) is an error, with this reason */
	/*
	 * Firecracker's Rust type as serde names it in "expected ...": "u8",
	 * "usize", "struct RateLimiterConfig"; NULL: the type's usual one
	 * ("a string", "a boolean", "u64"). An integer type bounds J_UINT.
	 */
	const char *expect;
	const char *const *variants;  /* J_ENUM's, NULL-terminated, in Firecracker's order */
};

/*
 * o is an object with no unknown field, each of its type, nothing
 * unsupported, every required one there (null counts as left out, but
 * not for a required field: Firecracker's is no Option); -EINVAL with
 * "what: ..." in err otherwise, in serde's words where Firecracker's
 * deserializer would refuse it (vmm/config_json_fault.h). fields are in
 * Firecracker's order, which is the order of its messages' lists.
 */
int config_json_check(const char *what, json_t *o, const struct jfield *fields, struct err *err);
/* The same; enforce_required false for a PATCH (MachineConfigUpdate: none required). */
int config_json_check_fields(const char *what, json_t *o, const struct jfield *fields,
			     bool enforce_required, struct err *err);

#endif
