#include "vmm/config_json_observe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/config_json_fields.h"

static const struct jfield logger_fields[] = {
	{ "log_path", J_STR, false, NULL },
	{ "level", J_STR, false, NULL },
	{ "show_level", J_BOOL, false, NULL },
	{ "show_log_origin", J_BOOL, false, NULL },
	/* Firecracker filters on Rust module paths; Hearth's lines have none. */
	{ "module", J_STR, false, "Hearth's log has no module paths to filter on" },
	{ NULL, J_STR, false, NULL },
};

int config_json_logger(json_t *o, struct vm_logger *l, char *err, size_t errlen)
{
	const char *what = "logger";
	json_t *v;
	int ret;

	ret = config_json_check(what, o, logger_fields, err, errlen);
	if (ret)
		return ret;
	v = json_object_get(o, "level");
	if (json_is_string(v) && vm_log_level_parse(json_string_value(v), &l->level)) {
		snprintf(err, errlen, "%s: level '%.64s' is not one of Error, Warning, Info, Debug, "
			 "Trace, Off", what, json_string_value(v));
		return -EINVAL;
	}
	v = json_object_get(o, "log_path");
	if (json_is_string(v))
		l->log_path = (char *)json_string_value(v);
	v = json_object_get(o, "show_level");
	if (json_is_boolean(v))
		l->show_level = json_is_true(v);
	v = json_object_get(o, "show_log_origin");
	if (json_is_boolean(v))
		l->show_log_origin = json_is_true(v);
	return 0;
}

static const struct jfield metrics_fields[] = {
	{ "metrics_path", J_STR, true, NULL },
	{ "properties", J_OBJ, false, "" },
	{ NULL, J_STR, false, NULL },
};

int config_json_metrics(json_t *o, const char **path, char *err, size_t errlen)
{
	int ret = config_json_check("metrics", o, metrics_fields, err, errlen);

	if (ret)
		return ret;
	*path = json_string_value(json_object_get(o, "metrics_path"));
	if (!**path) {
		snprintf(err, errlen, "metrics: metrics_path is empty");
		return -EINVAL;
	}
	return 0;
}

static const struct jfield serial_fields[] = {
	{ "serial_out_path", J_STR, false, NULL },
	{ "rate_limiter", J_OBJ, false, "" },
	{ NULL, J_STR, false, NULL },
};

int config_json_serial(struct vm_config *c, json_t *o, char *err, size_t errlen)
{
	char why[VM_CONFIG_ERR_MAX];
	int ret;

	ret = config_json_check("serial", o, serial_fields, err, errlen);
	if (ret)
		return ret;
	ret = vm_config_set_serial(c, json_string_value(json_object_get(o, "serial_out_path")),
				   why, sizeof(why));
	return ret ? config_json_fail_from("serial", why, ret, err, errlen) : 0;
}

static int section_logger(struct vm_config *c, json_t *o, char *err, size_t errlen)
{
	struct vm_logger l = c->logger;
	char why[VM_CONFIG_ERR_MAX];
	int ret;

	ret = config_json_logger(o, &l, err, errlen);
	if (ret)
		return ret;
	ret = vm_config_set_logger(c, &l, why, sizeof(why));
	return ret ? config_json_fail_from("logger", why, ret, err, errlen) : 0;
}

static int section_metrics(struct vm_config *c, json_t *o, char *err, size_t errlen)
{
	char why[VM_CONFIG_ERR_MAX];
	const char *path;
	int ret;

	ret = config_json_metrics(o, &path, err, errlen);
	if (ret)
		return ret;
	ret = vm_config_set_metrics(c, path, why, sizeof(why));
	return ret ? config_json_fail_from("metrics", why, ret, err, errlen) : 0;
}

int config_json_observe_sections(struct vm_config *c, json_t *root, char *err, size_t errlen)
{
	json_t *v;
	int ret = 0;

	v = json_object_get(root, "logger");
	if (v && !json_is_null(v))
		ret = section_logger(c, v, err, errlen);
	v = json_object_get(root, "metrics");
	if (!ret && v && !json_is_null(v))
		ret = section_metrics(c, v, err, errlen);
	v = json_object_get(root, "serial");
	if (!ret && v && !json_is_null(v))
		ret = config_json_serial(c, v, err, errlen);
	return ret;
}
