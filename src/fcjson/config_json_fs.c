/* Hearth's virtio-fs objects (config_json_fs.h). */
#include "fcjson/config_json_fs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fcjson/config_json_fault.h"
#include "fcjson/config_json_fields.h"

static const struct jfield fs_fields[] = {
	{ "id", J_STR, true, NULL, NULL, NULL },
	{ "tag", J_STR, true, NULL, NULL, NULL },
	{ "socket", J_STR, true, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

int config_json_fs(struct vm_config *c, json_t *o, const char *path_id, struct err *err)
{
	const char *what = "fs";
	const char *id, *tag;
	struct vm_fs f;
	int ret = config_json_check(what, o, fs_fields, err);

	if (ret)
		return ret;
	id = json_string_value(json_object_get(o, "id"));
	if (path_id && strcmp(id, path_id) != 0)
		return jfault_plain(err, what, o, "The id from the path does not match the id "
				    "from the body!");
	ret = vm_config_check_id("id", id, err);
	if (ret)
		return err_prefix(err, ret, "%s: ", what);
	memset(&f, 0, sizeof(f));
	snprintf(f.id, sizeof(f.id), "%s", id);
	tag = json_string_value(json_object_get(o, "tag"));
	if (strlen(tag) > VM_FS_TAG_MAX)
		return err_set(err, true, -EINVAL, "%s: fs '%s': tag is %zu bytes; at most %u",
			       what, id, strlen(tag), VM_FS_TAG_MAX);
	snprintf(f.tag, sizeof(f.tag), "%s", tag);
	f.socket = (char *)json_string_value(json_object_get(o, "socket"));
	ret = vm_config_put_fs(c, &f, true, err);
	return ret ? err_prefix(err, ret, "%s: ", what) : 0;
}

json_t *config_json_dump_fs(const struct vm_config *c)
{
	json_t *arr = json_array();

	for (unsigned int i = 0; arr && i < c->nfs; i++)
		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "id", c->fs[i].id,
							 "tag", c->fs[i].tag, "socket",
							 c->fs[i].socket))) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}
