#include "fcjson/config_json_observe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcjson/config_json_fields.h"
#include "fcjson/config_json_limiter.h"

static const struct jfield logger_fields[] = {
	{ "log_path", J_STR, false, NULL, "path string", NULL },
	{ "level", J_STR, false, NULL, NULL, NULL },
	{ "show_level", J_BOOL, false, NULL, NULL, NULL },
	{ "show_log_origin", J_BOOL, false, NULL, NULL, NULL },
	/* Firecracker filters on Rust module paths; Hearth's lines have none. */
	{ "module", J_STR, false, "Hearth's log has no module paths to filter on", NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

int config_json_logger(json_t *o, struct vm_logger *l, struct err *err)
{
	const char *what = "logger";
	json_t *v;
	int ret;

	ret = config_json_check(what, o, logger_fields, err);
	if (ret)
		return ret;
	v = json_object_get(o, "level");
	if (json_is_string(v) && vm_log_level_parse(json_string_value(v), &l->level))
		return err_set(err, true, -EINVAL, "%s: level '%.64s' is not one of Error, "
			       "Warning, Info, Debug, Trace, Off", what, json_string_value(v));
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
	{ "metrics_path", J_STR, true, NULL, "path string", NULL },
	{ "emit_id", J_BOOL, false, NULL, NULL, NULL },
	{ "properties", J_OBJ, false, NULL, "a map", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

/* Firecracker's properties: operator-defined string values under string keys. */
#define METRICS_PROPERTIES_MAX 4096

int config_json_metrics(json_t *o, struct vm_metrics *m, struct err *err)
{
	int ret = config_json_check("metrics", o, metrics_fields, err);
	json_t *props, *v;
	const char *key;

	memset(m, 0, sizeof(*m));
	if (ret)
		return ret;
	m->metrics_path = (char *)json_string_value(json_object_get(o, "metrics_path"));
	if (!*m->metrics_path)
		return err_set(err, true, -EINVAL, "metrics: metrics_path is empty");
	m->emit_id = json_is_true(json_object_get(o, "emit_id"));
	props = json_object_get(o, "properties");
	if (!props || json_is_null(props))
		return 0;
	json_object_foreach(props, key, v)
		if (!json_is_string(v))
			return err_set(err, true, -EINVAL, "metrics: properties: '%.64s' is not a "
				       "string", key);
	m->properties = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS);
	if (!m->properties)
		return err_set(err, false, -ENOMEM, "out of memory");
	if (strlen(m->properties) > METRICS_PROPERTIES_MAX) {
		free(m->properties);
		m->properties = NULL;
		return err_set(err, true, -EINVAL, "metrics: properties take more than %d bytes of "
			       "JSON", METRICS_PROPERTIES_MAX);
	}
	return 0;
}

static const struct jfield serial_fields[] = {
	{ "serial_out_path", J_STR, false, NULL, "path string", NULL },
	{ "rate_limiter", J_OBJ, false, NULL, "struct TokenBucketConfig", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

int config_json_serial(struct vm_config *c, json_t *o, struct err *err)
{
	struct rl_config rl = { 0 };
	int ret;

	ret = config_json_check("serial", o, serial_fields, err);
	if (ret)
		return ret;
	ret = config_json_bucket("serial", o, "rate_limiter", &rl.bandwidth, err);
	if (ret)
		return ret;
	ret = vm_config_set_serial(c, json_string_value(json_object_get(o, "serial_out_path")),
				   &rl, err);
	return ret ? err_prefix(err, ret, "serial: ") : 0;
}

static int section_logger(struct vm_config *c, json_t *o, struct err *err)
{
	struct vm_logger l = c->logger;
	int ret;

	ret = config_json_logger(o, &l, err);
	if (ret)
		return ret;
	ret = vm_config_set_logger(c, &l, err);
	return ret ? err_prefix(err, ret, "logger: ") : 0;
}

static int section_metrics(struct vm_config *c, json_t *o, struct err *err)
{
	struct vm_metrics m;
	int ret;

	ret = config_json_metrics(o, &m, err);
	if (!ret)
		ret = vm_config_set_metrics(c, &m, err);
	free(m.properties);
	return ret ? err_prefix(err, ret, "metrics: ") : 0;
}

int config_json_observe_sections(struct vm_config *c, json_t *root, struct err *err)
{
	json_t *v;
	int ret = 0;

	v = json_object_get(root, "logger");
	if (v && !json_is_null(v))
		ret = section_logger(c, v, err);
	v = json_object_get(root, "metrics");
	if (!ret && v && !json_is_null(v))
		ret = section_metrics(c, v, err);
	v = json_object_get(root, "serial");
	if (!ret && v && !json_is_null(v))
		ret = config_json_serial(c, v, err);
	return ret;
}
