#include "api/routes.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/json_request.h"
#include "api/json_snapshot.h"
#include "api/observe.h"
#include "hearth-config.h"
#include "util/err.h"
#include "util/log.h"
#include "vmm/config_json.h"
#include "vmm/config_json_observe.h"

struct api_req {
	struct api_ctl *ctl;
	const char *method;
	const char *path;
	const char *id;       /* the {drive_id} / {iface_id} part, or NULL */
	const char *body;
	size_t len;
	struct err err;
};

/* Returns 0 (204 or r filled with 200), or -errno with req->err for a 400 (-ENOMEM: 500). */
typedef int (*api_handler)(struct api_req *req, struct api_reply *r);

struct api_route_entry {
	const char *method;
	const char *path;     /* exact, or a prefix ending in '/' followed by one id */
	bool pre_boot_only;
	api_handler fn;
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
}

static int reply_json(struct api_reply *r, json_t *o, struct api_req *req)
{
	r->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!r->body)
		return err_set(&req->err, false, -ENOMEM, "out of memory");
	r->status = 200;
	return 0;
}

/* Parses the body, for a config_json function or the API's own. */
static json_t *req_json(struct api_req *req)
{
	return api_json_body(req->body, req->len, &req->err);
}

static int get_info(struct api_req *req, struct api_reply *r)
{
	return reply_json(r, json_pack("{s:s, s:s, s:s, s:s}", "id", req->ctl->id, "state",
				       api_state_name(req->ctl->state), "vmm_version",
				       HEARTH_VERSION, "app_name", "hearth"),
			  req);
}

static int get_version(struct api_req *req, struct api_reply *r)
{
	return reply_json(r, json_pack("{s:s}", "firecracker_version", HEARTH_VERSION), req);
}

static int get_machine(struct api_req *req, struct api_reply *r)
{
	return reply_json(r, config_json_dump_machine(&req->ctl->cfg), req);
}

static int get_vm_config(struct api_req *req, struct api_reply *r)
{
	return reply_json(r, config_json_dump_full(&req->ctl->cfg), req);
}

#define BODY_HANDLER(name, call)                                                    \
	static int name(struct api_req *req, struct api_reply *r)                    \
	{                                                                            \
		struct vm_config *c = &req->ctl->cfg;                                \
		struct err *err = &req->err;                                         \
		json_t *o = req_json(req);                                           \
		int ret;                                                             \
                                                                                     \
		(void)r;                                                             \
		(void)c;                                                             \
		if (!o)                                                              \
			return -EINVAL;                                              \
		ret = call;                                                          \
		json_decref(o);                                                      \
		return ret;                                                          \
	}

BODY_HANDLER(put_boot, config_json_boot_source(c, o, err))
BODY_HANDLER(put_machine, config_json_machine(c, o, false, err))
BODY_HANDLER(patch_machine, config_json_machine(c, o, true, err))
BODY_HANDLER(put_drive, config_json_drive(c, o, req->id, err))
BODY_HANDLER(put_net, config_json_net(c, o, req->id, err))
BODY_HANDLER(put_vsock, config_json_vsock(c, o, err))
BODY_HANDLER(put_entropy, config_json_entropy(c, o, err))
BODY_HANDLER(patch_drive, ((void)c, api_patch_drive(req->ctl, req->id, o, err)))
BODY_HANDLER(patch_net, ((void)c, api_patch_net(req->ctl, req->id, o, err)))
BODY_HANDLER(put_logger, api_ctl_set_logger(req->ctl, o, err))
BODY_HANDLER(put_metrics, api_ctl_set_metrics(req->ctl, o, err))
BODY_HANDLER(put_serial, config_json_serial(c, o, err))

