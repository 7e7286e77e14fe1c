/*
 * process.Process's calls (proc.h does the work): each request decoded
 * apart (proc_decode: every field of every message in one struct), then
 * carried out.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/env.h"
#include "agent/path.h"
#include "agent/pjson.h"
#include "agent/proc.h"
#include "agent/rpc.h"

#define PROC_MAX_ARGS 65536u
#define PROC_MAX_ARG_BYTES (2u << 20)

enum { EV_NONE, EV_START, EV_DATA, EV_KEEPALIVE };

struct proc_req {
	json_t *msg;                  /* holds every string below */
	bool has_selector;
	uint32_t pid;
	const char *tag;              /* the selector's */
	struct proc_spec spec;
	json_t *envs;
	uint8_t *input;
	size_t input_len;
	bool has_input, input_pty;
	int signal;
	bool has_size;
	uint16_t cols, rows;
	int event;                    /* StreamInput's */
};

static void req_free(void *opaque)
{
	struct proc_req *r = opaque;

	if (!r)
		return;
	free(r->spec.args);
	for (size_t i = 0; i < r->spec.nenv; i++)
		free(r->spec.env[i]);
	free(r->spec.env);
	free(r->spec.cwd);
	json_decref(r->spec.config);
	free(r->input);
	json_decref(r->msg);
	free(r);
}

static int decode_selector(json_t *o, struct proc_req *r, struct rpc_err *e)
{
	json_t *sel;
	bool has_pid = false;

	if (pjson_object(o, "process", NULL, &sel, e))
		return -1;
	if (!sel)
		return 0;
	if (pjson_uint32(sel, "pid", NULL, &r->pid, &has_pid, e) ||
	    pjson_string(sel, "tag", NULL, &r->tag, e))
		return -1;
	if (has_pid && r->tag)
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "process selector: both pid and tag");
	r->has_selector = has_pid || r->tag;
	return 0;
}

static int decode_size(json_t *o, struct proc_req *r, struct rpc_err *e)
{
	json_t *pty, *size = NULL;
	uint32_t cols = 0, rows = 0;

	if (pjson_object(o, "pty", NULL, &pty, e) ||
	    (pty && pjson_object(pty, "size", NULL, &size, e)) ||
	    (size && (pjson_uint32(size, "cols", NULL, &cols, NULL, e) ||
		      pjson_uint32(size, "rows", NULL, &rows, NULL, e))))
		return -1;
	r->has_size = pty;
	r->cols = cols > UINT16_MAX ? UINT16_MAX : (uint16_t)cols;
	r->rows = rows > UINT16_MAX ? UINT16_MAX : (uint16_t)rows;
	return 0;
}

static int decode_input(json_t *o, struct proc_req *r, struct rpc_err *e)
{
	json_t *in;
	bool has_stdin = false, has_pty = false;
	uint8_t *pty_data = NULL;
	size_t pty_len = 0;

	if (pjson_object(o, "input", NULL, &in, e) || !in)
		return in ? -1 : 0;
	if (pjson_bytes(in, "stdin", NULL, &r->input, &r->input_len, &has_stdin, e) ||
	    pjson_bytes(in, "pty", NULL, &pty_data, &pty_len, &has_pty, e)) {
		free(pty_data);
		return -1;
	}
	if (has_stdin && has_pty) {
		free(pty_data);
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "input: both stdin and pty");
	}
	if (has_pty) {
		r->input = pty_data;
		r->input_len = pty_len;
	}
	r->has_input = has_stdin || has_pty;
	r->input_pty = has_pty;
	return 0;
}

