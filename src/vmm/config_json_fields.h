/*
 * The field tables config_json.c checks Firecracker's objects with, shared
 * with config_json_observe.c and the API's snapshot bodies, so their
 * objects get the same checks and messages.
 */
#ifndef HEARTH_VMM_CONFIG_JSON_FIELDS_H
#define HEARTH_VMM_CONFIG_JSON_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/err.h"

enum jtype { J_STR, J_BOOL, J_UINT, J_OBJ, J_ARR };

/* One field of a Firecracker object: its JSON type, and whether Hearth takes it. */
struct jfield {
	const char *name;
	enum jtype type;
	bool required;
	const char *unsupported;  /* non-NULL: given (not null) is an error, with this reason */
};

/*
 * o is an object with no unknown field, each of its type, nothing
 * unsupported, every required one there (null counts as left out);
 * -EINVAL with "what: ..." in err otherwise.
 */
int config_json_check(const char *what, json_t *o, const struct jfield *fields, struct err *err);

#endif
