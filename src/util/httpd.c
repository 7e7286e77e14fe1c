/*
 * HTTP/1.1 connections on one epoll fd, requests parsed by http-parser
 * (httpd.h). A connection reads only when it has nothing left to send,
 * so a client that does not read its replies stops being read (and is
 * closed once idle), and one request is handled at a time: the parser
 * pauses at each request's end and resumes once its reply is out.
 */
#include "util/httpd.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

/* The request line and headers, all told; past it the answer is 431. */
#define HTTPD_MAX_HEADER_BYTES (16u << 10)
#define HTTPD_MAX_HEADERS 64u
/* Reads per connection per run: the others get their turn. */
#define HTTPD_ROUNDS 16
/* What a refused request may still send before the close, and for how long. */
#define HTTPD_DRAIN_MAX (4ull << 20)
#define HTTPD_DRAIN_NS (1000ull * 1000 * 1000)
#define HTTPD_EVENTS 32

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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *httpd_reason(unsigned int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

const char *httpd_header(const struct httpd_request *r, const char *name)
{
	for (unsigned int i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

/* Appends n bytes to a NUL-terminated string of *len bytes; 0 or -ENOMEM. */
static int str_append(char **s, size_t *len, const char *d, size_t n)
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

static void req_reset(struct httpd_conn *c)
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
	req_reset(conn_of(p));
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
static struct httpd_request req_view(struct httpd_conn *c)
{
	static char empty[1];

	for (unsigned int i = 0; i < c->nhdr; i++)
		if (!c->hdr[i].value)
			c->hdr[i].value = strdup("");
	if (c->url)
		c->url[strcspn(c->url, "?#")] = '\0';
	return (struct httpd_request){
		.method = http_method_str((enum http_method)c->p.method),
		.path = c->url ? c->url : empty,
		.headers = c->hdr,
		.nheaders = c->nhdr,
		.body = c->body,
		.body_len = c->body_total,
		.body_too_big = c->too_big,
	};
}

static int out_append(struct httpd_conn *c, const char *d, size_t n)
{
	return str_append(&c->out, &c->out_len, d, n);
}

/* The reply's bytes, queued behind anything still unsent. */
static void reply_queue(struct httpd_conn *c, const struct httpd_reply *r, bool keep_alive)
{
	bool ok;
	bool has_len = r->status >= 200 && r->status != 204 && r->status != 304;
	char head[512];
	int n;

	if (!keep_alive || r->close)
		c->close_after = true;
	if (r->raw) {
		if (out_append(c, r->raw, r->raw_len)) {
			c->close_after = true;
			c->out_off = c->out_len;
		}
		if (r->body_owned)
			free((void *)r->body);
		return;
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 %u %s\r\n%s%s%s", r->status,
		     httpd_reason(r->status), c->h->cfg.server ? "Server: " : "",
		     c->h->cfg.server ? c->h->cfg.server : "", c->h->cfg.server ? "\r\n" : "");
	if (has_len)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n",
			      r->body ? r->body_len : 0);
	if (r->content_type && r->body)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Type: %s\r\n",
			      r->content_type);
	if (c->close_after)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Connection: close\r\n");
	ok = n > 0 && (size_t)n < sizeof(head) && !out_append(c, head, (size_t)n) &&
	     !(r->extra && out_append(c, r->extra, strlen(r->extra))) &&
	     !out_append(c, "\r\n", 2) &&
	     !(has_len && r->body && out_append(c, r->body, r->body_len));
	if (r->body_owned)
		free((void *)r->body);
	if (!ok) {
		/* Out of memory: nothing sensible can go out; drop the connection. */
		c->close_after = true;
		c->out_off = c->out_len;
	}
}

static int on_headers_done(http_parser *p)
{
	struct httpd_conn *c = conn_of(p);
	struct httpd *h = c->h;
	struct httpd_reply r = { 0 };
	struct httpd_request req;
	const char *expect;

	req = req_view(c);
	if (h->ops->on_headers &&
	    h->ops->on_headers(h->opaque, &req, p->flags & F_CONTENTLENGTH ? p->content_length : 0,
			       &r)) {
		if (r.keep_open) {
			/* Answered now; the body still comes, and is dropped as it does. */
			c->skip_body = true;
			reply_queue(c, &r, true);
			if (h->ops->on_replied)
				h->ops->on_replied(h->opaque);
			return 0;
		}
		c->refused = true;
		c->drain_left = p->content_length < HTTPD_DRAIN_MAX ? p->content_length
								    : HTTPD_DRAIN_MAX;
		reply_queue(c, &r, false);
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

static const http_parser_settings httpd_settings = {
	.on_message_begin = on_begin,
	.on_url = on_url,
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_headers_complete = on_headers_done,
	.on_body = on_body,
	.on_message_complete = on_complete,
};

static void conn_close(struct httpd_conn *c)
{
	struct httpd *h = c->h;

	epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nconns--;
	req_reset(c);
	free(c->hdr);
	free(c->hlen);
	free(c->out);
	free(c);
}

static void conn_watch(struct httpd_conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (c->events != events && !epoll_ctl(c->h->epfd, EPOLL_CTL_MOD, c->fd, &ev))
		c->events = events;
}

/* Sends what is queued: 1 when all of it is out, 0 when the socket is full, -1 on an error. */
static int conn_flush(struct httpd_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		c->out_off += (size_t)n;
		c->last_ns = now_ns();
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	return 1;
}

/* A request that cannot be parsed: 400 (431 for oversized headers), then the close. */
static void conn_reject(struct httpd_conn *c)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&c->p);
	char msg[160];
	struct httpd_reply r = { .status = c->head_overflow ? 431 : 400, .body = msg,
				 .content_type = "text/plain", .close = true };

	r.body_len = (size_t)snprintf(msg, sizeof(msg), "%s",
				      c->head_overflow ? "Request headers too large."
						       : http_errno_description(e));
	reply_queue(c, &r, false);
}

/* The whole request is in: the owner answers it. */
static void conn_dispatch(struct httpd_conn *c)
{
	struct httpd *h = c->h;
	struct httpd_reply r = { .status = 500 };
	struct httpd_request req = req_view(c);
	bool keep = http_should_keep_alive(&c->p);

	h->ops->on_request(h->opaque, &req, &r);
	reply_queue(c, &r, keep);
	req_reset(c);
	if (h->ops->on_replied)
		h->ops->on_replied(h->opaque);
}

/* Reads and drops what a refused client still sends; true once done. */
static bool conn_drain(struct httpd_conn *c)
{
	char sink[4096];

	while (c->drain_left && now_ns() < c->drain_end) {
		ssize_t n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n <= 0)
			return true;
		c->drain_left -= (unsigned long long)n < c->drain_left ? (unsigned long long)n
								       : c->drain_left;
	}
	return true;
}

