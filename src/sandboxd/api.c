/* E2B's REST API: the key, the routes, the answers (api.h). */
#include "sandboxd/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandboxd/api_json.h"
#include "sandboxd/lifecycle.h"
#include "sandboxd/router.h"

bool sbx_api_key_ok(const struct sbx *s, const char *key, size_t n)
{
	unsigned char diff = n != s->key_len;

	/* Every byte of the server's key is looked at, whatever the given one holds. */
	for (size_t i = 0; i < s->key_len; i++)
		diff |= (unsigned char)(s->key[i] ^ (i < n ? key[i] : 0));
	return !diff && s->key_len;
}

unsigned int sbx_api_status(int err)
{
	switch (err) {
	case -ENOENT: return 404;
	case -EINVAL: return 400;
	case -EALREADY: return 409;
	case -EAGAIN: return 429;
	case -ETIMEDOUT: return 504;
	case -ECANCELED: return 503;	/* the server is stopping */
	default: return 500;
	}
}

void sbx_api_error(struct httpd_reply *reply, unsigned int code, const char *msg)
{
	char *js = sbx_json_error(code, msg);

	reply->status = code;
	reply->content_type = "application/json";
	reply->body = js ? js : "{}";
	reply->body_len = js ? strlen(js) : 2;
	reply->body_owned = js != NULL;
}

/* reply: o as JSON with status (o taken). */
static void answer(struct httpd_reply *reply, unsigned int status, json_t *o)
{
	char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!js) {
		sbx_api_error(reply, 500, "out of memory");
		return;
	}
	reply->status = status;
	reply->content_type = "application/json";
	reply->body = js;
	reply->body_len = strlen(js);
	reply->body_owned = true;
}

static void fail(struct httpd_reply *reply, int ret, const struct err *e)
{
	sbx_api_error(reply, sbx_api_status(ret), e->msg[0] ? e->msg : strerror(-ret));
}

bool sbx_api_refuse(struct sbx *s, const struct httpd_request *r, struct httpd_reply *reply)
{
	const char *key = httpd_header(r, "X-API-Key");
	struct sbx_match m;

	sbx_route_match(r->method, r->path, &m);
	if (m.route == SBX_R_HEALTH && m.method_ok)
		return false;
	if (!key) {
		sbx_api_error(reply, 401, "X-API-Key header is missing: every request needs the "
			      "server's API key (E2B_API_KEY)");
		return true;
	}
	if (!sbx_api_key_ok(s, key, strlen(key))) {
		sbx_api_error(reply, 401, "Invalid API key: X-API-Key is not this server's key");
		return true;
	}
	return false;
}

/* The body as an object: 0, or the 400 answered. */
static int body_of(const struct httpd_request *r, bool allow_empty, json_t **o,
		   struct httpd_reply *reply)
{
	struct err e = ERR_INIT;
	int ret;

	if (r->body_too_big) {
		sbx_api_error(reply, 413, "request body too large");
		return -EFBIG;
	}
	ret = sbx_json_body(r->body, r->body ? r->body_len : 0, allow_empty, o, &e);
	if (ret)
		fail(reply, ret, &e);
	return ret;
}

static void do_create(struct sbx *s, const struct httpd_request *r, struct httpd_reply *reply)
{
	struct sbx_create_req q;
	struct err e = ERR_INIT;
	json_t *o, *ans;
	int ret;

	if (body_of(r, false, &o, reply))
		return;
	ret = sbx_json_new_sandbox(o, &s->cfg, &q, &e);
	if (!ret)
		ret = sbx_op_create(s, &q, &ans, &e);
	json_decref(o);
	if (ret)
		fail(reply, ret, &e);
	else
		answer(reply, 201, ans);
}

static void do_get(struct sbx *s, const char *id, struct httpd_reply *reply)
{
	struct sbx_box *b;
	json_t *o = NULL;

	pthread_mutex_lock(&s->lock);
	b = sbx_box_find(s, id);
	if (b)
		o = sbx_json_detail(b);
	pthread_mutex_unlock(&s->lock);
	if (!b) {
		char msg[160];

		snprintf(msg, sizeof(msg), "sandbox \"%.64s\" doesn't exist or you don't have access "
			 "to it", id);
		sbx_api_error(reply, 404, msg);
		return;
	}
	answer(reply, 200, o);
}

/* POST .../timeout and .../refreshes (its "duration"). */
static void do_timeout(struct sbx *s, const struct sbx_match *m, const struct httpd_request *r,
		       struct httpd_reply *reply)
{
	struct err e = ERR_INIT;
	unsigned int t;
	json_t *o, *d;
	int ret;

	if (body_of(r, m->route == SBX_R_REFRESH, &o, reply))
		return;
	if (m->route == SBX_R_REFRESH) {
		/* The old API's refresh: "duration" seconds, default and at most E2B's 3600. */
		d = json_object_get(o, "duration");
		t = 60;
		ret = 0;
		if (d && (!json_is_integer(d) || json_integer_value(d) < 0 ||
			  json_integer_value(d) > 3600))
			ret = err_set(&e, true, -EINVAL, "duration: want 0 to 3600 seconds");
		else if (d)
			t = (unsigned int)json_integer_value(d);
	} else {
		ret = sbx_json_timeout(o, &s->cfg, true, 0, &t, &e);
	}
	if (!ret)
		ret = sbx_op_set_timeout(s, m->id, t, &e);
	json_decref(o);
	if (ret) {
		fail(reply, ret, &e);
		return;
	}
	reply->status = 204;
}

