/* Each path of Firecracker's API as an action: the route table, the bodies decoded, the answer. */
#include "api/routes.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/json_request.h"
#include "api/json_fork.h"
#include "api/json_migrate.h"
#include "api/json_snapshot.h"
#include "fcjson/config_json_pmem.h"
#include "util/err.h"
#include "util/log.h"
#include "fcjson/config_json.h"
#include "fcjson/config_json_balloon.h"
#include "fcjson/config_json_hotplug.h"
#include "fcjson/config_json_fault.h"

/*
 * Fills the action from the request's body, one JSON object whose strings
 * the action borrows until it has run. 0, or -errno with err (a 400).
 */
typedef int (*api_decode)(json_t *o, const char *id, struct ctl_action *a, struct err *err);

struct api_route_entry {
	const char *method;
	const char *path;     /* exact, or a prefix ending in '/' followed by one id */
	enum ctl_type type;   /* its decoder may pick another (PUT /actions, PATCH /vm) */
	api_decode decode;    /* NULL: the body goes to the handler as it came */
};

void api_reply_fault(struct api_reply *r, unsigned int status, const char *msg)
{
	json_t *o = json_pack("{s:s}", "fault_message", msg);

	/*
	 * JSON strings are UTF-8, and msg may not be: it can quote a path
	 * the client sent, or a value cut by "%.64s" inside a character.
	 * Without this the client got a bare 500 for its own bad input.
	 */
	if (!o) {
		char *ascii = strdup(msg);

		for (char *p = ascii; p && *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		o = ascii ? json_pack("{s:s}", "fault_message", ascii) : NULL;
		free(ascii);
	}

	r->status = status;
	r->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!r->body)
		r->status = 500;
	/* Firecracker's line for every refusal, which its tests look for in the log. */
	log_file(LOG_ERR, "Received Error. Status code: %u %s. Message: %s", r->status,
		 r->status == 413 ? "Payload too large" : r->status == 400 ? "Bad Request"
		 : r->status == 404 ? "Not Found" : r->status == 503 ? "Service Unavailable"
		 : "Internal Server Error", msg);
}

/* A value a body may name, and the action it stands for. */
struct api_choice {
	const char *name;
	enum ctl_type type;
};

/*
 * o's one field, name: a Rust enum among choices (in Firecracker's
 * order), whose action a becomes. Firecracker's ActionBody and Vm, with
 * serde's words for what they refuse.
 */
static int decode_choice(json_t *o, const char *what, const char *name,
			 const struct api_choice *choices, struct ctl_action *a, struct err *err)
{
	const char *fields[] = { name, NULL }, *variants[8], *key, *value;
	size_t n = 0;
	json_t *v;

	for (const struct api_choice *c = choices; c->name && n < 7; c++)
		variants[n++] = c->name;
	variants[n] = NULL;
	json_object_foreach(o, key, v) {
		if (strcmp(key, name) != 0)
			return jfault_unknown(err, what, o, key, fields);
		if (!json_is_string(v))
			return jfault_enum_type(err, what, o, key);
	}
	value = json_string_value(json_object_get(o, name));
	if (!value)
		return jfault_missing(err, what, o, name);
	for (const struct api_choice *c = choices; c->name; c++) {
		if (!strcmp(value, c->name)) {
			a->type = c->type;
			return 0;
		}
	}
	return jfault_variant(err, what, o, name, variants);
}

/* {"action_type": "..."}: the actions PUT /actions offers. */
static int decode_actions(json_t *o, const char *id, struct ctl_action *a, struct err *err)
{
	static const struct api_choice actions[] = {
		{ "FlushMetrics", CTL_FLUSH_METRICS },
		{ "InstanceStart", CTL_INSTANCE_START },
		{ "SendCtrlAltDel", CTL_SEND_CTRL_ALT_DEL },
		{ NULL, CTL_NTYPES },
	};

	return decode_choice(o, "actions", "action_type", actions, a, err);
}

/* {"state": "Paused" | "Resumed"}. */
static int decode_vm(json_t *o, const char *id, struct ctl_action *a, struct err *err)
{
	static const struct api_choice states[] = {
		{ "Paused", CTL_PAUSE },
		{ "Resumed", CTL_RESUME },
		{ NULL, CTL_NTYPES },
	};

	return decode_choice(o, "vm", "state", states, a, err);
}

