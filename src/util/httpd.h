/*
 * HTTP/1.1 served on stream sockets someone else accepts: http-parser
 * reads the requests, this file keeps the connections on its own epoll
 * fd, and the owner's loop waits on that fd and calls httpd_run. No TLS,
 * no threads: the API's thread and the MMDS's io thread each run one.
 *
 * Per connection: keep-alive and pipelining (one request at a time, the
 * next parsed once the reply is out), Expect: 100-continue, an idle
 * timeout, and bounded headers and body. Nothing here blocks.
 */
#ifndef HEARTH_UTIL_HTTPD_H
#define HEARTH_UTIL_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

struct httpd;

struct httpd_header {
	char *name;
	char *value;
};

struct httpd_request {
	const char *method;     /* "GET", ... */
	const char *path;       /* the target up to any '?', as sent */
	const char *query;      /* the target after its '?' (no '#' part), as sent; NULL: none */
	const struct httpd_header *headers;
	unsigned int nheaders;
	const char *body;       /* NUL-terminated; NULL when none was kept */
	size_t body_len;        /* bytes the body had, kept or not */
	bool body_too_big;      /* past max_body: not kept */
};

struct httpd_reply {
	unsigned int status;
	const char *content_type;   /* NULL: no Content-Type */
	const char *body;           /* copied; NULL: empty */
	size_t body_len;
	bool body_owned;            /* malloc'd: freed once copied */
	const char *extra;          /* more header lines, each ending "\r\n", or NULL */
	bool close;                 /* close the connection once it is out */
	/*
	 * The whole answer, status line and headers too, sent as is in place
	 * of the fields above (a peer's own bytes, to the byte); NULL: none.
	 * Copied.
	 */
	const char *raw;
	size_t raw_len;
	/*
	 * on_headers only: the connection serves on, the body read and
	 * dropped, instead of closing once the answer is out.
	 */
	bool keep_open;
};

struct httpd_ops {
	/*
	 * The headers are in, the body is not: fill reply and return true to
	 * answer now, without keeping the body (the connection then closes,
	 * after reading and dropping what the client already sent, unless the
	 * reply says keep_open). NULL: never.
	 */
	bool (*on_headers)(void *opaque, const struct httpd_request *r,
			   unsigned long long content_length, struct httpd_reply *reply);
	/* A whole request: fill reply. */
	void (*on_request)(void *opaque, const struct httpd_request *r, struct httpd_reply *reply);
	/*
	 * A reply has been queued (and, where the socket took it, sent). May be
	 * NULL. The server is still whole when it returns.
	 */
	void (*on_replied)(void *opaque);
};

struct httpd_config {
	unsigned int idle_timeout_s;  /* a connection quiet this long is closed */
	size_t max_body;              /* kept at most; more is counted, not kept */
	const char *server;           /* the Server header's value, or NULL */
};

/* 0 or -errno. */
int httpd_create(struct httpd **out, const struct httpd_config *cfg, const struct httpd_ops *ops,
		 void *opaque);
/* Closes every connection. NULL is a no-op. */
void httpd_destroy(struct httpd *h);
/* Takes fd (a connected, non-blocking stream socket): served, or closed on failure. */
int httpd_add(struct httpd *h, int fd);
unsigned int httpd_connections(const struct httpd *h);
/* The fd to wait on for reading. */
int httpd_fd(const struct httpd *h);
/* Milliseconds until the next idle deadline, or -1. */
int httpd_timeout_ms(const struct httpd *h);
/* Serves whatever is ready and closes idle connections; never waits. */
void httpd_run(struct httpd *h);
/* Case-insensitive; NULL when absent. */
const char *httpd_header(const struct httpd_request *r, const char *name);
/* "OK", "Bad Request", ...; "" for a status it does not know. */
const char *httpd_reason(unsigned int status);

#endif
