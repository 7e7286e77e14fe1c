/*
 * Firecracker's BlockDeviceConfig (config_json.h's config_json_drive),
 * and Hearth's fields beside it: num_queues, and the image's format with
 * a qcow2 image's backing chain.
 */
#include "fcjson/config_json.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fcjson/config_json_fault.h"
#include "fcjson/config_json_fields.h"
#include "fcjson/config_json_limiter.h"

static const char *jstr(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

static bool jbool(json_t *o, const char *name, bool def)
{
	json_t *v = json_object_get(o, name);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

static uint64_t juint(json_t *o, const char *name, uint64_t def)
{
	json_t *v = json_object_get(o, name);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : def;
}

static const char *const cache_types[] = { "Unsafe", "Writeback", NULL };
static const char *const io_engines[] = { "Async", "Sync", NULL };
static const char *const formats[] = { "raw", "qcow2", NULL };

/*
 * Firecracker's BlockDeviceConfig: path_on_host (an image) or socket (a
 * vhost-user backend), checked in drive_kind.
 */
static const struct jfield drive_fields[] = {
	{ "drive_id", J_STR, true, NULL, NULL, NULL },
	{ "partuuid", J_STR, false, NULL, NULL, NULL },
	{ "is_root_device", J_BOOL, true, NULL, NULL, NULL },
	{ "cache_type", J_ENUM, false, NULL, NULL, cache_types },
	{ "is_read_only", J_BOOL, false, NULL, NULL, NULL },
	{ "path_on_host", J_STR, false, NULL, NULL, NULL },
	{ "rate_limiter", J_OBJ, false, NULL, "struct RateLimiterConfig", NULL },
	{ "io_engine", J_ENUM, false, NULL, NULL, io_engines },
	{ "socket", J_STR, false, NULL, NULL, NULL },
	/* Hearth's: an image's disk's request queues (1 to 16; one by default, as Firecracker). */
	{ "num_queues", J_UINT, false, NULL, "u8", NULL },
	/*
	 * Hearth's: the image's format, and a qcow2 image's backing chain (the
	 * top's backing file first), or leave to its headers' own names within
	 * each image's directory (docs/api.md, virtio/blk/chain.h).
	 */
	{ "format", J_ENUM, false, NULL, NULL, formats },
	{ "backing_files", J_ARR, false, NULL, NULL, NULL },
	{ "backing_from_header", J_BOOL, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

/*
 * cache_type, as Firecracker: "Writeback" honours the guest's flushes
 * (fdatasync), "Unsafe", the default, offers none and syncs nothing
 * (virtio/blk.h). Both go through the host page cache.
 */
static int drive_modes(const char *what, json_t *o, struct vm_drive *d, struct err *err)
{
	const char *cache = jstr(o, "cache_type");
	const char *engine = jstr(o, "io_engine");

	if (cache && strcmp(cache, "Unsafe") != 0 && strcmp(cache, "Writeback") != 0)
		return err_set(err, true, -EINVAL, "%s: cache_type '%.64s' is not one of Unsafe, "
			       "Writeback", what, cache);
	/* Hearth's disks are always on io_uring; both engines give the guest the same disk. */
	if (engine && strcmp(engine, "Sync") != 0 && strcmp(engine, "Async") != 0)
		return err_set(err, true, -EINVAL, "%s: io_engine '%.64s' is not one of Sync, "
			       "Async", what, engine);
	d->cache_type = cache && !strcmp(cache, "Writeback") ? BLK_CACHE_WRITEBACK : BLK_CACHE_UNSAFE;
	/* Kept as given, Firecracker's default (Sync) when left out: GET /vm/config shows it. */
	d->io_engine = engine && !strcmp(engine, "Async") ? VM_IO_ENGINE_ASYNC : VM_IO_ENGINE_SYNC;
	return 0;
}

/*
 * As Firecracker's Block::new: an image's drive takes no socket, and a
 * vhost-user drive (socket) none of what its backend decides or Hearth
 * never sees (path_on_host, is_read_only, rate_limiter, io_engine), each
 * in Firecracker's words. A key given as null counts as left out.
 */
static int drive_kind(json_t *o, struct err *err)
{
	static const char *const not_vhost_user[] = { "path_on_host", "is_read_only",
						      "rate_limiter", "io_engine", "num_queues" };
	bool socket = jstr(o, "socket") != NULL;

	if (!socket && jstr(o, "path_on_host"))
		return 0;
	for (unsigned int i = 0; socket && i < 5; i++) {
		json_t *v = json_object_get(o, not_vhost_user[i]);

		if (v && !json_is_null(v))
			socket = false;
	}
	if (socket)
		return 0;
	return err_set(err, true, -EINVAL, "Unable to create the virtio block device: Invalid "
		       "block config. (give path_on_host, or socket without path_on_host, "
		       "is_read_only, rate_limiter, io_engine and num_queues)");
}

/*
 * Hearth's format fields into d, the chain's strings borrowed from o (the
 * model's setter copies them). Which combinations make sense is the
 * model's to say (vm_config_put_drive), in one wording for every front end.
 */
static int drive_format(const char *what, json_t *o, struct vm_drive *d, struct err *err)
{
	const char *fmt = jstr(o, "format");
	json_t *a = json_object_get(o, "backing_files"), *v;
	size_t i;

	d->format = fmt && !strcmp(fmt, "qcow2") ? BLK_FORMAT_QCOW2 : BLK_FORMAT_RAW;
	d->backing_from_header = jbool(o, "backing_from_header", false);
	if (!json_is_array(a))
		return 0;
	if (json_array_size(a) > BLK_BACKING_MAX)
		return err_set(err, true, -EINVAL, "%s: drive '%s': backing_files has %zu entries, "
			       "more than %u (a chain of 16 images at most)", what, d->id,
			       json_array_size(a), BLK_BACKING_MAX);
	json_array_foreach(a, i, v) {
		if (!json_is_string(v))
			return err_set(err, true, -EINVAL, "%s: drive '%s': backing_files entries "
				       "must be path strings", what, d->id);
		d->backing_files[i] = (char *)json_string_value(v);
	}
	d->nbacking = (unsigned int)json_array_size(a);
	return 0;
}

int config_json_drive(struct vm_config *c, json_t *o, const char *path_id, struct err *err)
{
	const char *what = "drives";
	struct vm_drive d;
	const char *id, *partuuid;
	int ret;

	ret = config_json_check_fields(what, o, drive_fields, true, err);
	if (ret)
		return ret;
	id = jstr(o, "drive_id");
	if (path_id && strcmp(id, path_id) != 0)
		return jfault_plain(err, what, o, "The id from the path does not match the id "
				    "from the body!");
	ret = vm_config_check_id("drive_id", id, err);
	if (ret)
		return err_prefix(err, ret, "%s: ", what);
	ret = drive_kind(o, err);
	if (ret)
		return ret;
	memset(&d, 0, sizeof(d));
	ret = drive_modes(what, o, &d, err);
	if (ret)
		return ret;
	snprintf(d.id, sizeof(d.id), "%s", id);
	/* What the guest reads as the serial (GET_ID), as Firecracker does. */
	snprintf(d.serial, sizeof(d.serial), "%.20s", id);
	d.path_on_host = (char *)jstr(o, "path_on_host");
	d.socket = (char *)jstr(o, "socket");
	d.queues = (unsigned int)juint(o, "num_queues", 0);
	if (json_object_get(o, "num_queues") && !json_is_null(json_object_get(o, "num_queues")) &&
	    (d.queues < 1 || d.queues > 16))
		return err_set(err, true, -EINVAL, "%s: drive '%s': num_queues %u is out of range (1 "
			       "to 16)", what, id, d.queues);
	d.is_root_device = jbool(o, "is_root_device", false);
	d.is_read_only = jbool(o, "is_read_only", false);
	partuuid = jstr(o, "partuuid");
	if (partuuid && strlen(partuuid) > VM_PARTUUID_MAX)
		return err_set(err, true, -EINVAL, "%s: drive '%s': partuuid is longer than %d bytes",
			       what, id, VM_PARTUUID_MAX);
	if (partuuid)
		snprintf(d.partuuid, sizeof(d.partuuid), "%s", partuuid);
	ret = config_json_limiter(what, o, "rate_limiter", &d.rate_limiter, err);
	if (!ret)
		ret = drive_format(what, o, &d, err);
	if (ret)
		return ret;
	ret = vm_config_put_drive(c, &d, true, err);
	return ret ? err_prefix(err, ret, "%s: ", what) : 0;
}
