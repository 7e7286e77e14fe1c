/* Firecracker's memory hotplug objects (config_json_hotplug.h). */
#include "fcjson/config_json_hotplug.h"

#include <errno.h>

#include "fcjson/config_json_fields.h"

static const struct jfield hotplug_fields[] = {
	{ "total_size_mib", J_UINT, true, NULL, "u32", NULL },
	{ "block_size_mib", J_UINT, false, NULL, "u32", NULL },
	{ "slot_size_mib", J_UINT, false, NULL, "u32", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield update_fields[] = {
	{ "requested_size_mib", J_UINT, true, NULL, "u32", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

/* A field the table checked (a u32), or def when left out or null (serde's default). */
static uint32_t ju32(json_t *o, const char *name, uint32_t def)
{
	json_t *v = json_object_get(o, name);

	return json_is_integer(v) ? (uint32_t)json_integer_value(v) : def;
}

int config_json_hotplug(struct vm_config *c, json_t *o, struct err *err)
{
	const char *what = "memory-hotplug";
	struct vm_hotplug h = { .present = true };
	int ret;

	ret = config_json_check(what, o, hotplug_fields, err);
	if (ret)
		return ret;
	h.total_size_mib = ju32(o, "total_size_mib", 0);
	h.block_size_mib = ju32(o, "block_size_mib", VIRTIO_MEM_DEFAULT_BLOCK_SIZE_MIB);
	h.slot_size_mib = ju32(o, "slot_size_mib", VIRTIO_MEM_DEFAULT_SLOT_SIZE_MIB);
	ret = vm_config_set_hotplug(c, &h, err);
	return ret ? err_prefix(err, ret, "%s: ", what) : 0;
}

json_t *config_json_dump_hotplug(const struct vm_hotplug *h)
{
	if (!h->present)
		return json_null();
	return json_pack("{s:I, s:I, s:I}", "total_size_mib", (json_int_t)h->total_size_mib,
			 "block_size_mib", (json_int_t)h->block_size_mib, "slot_size_mib",
			 (json_int_t)h->slot_size_mib);
}

int config_json_hotplug_update(json_t *o, uint32_t *requested_mib, struct err *err)
{
	int ret = config_json_check("memory-hotplug", o, update_fields, err);

	if (!ret)
		*requested_mib = ju32(o, "requested_size_mib", 0);
	return ret;
}

json_t *config_json_dump_hotplug_status(const struct virtio_mem_status *s)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "total_size_mib",
			 (json_int_t)s->total_size_mib, "slot_size_mib", (json_int_t)s->slot_size_mib,
			 "block_size_mib", (json_int_t)s->block_size_mib, "plugged_size_mib",
			 (json_int_t)s->plugged_size_mib, "requested_size_mib",
			 (json_int_t)s->requested_size_mib);
}
