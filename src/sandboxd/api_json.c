/* E2B's JSON in and out (api_json.h). */
#include "sandboxd/api_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandboxd/template.h"
#include "util/utc.h"

/* NewSandboxV2's fields Hearth does not serve: given (and not null), the request is refused. */
static const struct {
	const char *name;
	const char *why;
} unserved[] = {
	{ "network", "sandboxes have no network" },
	{ "iam", "workload identity is not served" },
	{ "mcp", "MCP gateways are not served" },
	{ "volumeMounts", "volumes are not served" },
	{ "autoResume", "auto-resume is not served: connect resumes a paused sandbox" },
};

/* Every field NewSandboxV2 has (the unserved ones above included). */
static const char *const new_fields[] = {
	"templateID", "timeout", "metadata", "envVars", "autoPause", "autoPauseMemory", "secure",
	"allow_internet_access", "network", "iam", "mcp", "volumeMounts", "autoResume",
};

int sbx_json_body(const char *body, size_t len, bool allow_empty, json_t **out, struct err *e)
{
	json_error_t je;
	json_t *o;

	*out = NULL;
	if (!body || !len) {
		if (!allow_empty)
			return err_set(e, true, -EINVAL, "request body is missing");
		*out = json_object();
		return *out ? 0 : err_set(e, false, -ENOMEM, "out of memory");
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return err_set(e, true, -EINVAL, "malformed JSON body: %s at line %d column %d",
			       je.text, je.line, je.column);
	if (!json_is_object(o)) {
		json_decref(o);
		return err_set(e, true, -EINVAL, "malformed body: want a JSON object");
	}
	*out = o;
	return 0;
}

/* An object of at most SBX_MAX_KV strings, each key and value bounded; null is none. */
static int kv_object(json_t *o, const char *field, json_t **out, struct err *e)
{
	json_t *v = json_object_get(o, field), *x;
	const char *k;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return err_set(e, true, -EINVAL, "%s: want an object of strings", field);
	if (json_object_size(v) > SBX_MAX_KV)
		return err_set(e, true, -EINVAL, "%s: at most %d entries", field, SBX_MAX_KV);
	json_object_foreach(v, k, x) {
		if (!json_is_string(x))
			return err_set(e, true, -EINVAL, "%s.%.64s: want a string", field, k);
		if (!*k || strlen(k) > SBX_MAX_KV_LEN || json_string_length(x) > SBX_MAX_KV_LEN)
			return err_set(e, true, -EINVAL, "%s.%.64s: keys of 1 to %d bytes, values "
				       "of at most %d", field, k, SBX_MAX_KV_LEN, SBX_MAX_KV_LEN);
	}
	*out = v;
	return 0;
}

static int opt_bool(json_t *o, const char *field, bool *out, struct err *e)
{
	json_t *v = json_object_get(o, field);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return err_set(e, true, -EINVAL, "%s: want a boolean", field);
	*out = json_is_true(v);
	return 0;
}

int sbx_json_timeout(json_t *o, const struct sbx_config *cfg, bool need, unsigned int dflt,
		     unsigned int *out, struct err *e)
{
	json_t *v = json_object_get(o, "timeout");

	*out = dflt;
	if (!v || json_is_null(v)) {
		if (need)
			return err_set(e, true, -EINVAL, "timeout is required");
		return 0;
	}
	if (!json_is_integer(v))
		return err_set(e, true, -EINVAL, "timeout: want an integer of seconds");
	if (json_integer_value(v) < 1 || json_integer_value(v) > cfg->max_timeout_s)
		return err_set(e, true, -EINVAL, "timeout %lld: want 1 to %u seconds",
			       (long long)json_integer_value(v), cfg->max_timeout_s);
	*out = (unsigned int)json_integer_value(v);
	return 0;
}

int sbx_json_new_sandbox(json_t *o, const struct sbx_config *cfg, struct sbx_create_req *q,
			 struct err *e)
{
	bool yes = true, internet = false;
	const char *k;
	json_t *v;
	int ret;

	*q = (struct sbx_create_req){ 0 };
	json_object_foreach(o, k, v) {
		bool known = false;

		for (size_t i = 0; i < sizeof(new_fields) / sizeof(new_fields[0]); i++)
			known |= !strcmp(k, new_fields[i]);
		if (!known)
			return err_set(e, true, -EINVAL, "unknown field '%.64s'", k);
	}
	for (size_t i = 0; i < sizeof(unserved) / sizeof(unserved[0]); i++) {
		v = json_object_get(o, unserved[i].name);
		if (v && !json_is_null(v))
			return err_set(e, true, -EINVAL, "%s: %s", unserved[i].name, unserved[i].why);
	}
	v = json_object_get(o, "templateID");
	if (!v)
		return err_set(e, true, -EINVAL, "templateID is required");
	if (!json_is_string(v) || !json_string_length(v))
		return err_set(e, true, -EINVAL, "templateID: want a template's name");
	q->template_id = json_string_value(v);
	ret = sbx_json_timeout(o, cfg, false, cfg->default_timeout_s, &q->timeout_s, e);
	if (!ret)
		ret = kv_object(o, "metadata", &q->metadata, e);
	if (!ret)
		ret = kv_object(o, "envVars", &q->envs, e);
	if (!ret)
		ret = opt_bool(o, "autoPause", &q->auto_pause, e);
	if (!ret)
		ret = opt_bool(o, "autoPauseMemory", &yes, e);
	if (!ret && !yes)
		ret = err_set(e, true, -EINVAL, "autoPauseMemory: false is not served: a pause "
			      "always keeps memory");
	if (!ret)
		ret = opt_bool(o, "secure", &yes, e);
	if (!ret)
		ret = opt_bool(o, "allow_internet_access", &internet, e);
	if (!ret && internet)
		ret = err_set(e, true, -EINVAL, "allow_internet_access: sandboxes have no network");
	return ret;
}

int sbx_json_fork_req(json_t *o, const struct sbx_config *cfg, unsigned int *count,
		      unsigned int *timeout_s, struct err *e)
{
	json_t *v = json_object_get(o, "count");

	*count = 1;
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 16)
			return err_set(e, true, -EINVAL, "count: want 1 to 16");
		*count = (unsigned int)json_integer_value(v);
	}
	return sbx_json_timeout(o, cfg, false, cfg->default_timeout_s, timeout_s, e);
}