static int put_snapshot_create(struct api_req *req, struct api_reply *r)
{
	struct snap_create_req c;
	json_t *o = req_json(req);
	int ret;

	(void)r;
	if (!o)
		return -EINVAL;
	ret = json_snapshot_create(o, &c, &req->err);
	if (!ret)
		ret = api_ctl_snapshot_create(req->ctl, &c, &req->err);
	json_decref(o);
	return ret == -ENOMEM ? -EIO : ret;
}

static int put_snapshot_load(struct api_req *req, struct api_reply *r)
{
	struct snap_load_req l;
	json_t *o = req_json(req);
	int ret;

	(void)r;
	if (!o)
		return -EINVAL;
	ret = json_snapshot_load(o, &l, &req->err);
	if (!ret)
		ret = api_ctl_snapshot_load(req->ctl, &l, &req->err);
	json_decref(o);
	return ret == -ENOMEM ? -EIO : ret;
}

/* {"action_type": "..."}: InstanceStart only, for now. */
static int put_actions(struct api_req *req, struct api_reply *r)
{
	json_t *o = req_json(req), *v;
	const char *key, *action;
	int ret = -EINVAL;

	(void)r;
	if (!o)
		return -EINVAL;
	json_object_foreach(o, key, v) {
		if (strcmp(key, "action_type") != 0) {
			err_set(&req->err, true, -EINVAL, "actions: unknown field '%.64s'", key);
			goto out;
		}
	}
	v = json_object_get(o, "action_type");
	action = json_string_value(v);
	if (!v) {
		err_set(&req->err, true, -EINVAL, "actions: missing required field "
			"'action_type'");
	} else if (!action) {
		err_set(&req->err, true, -EINVAL, "actions: field 'action_type' must be a "
			"string");
	} else if (!strcmp(action, "InstanceStart")) {
		ret = api_ctl_start(req->ctl, &req->err);
	} else if (!strcmp(action, "SendCtrlAltDel")) {
		ret = api_ctl_ctrl_alt_del(req->ctl, &req->err);
	} else if (!strcmp(action, "FlushMetrics")) {
		ret = api_ctl_flush_metrics(req->ctl, &req->err);
	} else {
		err_set(&req->err, true, -EINVAL, "actions: action_type '%.64s' is not one of "
			"InstanceStart, FlushMetrics, SendCtrlAltDel", action);
	}
out:
	json_decref(o);
	return ret;
}

/* {"state": "Paused" | "Resumed"}; asking for the state the VM is in is a no-op, as in Firecracker. */
static int patch_vm(struct api_req *req, struct api_reply *r)
{
	struct api_ctl *ctl = req->ctl;
	json_t *o = req_json(req), *v;
	const char *key, *state;
	int ret = -EINVAL;

	(void)r;
	if (!o)
		return -EINVAL;
	json_object_foreach(o, key, v) {
		if (strcmp(key, "state") != 0) {
			err_set(&req->err, true, -EINVAL, "vm: unknown field '%.64s'", key);
			goto out;
		}
	}
	v = json_object_get(o, "state");
	state = json_string_value(v);
	if (!v) {
		err_set(&req->err, true, -EINVAL, "vm: missing required field 'state'");
	} else if (!state) {
		err_set(&req->err, true, -EINVAL, "vm: field 'state' must be a string");
	} else if (strcmp(state, "Paused") != 0 && strcmp(state, "Resumed") != 0) {
		err_set(&req->err, true, -EINVAL, "vm: state '%.64s' is not one of Paused, "
			"Resumed", state);
	} else if (ctl->state == API_NOT_STARTED) {
		err_set(&req->err, true, -EINVAL, "PATCH /vm is not allowed before boot: the "
			"microVM has not been started (InstanceStart)");
	} else if (!strcmp(state, "Paused")) {
		ret = ctl->state == API_PAUSED ? 0 : ctl->ops->pause(ctl->ops_ctx);
		if (ret)
			err_set(&req->err, false, ret, "cannot pause the microVM: %s",
				strerror(-ret));
		else
			ctl->state = API_PAUSED;
	} else {
		if (ctl->state == API_PAUSED)
			ctl->ops->resume(ctl->ops_ctx);
		ctl->state = API_RUNNING;
		ret = 0;
	}
out:
	json_decref(o);
	return ret;
}