static void do_pause(struct sbx *s, const char *id, const struct httpd_request *r,
		     struct httpd_reply *reply)
{
	struct err e = ERR_INIT;
	json_t *o;
	int ret;

	if (body_of(r, true, &o, reply))
		return;
	ret = sbx_json_memory(o, &e);
	json_decref(o);
	if (!ret)
		ret = sbx_op_pause(s, id, &e);
	if (ret)
		fail(reply, ret, &e);
	else
		reply->status = 204;
}

static void do_connect(struct sbx *s, const char *id, const struct httpd_request *r,
		       struct httpd_reply *reply)
{
	struct err e = ERR_INIT;
	unsigned int t;
	bool resumed;
	json_t *o, *ans;
	int ret;

	if (body_of(r, true, &o, reply))
		return;
	ret = sbx_json_memory(o, &e);
	if (!ret)
		ret = sbx_json_timeout(o, &s->cfg, false, s->cfg.default_timeout_s, &t, &e);
	json_decref(o);
	if (!ret)
		ret = sbx_op_connect(s, id, t, &ans, &resumed, &e);
	if (ret)
		fail(reply, ret, &e);
	else
		answer(reply, resumed ? 201 : 200, ans);
}

static void do_fork(struct sbx *s, const char *id, const struct httpd_request *r,
		    struct httpd_reply *reply)
{
	struct err e = ERR_INIT;
	unsigned int n, t;
	json_t *o, *ans;
	int ret;

	if (body_of(r, true, &o, reply))
		return;
	ret = sbx_json_fork_req(o, &s->cfg, &n, &t, &e);
	json_decref(o);
	if (!ret)
		ret = sbx_op_fork(s, id, n, t, &ans, &e);
	if (ret)
		fail(reply, ret, &e);
	else
		answer(reply, 201, ans);
}

static void do_snapshot(struct sbx *s, const char *id, const struct httpd_request *r,
			struct httpd_reply *reply)
{
	struct err e = ERR_INIT;
	json_t *o, *ans, *name;
	int ret = 0;

	if (body_of(r, true, &o, reply))
		return;
	name = json_object_get(o, "name");
	if (name && !json_is_null(name) && !json_is_string(name))
		ret = err_set(&e, true, -EINVAL, "name: want a string");
	if (!ret)
		ret = sbx_op_snapshot(s, id, json_string_value(name), &ans, &e);
	json_decref(o);
	if (ret)
		fail(reply, ret, &e);
	else
		answer(reply, 201, ans);
}

void sbx_api_handle(struct sbx *s, const struct httpd_request *r, struct httpd_reply *reply)
{
	struct err e = ERR_INIT;
	struct sbx_match m;
	char msg[200];
	json_t *ans;
	int ret;

	sbx_route_match(r->method, r->path, &m);
	if (m.route == SBX_R_NONE) {
		snprintf(msg, sizeof(msg), "%.8s %.120s: no such endpoint", r->method, r->path);
		sbx_api_error(reply, 404, msg);
		return;
	}
	if (!m.method_ok) {
		snprintf(msg, sizeof(msg), "%.8s %.120s: method not allowed", r->method, r->path);
		sbx_api_error(reply, 405, msg);
		return;
	}
	switch (m.route) {
	case SBX_R_HEALTH:
		reply->status = 200;
		return;
	case SBX_R_CREATE:
		do_create(s, r, reply);
		return;
	case SBX_R_LIST:
		sbx_api_list(s, r, reply);
		return;
	case SBX_R_GET:
		do_get(s, m.id, reply);
		return;
	case SBX_R_KILL:
		ret = sbx_op_kill(s, m.id, &e);
		if (ret)
			fail(reply, ret, &e);
		else
			reply->status = 204;
		return;
	case SBX_R_TIMEOUT:
	case SBX_R_REFRESH:
		do_timeout(s, &m, r, reply);
		return;
	case SBX_R_PAUSE:
		do_pause(s, m.id, r, reply);
		return;
	case SBX_R_CONNECT:
		do_connect(s, m.id, r, reply);
		return;
	case SBX_R_FORK:
		do_fork(s, m.id, r, reply);
		return;
	case SBX_R_SNAPSHOT:
		do_snapshot(s, m.id, r, reply);
		return;
	case SBX_R_METRICS:
		ret = sbx_op_metrics(s, m.id, &ans, &e);
		if (ret)
			fail(reply, ret, &e);
		else
			answer(reply, 200, ans);
		return;
	case SBX_R_UNSERVED:
	case SBX_R_NONE:
		break;
	}
	snprintf(msg, sizeof(msg), "%.8s %.80s is not served by Hearth's sandbox server "
		 "(docs/sandboxes.md)", r->method, m.name ? m.name : r->path);
	sbx_api_error(reply, 501, msg);
}