int sbx_json_memory(json_t *o, struct err *e)
{
	bool memory = true;
	int ret = opt_bool(o, "memory", &memory, e);

	if (!ret && !memory)
		ret = err_set(e, true, -EINVAL, "memory: false is not served: a paused sandbox "
			      "keeps its memory and resumes from it");
	return ret;
}

void sbx_json_date(int64_t ms, char out[32])
{
	struct tm tm;

	utc_from_epoch(ms / 1000, &tm);
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, (int)(ms % 1000));
}

json_t *sbx_json_sandbox(const struct sbx_box *b)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:n}", "sandboxID", b->id, "templateID",
			 b->tpl->id, "alias", b->tpl->id, "clientID", "hearth", "envdVersion",
			 SBX_ENVD_VERSION, "envdAccessToken", b->token, "domain");
}

/* What ListedSandbox and SandboxDetail share. */
static json_t *common(const struct sbx_box *b)
{
	char start[32], end[32];

	sbx_json_date(b->started_ms, start);
	sbx_json_date(b->end_ms, end);
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:s, s:s, s:s, s:O, s:[]}",
			 "sandboxID", b->id, "templateID", b->tpl->id, "alias", b->tpl->id,
			 "clientID", "hearth", "cpuCount", (int)b->tpl->vcpus, "memoryMB",
			 (int)b->tpl->mem_mib, "diskSizeMB", (json_int_t)(b->tpl->disk_bytes >> 20),
			 "startedAt", start, "endAt", end, "state",
			 b->state == SBX_PAUSED ? "paused" : "running", "metadata", b->metadata,
			 "volumeMounts");
}

json_t *sbx_json_listed(const struct sbx_box *b)
{
	json_t *o = common(b);

	if (o)
		json_object_set_new(o, "envdVersion", json_string(SBX_ENVD_VERSION));
	return o;
}

json_t *sbx_json_detail(const struct sbx_box *b)
{
	json_t *o = common(b);

	if (o && json_object_update_new(o, json_pack(
		     "{s:s, s:s, s:n, s:b, s:{s:b, s:s}}", "envdVersion", SBX_ENVD_VERSION,
		     "envdAccessToken", b->token, "domain", "allowInternetAccess", 0, "lifecycle",
		     "autoResume", 0, "onTimeout", b->auto_pause ? "pause" : "kill"))) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

char *sbx_json_error(unsigned int code, const char *msg)
{
	json_t *o = json_pack("{s:i, s:s}", "code", (int)code, "message", msg);
	char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return js;
}