/*
 * Serves one connection as far as it can go without waiting. Returns
 * false once the connection is closed (c is freed).
 */
static bool conn_serve(struct httpd_conn *c)
{
	c->pending = false;
	for (int round = 0; round < HTTPD_ROUNDS; round++) {
		int f = conn_flush(c);

		if (f < 0)
			goto err_close;
		if (!f) {
			conn_watch(c, EPOLLOUT);
			return true;
		}
		if (c->draining) {
			if (conn_drain(c))
				goto err_close;
			conn_watch(c, EPOLLIN);
			return true;
		}
		if (c->close_after) {
			if (!c->refused || !c->drain_left)
				goto err_close;
			/* Closed with bytes unread, the socket would reset the peer before it reads the reply. */
			shutdown(c->fd, SHUT_WR);
			c->draining = true;
			c->drain_end = now_ns() + HTTPD_DRAIN_NS;
			continue;
		}
		if (c->in_off == c->in_len) {
			ssize_t n = recv(c->fd, c->in, sizeof(c->in), MSG_DONTWAIT);

			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				conn_watch(c, EPOLLIN);
				return true;
			}
			if (n <= 0)
				goto err_close;
			c->in_off = 0;
			c->in_len = (size_t)n;
			c->last_ns = now_ns();
		}
		c->in_off += http_parser_execute(&c->p, &httpd_settings, c->in + c->in_off,
						 c->in_len - c->in_off);
		if (HTTP_PARSER_ERRNO(&c->p) == HPE_PAUSED) {
			http_parser_pause(&c->p, 0);
			if (c->refused)
				c->in_off = c->in_len;
			else if (c->complete && c->skip_body)
				req_reset(c);
			else if (c->complete)
				conn_dispatch(c);
		} else if (HTTP_PARSER_ERRNO(&c->p) != HPE_OK) {
			c->in_off = c->in_len;
			conn_reject(c);
		}
	}
	/* Its turn is over with work left: the next run comes back to it. */
	c->pending = true;
	return true;

err_close:
	conn_close(c);
	return false;
}

int httpd_create(struct httpd **out, const struct httpd_config *cfg, const struct httpd_ops *ops,
		 void *opaque)
{
	struct httpd *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	h->ops = ops;
	h->opaque = opaque;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0) {
		int ret = -errno;

		free(h);
		return ret;
	}
	*out = h;
	return 0;
}

void httpd_destroy(struct httpd *h)
{
	if (!h)
		return;
	while (h->conns)
		conn_close(h->conns);
	close(h->epfd);
	free(h);
}

int httpd_add(struct httpd *h, int fd)
{
	struct httpd_conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev = { .events = EPOLLIN };
	int ret;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->h = h;
	c->fd = fd;
	c->events = EPOLLIN;
	c->last_ns = now_ns();
	http_parser_init(&c->p, HTTP_REQUEST);
	c->p.data = c;
	ev.data.ptr = c;
	if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		ret = -errno;
		close(fd);
		free(c);
		return ret;
	}
	c->next = h->conns;
	if (h->conns)
		h->conns->prev = c;
	h->conns = c;
	h->nconns++;
	return 0;
}

unsigned int httpd_connections(const struct httpd *h)
{
	return h->nconns;
}

int httpd_fd(const struct httpd *h)
{
	return h->epfd;
}

int httpd_timeout_ms(const struct httpd *h)
{
	uint64_t now = now_ns(), first = UINT64_MAX;

	for (const struct httpd_conn *c = h->conns; c; c = c->next) {
		uint64_t due = c->draining ? c->drain_end
					   : c->last_ns + h->cfg.idle_timeout_s * 1000000000ull;

		if (c->pending)
			return 0;
		if (due < first)
			first = due;
	}
	if (first == UINT64_MAX)
		return -1;
	return first <= now ? 0 : (int)((first - now) / 1000000 + 1);
}

void httpd_run(struct httpd *h)
{
	struct epoll_event ev[HTTPD_EVENTS];
	uint64_t now;
	int n = epoll_wait(h->epfd, ev, HTTPD_EVENTS, 0);

	for (int i = 0; i < n; i++)
		((struct httpd_conn *)ev[i].data.ptr)->pending = true;
	now = now_ns();
	for (struct httpd_conn *c = h->conns, *next; c; c = next) {
		uint64_t due = c->draining ? c->drain_end
					   : c->last_ns + h->cfg.idle_timeout_s * 1000000000ull;

		next = c->next;
		if (c->pending)
			conn_serve(c);
		else if (due <= now)
			conn_close(c);
	}
}