static int decode_patch_drive(json_t *o, const char *id, struct ctl_action *a,
			      struct err *err)
{
	return api_json_patch_drive(o, id, &a->drive, err);
}

static int decode_patch_net(json_t *o, const char *id, struct ctl_action *a, struct err *err)
{
	return api_json_patch_net(o, id, &a->net, err);
}

static int decode_snapshot_create(json_t *o, const char *id, struct ctl_action *a,
				  struct err *err)
{
	return json_snapshot_create(o, &a->create, err);
}

static int decode_snapshot_load(json_t *o, const char *id, struct ctl_action *a,
				struct err *err)
{
	return json_snapshot_load(o, &a->load, err);
}

static int decode_balloon(json_t *o, const char *id, struct ctl_action *a, struct err *err)
{
	return config_json_balloon_update(o, &a->balloon.amount_mib, err);
}

static int decode_hotplug(json_t *o, const char *id, struct ctl_action *a, struct err *err)
{
	return config_json_hotplug_update(o, &a->hotplug_mib, err);
}

static int decode_balloon_stats(json_t *o, const char *id, struct ctl_action *a,
				struct err *err)
{
	return config_json_balloon_stats_update(o, &a->balloon.interval_s, err);
}

/* o NULL: no body, which Firecracker takes here (acknowledge_on_stop true). */
static int decode_hint_start(json_t *o, const char *id, struct ctl_action *a, struct err *err)
{
	return config_json_balloon_hint_start(o, &a->balloon.ack_on_stop, err);
}

static int decode_patch_pmem(json_t *o, const char *id, struct ctl_action *a, struct err *err)
{
	a->pmem.id = id;
	return config_json_pmem_update(o, id, &a->pmem.rate_limiter, &a->pmem.has_rate_limiter,
				       err);
}

/* Checked whole here, before the template pauses; the zygote reads the body again. */
static int decode_fork(json_t *o, const char *id, struct ctl_action *a, struct err *err)
{
	struct fork_req f;
	int ret = json_fork_parse(o, &f, err);

	if (ret)
		return ret;
	a->fork.n = f.n;
	a->fork.template_state = f.template_state;
	json_fork_release(&f);
	return 0;
}

static int decode_migrate(json_t *o, const char *id, struct ctl_action *a, struct err *err)
{
	return json_migrate_parse(o, false, &a->migrate, err);
}

static int decode_migrate_in(json_t *o, const char *id, struct ctl_action *a, struct err *err)
{
	return json_migrate_parse(o, true, &a->migrate, err);
}

