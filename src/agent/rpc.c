/*
 * Connect's protocol (rpc.h): the checks every call goes through (method,
 * Content-Type, compression, size, the envelope), the user and headers a
 * call carries, errors in both shapes, and the streams' framing, keepalives
 * and deadlines.
 */
#include "agent/rpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "agent/agent.h"
#include "agent/auth.h"
#include "agent/http.h"
#include "agent/pjson.h"

#define RPC_KEEPALIVE_DEFAULT_S 90u
/* A client stream's requests, at most (StreamInput). */
#define RPC_MAX_ENVELOPES 4096u

static const char *const code_names[] = {
	"ok", "canceled", "unknown", "invalid_argument", "deadline_exceeded", "not_found",
	"already_exists", "permission_denied", "resource_exhausted", "failed_precondition",
	"aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss",
	"unauthenticated",
};

/* Connect's table (after its RFC 003). */
static const unsigned int code_http[] = {
	200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401,
};

int rpc_fail(struct rpc_err *e, enum rpc_code code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

enum rpc_code rpc_code_of_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case ENOENT:
		return RPC_NOT_FOUND;
	case EACCES:
	case EPERM:
	case EROFS:
		return RPC_PERMISSION_DENIED;
	case EEXIST:
	case ENOTEMPTY:
		return RPC_ALREADY_EXISTS;
	case ENOTDIR:
	case EISDIR:
	case EINVAL:
	case ENAMETOOLONG:
	case ELOOP:
	case EXDEV:
		return RPC_INVALID_ARGUMENT;
	case ENOSPC:
	case EDQUOT:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
		return RPC_RESOURCE_EXHAUSTED;
	default:
		return RPC_INTERNAL;
	}
}

const char *rpc_code_name(enum rpc_code code)
{
	return (unsigned int)code <= RPC_UNAUTHENTICATED ? code_names[code] : "unknown";
}

unsigned int rpc_code_http(enum rpc_code code)
{
	return (unsigned int)code <= RPC_UNAUTHENTICATED ? code_http[code] : 500;
}

static json_t *error_object(const struct rpc_err *e)
{
	return json_pack("{s:s, s:s}", "code", rpc_code_name(e->code), "message", e->msg);
}

