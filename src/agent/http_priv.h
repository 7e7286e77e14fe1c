/*
 * What the connections (http.c) and the request reader (http_parse.c)
 * share. Nothing outside src/agent/http*.c includes it.
 */
#ifndef HEARTH_AGENT_HTTP_PRIV_H
#define HEARTH_AGENT_HTTP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include "agent/http.h"
#include "agent/loop.h"

/* The request line and headers, all told; past them the answer is 431. */
#define HTTP_MAX_HEAD (32u << 10)
#define HTTP_MAX_HEADERS 100u
/* A body answered at its headers is read and dropped up to this, then the connection closes. */
#define HTTP_MAX_DROP (64ull << 20)

enum http_sink { SINK_MEMORY, SINK_FD, SINK_DROP };
enum http_resp { RESP_NONE, RESP_DONE, RESP_STREAM, RESP_FD };

struct http_conn {
	struct agent_http *h;
	struct http_conn *prev, *next;
	struct loop_fd w;
	int fd;
	uint64_t last_ns;
	http_parser p;
	/* The request being read. */
	struct http_req req;
	size_t target_len, head_bytes;
	size_t (*hlen)[2];
	unsigned int hcap;
	bool in_value, head_overflow;
	enum http_sink sink;
	size_t mem_limit;
	int sink_fd;
	uint64_t fd_limit;
	bool early;                /* answered at its headers: the body is dropped */
	bool busy;                 /* a whole request is being answered: the parser waits */
	/* Bytes read, not parsed yet. */
	char in[8192];
	size_t in_off, in_len;
	/* The answer on its way. */
	char *out;
	size_t out_len, out_off, out_cap;
	enum http_resp resp;
	bool chunked;              /* the stream is chunked (HTTP/1.1) */
	bool close_after;          /* once out is sent */
	int file_fd;
	uint64_t file_left;
	const struct http_stream_ops *sops;
	void *owner;
	bool dead;
};

struct http_listener {
	struct loop_fd w;
	struct agent_http *h;
	int fd;
};

struct agent_http {
	struct http_cfg cfg;
	const struct http_ops *ops;
	void *opaque;
	struct agent_loop *loop;
	struct http_conn *conns;
	unsigned int nconns;
	struct http_listener *listeners;
	unsigned int nlisteners;
	struct loop_timer sweep;
};

/* http_parse.c */
extern const http_parser_settings http_agent_settings;
void http_req_reset(struct http_conn *c);
/* http.c */
int http_out_append(struct http_conn *c, const void *d, size_t n);

#endif
