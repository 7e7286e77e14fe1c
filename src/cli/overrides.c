/* The client commands' override flags, as a request body's JSON (overrides.h). */
#include "cli/overrides.h"

#include <errno.h>
#include <string.h>

#include "cli/cli.h"

#define OVERRIDE_ID_MAX 64

int cli_text_ok(const char *cmd, const char *flag, const char *s, struct err *e)
{
	json_t *t = s ? json_string(s) : NULL;

	if (!s)
		return 0;
	if (!t)
		return err_set(e, true, -EINVAL, "%s: %s: '%.64s' is not UTF-8 text", cmd, flag, s);
	json_decref(t);
	return 0;
}

int cli_overrides_init(struct cli_overrides *o, const char *cmd, struct err *e)
{
	o->cmd = cmd;
	o->drives = json_array();
	o->pmem = json_array();
	o->nets = json_array();
	if (!o->drives || !o->pmem || !o->nets)
		return err_set(e, false, -ENOMEM, "%s: out of memory", cmd);
	return 0;
}

void cli_overrides_release(struct cli_overrides *o)
{
	json_decref(o->drives);
	json_decref(o->pmem);
	json_decref(o->nets);
	o->drives = o->pmem = o->nets = NULL;
}

/* Appends v (taken over) to a, or -ENOMEM said in e. */
static int append(const struct cli_overrides *o, json_t *a, json_t *v, struct err *e)
{
	return json_array_append_new(a, v) ? err_set(e, false, -ENOMEM, "%s: out of memory",
						     o->cmd) : 0;
}

/* ID=ro:P / ID=rw:P for drives (key drive_id) and pmem (key id). */
int cli_overrides_image(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_overrides *ov = ctx;
	bool drive = !strcmp(o->name, "--drive-override");
	char id[OVERRIDE_ID_MAX];
	const char *spec;
	int ro, ret = cli_override_split(ov->cmd, o->name, val, id, sizeof(id), &spec, e);

	if (ret)
		return ret;
	ro = cli_override_access(ov->cmd, o->name, val, spec, e);
	if (ro < 0)
		return ro;
	ret = cli_text_ok(ov->cmd, o->name, val, e);
	if (ret)
		return ret;
	return append(ov, drive ? ov->drives : ov->pmem,
		      json_pack("{s:s, s:s, s:b}", drive ? "drive_id" : "id", id, "path_on_host",
				spec + 3, drive ? "is_read_only" : "read_only", ro), e);
}

/*
 * --drive-backing ID=FILE (once per file down a qcow2 drive's chain, the
 * image's own first) or ID=header, into drive ID's override, given before.
 */
int cli_overrides_backing(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_overrides *ov = ctx;
	char id[OVERRIDE_ID_MAX];
	const char *file;
	json_t *d = NULL, *v, *files;
	size_t i;
	int ret = cli_override_split(ov->cmd, o->name, val, id, sizeof(id), &file, e);

	if (!ret)
		ret = cli_text_ok(ov->cmd, o->name, val, e);
	if (ret)
		return ret;
	json_array_foreach(ov->drives, i, v)
		if (!strcmp(json_string_value(json_object_get(v, "drive_id")), id))
			d = v;
	if (!d)
		return err_set(e, true, -EINVAL, "%s: %s '%.64s': give drive %s's --drive-override "
			       "first", ov->cmd, o->name, val, id);
	if (!strcmp(file, "header"))
		return json_object_set_new(d, "backing_from_header", json_true())
		       ? err_set(e, false, -ENOMEM, "%s: out of memory", ov->cmd) : 0;
	files = json_object_get(d, "backing_files");
	if (!files) {
		files = json_array();
		if (!files || json_object_set_new(d, "backing_files", files))
			return err_set(e, false, -ENOMEM, "%s: out of memory", ov->cmd);
	}
	return append(ov, files, json_string(file), e);
}

int cli_overrides_net(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_overrides *ov = ctx;
	char id[OVERRIDE_ID_MAX];
	const char *tap;
	int ret = cli_override_split(ov->cmd, o->name, val, id, sizeof(id), &tap, e);

	if (!ret)
		ret = cli_text_ok(ov->cmd, o->name, val, e);
	if (ret)
		return ret;
	/* As `hearth restore --net-override`: ID=tap=NAME, or ID=user[,...] (user-mode). */
	if (!strncmp(tap, "tap=", 4))
		return append(ov, ov->nets, json_pack("{s:s, s:s}", "iface_id", id,
						      "host_dev_name", tap + 4), e);
	return append(ov, ov->nets, json_pack("{s:s, s:s}", "iface_id", id, "backend", tap), e);
}

int cli_overrides_firmware(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct cli_overrides *ov = ctx;
	int ret = cli_text_ok(ov->cmd, o->name, val, e);

	if (ret)
		return ret;
	if (!strcmp(o->name, "--firmware"))
		ov->firmware = val;
	else
		ov->firmware_vars = val;
	return 0;
}

void cli_overrides_put(const struct cli_overrides *o, json_t *body)
{
	if (o->firmware) {
		json_t *fw = json_pack("{s:s}", "firmware_path", o->firmware);

		if (fw && o->firmware_vars)
			json_object_set_new(fw, "firmware_vars_path", json_string(o->firmware_vars));
		json_object_set_new(body, "firmware_override", fw);
	}
	if (json_array_size(o->drives))
		json_object_set(body, "drive_overrides", o->drives);
	if (json_array_size(o->pmem))
		json_object_set(body, "pmem_overrides", o->pmem);
	if (json_array_size(o->nets))
		json_object_set(body, "network_overrides", o->nets);
}