static const struct api_route_entry routes[] = {
	{ "GET", "/", CTL_GET_INFO, NULL },
	{ "GET", "/version", CTL_GET_VERSION, NULL },
	{ "GET", "/machine-config", CTL_GET_MACHINE, NULL },
	{ "GET", "/vm/config", CTL_GET_CONFIG, NULL },
	{ "PUT", "/boot-source", CTL_PUT_BOOT_SOURCE, NULL },
	{ "PUT", "/machine-config", CTL_PUT_MACHINE, NULL },
	{ "PATCH", "/machine-config", CTL_PATCH_MACHINE, NULL },
	{ "PUT", "/drives/", CTL_PUT_DRIVE, NULL },
	{ "PUT", "/network-interfaces/", CTL_PUT_NET, NULL },
	{ "PUT", "/vsock", CTL_PUT_VSOCK, NULL },
	{ "PUT", "/entropy", CTL_PUT_ENTROPY, NULL },
	{ "PUT", "/logger", CTL_PUT_LOGGER, NULL },
	{ "PUT", "/metrics", CTL_PUT_METRICS, NULL },
	{ "PUT", "/serial", CTL_PUT_SERIAL, NULL },
	{ "PUT", "/cpu-config", CTL_PUT_CPU_CONFIG, NULL },
	{ "PUT", "/actions", CTL_INSTANCE_START, decode_actions },
	{ "PATCH", "/vm", CTL_PAUSE, decode_vm },
	{ "PATCH", "/drives/", CTL_PATCH_DRIVE, decode_patch_drive },
	{ "PATCH", "/network-interfaces/", CTL_PATCH_NET, decode_patch_net },
	{ "PUT", "/snapshot/create", CTL_SNAPSHOT_CREATE, decode_snapshot_create },
	{ "PUT", "/snapshot/load", CTL_SNAPSHOT_LOAD, decode_snapshot_load },
	/* The body as it came: the store takes any JSON value, the config the model's codec. */
	{ "GET", "/mmds", CTL_GET_MMDS, NULL },
	{ "PUT", "/mmds", CTL_PUT_MMDS, NULL },
	{ "PATCH", "/mmds", CTL_PATCH_MMDS, NULL },
	{ "PUT", "/mmds/config", CTL_PUT_MMDS_CONFIG, NULL },
	{ "PUT", "/balloon", CTL_PUT_BALLOON, NULL },
	{ "GET", "/balloon", CTL_GET_BALLOON, NULL },
	{ "PATCH", "/balloon", CTL_PATCH_BALLOON, decode_balloon },
	{ "GET", "/balloon/statistics", CTL_GET_BALLOON_STATS, NULL },
	{ "PATCH", "/balloon/statistics", CTL_PATCH_BALLOON_STATS, decode_balloon_stats },
	{ "PATCH", "/balloon/hinting/start", CTL_BALLOON_HINT_START, decode_hint_start },
	{ "GET", "/balloon/hinting/status", CTL_BALLOON_HINT_STATUS, NULL },
	/* Its body, if any, is not read (Firecracker's parse_patch_hinting). */
	{ "PATCH", "/balloon/hinting/stop", CTL_BALLOON_HINT_STOP, NULL },
	{ "PUT", "/pmem/", CTL_PUT_PMEM, NULL },
	{ "PUT", "/fs/", CTL_PUT_FS, NULL },
	{ "PATCH", "/pmem/", CTL_PATCH_PMEM, decode_patch_pmem },
	{ "PUT", "/hotplug/memory", CTL_PUT_HOTPLUG, NULL },
	{ "GET", "/hotplug/memory", CTL_GET_HOTPLUG, NULL },
	{ "PATCH", "/hotplug/memory", CTL_PATCH_HOTPLUG, decode_hotplug },
	/* Firecracker 1.16's device hot-unplug. */
	{ "DELETE", "/drives/", CTL_DELETE_DRIVE, NULL },
	{ "DELETE", "/network-interfaces/", CTL_DELETE_NET, NULL },
	{ "DELETE", "/pmem/", CTL_DELETE_PMEM, NULL },
	/* Firecracker's VFIO branch (docs/api.md): a host PCI device, before boot. */
	{ "PUT", "/device-passthrough/", CTL_PUT_PASSTHROUGH, NULL },
	{ "DELETE", "/device-passthrough/", CTL_DELETE_PASSTHROUGH, NULL },
	/* Hearth's (docs/api.md "Fork and reset"). */
	{ "PUT", "/fork", CTL_FORK, decode_fork },
	{ "PUT", "/reset", CTL_RESET, NULL },
	/* Hearth's (docs/migration.md). */
	{ "PUT", "/migrate", CTL_MIGRATE, decode_migrate },
	{ "PUT", "/migrate/incoming", CTL_MIGRATE_INCOMING, decode_migrate_in },
	{ "GET", "/migrate", CTL_GET_MIGRATE, NULL },
	{ NULL, NULL, CTL_NTYPES, NULL },
};

/* Firecracker's PATCHes that may come without a body (parse_patch_hinting). */
static bool body_optional(enum ctl_type type)
{
	return type == CTL_BALLOON_HINT_START || type == CTL_BALLOON_HINT_STOP;
}

/* The rest of Firecracker's API: answered, not served. method NULL: any. */
static const struct {
	const char *method;
	const char *prefix;   /* the path, or a prefix when it ends in '/' */
} unsupported[] = {
	{ NULL, "/hotplug/" },
	{ NULL, NULL },
};

/* path matches p exactly, or p ends in '/' and path is p plus one non-empty segment. */
static bool path_match(const char *path, const char *p, const char **id)
{
	size_t n = strlen(p);

	*id = NULL;
	if (n > 1 && p[n - 1] == '/') {
		if (strncmp(path, p, n) != 0 || !path[n] || strchr(path + n, '/'))
			return false;
		*id = path + n;
		return true;
	}
	return !strcmp(path, p);
}

/*
 * Firecracker's deprecated fields: a request that gives one (not null)
 * is answered with "Deprecation: true", whether it succeeds or not, and
 * logged, in Firecracker's words.
 */