char *rpc_error_json(const struct rpc_err *e)
{
	json_t *o = error_object(e);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

int rpc_need_user(const struct rpc_ctx *ctx, struct rpc_err *e)
{
	if (!ctx->user_ret)
		return 0;
	return rpc_fail(e, RPC_UNAUTHENTICATED, "invalid default user: '%s'", ctx->user.name);
}

/* Whether ct is want, parameters aside ("application/json; charset=utf-8"). */
static bool media_is(const char *ct, const char *want)
{
	size_t n = strlen(want);

	return ct && !strncasecmp(ct, want, n) && (!ct[n] || ct[n] == ';' || ct[n] == ' ');
}

static bool wants_stream(const struct http_req *r)
{
	return media_is(http_header(r, "Content-Type"), "application/connect+json");
}

/* One envelope: flags, big-endian length, the JSON; NULL on failure. */
static char *envelope(uint8_t flags, json_t *msg, size_t *len)
{
	char *js = json_dumps(msg, JSON_COMPACT);
	size_t n = js ? strlen(js) : 0;
	char *env = js ? malloc(n + 5) : NULL;

	if (env) {
		env[0] = (char)flags;
		env[1] = (char)(n >> 24);
		env[2] = (char)(n >> 16);
		env[3] = (char)(n >> 8);
		env[4] = (char)n;
		memcpy(env + 5, js, n);
		*len = n + 5;
	}
	free(js);
	return env;
}

/* The end-of-stream envelope: {} or {"error": ...}. */
static int send_end(struct http_conn *c, const struct rpc_err *e)
{
	json_t *o = e ? json_pack("{s:o}", "error", error_object(e)) : json_object();
	size_t len;
	char *env = o ? envelope(0x02, o, &len) : NULL;
	int ret = env ? http_stream_chunk(c, env, len) : -ENOMEM;

	json_decref(o);
	free(env);
	return ret;
}

void rpc_reply_error(struct http_conn *c, const struct http_req *r, const struct rpc_err *e)
{
	static const struct http_stream_ops none = { 0 };
	char *js;

	/*
	 * A stream's error is its end message after a 200 (connect-go's
	 * ErrorWriter does the same), a unary call's the status and body. At
	 * the headers, a stream cannot start yet: the status then says it.
	 */
	if (wants_stream(r) && !http_stream_start(c, 200, "application/connect+json", &none, NULL)) {
		send_end(c, e);
		http_stream_finish(c);
		return;
	}
	js = rpc_error_json(e);
	http_reply(c, rpc_code_http(e->code), "application/json", NULL, js ? js : "{}",
		   js ? strlen(js) : 2);
	free(js);
}

int rpc_stream_send(struct rpc_stream *s, json_t *msg)
{
	size_t len;
	char *env = msg ? envelope(0, msg, &len) : NULL;
	int ret = env ? http_stream_chunk(s->conn, env, len) : -ENOMEM;

	json_decref(msg);
	free(env);
	if (s->keepalive_s)
		loop_timer_arm(s->a->loop, &s->keepalive, s->keepalive_s * 1000ull,
			       s->keepalive.fn, s);
	return ret;
}

bool rpc_stream_full(const struct rpc_stream *s)
{
	return http_queued(s->conn) > RPC_STREAM_HIGH;
}

void rpc_stream_finish(struct rpc_stream *s, const struct rpc_err *e)
{
	loop_timer_cancel(s->a->loop, &s->keepalive);
	loop_timer_cancel(s->a->loop, &s->deadline);
	send_end(s->conn, e);
	http_stream_finish(s->conn);
	free(s);
}

static void stream_keepalive(void *opaque)
{
	struct rpc_stream *s = opaque;

	if (s->ops && s->ops->keepalive_json)
		rpc_stream_send(s, json_loads(s->ops->keepalive_json, 0, NULL));
}

static void stream_deadline(void *opaque)
{
	struct rpc_stream *s = opaque;
	struct rpc_err e;

	if (s->ops)
		s->ops->detach(s, true);
	rpc_fail(&e, RPC_DEADLINE_EXCEEDED, "deadline exceeded");
	rpc_stream_finish(s, &e);
}

static void stream_closed(void *owner)
{
	struct rpc_stream *s = owner;

	loop_timer_cancel(s->a->loop, &s->keepalive);
	loop_timer_cancel(s->a->loop, &s->deadline);
	if (s->ops)
		s->ops->detach(s, false);
	free(s);
}

static void stream_drained(void *owner)
{
	struct rpc_stream *s = owner;

	if (s->ops && s->ops->drained)
		s->ops->drained(s);
}

static const struct http_stream_ops rpc_http_stream_ops = {
	.closed = stream_closed,
	.drained = stream_drained,
};

/* The call's user, timeout and keepalive from its headers: 0, or -1 with e. */
static int ctx_build(struct agent *a, const struct http_req *r, struct rpc_ctx *ctx,
		     struct rpc_err *e)
{
	const char *to = http_header(r, "Connect-Timeout-Ms");
	const char *ka = http_header(r, "Keepalive-Ping-Interval");
	char name[256];
	int ret = auth_basic_user(r, name, sizeof(name));

	if (ret == -EINVAL)
		return rpc_fail(e, RPC_UNAUTHENTICATED, "malformed Authorization header");
	if (ret == -ENOENT)
		snprintf(name, sizeof(name), "%s", agent_default_user(a));
	ctx->user_ret = user_lookup(name, &ctx->user);
	if (ctx->user_ret) {
		if (ret == 0)
			return rpc_fail(e, RPC_UNAUTHENTICATED, "invalid username: '%s'", name);
		snprintf(ctx->user.name, sizeof(ctx->user.name), "%s", name);
	}
	ctx->timeout_ms = 0;
	if (to) {
		char *end;
		unsigned long long v = strtoull(to, &end, 10);

		/* Connect's rule: at most ten digits. */
		if (to[0] < '0' || to[0] > '9' || *end || strlen(to) > 10)
			return rpc_fail(e, RPC_INVALID_ARGUMENT, "invalid Connect-Timeout-Ms: '%s'",
					to);
		ctx->timeout_ms = v;
	}
	ctx->keepalive_s = RPC_KEEPALIVE_DEFAULT_S;
	if (ka) {
		char *end;
		unsigned long v = strtoul(ka, &end, 10);

		if (ka[0] >= '0' && ka[0] <= '9' && !*end && v >= 1 && v <= 86400)
			ctx->keepalive_s = (unsigned int)v;
	}
	return 0;
}

/* The next envelope of body[*off..len): its JSON into *msg. 1 one taken, 0 none left, -1 e. */
static int next_envelope(const struct http_req *r, size_t *off, json_t **msg, struct rpc_err *e)
{
	const uint8_t *b;
	size_t left = r->body_len - *off;
	uint32_t n;

	if (!left || !r->body)
		return 0;
	b = (const uint8_t *)r->body + *off;
	if (left < 5)
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "protocol error: incomplete envelope");
	if (b[0] & 0x01)
		return rpc_fail(e, RPC_UNIMPLEMENTED, "compressed messages are not supported");
	if (b[0])
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "protocol error: envelope flags 0x%02x",
				b[0]);
	n = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
	if (n > left - 5)
		return rpc_fail(e, RPC_INVALID_ARGUMENT,
				"protocol error: envelope of %u bytes, %zu sent", n, left - 5);
	*msg = pjson_parse((const char *)b + 5, n, e);
	if (!*msg)
		return -1;
	*off += 5 + n;
	return 1;
}

