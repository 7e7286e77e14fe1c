/*
 * The request a connection is reading, assembled from http-parser's
 * callbacks: its URL, headers and body, each bounded, and the owner's
 * early answer at the headers. Its own file: reading a request is
 * separate from keeping the connections and sending the replies (httpd.c).
 */
#include "util/httpd.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "util/httpd_priv.h"

/* The request line and headers, all told; past it the answer is 431. */
#define HTTPD_MAX_HEADER_BYTES (16u << 10)
#define HTTPD_MAX_HEADERS 64u

const char *httpd_header(const struct httpd_request *r, const char *name)
{
	for (unsigned int i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

void httpd_req_reset(struct httpd_conn *c)
{
	for (unsigned int i = 0; i < c->nhdr; i++) {
		free(c->hdr[i].name);
		free(c->hdr[i].value);
	}
	c->nhdr = 0;
	free(c->url);
	c->url = NULL;
	c->url_len = 0;
	free(c->body);
	c->body = NULL;
	c->body_len = c->body_total = 0;
	c->in_value = c->too_big = c->complete = c->head_overflow = c->skip_body = false;
	c->head_bytes = 0;
}

static struct httpd_conn *conn_of(http_parser *p)
{
	return p->data;
}

/* Counts header bytes against the budget: nonzero stops the parser. */
static int head_take(struct httpd_conn *c, size_t n)
{
	c->head_bytes += n;
	if (c->head_bytes <= HTTPD_MAX_HEADER_BYTES)
		return 0;
	c->head_overflow = true;
	return -1;
}

static int on_begin(http_parser *p)
{
	httpd_req_reset(conn_of(p));
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct httpd_conn *c = conn_of(p);

	return head_take(c, n) ? -1 : str_append(&c->url, &c->url_len, at, n);
}

static int on_field(http_parser *p, const char *at, size_t n)
{
	struct httpd_conn *c = conn_of(p);

	if (head_take(c, n))
		return -1;
	if (c->in_value || !c->nhdr) {
		if (c->nhdr == HTTPD_MAX_HEADERS) {
			c->head_overflow = true;
			return -1;
		}
		if (c->nhdr == c->hcap) {
			unsigned int cap = c->hcap ? c->hcap * 2 : 8;
			struct httpd_header *nh = realloc(c->hdr, cap * sizeof(*nh));

			if (!nh)
				return -1;
			c->hdr = nh;
			size_t (*nl)[2] = realloc(c->hlen, cap * sizeof(*nl));

			if (!nl)
				return -1;
			c->hlen = nl;
			c->hcap = cap;
		}
		c->hdr[c->nhdr] = (struct httpd_header){ NULL, NULL };
		c->hlen[c->nhdr][0] = c->hlen[c->nhdr][1] = 0;
		c->nhdr++;
		c->in_value = false;
	}
	return str_append(&c->hdr[c->nhdr - 1].name, &c->hlen[c->nhdr - 1][0], at, n);
}

static int on_value(http_parser *p, const char *at, size_t n)
{
	struct httpd_conn *c = conn_of(p);

	if (head_take(c, n) || !c->nhdr)
		return -1;
	c->in_value = true;
	return str_append(&c->hdr[c->nhdr - 1].value, &c->hlen[c->nhdr - 1][1], at, n);
}

/* The request as the owner sees it; path is cut at '?' in c->url itself. */
struct httpd_request httpd_req_view(struct httpd_conn *c)
{
	static char empty[1];
	const char *query = NULL;

	for (unsigned int i = 0; i < c->nhdr; i++)
		if (!c->hdr[i].value)
			c->hdr[i].value = strdup("");
	if (c->url) {
		/* Cut once: the query stays behind the path's NUL, url_len its end (view again: the same). */
		size_t cut = strcspn(c->url, "?#"), n;

		if (c->url[cut] == '?')
			cut += 1 + strcspn(c->url + cut + 1, "#");
		if (c->url[cut] == '#') {
			c->url[cut] = '\0';
			c->url_len = cut;
		}
		c->url[strcspn(c->url, "?")] = '\0';
		n = strlen(c->url);
		if (n < c->url_len)
			query = c->url + n + 1;
	}
	return (struct httpd_request){
		.method = http_method_str((enum http_method)c->p.method),
		.path = c->url ? c->url : empty,
		.query = query,
		.headers = c->hdr,
		.nheaders = c->nhdr,
		.body = c->body,
		.body_len = c->body_total,
		.body_too_big = c->too_big,
	};
}

static int on_headers_done(http_parser *p)
{
	struct httpd_conn *c = conn_of(p);
	struct httpd *h = c->h;
	struct httpd_reply r = { 0 };
	struct httpd_request req;
	const char *expect;

	req = httpd_req_view(c);
	if (h->ops->on_headers &&
	    h->ops->on_headers(h->opaque, &req, p->flags & F_CONTENTLENGTH ? p->content_length : 0,
			       &r)) {
		if (r.keep_open) {
			/* Answered now; the body still comes, and is dropped as it does. */
			c->skip_body = true;
			httpd_reply_queue(c, &r, true);
			if (h->ops->on_replied)
				h->ops->on_replied(h->opaque);
			return 0;
		}
		c->refused = true;
		c->drain_left = p->content_length < HTTPD_DRAIN_MAX ? p->content_length
								    : HTTPD_DRAIN_MAX;
		httpd_reply_queue(c, &r, false);
		if (h->ops->on_replied)
			h->ops->on_replied(h->opaque);
		http_parser_pause(p, 1);
		return 0;
	}
	expect = httpd_header(&req, "Expect");
	if (expect && !strcasecmp(expect, "100-continue") && p->http_minor >= 1)
		out_append(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct httpd_conn *c = conn_of(p);

	if (c->skip_body)
		return 0;
	c->body_total += n;
	if (c->too_big)
		return 0;
	if (c->body_total > c->h->cfg.max_body) {
		c->too_big = true;
		free(c->body);
		c->body = NULL;
		c->body_len = 0;
		return 0;
	}
	return str_append(&c->body, &c->body_len, at, n);
}

static int on_complete(http_parser *p)
{
	struct httpd_conn *c = conn_of(p);

	c->complete = true;
	http_parser_pause(p, 1);
	return 0;
}

const http_parser_settings httpd_settings = {
	.on_message_begin = on_begin,
	.on_url = on_url,
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_headers_complete = on_headers_done,
	.on_body = on_body,
	.on_message_complete = on_complete,
};