static const struct {
	const char *method, *path, *field, *words;
} deprecated_fields[] = {
	{ "PUT", "/machine-config", "cpu_template", "PUT /machine-config: cpu_template field is "
	  "deprecated." },
	{ "PATCH", "/machine-config", "cpu_template", "PATCH /machine-config: cpu_template field "
	  "is deprecated." },
	{ "PUT", "/vsock", "vsock_id", "PUT /vsock: vsock_id field is deprecated." },
	{ "PUT", "/snapshot/load", "mem_file_path", "PUT /snapshot/load: mem_file_path field is "
	  "deprecated." },
	{ "PUT", "/snapshot/load", "enable_diff_snapshots", "PUT /snapshot/load: "
	  "enable_diff_snapshots field is deprecated." },
	{ NULL, NULL, NULL, NULL },
};

static bool uses_deprecated(const char *method, const char *path, const char *body, size_t len)
{
	json_t *o = NULL;
	bool used = false;

	for (int i = 0; deprecated_fields[i].method; i++) {
		if (strcmp(method, deprecated_fields[i].method) || strcmp(path, deprecated_fields[i].path))
			continue;
		if (!o && body && len)
			o = json_loadb(body, len, 0, NULL);
		if (!json_is_object(o))
			break;
		if (json_object_get(o, deprecated_fields[i].field) &&
		    !json_is_null(json_object_get(o, deprecated_fields[i].field))) {
			log_warn("%s", deprecated_fields[i].words);
			used = true;
		}
	}
	/* MMDS V1 (a version of "V1", or none: Firecracker's default) is deprecated too. */
	if (!strcmp(method, "PUT") && !strcmp(path, "/mmds/config")) {
		json_t *v;

		if (!o && body && len)
			o = json_loadb(body, len, 0, NULL);
		v = json_is_object(o) ? json_object_get(o, "version") : NULL;
		if (json_is_object(o) && (!v || json_is_null(v) ||
					  (json_is_string(v) && !strcmp(json_string_value(v), "V1")))) {
			log_warn("PUT /mmds/config: V1 is deprecated. Use V2 instead.");
			used = true;
		}
	}
	json_decref(o);
	return used;
}

static bool path_unsupported(const char *method, const char *path)
{
	for (int i = 0; unsupported[i].prefix; i++) {
		const char *p = unsupported[i].prefix;
		size_t n = strlen(p);

		if (unsupported[i].method && strcmp(unsupported[i].method, method) != 0)
			continue;
		if (p[n - 1] == '/' ? !strncmp(path, p, n) && path[n] : !strcmp(path, p))
			return true;
	}
	return false;
}

static const struct api_route_entry *route_find(const char *method, const char *path,
					       const char **id)
{
	for (const struct api_route_entry *e = routes; e->method; e++)
		if (!strcmp(e->method, method) && path_match(path, e->path, id))
			return e;
	return NULL;
}

/* serde's name for the body a decoded route takes: Firecracker's type. */
static const char *body_struct(enum ctl_type type)
{
	switch (type) {
	case CTL_INSTANCE_START:
		return "struct ActionBody";
	case CTL_PAUSE:
		return "struct Vm";
	case CTL_PATCH_DRIVE:
		return "struct BlockDeviceUpdateConfig";
	case CTL_PATCH_NET:
		return "struct NetworkInterfaceUpdateConfig";
	case CTL_SNAPSHOT_CREATE:
		return "struct CreateSnapshotParams";
	case CTL_SNAPSHOT_LOAD:
		return "struct LoadSnapshotConfig";
	case CTL_PATCH_BALLOON:
		return "struct BalloonUpdateConfig";
	case CTL_PATCH_BALLOON_STATS:
		return "struct BalloonUpdateStatsConfig";
	case CTL_BALLOON_HINT_START:
		return "struct StartHintingCmd";
	case CTL_PATCH_PMEM:
		return "struct PmemDeviceUpdateConfig";
	case CTL_PATCH_HOTPLUG:
		return "struct MemoryHotplugSizeUpdate";
	case CTL_FORK:
		return "struct ForkParams";
	default:
		return "a map";
	}
}