/* What every call must pass before its message is looked at: 0, or -1 with e (and *status). */
static int call_check(const struct rpc_method *m, const struct http_req *r, bool *stream_shape,
		      unsigned int *status, struct rpc_err *e)
{
	const char *ct = http_header(r, "Content-Type");
	const char *enc = http_header(r, m->server_stream || m->client_stream ?
					      "Connect-Content-Encoding" : "Content-Encoding");
	bool streaming = m->server_stream || m->client_stream;

	*status = 0;
	*stream_shape = streaming;
	if (r->method != HTTP_POST) {
		*status = 405;
		return rpc_fail(e, RPC_UNIMPLEMENTED, "method %s: Connect calls are POST",
				r->method_str);
	}
	if (!media_is(ct, streaming ? "application/connect+json" : "application/json")) {
		*status = 415;
		return rpc_fail(e, RPC_UNIMPLEMENTED, "unsupported Content-Type '%s': want %s",
				ct ? ct : "", streaming ? "application/connect+json" :
							  "application/json");
	}
	if (enc && strcasecmp(enc, "identity"))
		return rpc_fail(e, RPC_UNIMPLEMENTED, "unsupported compression '%s'", enc);
	if (r->body_too_big)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED,
				"message of %llu bytes: larger than the agent takes",
				(unsigned long long)r->body_total);
	return 0;
}

/* A client stream (StreamInput): each request in order, then one answer and the end. */
static void serve_client_stream(struct agent *a, const struct rpc_method *m, struct http_conn *c,
				const struct http_req *r, const struct rpc_ctx *ctx)
{
	static const struct http_stream_ops none = { 0 };
	uint64_t state[4] = { 0 };
	struct rpc_err e = { 0 };
	unsigned int count = 0;
	size_t off = 0;
	json_t *msg = NULL, *resp;
	void *req;
	int got;

	while ((got = next_envelope(r, &off, &msg, &e)) > 0) {
		int ret = -1;

		if (++count > RPC_MAX_ENVELOPES)
			rpc_fail(&e, RPC_RESOURCE_EXHAUSTED, "more than %u messages", RPC_MAX_ENVELOPES);
		else if (!m->decode(msg, &req, &e)) {
			ret = a->cfg.decode_only ? 0 : m->each(a, ctx, state, req, &e);
			m->free_req(req);
		}
		json_decref(msg);
		if (ret) {
			got = -1;
			break;
		}
	}
	if (http_stream_start(c, 200, "application/connect+json", &none, NULL))
		return;
	if (got == 0) {
		size_t len;
		char *env;

		resp = json_object();
		env = resp ? envelope(0, resp, &len) : NULL;
		if (env)
			http_stream_chunk(c, env, len);
		free(env);
		json_decref(resp);
	}
	send_end(c, got < 0 ? &e : NULL);
	http_stream_finish(c);
}

