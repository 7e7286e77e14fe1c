/* Firecracker's pmem objects (config_json_pmem.h). */
#include "fcjson/config_json_pmem.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fcjson/config_json_fault.h"
#include "fcjson/config_json_fields.h"
#include "fcjson/config_json_limiter.h"

/* PmemConfig, in its order: id and path_on_host required, the rest defaulted. */
static const struct jfield pmem_fields[] = {
	{ "id", J_STR, true, NULL, NULL, NULL },
	{ "path_on_host", J_STR, true, NULL, NULL, NULL },
	{ "root_device", J_BOOL, false, NULL, NULL, NULL },
	{ "read_only", J_BOOL, false, NULL, NULL, NULL },
	{ "rate_limiter", J_OBJ, false, NULL, "struct RateLimiterConfig", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield update_fields[] = {
	{ "id", J_STR, true, NULL, NULL, NULL },
	{ "rate_limiter", J_OBJ, false, NULL, "struct RateLimiterConfig", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static bool jbool(json_t *o, const char *name)
{
	return json_is_true(json_object_get(o, name));
}

int config_json_pmem(struct vm_config *c, json_t *o, const char *path_id, struct err *err)
{
	const char *what = "pmem";
	struct vm_pmem p;
	const char *id;
	int ret;

	ret = config_json_check(what, o, pmem_fields, err);
	if (ret)
		return ret;
	id = json_string_value(json_object_get(o, "id"));
	if (path_id && strcmp(id, path_id) != 0)
		return jfault_plain(err, what, o, "The id from the path does not match the id "
				    "from the body!");
	ret = vm_config_check_id("id", id, err);
	if (ret)
		return err_prefix(err, ret, "%s: ", what);
	memset(&p, 0, sizeof(p));
	snprintf(p.id, sizeof(p.id), "%s", id);
	p.path_on_host = (char *)json_string_value(json_object_get(o, "path_on_host"));
	p.root_device = jbool(o, "root_device");
	p.read_only = jbool(o, "read_only");
	ret = config_json_limiter(what, o, "rate_limiter", &p.rate_limiter, err);
	if (ret)
		return ret;
	ret = vm_config_put_pmem(c, &p, true, err);
	return ret ? err_prefix(err, ret, "%s: ", what) : 0;
}

json_t *config_json_dump_pmem(const struct vm_config *c)
{
	json_t *arr = json_array();

	for (unsigned int i = 0; arr && i < c->npmem; i++) {
		const struct vm_pmem *p = &c->pmem[i];

		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:b}", "id", p->id,
							 "path_on_host", p->path_on_host,
							 "root_device", p->root_device,
							 "read_only", p->read_only)) ||
		    config_json_dump_limiter(json_array_get(arr, i), "rate_limiter",
					     &p->rate_limiter)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

int config_json_pmem_update(json_t *o, const char *path_id, struct rl_config *rl, bool *has_rl,
			    struct err *err)
{
	const char *what = "pmem";
	const char *id;
	int ret = config_json_check(what, o, update_fields, err);

	if (ret)
		return ret;
	id = json_string_value(json_object_get(o, "id"));
	if (path_id && strcmp(id, path_id) != 0)
		return jfault_plain(err, what, o, "The id from the path does not match the id "
				    "from the body!");
	memset(rl, 0, sizeof(*rl));
	*has_rl = json_object_get(o, "rate_limiter") &&
		  !json_is_null(json_object_get(o, "rate_limiter"));
	return *has_rl ? config_json_limiter(what, o, "rate_limiter", rl, err) : 0;
}
