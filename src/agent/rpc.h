/*
 * Connect-RPC over the agent's HTTP server, in the Connect protocol with
 * JSON (what @connectrpc/connect-web sends with useBinaryFormat false):
 *   unary          POST, Content-Type application/json, the message as the
 *                  body; the answer 200 with the message, or an error's
 *                  status with {"code": "not_found", "message": "..."};
 *   server stream  POST, Content-Type application/connect+json, the request
 *                  as one envelope (flags byte, 4-byte big-endian length,
 *                  JSON); the answer 200 with one envelope per message and
 *                  an end-of-stream envelope (flag 0x02) holding {} or
 *                  {"error": {...}};
 *   client stream  (StreamInput) the request envelopes in order, the answer
 *                  as a stream's: one message, then the end.
 * A method is a row (struct rpc_method): its request is decoded apart
 * from being carried out, so a fuzzer decodes every request and runs none.
 */
#ifndef HEARTH_AGENT_RPC_H
#define HEARTH_AGENT_RPC_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/loop.h"
#include "agent/user.h"

struct agent;
struct http_conn;
struct http_req;

/* Connect's codes, in gRPC's numbering. */
enum rpc_code {
	RPC_OK = 0,
	RPC_CANCELED = 1,
	RPC_UNKNOWN = 2,
	RPC_INVALID_ARGUMENT = 3,
	RPC_DEADLINE_EXCEEDED = 4,
	RPC_NOT_FOUND = 5,
	RPC_ALREADY_EXISTS = 6,
	RPC_PERMISSION_DENIED = 7,
	RPC_RESOURCE_EXHAUSTED = 8,
	RPC_FAILED_PRECONDITION = 9,
	RPC_ABORTED = 10,
	RPC_OUT_OF_RANGE = 11,
	RPC_UNIMPLEMENTED = 12,
	RPC_INTERNAL = 13,
	RPC_UNAVAILABLE = 14,
	RPC_DATA_LOSS = 15,
	RPC_UNAUTHENTICATED = 16,
};

struct rpc_err {
	enum rpc_code code;
	char msg[512];
};

/* Fills e; returns -1, so `return rpc_fail(...)` reads well. */
int rpc_fail(struct rpc_err *e, enum rpc_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The code for a failed system call's errno: ENOENT not_found, EACCES permission_denied, ... */
enum rpc_code rpc_code_of_errno(int err);
/* "not_found", ...; and the HTTP status a unary error answers with. */
const char *rpc_code_name(enum rpc_code code);
unsigned int rpc_code_http(enum rpc_code code);
/* The Connect error body: {"code": ..., "message": ...} (malloc'd), or NULL. */
char *rpc_error_json(const struct rpc_err *e);

/* What a call knows besides its message. */
struct rpc_ctx {
	struct agent_user user;       /* Authorization's user, or the default */
	int user_ret;                 /* 0: user is set; else the default user's lookup failed */
	uint64_t timeout_ms;          /* Connect-Timeout-Ms; 0: none */
	unsigned int keepalive_s;     /* Keepalive-Ping-Interval (s) for streams */
};

/* The call's user, or -1 with e filled (unauthenticated) when there is none. */
int rpc_need_user(const struct rpc_ctx *ctx, struct rpc_err *e);

struct rpc_stream;

/* A stream's owner (a process, a watcher) hears from it through these. */
struct rpc_stream_ops {
	/* Sent every keepalive interval with no other message: the method's KeepAlive. */
	const char *keepalive_json;
	/*
	 * The stream is going (the client left, or its deadline came): the
	 * owner forgets s. deadline says which.
	 */
	void (*detach)(struct rpc_stream *s, bool deadline);
	/* What was sent went out: an owner that paused may send more. NULL: never pauses. */
	void (*drained)(struct rpc_stream *s);
};

struct rpc_stream {
	struct agent *a;
	struct http_conn *conn;
	const struct rpc_stream_ops *ops;
	void *owner;
	struct loop_timer keepalive, deadline;
	unsigned int keepalive_s;
};

/* Above this many bytes queued for a stream's client, its producer pauses. */
#define RPC_STREAM_HIGH (1u << 20)

/* Sends msg (taken) as one envelope. 0, or -errno: the client is gone. */
int rpc_stream_send(struct rpc_stream *s, json_t *msg);
/* Whether the client has more than RPC_STREAM_HIGH queued. */
bool rpc_stream_full(const struct rpc_stream *s);
/* Ends the stream, with e's error or none (NULL), and frees s. */
void rpc_stream_finish(struct rpc_stream *s, const struct rpc_err *e);

struct rpc_method {
	const char *path;             /* "/process.Process/Start" */
	bool server_stream;
	bool client_stream;
	/* The message (an object) into *req; -1 with e filled. */
	int (*decode)(json_t *msg, void **req, struct rpc_err *e);
	void (*free_req)(void *req);
	/* Unary: the answer into *resp (an object); -1 with e filled. */
	int (*unary)(struct agent *a, const struct rpc_ctx *ctx, void *req, json_t **resp,
		     struct rpc_err *e);
	/*
	 * Server stream: starts it on s (the owner then keeps s until it
	 * finishes it or hears detach); -1 with e filled and s untouched.
	 */
	int (*stream)(struct agent *a, const struct rpc_ctx *ctx, void *req, struct rpc_stream *s,
		      struct rpc_err *e);
	/* Client stream: each request in order; the answer once all went. */
	int (*each)(struct agent *a, const struct rpc_ctx *ctx, void *state, void *req,
		    struct rpc_err *e);
};

/* The method served at path, or NULL. */
const struct rpc_method *rpc_find(const char *path);
/* Answers a whole request to m (the server's on_request for an RPC route). */
void rpc_serve(struct agent *a, const struct rpc_method *m, struct http_conn *c,
	       struct http_req *r);
/* An error answer in Connect's shape, unary or stream by the request's Content-Type. */
void rpc_reply_error(struct http_conn *c, const struct http_req *r, const struct rpc_err *e);

/* The method tables (proc_rpc.c, fs_rpc.c, watch.c). */
extern const struct rpc_method proc_methods[];
extern const struct rpc_method fs_methods[];
extern const struct rpc_method watch_methods[];

#endif