/* StartRequest's ProcessConfig, tag and stdin. */
static int decode_start(json_t *o, struct proc_req *r, struct rpc_err *e)
{
	struct proc_spec *s = &r->spec;
	json_t *proc, *args, *v;
	const char *cmd = NULL, *cwd = NULL, *key;
	bool has_stdin = false;
	size_t bytes = 0, i;

	if (pjson_object(o, "process", NULL, &proc, e) ||
	    pjson_string(o, "tag", NULL, (const char **)&s->tag, e) ||
	    pjson_bool(o, "stdin", NULL, &s->stdin_open, &has_stdin, e) || !proc ||
	    pjson_string(proc, "cmd", NULL, &cmd, e) || pjson_array(proc, "args", NULL, &args, e) ||
	    pjson_object(proc, "envs", NULL, &r->envs, e) ||
	    pjson_string(proc, "cwd", NULL, &cwd, e))
		return proc ? -1 : rpc_fail(e, RPC_INVALID_ARGUMENT, "process: missing");
	/* envd's default for a client that predates the field: stdin open. */
	if (!has_stdin)
		s->stdin_open = true;
	if (!cmd || !cmd[0])
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "process.cmd: missing");
	s->cmd = (char *)cmd;
	if (args && json_array_size(args) > PROC_MAX_ARGS)
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "process.args: more than %u", PROC_MAX_ARGS);
	s->nargs = args ? json_array_size(args) : 0;
	s->args = calloc(s->nargs + 1, sizeof(*s->args));
	if (!s->args)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	json_array_foreach(args, i, v) {
		if (!json_is_string(v))
			return rpc_fail(e, RPC_INVALID_ARGUMENT, "process.args[%zu]: want a string", i);
		bytes += json_string_length(v) + 1;
		s->args[i] = (char *)json_string_value(v);
	}
	if (bytes > PROC_MAX_ARG_BYTES)
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "process.args: more than %u bytes",
				PROC_MAX_ARG_BYTES);
	json_object_foreach(r->envs, key, v)
		if (!json_is_string(v) || !env_key_ok(key))
			return rpc_fail(e, RPC_INVALID_ARGUMENT, "process.envs: bad variable '%s'", key);
	if (r->envs && json_object_size(r->envs) > ENV_MAX_VARS)
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "process.envs: more than %u", ENV_MAX_VARS);
	if (cwd && !(s->cwd = strdup(cwd)))
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	s->pty = r->has_size;
	s->cols = r->cols;
	s->rows = r->rows;
	/* What List shows: the request's own config, normalized. */
	s->config = json_object();
	if (!s->config || json_object_set_new(s->config, "cmd", json_string(cmd)) ||
	    json_object_set_new(s->config, "args", args ? json_incref(args) : json_array()) ||
	    json_object_set_new(s->config, "envs", r->envs ? json_incref(r->envs) : json_object()) ||
	    (cwd && json_object_set_new(s->config, "cwd", json_string(cwd))))
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	return 0;
}

static int decode_stream_input(json_t *o, struct proc_req *r, struct rpc_err *e)
{
	json_t *start, *data, *ka;

	if (pjson_object(o, "start", NULL, &start, e) || pjson_object(o, "data", NULL, &data, e) ||
	    pjson_object(o, "keepalive", NULL, &ka, e))
		return -1;
	if (!!start + !!data + !!ka > 1)
		return rpc_fail(e, RPC_INVALID_ARGUMENT, "event: more than one of start, data, keepalive");
	r->event = start ? EV_START : data ? EV_DATA : ka ? EV_KEEPALIVE : EV_NONE;
	if (start)
		return decode_selector(start, r, e);
	if (data)
		return decode_input(data, r, e);
	return 0;
}

static const char *const sig_names[] = { "SIGNAL_UNSPECIFIED", "SIGNAL_SIGTERM",
					  "SIGNAL_SIGKILL" };
static const int sig_values[] = { 0, SIGTERM, SIGKILL };

/*
 * Every process.Process message into one struct: the fields a method does
 * not have are simply absent from its messages.
 */
