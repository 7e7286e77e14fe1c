/*
 * The API's own JSON, apart from the config objects it shares with the
 * config file (vmm/config_json.h): the PATCH bodies.
 */
#include "api/json_request.h"

#include <errno.h>
#include <string.h>

#include "fcjson/config_json_fields.h"
#include "fcjson/config_json_limiter.h"

/* Firecracker's BlockDeviceUpdateConfig and NetworkInterfaceUpdateConfig. */
static const struct jfield drive_patch_fields[] = {
	{ "drive_id", J_STR, true, NULL, NULL, NULL },
	{ "path_on_host", J_STR, false, NULL, NULL, NULL },
	{ "rate_limiter", J_OBJ, false, NULL, "struct RateLimiterConfig", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield net_patch_fields[] = {
	{ "iface_id", J_STR, true, NULL, NULL, NULL },
	{ "rx_rate_limiter", J_OBJ, false, NULL, "struct RateLimiterConfig", NULL },
	{ "tx_rate_limiter", J_OBJ, false, NULL, "struct RateLimiterConfig", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

int api_json_patch_drive(json_t *o, const char *path_id, struct vm_drive_patch *p, struct err *err)
{
	const char *what = "drives";
	int ret;

	memset(p, 0, sizeof(*p));
	ret = config_json_check(what, o, drive_patch_fields, err);
	if (ret)
		return ret;
	p->id = json_string_value(json_object_get(o, "drive_id"));
	/* Firecracker's words, which name neither id (parse_patch_drive). */
	if (path_id && strcmp(p->id, path_id) != 0)
		return err_set(err, true, -EINVAL, "The id from the path does not match the id "
			       "from the body!");
	p->path_on_host = json_string_value(json_object_get(o, "path_on_host"));
	p->has_rate_limiter = json_is_object(json_object_get(o, "rate_limiter"));
	return config_json_limiter(what, o, "rate_limiter", &p->rate_limiter, err);
}

int api_json_patch_net(json_t *o, const char *path_id, struct vm_net_patch *p, struct err *err)
{
	const char *what = "network-interfaces";
	int ret;

	memset(p, 0, sizeof(*p));
	ret = config_json_check(what, o, net_patch_fields, err);
	if (ret)
		return ret;
	p->id = json_string_value(json_object_get(o, "iface_id"));
	if (path_id && strcmp(p->id, path_id) != 0)
		return err_set(err, true, -EINVAL, "The id from the path [%s] does not match the id "
			       "from the body [%s]!", path_id, p->id);
	ret = config_json_limiter(what, o, "rx_rate_limiter", &p->rx_rate_limiter, err);
	if (!ret)
		ret = config_json_limiter(what, o, "tx_rate_limiter", &p->tx_rate_limiter, err);
	return ret;
}
