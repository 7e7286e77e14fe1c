/* Firecracker's DevicePassthroughConfig (config_json_passthrough.h). */
#include "fcjson/config_json_passthrough.h"

#include <stdio.h>
#include <string.h>

#include "fcjson/config_json_fault.h"
#include "fcjson/config_json_fields.h"

/* Both required, nothing else (its serde(deny_unknown_fields)). */
static const struct jfield passthrough_fields[] = {
	{ "id", J_STR, true, NULL, NULL, NULL },
	{ "sbdf", J_STR, true, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

int config_json_passthrough(struct vm_config *c, json_t *o, const char *path_id,
			    struct err *err)
{
	const char *what = "device-passthrough";
	char sbdf[VM_SBDF_LEN + 1], path[VM_VFIO_PATH_MAX], words[512];
	struct err e = ERR_INIT;
	const char *id, *s;
	int ret;

	ret = config_json_check(what, o, passthrough_fields, err);
	if (ret)
		return ret;
	id = json_string_value(json_object_get(o, "id"));
	s = json_string_value(json_object_get(o, "sbdf"));
	/* Its deserialize_with's error, at the value: Firecracker's words, then what is wrong. */
	if (vm_vfio_parse_sbdf(s, sbdf, &e)) {
		snprintf(words, sizeof(words), "Invalid device passthrough SBDF: %.64s (%.300s)", s,
			 e.msg);
		return jfault_value(err, what, o, "sbdf", words);
	}
	if (path_id && strcmp(id, path_id) != 0)
		return jfault_plain(err, what, o, "The id from the path does not match the id "
				    "from the body!");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", sbdf);
	ret = vm_config_put_vfio(c, id, path, err);
	return ret ? err_prefix(err, ret, "%s: ", what) : 0;
}