static int proc_decode(json_t *msg, void **out, struct rpc_err *e)
{
	struct proc_req *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	r->msg = json_incref(msg);
	if (decode_selector(msg, r, e) || decode_input(msg, r, e) || decode_size(msg, r, e) ||
	    pjson_enum(msg, "signal", NULL, sig_names, sig_values, 3, &r->signal, e)) {
		req_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

static int proc_decode_start(json_t *msg, void **out, struct rpc_err *e)
{
	struct proc_req *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	r->msg = json_incref(msg);
	if (decode_size(msg, r, e) || decode_start(msg, r, e)) {
		req_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

static int proc_decode_stream_input(json_t *msg, void **out, struct rpc_err *e)
{
	struct proc_req *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	r->msg = json_incref(msg);
	if (decode_stream_input(msg, r, e)) {
		req_free(r);
		return -1;
	}
	*out = r;
	return 0;
}

/* Sets key=value in the "KEY=value" list env (n of them): a later one replaces an earlier. */
static int env_put(char **env, size_t *n, const char *key, const char *value)
{
	size_t klen = strlen(key);
	char *kv = malloc(klen + strlen(value) + 2);

	if (!kv)
		return -ENOMEM;
	sprintf(kv, "%s=%s", key, value);
	for (size_t i = 0; i < *n; i++)
		if (!strncmp(env[i], key, klen) && env[i][klen] == '=') {
			free(env[i]);
			env[i] = kv;
			return 0;
		}
	env[(*n)++] = kv;
	return 0;
}

/*
 * The process's environment, as envd builds it: PATH (the agent's),
 * HOME, USER and LOGNAME (the user's), the defaults (/init's), then the
 * request's own, each later one winning.
 */
static int build_env(struct agent *a, const struct agent_user *u, struct proc_req *r)
{
	size_t cap = 4 + a->env.n + (r->envs ? json_object_size(r->envs) : 0) + 1;
	const char *path = getenv("PATH"), *key;
	struct proc_spec *s = &r->spec;
	json_t *v;
	int ret = 0;

	s->env = calloc(cap, sizeof(*s->env));
	if (!s->env)
		return -ENOMEM;
	ret |= env_put(s->env, &s->nenv, "PATH", path ? path : PROC_DEFAULT_PATH);
	ret |= env_put(s->env, &s->nenv, "HOME", u->home);
	ret |= env_put(s->env, &s->nenv, "USER", u->name);
	ret |= env_put(s->env, &s->nenv, "LOGNAME", u->name);
	for (size_t i = 0; i < a->env.n; i++)
		ret |= env_put(s->env, &s->nenv, a->env.v[i].key, a->env.v[i].value);
	json_object_foreach(r->envs, key, v)
		ret |= env_put(s->env, &s->nenv, key, json_string_value(v));
	return ret ? -ENOMEM : 0;
}

static int proc_rpc_start(struct agent *a, const struct rpc_ctx *ctx, void *req,
			  struct rpc_stream *s, struct rpc_err *e)
{
	struct proc_req *r = req;
	char cwd[PATH_MAX];
	struct proc *p;
	const char *want = r->spec.cwd ? r->spec.cwd : "";

	if (rpc_need_user(ctx, e) ||
	    path_resolve(want, strlen(want), &ctx->user, a->default_workdir, cwd, e))
		return -1;
	if (build_env(a, &ctx->user, r))
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	free(r->spec.cwd);
	r->spec.cwd = strdup(cwd);
	if (!r->spec.cwd)
		return rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
	if (proc_start(a, &r->spec, &ctx->user, ctx->timeout_ms, &p, e))
		return -1;
	if (proc_follow(p, s, e))
		return -1;
	rpc_stream_send(s, json_pack("{s:{s:{s:I}}}", "event", "start", "pid",
				     (json_int_t)proc_pid(p)));
	return 0;
}

/* The selected process, or -1 with e: unimplemented without a selector, as envd says. */
static struct proc *selected(struct agent *a, const struct proc_req *r, struct rpc_err *e)
{
	if (!r->has_selector) {
		rpc_fail(e, RPC_UNIMPLEMENTED, "invalid input type: no process selector");
		return NULL;
	}
	return proc_find(a, r->pid, r->tag, e);
}

static int proc_rpc_connect(struct agent *a, const struct rpc_ctx *ctx, void *req,
			    struct rpc_stream *s, struct rpc_err *e)
{
	struct proc_req *r = req;
	struct proc *p = selected(a, r, e);
	uint32_t pid;
	json_t *end;

	if (!p && r->has_selector && (end = proc_retained(a, r->pid, r->tag, &pid))) {
		/* Ended a moment ago: its start and end, as if followed all along. */
		rpc_stream_send(s, json_pack("{s:{s:{s:I}}}", "event", "start", "pid",
					     (json_int_t)pid));
		rpc_stream_send(s, json_pack("{s:{s:O}}", "event", "end", end));
		rpc_stream_finish(s, NULL);
		return 1;
	}
	if (!p || proc_follow(p, s, e))
		return -1;
	rpc_stream_send(s, json_pack("{s:{s:{s:I}}}", "event", "start", "pid",
				     (json_int_t)proc_pid(p)));
	return 0;
}

static int proc_rpc_list(struct agent *a, const struct rpc_ctx *ctx, void *req, json_t **resp,
			 struct rpc_err *e)
{
	json_t *list = proc_list(a);

	*resp = list ? json_pack("{s:o}", "processes", list) : NULL;
	return *resp ? 0 : rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
}

static int empty(json_t **resp, struct rpc_err *e)
{
	*resp = json_object();
	return *resp ? 0 : rpc_fail(e, RPC_RESOURCE_EXHAUSTED, "out of memory");
}

static int proc_rpc_input(struct agent *a, const struct rpc_ctx *ctx, void *req, json_t **resp,
			  struct rpc_err *e)
{
	struct proc_req *r = req;
	struct proc *p = selected(a, r, e);

	if (!p)
		return -1;
	if (!r->has_input)
		return rpc_fail(e, RPC_UNIMPLEMENTED, "invalid input type: no input");
	if (proc_input(p, r->input_pty, r->input, r->input_len, e))
		return -1;
	return empty(resp, e);
}

static int proc_rpc_signal(struct agent *a, const struct rpc_ctx *ctx, void *req,
			   json_t **resp, struct rpc_err *e)
{
	struct proc_req *r = req;
	struct proc *p = selected(a, r, e);

	if (!p)
		return -1;
	if (r->signal != SIGTERM && r->signal != SIGKILL)
		return rpc_fail(e, RPC_UNIMPLEMENTED, "invalid signal: %d", r->signal);
	if (proc_signal(p, r->signal, e))
		return -1;
	return empty(resp, e);
}

static int proc_rpc_close_stdin(struct agent *a, const struct rpc_ctx *ctx, void *req,
				json_t **resp, struct rpc_err *e)
{
	struct proc *p = selected(a, req, e);

	if (!p || proc_close_stdin(p, e))
		return -1;
	return empty(resp, e);
}

static int proc_rpc_update(struct agent *a, const struct rpc_ctx *ctx, void *req, json_t **resp,
			   struct rpc_err *e)
{
	struct proc_req *r = req;
	struct proc *p = selected(a, r, e);

	if (!p || (r->has_size && proc_resize(p, r->cols, r->rows, e)))
		return -1;
	return empty(resp, e);
}

/* StreamInput: a start picks the process (its pid kept in state[0]), then data goes to it. */
static int proc_rpc_stream_input(struct agent *a, const struct rpc_ctx *ctx, void *state,
				 void *req, struct rpc_err *e)
{
	struct proc_req *r = req;
	uint64_t *chosen = state;
	struct proc *p;

	if (r->event == EV_START) {
		p = selected(a, r, e);
		if (!p)
			return -1;
		chosen[0] = proc_pid(p);
		return 0;
	}
	if (r->event != EV_DATA)
		return r->event == EV_KEEPALIVE ? 0 :
		       rpc_fail(e, RPC_UNIMPLEMENTED, "invalid event type: none");
	if (!chosen[0])
		return rpc_fail(e, RPC_FAILED_PRECONDITION, "data before a start event");
	p = proc_find(a, (uint32_t)chosen[0], NULL, e);
	if (!p)
		return -1;
	if (!r->has_input)
		return rpc_fail(e, RPC_UNIMPLEMENTED, "invalid input type: no input");
	return proc_input(p, r->input_pty, r->input, r->input_len, e);
}

const struct rpc_method proc_methods[] = {
	{ .path = "/process.Process/Start", .server_stream = true, .decode = proc_decode_start,
	  .free_req = req_free, .stream = proc_rpc_start },
	{ .path = "/process.Process/Connect", .server_stream = true, .decode = proc_decode,
	  .free_req = req_free, .stream = proc_rpc_connect },
	{ .path = "/process.Process/List", .decode = proc_decode, .free_req = req_free,
	  .unary = proc_rpc_list },
	{ .path = "/process.Process/SendInput", .decode = proc_decode, .free_req = req_free,
	  .unary = proc_rpc_input },
	{ .path = "/process.Process/SendSignal", .decode = proc_decode, .free_req = req_free,
	  .unary = proc_rpc_signal },
	{ .path = "/process.Process/CloseStdin", .decode = proc_decode, .free_req = req_free,
	  .unary = proc_rpc_close_stdin },
	{ .path = "/process.Process/Update", .decode = proc_decode, .free_req = req_free,
	  .unary = proc_rpc_update },
	{ .path = "/process.Process/StreamInput", .client_stream = true,
	  .decode = proc_decode_stream_input, .free_req = req_free,
	  .each = proc_rpc_stream_input },
	{ .path = NULL },
};
