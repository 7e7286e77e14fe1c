/*
 * The request a connection reads, assembled from http-parser's callbacks:
 * its target, headers and body, each bounded, the body going where the
 * owner's on_headers sent it. And the query string's parameters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent/http_priv.h"

const char *http_header(const struct http_req *r, const char *name)
{
	for (unsigned int i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value ? r->headers[i].value : "";
	return NULL;
}

void http_req_reset(struct http_conn *c)
{
	struct http_req *r = &c->req;

	if (r->ctx_free)
		r->ctx_free(r->ctx);
	for (unsigned int i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->target);
	free(r->path);
	free(r->body);
	*r = (struct http_req){ .headers = r->headers, .query = "" };
	c->target_len = c->head_bytes = 0;
	c->in_value = c->head_overflow = c->early = false;
	c->sink = SINK_MEMORY;
	c->mem_limit = c->h->cfg.max_body;
	c->sink_fd = -1;
	c->fd_limit = 0;
}

static struct http_conn *conn_of(http_parser *p)
{
	return p->data;
}

/* Appends n bytes to the NUL-terminated *s of *len bytes: 0, or -1 (stops the parser). */
static int str_add(char **s, size_t *len, const char *d, size_t n)
{
	char *ns = realloc(*s, *len + n + 1);

	if (!ns)
		return -1;
	memcpy(ns + *len, d, n);
	*len += n;
	ns[*len] = '\0';
	*s = ns;
	return 0;
}

/* Counts header bytes against the budget: nonzero stops the parser. */
static int head_take(struct http_conn *c, size_t n)
{
	c->head_bytes += n;
	if (c->head_bytes <= HTTP_MAX_HEAD)
		return 0;
	c->head_overflow = true;
	return -1;
}

static int on_begin(http_parser *p)
{
	http_req_reset(conn_of(p));
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);

	return head_take(c, n) ? -1 : str_add(&c->req.target, &c->target_len, at, n);
}

static int on_field(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_req *r = &c->req;

	if (head_take(c, n))
		return -1;
	if (c->in_value || !r->nheaders) {
		if (r->nheaders == HTTP_MAX_HEADERS) {
			c->head_overflow = true;
			return -1;
		}
		if (r->nheaders == c->hcap) {
			unsigned int cap = c->hcap ? c->hcap * 2 : 16;
			struct http_header *nh = realloc(r->headers, cap * sizeof(*nh));
			size_t(*nl)[2];

			if (!nh)
				return -1;
			r->headers = nh;
			nl = realloc(c->hlen, cap * sizeof(*nl));
			if (!nl)
				return -1;
			c->hlen = nl;
			c->hcap = cap;
		}
		r->headers[r->nheaders] = (struct http_header){ NULL, NULL };
		c->hlen[r->nheaders][0] = c->hlen[r->nheaders][1] = 0;
		r->nheaders++;
		c->in_value = false;
	}
	return str_add(&r->headers[r->nheaders - 1].name, &c->hlen[r->nheaders - 1][0], at, n);
}

static int on_value(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_req *r = &c->req;

	if (head_take(c, n) || !r->nheaders)
		return -1;
	c->in_value = true;
	return str_add(&r->headers[r->nheaders - 1].value, &c->hlen[r->nheaders - 1][1], at, n);
}

static int on_headers_done(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	struct http_req *r = &c->req;
	const char *expect;
	size_t plen;

	for (unsigned int i = 0; i < r->nheaders; i++)
		if (!r->headers[i].value && !(r->headers[i].value = strdup("")))
			return -1;
	if (!r->target && !(r->target = strdup("")))
		return -1;
	plen = strcspn(r->target, "?#");
	r->path = strndup(r->target, plen);
	if (!r->path)
		return -1;
	r->query = r->target[plen] == '?' ? r->target + plen + 1 : "";
	r->method = p->method;
	r->method_str = http_method_str((enum http_method)p->method);
	r->http_minor = p->http_minor;
	r->has_length = p->flags & F_CONTENTLENGTH;
	r->content_length = r->has_length ? p->content_length : 0;
	c->h->ops->on_headers(c->h->opaque, c, r);
	expect = http_header(r, "Expect");
	if (expect && !strcasecmp(expect, "100-continue") && p->http_minor >= 1) {
		if (c->early)
			/* The client waits for a go it will not get: it may not send the body at all. */
			c->close_after = true;
		else if (http_out_append(c, "HTTP/1.1 100 Continue\r\n\r\n", 25))
			return -1;
	}
	return 0;
}

static void body_to_fd(struct http_conn *c, const char *at, size_t n)
{
	while (n && !c->req.body_error) {
		ssize_t w = write(c->sink_fd, at, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			c->req.body_error = w < 0 ? -errno : -EIO;
			break;
		}
		at += w;
		n -= (size_t)w;
	}
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_req *r = &c->req;

	r->body_total += n;
	if (c->early || c->sink == SINK_DROP) {
		/* Past what we read for nothing, the connection goes. */
		return r->body_total > HTTP_MAX_DROP ? -1 : 0;
	}
	if (r->body_too_big)
		return 0;
	if (c->sink == SINK_FD) {
		if (r->body_total > c->fd_limit)
			r->body_too_big = true;
		else
			body_to_fd(c, at, n);
		return 0;
	}
	if (r->body_total > c->mem_limit) {
		r->body_too_big = true;
		free(r->body);
		r->body = NULL;
		r->body_len = 0;
		return 0;
	}
	return str_add(&r->body, &r->body_len, at, n);
}

static int on_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);

	c->req.keep_alive = http_should_keep_alive(p);
	c->busy = true;
	http_parser_pause(p, 1);
	return 0;
}

const http_parser_settings http_agent_settings = {
	.on_message_begin = on_begin,
	.on_url = on_url,
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_headers_complete = on_headers_done,
	.on_body = on_body,
	.on_message_complete = on_complete,
};

void http_body_memory(struct http_conn *c, size_t limit)
{
	c->sink = SINK_MEMORY;
	c->mem_limit = limit;
}

void http_body_fd(struct http_conn *c, int fd, uint64_t limit)
{
	c->sink = SINK_FD;
	c->sink_fd = fd;
	c->fd_limit = limit;
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * application/x-www-form-urlencoded's decoding of s[0..n) into out (room
 * for n + 1): %XX and '+'. No library Debian ships statically does this
 * (uriparser has no static archive), and it is three rules.
 */
static int query_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			int hi = n - i >= 3 ? hex_digit(s[i + 1]) : -1;
			int lo = n - i >= 3 ? hex_digit(s[i + 2]) : -1;

			/* A NUL would cut the value short where it is used as a C string. */
			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return -EINVAL;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return 0;
}

int http_query(const struct http_req *r, const char *key, char **out)
{
	const char *q = r->query;

	*out = NULL;
	while (*q) {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);
		size_t klen = eq ? (size_t)(eq - q) : len;
		char *k = malloc(klen + 1);
		int ret;

		if (!k)
			return -ENOMEM;
		ret = query_decode(q, klen, k);
		if (!ret && !strcmp(k, key)) {
			size_t vlen = eq ? len - klen - 1 : 0;

			free(k);
			*out = malloc(vlen + 1);
			if (!*out)
				return -ENOMEM;
			ret = query_decode(eq ? eq + 1 : "", vlen, *out);
			if (ret) {
				free(*out);
				*out = NULL;
			}
			return ret;
		}
		free(k);
		if (ret)
			return ret;
		q += len;
		if (*q == '&')
			q++;
	}
	return -ENOENT;
}
