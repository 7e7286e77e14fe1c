/*
 * The agent's HTTP/1.1 server: connections accepted from listening sockets
 * (vsock, TCP or Unix), requests read by http-parser, answers whole,
 * streamed in chunks (Connect's server streams) or read from a file (a
 * download). Everything is bounded: the request line and headers, the
 * body (kept in memory up to the limit its route chose, or written to a
 * file the route opened), the bytes read ahead of a request still being
 * answered, and the connections. A client that does not read stops being
 * read; a producer that must not outrun its client watches http_queued.
 * One request at a time per connection (keep-alive and pipelining, in order).
 */
#ifndef HEARTH_AGENT_HTTP_H
#define HEARTH_AGENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent_loop;
struct agent_http;
struct http_conn;

struct http_header {
	char *name;
	char *value;
};

struct http_req {
	unsigned int method;          /* enum http_method */
	const char *method_str;
	char *target;                 /* the request target as sent */
	char *path;                   /* the target up to '?' */
	const char *query;            /* after '?'; "" when none */
	struct http_header *headers;
	unsigned int nheaders;
	unsigned int http_minor;
	bool keep_alive;
	unsigned long long content_length;   /* when has_length */
	bool has_length;
	/* The body, where on_headers sent it. */
	char *body;                   /* memory: NUL-terminated, body_len bytes */
	size_t body_len;
	uint64_t body_total;          /* bytes the body had, kept or not */
	bool body_too_big;            /* past the limit: the rest was dropped */
	int body_error;               /* -errno writing to the file sink, or 0 */
	/* The owner's, for the request's life (freed with ctx_free). */
	void *ctx;
	void (*ctx_free)(void *ctx);
};

struct http_ops {
	/*
	 * The headers are in, the body is not: pick the body's sink
	 * (http_body_memory with the server's max_body unless told), or answer
	 * now with http_reply (the body is then read and dropped).
	 */
	void (*on_headers)(void *opaque, struct http_conn *c, struct http_req *r);
	/* The whole request is in: answer it, now or by starting a stream. */
	void (*on_request)(void *opaque, struct http_conn *c, struct http_req *r);
};

/* A stream's owner hears from its connection through these. */
struct http_stream_ops {
	/* The connection is gone (client closed, error): c must not be used again. */
	void (*closed)(void *owner);
	/* Everything queued went out: a producer that paused may go on. */
	void (*drained)(void *owner);
};

struct http_cfg {
	size_t max_body;              /* the default memory sink's limit */
	unsigned int max_conns;       /* more are accepted and closed at once */
	unsigned int idle_s;          /* a connection with nothing in flight this long is closed */
};

int http_create(struct agent_http **out, struct agent_loop *l, const struct http_cfg *cfg,
		const struct http_ops *ops, void *opaque);
/* Closes every connection (streams hear closed) and the listeners. */
void http_destroy(struct agent_http *h);
/* Serves connections accepted on fd (listening, non-blocking); fd stays the caller's. */
int http_listen(struct agent_http *h, int fd);
/* Serves fd, a connected stream socket (taken: closed on failure). */
int http_add_conn(struct agent_http *h, int fd);
unsigned int http_conn_count(const struct agent_http *h);

/* on_headers: where the body goes. fd stays the caller's (its ctx closes it). */
void http_body_memory(struct http_conn *c, size_t limit);
void http_body_fd(struct http_conn *c, int fd, uint64_t limit);

/*
 * A whole answer: status line, Content-Length, ctype (NULL: none), extra
 * header lines (each ending "\r\n", or NULL) and body (copied).
 */
void http_reply(struct http_conn *c, unsigned int status, const char *ctype, const char *extra,
		const void *body, size_t len);
/* An answer of len bytes read from fd (taken, closed once sent or on failure). */
void http_reply_fd(struct http_conn *c, unsigned int status, const char *ctype, const char *extra,
		   int fd, uint64_t len);
/* Starts a chunked answer owned by owner until http_stream_finish or closed. 0 or -errno. */
int http_stream_start(struct http_conn *c, unsigned int status, const char *ctype,
		      const struct http_stream_ops *ops, void *owner);
/* One chunk (n > 0). 0, or -errno when the connection is broken. */
int http_stream_chunk(struct http_conn *c, const void *d, size_t n);
/* The last chunk: the connection goes on with its next request. */
void http_stream_finish(struct http_conn *c);
/* Bytes queued for c, not yet sent. */
size_t http_queued(const struct http_conn *c);

/* Case-insensitive; NULL when absent. */
const char *http_header(const struct http_req *r, const char *name);
/*
 * The first query parameter named key, percent-decoded ('+' is a space)
 * into *out (malloc'd). 0, -ENOENT when absent, -EINVAL for a malformed
 * escape or an encoded NUL, -ENOMEM.
 */
int http_query(const struct http_req *r, const char *key, char **out);
const char *http_reason(unsigned int status);

#endif
