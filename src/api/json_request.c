/*
 * The API's own JSON, apart from the config objects it shares with the
 * config file (vmm/config_json.h): the PATCH bodies.
 */
#include "api/json_request.h"

#include <errno.h>
#include <string.h>

#include "vmm/config_json_limiter.h"

/* The id field: there, a string, and the one in the path. */
static int patch_id(const char *what, json_t *o, const char *name, const char *path_id,
		    const char **id, struct err *err)
{
	json_t *v = json_object_get(o, name);

	*id = json_string_value(v);
	if (!v || json_is_null(v))
		return err_set(err, true, -EINVAL, "%s: missing required field '%s'", what, name);
	if (!*id)
		return err_set(err, true, -EINVAL, "%s: field '%s' must be a string", what, name);
	if (path_id && strcmp(*id, path_id) != 0)
		return err_set(err, true, -EINVAL, "%s: %s '%.64s' in the body does not match "
			       "'%.64s' in the path", what, name, *id, path_id);
	return 0;
}

/* Every key is one of names; strings and objects are typed by the callers. */
static int known_keys(const char *what, json_t *o, const char *const *names, struct err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		const char *const *n = names;

		while (*n && strcmp(*n, key) != 0)
			n++;
		if (!*n)
			return err_set(err, true, -EINVAL, "%s: unknown field '%.64s'", what, key);
	}
	return 0;
}

int api_json_patch_drive(json_t *o, const char *path_id, struct vm_drive_patch *p, struct err *err)
{
	static const char *const fields[] = { "drive_id", "path_on_host", "rate_limiter", NULL };
	const char *what = "drives";
	json_t *path;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = known_keys(what, o, fields, err);
	if (!ret)
		ret = patch_id(what, o, "drive_id", path_id, &p->id, err);
	if (ret)
		return ret;
	path = json_object_get(o, "path_on_host");
	if (path && !json_is_null(path) && !json_is_string(path))
		return err_set(err, true, -EINVAL, "%s: field 'path_on_host' must be a string",
			       what);
	p->path_on_host = json_string_value(path);
	return config_json_limiter(what, o, "rate_limiter", &p->rate_limiter, err);
}

int api_json_patch_net(json_t *o, const char *path_id, struct vm_net_patch *p, struct err *err)
{
	static const char *const fields[] = { "iface_id", "rx_rate_limiter", "tx_rate_limiter",
					      NULL };
	const char *what = "network-interfaces";
	int ret;

	memset(p, 0, sizeof(*p));
	ret = known_keys(what, o, fields, err);
	if (!ret)
		ret = patch_id(what, o, "iface_id", path_id, &p->id, err);
	if (!ret)
		ret = config_json_limiter(what, o, "rx_rate_limiter", &p->rx_rate_limiter, err);
	if (!ret)
		ret = config_json_limiter(what, o, "tx_rate_limiter", &p->tx_rate_limiter, err);
	return ret;
}