/* The request as an action, and the handler's answer. */
static int route_run(struct ctl *ctl, const struct api_route_entry *e, const char *id,
		     const char *body, size_t len, json_t **out, struct err *err)
{
	struct ctl_action a = { .type = e->type, .id = id, .body = body, .len = len };
	json_t *o = NULL;
	int ret;

	if (e->decode && !len && body_optional(e->type)) {
		ret = e->decode(NULL, id, &a, err);
		if (!ret)
			ret = ctl_handle(ctl, &a, out, err);
	} else if (e->decode) {
		o = config_json_body(body, len, body_struct(e->type), err);
		if (!o)
			return -EINVAL;
		ret = e->decode(o, id, &a, err);
		if (ret)
			config_json_fault_place(err, body, len, o);
		if (!ret)
			ret = ctl_handle(ctl, &a, out, err);
		json_decref(o);
	} else {
		ret = ctl_handle(ctl, &a, out, err);
	}
	/* A snapshot request that ran out of memory is answered 400, as it always was. */
	if (ret == -ENOMEM && (e->type == CTL_SNAPSHOT_CREATE || e->type == CTL_SNAPSHOT_LOAD))
		ret = -EIO;
	return ret;
}

static void route_reply(struct api_reply *r, int ret, json_t *out, const struct err *err)
{
	if (ret) {
		/* -EFBIG: the MMDS store's limit, Firecracker's 413 Payload Too Large. */
		api_reply_fault(r, ret == -ENOMEM ? 500 : ret == -EFBIG ? 413 : 400, err->msg);
	} else if (out) {
		/* Any value: GET /mmds answers whatever the store holds. */
		r->body = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
		r->status = 200;
		if (!r->body)
			api_reply_fault(r, 500, "out of memory");
	} else {
		r->status = 204;
	}
	json_decref(out);
}

static enum ctl_request request_kind(const char *method)
{
	if (!strcmp(method, "GET"))
		return CTL_REQ_GET;
	if (!strcmp(method, "PUT"))
		return CTL_REQ_PUT;
	if (!strcmp(method, "PATCH"))
		return CTL_REQ_PATCH;
	return CTL_REQ_OTHER;
}

void api_route(struct ctl *ctl, const char *method, const char *path, const char *body,
	       size_t len, struct api_reply *r)
{
	const struct api_route_entry *e;
	struct err err = ERR_INIT;
	const char *id = NULL;
	json_t *out = NULL;
	/* Counted before it runs, as Firecracker's parser counts: InstanceStart's own line has it. */
	int counted = ctl_count_api(ctl, method, path, len > 0);
	int ret;

	r->status = 500;
	r->body = NULL;
	r->deprecated = uses_deprecated(method, path, body, len);
	e = route_find(method, path, &id);
	/* Firecracker's method_to_error, before the path is looked at. */
	if (!len && (!strcmp(method, "PUT") || !strcmp(method, "PATCH")) &&
	    !(e && body_optional(e->type))) {
		err_set(&err, true, -EINVAL, "Empty %s request.", method);
		api_reply_fault(r, 400, err.msg);
	} else if (len && !strcmp(method, "GET")) {
		api_reply_fault(r, 400, "GET request cannot have a body.");
	} else if (len && !strcmp(method, "DELETE")) {
		/* Firecracker's method_to_error(Method::Delete), its words as they are. */
		api_reply_fault(r, 400, "Empty Delete request.");
	} else if (e) {
		ret = route_run(ctl, e, id, body, len, &out, &err);
		route_reply(r, ret, out, &err);
	} else {
		bool live_only = !strcmp(method, "PATCH") && (!strncmp(path, "/pmem/", 6) ||
							     !strcmp(path, "/hotplug/memory"));
		enum ctl_state st;

		pthread_mutex_lock(&ctl->lock);
		st = ctl->state;
		pthread_mutex_unlock(&ctl->lock);
		/* Firecracker's state rule comes first, as for the routes Hearth has. */
		if (live_only && st == CTL_NOT_STARTED)
			err_set(&err, true, -EINVAL, "%s", CTL_NOT_BEFORE_START);
		else if (path_unsupported(method, path))
			err_set(&err, true, -EINVAL, "%s %s is not supported yet", method, path);
		else
			err_set(&err, true, -EINVAL, "Invalid request method and/or path: %s %s",
				method, path);
		api_reply_fault(r, 400, err.msg);
	}
	ctl_count_request(ctl, request_kind(method), counted, r->status >= 400, r->deprecated);
	log_debug("api: %s %s: %u", method, path, r->status);
}