/* A server stream: started before the method runs, which may send at once. */
static void serve_server_stream(struct agent *a, const struct rpc_method *m, struct http_conn *c,
				const struct rpc_ctx *ctx, void *req)
{
	struct rpc_stream *s = calloc(1, sizeof(*s));
	struct rpc_err e = { 0 };
	int ret;

	if (!s || http_stream_start(c, 200, "application/connect+json", &rpc_http_stream_ops, s)) {
		free(s);
		rpc_fail(&e, RPC_RESOURCE_EXHAUSTED, "out of memory");
		http_reply(c, 500, "text/plain", NULL, e.msg, strlen(e.msg));
		return;
	}
	s->a = a;
	s->conn = c;
	s->keepalive_s = ctx->keepalive_s;
	loop_timer_arm(a->loop, &s->keepalive, s->keepalive_s * 1000ull, stream_keepalive, s);
	if (ctx->timeout_ms)
		loop_timer_arm(a->loop, &s->deadline, ctx->timeout_ms, stream_deadline, s);
	if (a->cfg.decode_only) {
		rpc_stream_finish(s, NULL);
		return;
	}
	ret = m->stream(a, ctx, req, s, &e);
	/* 1: the method already finished s (a process long gone, say). */
	if (ret < 0) {
		s->ops = NULL;
		rpc_stream_finish(s, &e);
	}
}

void rpc_serve(struct agent *a, const struct rpc_method *m, struct http_conn *c,
	       struct http_req *r)
{
	struct rpc_err e = { 0 };
	struct rpc_ctx *ctx = NULL;
	unsigned int status;
	bool stream_shape;
	json_t *msg = NULL, *resp = NULL;
	void *req = NULL;
	size_t off = 0;
	char *js;

	if (call_check(m, r, &stream_shape, &status, &e)) {
		if (!status)
			goto err_reply;
		/* Not a Connect call at all: the status says so, and the body in Connect's words. */
		js = rpc_error_json(&e);
		http_reply(c, status, "application/json", status == 405 ? "Allow: POST\r\n" : NULL,
			   js ? js : "{}", js ? strlen(js) : 2);
		free(js);
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		rpc_fail(&e, RPC_RESOURCE_EXHAUSTED, "out of memory");
		goto err_reply;
	}
	if (ctx_build(a, r, ctx, &e))
		goto err_reply;
	if (m->client_stream) {
		serve_client_stream(a, m, c, r, ctx);
		goto out;
	}
	if (m->server_stream) {
		int got = next_envelope(r, &off, &msg, &e);

		if (got < 0)
			goto err_reply;
		if (!got || off != r->body_len) {
			rpc_fail(&e, RPC_INVALID_ARGUMENT, "protocol error: want exactly one message");
			goto err_reply;
		}
	} else {
		msg = pjson_parse(r->body ? r->body : "", r->body_len, &e);
		if (!msg)
			goto err_reply;
	}
	if (m->decode(msg, &req, &e))
		goto err_reply;
	if (m->server_stream) {
		serve_server_stream(a, m, c, ctx, req);
		goto out;
	}
	if (a->cfg.decode_only)
		resp = json_object();
	else if (m->unary(a, ctx, req, &resp, &e))
		goto err_reply;
	js = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
	if (!js) {
		rpc_fail(&e, RPC_RESOURCE_EXHAUSTED, "out of memory");
		goto err_reply;
	}
	http_reply(c, 200, "application/json", NULL, js, strlen(js));
	free(js);
	goto out;

err_reply:
	rpc_reply_error(c, r, &e);
out:
	if (req)
		m->free_req(req);
	json_decref(resp);
	json_decref(msg);
	free(ctx);
}

const struct rpc_method *rpc_find(const char *path)
{
	static const struct rpc_method *const tables[] = { proc_methods, fs_methods,
							   watch_methods };

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct rpc_method *m = tables[t]; m->path; m++)
			if (!strcmp(m->path, path))
				return m;
	return NULL;
}
