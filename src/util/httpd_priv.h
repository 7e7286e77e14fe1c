/*
 * What the connections (httpd.c) and the request parser (httpd_parse.c)
 * share: a connection's state, which both read and write, and the calls
 * each makes into the other. Nothing outside src/util/httpd*.c includes it.
 */
#ifndef HEARTH_UTIL_HTTPD_PRIV_H
#define HEARTH_UTIL_HTTPD_PRIV_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "util/httpd.h"

/* What a refused request may still send before the close, and for how long. */
#define HTTPD_DRAIN_MAX (4ull << 20)
#define HTTPD_DRAIN_NS (1000ull * 1000 * 1000)

struct httpd_conn {
	struct httpd *h;
	struct httpd_conn *prev, *next;
	int fd;
	uint32_t events;           /* what epoll watches for it */
	uint64_t last_ns;          /* last byte in or out */
	http_parser p;
	/* The request being read. */
	char *url;
	size_t url_len;
	struct httpd_header *hdr;
	size_t (*hlen)[2];
	unsigned int nhdr, hcap;
	bool in_value;             /* the last callback was a header's value */
	size_t head_bytes;
	char *body;
	size_t body_len;           /* bytes kept */
	size_t body_total;         /* bytes seen */
	bool too_big;
	bool complete;             /* paused at the request's end */
	bool refused;              /* answered at its headers */
	bool skip_body;            /* answered at its headers, kept open: the body is dropped */
	bool head_overflow;
	/* Bytes read, not parsed yet (a pipelined request). */
	char in[4096];
	size_t in_off, in_len;
	/* The reply on its way. */
	char *out;
	size_t out_len, out_off;
	bool close_after;          /* once out is sent */
	bool draining;             /* sent, write side shut: reading to the close */
	unsigned long long drain_left;
	uint64_t drain_end;
	bool pending;              /* input parsed but unserved: run again */
};

struct httpd {
	struct httpd_config cfg;
	const struct httpd_ops *ops;
	void *opaque;
	int epfd;
	unsigned int nconns;
	struct httpd_conn *conns;
};

/* Appends n bytes to a NUL-terminated string of *len bytes; 0 or -ENOMEM. */
static inline int str_append(char **s, size_t *len, const char *d, size_t n)
{
	char *ns = realloc(*s, *len + n + 1);

	if (!ns)
		return -ENOMEM;
	memcpy(ns + *len, d, n);
	*len += n;
	ns[*len] = '\0';
	*s = ns;
	return 0;
}

static inline int out_append(struct httpd_conn *c, const char *d, size_t n)
{
	return str_append(&c->out, &c->out_len, d, n);
}

/* httpd_parse.c: http-parser's callbacks, which fill c's request. */
extern const http_parser_settings httpd_settings;
void httpd_req_reset(struct httpd_conn *c);
struct httpd_request httpd_req_view(struct httpd_conn *c);
/* httpd.c: a reply into c's output, for the parser to answer at the headers. */
void httpd_reply_queue(struct httpd_conn *c, const struct httpd_reply *r, bool keep_alive);

#endif
