#include "api/json_snapshot.h"

#include <errno.h>
#include <string.h>

#include "fcjson/config_json.h"
#include "fcjson/config_json_fault.h"
#include "fcjson/config_json_fields.h"

static const char *const snapshot_types[] = { "Diff", "Full", NULL };
static const char *const backend_types[] = { "File", "Uffd", NULL };

/* Firecracker's CreateSnapshotParams. */
static const struct jfield create_fields[] = {
	{ "snapshot_type", J_ENUM, false, NULL, NULL, snapshot_types },
	{ "snapshot_path", J_STR, true, NULL, "path string", NULL },
	{ "mem_file_path", J_STR, true, NULL, "path string", NULL },
	{ "version", J_STR, false, NULL, NULL, NULL },   /* Firecracker's old field; ignored there too */
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

int json_snapshot_create(json_t *o, struct snap_create_req *c, struct err *err)
{
	const char *what = "snapshot/create", *type;
	int ret = config_json_check(what, o, create_fields, err);

	if (ret)
		return ret;
	memset(c, 0, sizeof(*c));
	type = json_string_value(json_object_get(o, "snapshot_type"));
	c->diff = type && !strcmp(type, "Diff");
	c->snapshot_path = json_string_value(json_object_get(o, "snapshot_path"));
	c->mem_file_path = json_string_value(json_object_get(o, "mem_file_path"));
	if (!*c->snapshot_path || !*c->mem_file_path)
		return err_set(err, true, -EINVAL, "%s: snapshot_path and mem_file_path must not "
			       "be empty", what);
	if (!strcmp(c->snapshot_path, c->mem_file_path))
		return err_set(err, true, -EINVAL, "%s: snapshot_path and mem_file_path are the "
			       "same file", what);
	return 0;
}

/* Firecracker main's HugePagesOverride (past 1.16), in its order. */
static const char *const load_huge_pages[] = { "Snapshot", "None", "Transparent", "2M", NULL };

/* Firecracker's LoadSnapshotConfig, and drive_overrides. */
static const struct jfield load_fields[] = {
	{ "snapshot_path", J_STR, true, NULL, "path string", NULL },
	{ "mem_file_path", J_STR, false, NULL, "path string", NULL },
	{ "mem_backend", J_OBJ, false, NULL, "struct MemBackendConfig", NULL },
	{ "enable_diff_snapshots", J_BOOL, false, NULL, NULL, NULL },
	{ "track_dirty_pages", J_BOOL, false, NULL, NULL, NULL },
	{ "resume_vm", J_BOOL, false, NULL, NULL, NULL },
	{ "network_overrides", J_ARR, false, NULL, NULL, NULL },
	{ "drive_overrides", J_ARR, false, NULL, NULL, NULL },      /* Hearth's: drives' images */
	{ "pmem_overrides", J_ARR, false, NULL, NULL, NULL },       /* Hearth's: pmem files */
	{ "vsock_override", J_OBJ, false, NULL, "struct VsockOverride", NULL },
	{ "firmware_override", J_OBJ, false, NULL, "struct FirmwareOverride", NULL },
	{ "clock_realtime", J_BOOL, false, NULL, NULL, NULL },
	{ "huge_pages", J_ENUM, false, NULL, NULL, load_huge_pages },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield backend_fields[] = {
	{ "backend_path", J_STR, true, NULL, "path string", NULL },
	{ "backend_type", J_ENUM, true, NULL, NULL, backend_types },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

/* A TAP's host_dev_name, or (Hearth's) a user-mode NIC's backend: --net's spec. */
static const struct jfield override_fields[] = {
	{ "iface_id", J_STR, true, NULL, NULL, NULL },
	{ "host_dev_name", J_STR, false, NULL, NULL, NULL },
	{ "backend", J_STR, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

/*
 * is_read_only is required: whether the image is opened for writing is the
 * request's to say; and so is a qcow2 drive's chain (backing_files, or
 * backing_from_header), which the state file's never replaces.
 */
static const struct jfield drive_override_fields[] = {
	{ "drive_id", J_STR, true, NULL, NULL, NULL },
	{ "path_on_host", J_STR, true, NULL, NULL, NULL },
	{ "is_read_only", J_BOOL, true, NULL, NULL, NULL },
	{ "backing_files", J_ARR, false, NULL, NULL, NULL },
	{ "backing_from_header", J_BOOL, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

/* An override's chain: path strings, at most BLK_BACKING_MAX, borrowed from v. */
static int load_drive_chain(json_t *v, struct snap_drive_override *ov, const char *where,
			    struct err *err)
{
	json_t *a = json_object_get(v, "backing_files"), *f;
	size_t i;

	ov->backing_from_header = json_is_true(json_object_get(v, "backing_from_header"));
	if (!json_is_array(a))
		return 0;
	if (json_array_size(a) > BLK_BACKING_MAX)
		return err_set(err, true, -EINVAL, "%s: drive '%.64s': backing_files has %zu "
			       "entries, more than %u", where, ov->drive_id, json_array_size(a),
			       BLK_BACKING_MAX);
	json_array_foreach(a, i, f) {
		if (!json_is_string(f) || !*json_string_value(f))
			return err_set(err, true, -EINVAL, "%s: drive '%.64s': backing_files entries "
				       "must be path strings, not empty", where, ov->drive_id);
		ov->backing_files[i] = json_string_value(f);
	}
	ov->n_backing = (unsigned int)json_array_size(a);
	return 0;
}

/* read_only is required: whether the file is writable is the request's to say. */
static const struct jfield pmem_override_fields[] = {
	{ "id", J_STR, true, NULL, NULL, NULL },
	{ "path_on_host", J_STR, true, NULL, NULL, NULL },
	{ "read_only", J_BOOL, true, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

/* uds_path (Firecracker's) for hybrid vsock; guest_cid (Hearth's) for vhost-vsock. */
static const struct jfield vsock_override_fields[] = {
	{ "uds_path", J_STR, false, NULL, NULL, NULL },
	{ "guest_cid", J_UINT, false, NULL, "u32", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static int load_backend(json_t *o, struct snap_load_req *l, struct err *err)
{
	json_t *b = json_object_get(o, "mem_backend");
	const char *type;
	int ret;

	if (json_is_null(b))
		b = NULL;
	l->mem_path = json_string_value(json_object_get(o, "mem_file_path"));
	/* The object's own faults first, as serde finds them before these two. */
	if (b) {
		ret = config_json_check("snapshot/load: mem_backend", b, backend_fields, err);
		if (ret)
			return ret;
	}
	/* Firecracker's TOO_MANY_FIELDS and MISSING_FIELD (parse_put_snapshot_load). */
	if (b && l->mem_path)
		return jfault_custom(err, "snapshot/load", o, "too many fields: either "
				     "`mem_backend` or `mem_file_path` exclusively is required");
	if (!b && !l->mem_path)
		return jfault_custom(err, "snapshot/load", o, "missing field: either `mem_backend` "
				     "or `mem_file_path` is required");
	if (!b)
		return 0;
	type = json_string_value(json_object_get(b, "backend_type"));
	l->mem_uffd = !strcmp(type, "Uffd");
	if (!l->mem_uffd && strcmp(type, "File"))
		return err_set(err, true, -EINVAL, "snapshot/load: backend_type '%.64s' is not one "
			       "of File, Uffd", type);
	l->mem_path = json_string_value(json_object_get(b, "backend_path"));
	return 0;
}

static int load_overrides(json_t *o, struct snap_load_req *l, const char *what,
			  struct err *err)
{
	json_t *a = json_object_get(o, "network_overrides"), *v;
	char where[96];
	size_t i;
	int ret;

	if (!a || json_is_null(a))
		return 0;
	if (json_array_size(a) > VM_MAX_NETS)
		return err_set(err, true, -EINVAL, "%s: network_overrides has %zu "
			       "entries, at most %d", what, json_array_size(a), VM_MAX_NETS);
	json_array_foreach(a, i, v) {
		struct snap_net_override *ov = &l->overrides[l->n_overrides];

		if (!json_is_object(v))
			return err_set(err, true, -EINVAL, "%s: network_overrides "
				       "entries must be objects", what);
		snprintf(where, sizeof(where), "%s: network_overrides", what);
		ret = config_json_check(where, v, override_fields, err);
		if (ret)
			return ret;
		ov->iface_id = json_string_value(json_object_get(v, "iface_id"));
		ov->host_dev_name = json_string_value(json_object_get(v, "host_dev_name"));
		ov->backend = json_string_value(json_object_get(v, "backend"));
		if (!ov->host_dev_name == !ov->backend)
			return err_set(err, true, -EINVAL, "%s: network_overrides: "
				       "'%.64s' needs host_dev_name (a TAP) or backend (user-mode), "
				       "one of them", what, ov->iface_id);
		for (unsigned int j = 0; j < l->n_overrides; j++)
			if (!strcmp(l->overrides[j].iface_id, ov->iface_id))
				return err_set(err, true, -EINVAL, "%s: "
					       "network_overrides names '%.64s' twice", what,
					       ov->iface_id);
		l->n_overrides++;
	}
	return 0;
}

static int load_drive_overrides(json_t *o, struct snap_load_req *l, const char *what,
				struct err *err)
{
	json_t *a = json_object_get(o, "drive_overrides"), *v;
	char where[96];
	size_t i;
	int ret;

	if (!a || json_is_null(a))
		return 0;
	if (json_array_size(a) > VM_MAX_DRIVES)
		return err_set(err, true, -EINVAL, "%s: drive_overrides has %zu "
			       "entries, at most %d", what, json_array_size(a), VM_MAX_DRIVES);
	json_array_foreach(a, i, v) {
		struct snap_drive_override *ov = &l->drive_overrides[l->n_drive_overrides];

		if (!json_is_object(v))
			return err_set(err, true, -EINVAL, "%s: drive_overrides "
				       "entries must be objects", what);
		snprintf(where, sizeof(where), "%s: drive_overrides", what);
		ret = config_json_check(where, v, drive_override_fields, err);
		if (ret)
			return ret;
		ov->drive_id = json_string_value(json_object_get(v, "drive_id"));
		ov->path_on_host = json_string_value(json_object_get(v, "path_on_host"));
		ov->is_read_only = json_is_true(json_object_get(v, "is_read_only"));
		ret = load_drive_chain(v, ov, where, err);
		if (ret)
			return ret;
		for (unsigned int j = 0; j < l->n_drive_overrides; j++)
			if (!strcmp(l->drive_overrides[j].drive_id, ov->drive_id))
				return err_set(err, true, -EINVAL, "%s: "
					       "drive_overrides names '%.64s' twice", what, ov->drive_id);
		l->n_drive_overrides++;
	}
	return 0;
}

static int load_pmem_overrides(json_t *o, struct snap_load_req *l, const char *where,
			       struct err *err)
{
	char what[96];
	json_t *a = json_object_get(o, "pmem_overrides"), *v;
	size_t i;
	int ret;

	if (!a || json_is_null(a))
		return 0;
	snprintf(what, sizeof(what), "%s: pmem_overrides", where);
	if (json_array_size(a) > VM_MAX_PMEM)
		return err_set(err, true, -EINVAL, "%s has %zu entries, at most %d", what,
			       json_array_size(a), VM_MAX_PMEM);
	json_array_foreach(a, i, v) {
		struct snap_pmem_override *ov = &l->pmem_overrides[l->n_pmem_overrides];

		if (!json_is_object(v))
			return err_set(err, true, -EINVAL, "%s entries must be objects", what);
		ret = config_json_check(what, v, pmem_override_fields, err);
		if (ret)
			return ret;
		ov->id = json_string_value(json_object_get(v, "id"));
		ov->path_on_host = json_string_value(json_object_get(v, "path_on_host"));
		ov->read_only = json_is_true(json_object_get(v, "read_only"));
		for (unsigned int j = 0; j < l->n_pmem_overrides; j++)
			if (!strcmp(l->pmem_overrides[j].id, ov->id))
				return err_set(err, true, -EINVAL, "%s names '%.64s' twice", what,
					       ov->id);
		l->n_pmem_overrides++;
	}
	return 0;
}

/* A firmware VM's image and variable store (snapshot/request.h). */
static const struct jfield firmware_override_fields[] = {
	{ "firmware_path", J_STR, true, NULL, "path string", NULL },
	{ "firmware_vars_path", J_STR, false, NULL, "path string", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static int load_firmware_override(json_t *o, struct snap_load_req *l, const char *what,
				  struct err *err)
{
	json_t *v = json_object_get(o, "firmware_override");
	char where[96];
	int ret;

	if (!v || json_is_null(v))
		return 0;
	snprintf(where, sizeof(where), "%s: firmware_override", what);
	ret = config_json_check(where, v, firmware_override_fields, err);
	if (ret)
		return ret;
	l->firmware_path = json_string_value(json_object_get(v, "firmware_path"));
	l->firmware_vars_path = json_string_value(json_object_get(v, "firmware_vars_path"));
	return 0;
}

static int load_vsock_override(json_t *o, struct snap_load_req *l, const char *what,
			       struct err *err)
{
	json_t *v = json_object_get(o, "vsock_override"), *cid;
	char where[96];
	int ret;

	if (!v || json_is_null(v))
		return 0;
	snprintf(where, sizeof(where), "%s: vsock_override", what);
	ret = config_json_check(where, v, vsock_override_fields, err);
	if (ret)
		return ret;
	l->vsock_uds_path = json_string_value(json_object_get(v, "uds_path"));
	cid = json_object_get(v, "guest_cid");
	if (!json_is_integer(cid))
		cid = NULL;
	if (!l->vsock_uds_path == !cid)
		return err_set(err, true, -EINVAL, "%s: vsock_override needs uds_path "
			       "(hybrid vsock) or guest_cid (vhost-vsock), one of them", what);
	if (cid && (json_integer_value(cid) < 3 || json_integer_value(cid) > 0xfffffffeLL))
		return err_set(err, true, -EINVAL, "%s: vsock_override: guest_cid %"
			       JSON_INTEGER_FORMAT " is out of range (3 to 4294967294)", what,
			       json_integer_value(cid));
	l->vsock_cid = cid ? (uint64_t)json_integer_value(cid) : 0;
	return 0;
}

int json_snapshot_overrides(json_t *o, struct snap_load_req *l, const char *what,
			    struct err *err)
{
	int ret = load_overrides(o, l, what, err);

	if (!ret)
		ret = load_drive_overrides(o, l, what, err);
	if (!ret)
		ret = load_pmem_overrides(o, l, what, err);
	if (!ret)
		ret = load_vsock_override(o, l, what, err);
	if (!ret)
		ret = load_firmware_override(o, l, what, err);
	return ret;
}

int json_snapshot_load(json_t *o, struct snap_load_req *l, struct err *err)
{
	const char *what = "snapshot/load";
	json_t *v;
	int ret = config_json_check(what, o, load_fields, err);

	if (ret)
		return ret;
	memset(l, 0, sizeof(*l));
	l->snapshot_path = json_string_value(json_object_get(o, "snapshot_path"));
	ret = load_backend(o, l, err);
	if (!ret)
		ret = json_snapshot_overrides(o, l, what, err);
	if (ret)
		return ret;
	if (!*l->snapshot_path || !*l->mem_path)
		return err_set(err, true, -EINVAL, "%s: snapshot_path and the memory file path "
			       "must not be empty", what);
	v = json_object_get(o, "track_dirty_pages");
	l->track_dirty_pages = json_is_true(v) ||
			       json_is_true(json_object_get(o, "enable_diff_snapshots"));
	l->resume_vm = json_is_true(json_object_get(o, "resume_vm"));
	l->clock_realtime = json_is_true(json_object_get(o, "clock_realtime"));
	v = json_object_get(o, "huge_pages");
	if (json_is_string(v) && strcmp(json_string_value(v), "Snapshot")) {
		l->huge_pages_set = true;
		if (config_json_huge_pages(json_string_value(v), &l->huge_pages))
			return err_set(err, true, -EINVAL, "%s: huge_pages '%.64s'", what,
				       json_string_value(v));
	}
	return 0;
}