static const struct api_route_entry routes[] = {
	{ "GET", "/", false, get_info },
	{ "GET", "/version", false, get_version },
	{ "GET", "/machine-config", false, get_machine },
	{ "GET", "/vm/config", false, get_vm_config },
	{ "PUT", "/boot-source", true, put_boot },
	{ "PUT", "/machine-config", true, put_machine },
	{ "PATCH", "/machine-config", true, patch_machine },
	{ "PUT", "/drives/", true, put_drive },
	{ "PUT", "/network-interfaces/", true, put_net },
	{ "PUT", "/vsock", true, put_vsock },
	{ "PUT", "/entropy", true, put_entropy },
	{ "PUT", "/logger", true, put_logger },
	{ "PUT", "/metrics", true, put_metrics },
	{ "PUT", "/serial", true, put_serial },
	{ "PUT", "/actions", false, put_actions },
	{ "PATCH", "/vm", false, patch_vm },
	{ "PATCH", "/drives/", false, patch_drive },
	{ "PATCH", "/network-interfaces/", false, patch_net },
	{ "PUT", "/snapshot/create", false, put_snapshot_create },
	{ "PUT", "/snapshot/load", false, put_snapshot_load },
	{ NULL, NULL, false, NULL },
};

/* The rest of Firecracker's API: answered, not served. method NULL: any. */
static const struct {
	const char *method;
	const char *prefix;   /* the path, or a prefix when it ends in '/' */
} unsupported[] = {
	{ NULL, "/balloon" }, { NULL, "/balloon/" }, { NULL, "/cpu-config" },
	{ NULL, "/mmds" }, { NULL, "/mmds/" },
	{ NULL, "/hotplug/" }, { NULL, "/pmem/" },
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

static void route_locked(struct api_req *req, struct api_reply *r)
{
	const struct api_route_entry *e;
	const char *id = NULL;
	int ret;

	for (e = routes; e->method; e++)
		if (!strcmp(e->method, req->method) && path_match(req->path, e->path, &id))
			break;
	if (!e->method) {
		if (path_unsupported(req->method, req->path))
			err_set(&req->err, true, -EINVAL, "%s %s is not supported yet",
				req->method, req->path);
		else
			err_set(&req->err, true, -EINVAL, "Invalid request method and/or path: "
				"%s %s", req->method, req->path);
		api_reply_fault(r, 400, req->err.msg);
		return;
	}
	if (e->pre_boot_only && req->ctl->state != API_NOT_STARTED) {
		err_set(&req->err, true, -EINVAL, "%s %s is not allowed after boot: the "
			"microVM has started", req->method, e->path);
		api_reply_fault(r, 400, req->err.msg);
		return;
	}
	req->id = id;
	ret = e->fn(req, r);
	if (ret) {
		free(r->body);
		r->body = NULL;
		api_reply_fault(r, ret == -ENOMEM ? 500 : 400, req->err.msg);
	} else if (!r->body) {
		r->status = 204;
	}
}

void api_route(struct api_ctl *ctl, const char *method, const char *path, const char *body,
	       size_t len, struct api_reply *r)
{
	struct api_req *req = calloc(1, sizeof(*req));

	r->status = 500;
	r->body = NULL;
	if (!req)
		return;
	req->ctl = ctl;
	req->method = method;
	req->path = path;
	req->body = body;
	req->len = len;
	pthread_mutex_lock(&ctl->lock);
	route_locked(req, r);
	api_ctl_count(ctl, method, r->status);
	pthread_mutex_unlock(&ctl->lock);
	log_debug("api: %s %s: %u", method, path, r->status);
	free(req);
}
