/*
 * HTTP/1.1 connections on one epoll fd, requests parsed by http-parser
 * (httpd.h). A connection reads only when it has nothing left to send,
 * so a client that does not read its replies stops being read (and is
 * closed once idle), and one request is handled at a time: the parser
 * pauses at each request's end and resumes once its reply is out.
 * The parser's callbacks, which build each request, are httpd_parse.c's.
 */
#include "util/httpd.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#include "util/httpd_priv.h"

/* Reads per connection per run: the others get their turn. */
#define HTTPD_ROUNDS 16
#define HTTPD_EVENTS 32

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

/* The reply's bytes, queued behind anything still unsent. */
void httpd_reply_queue(struct httpd_conn *c, const struct httpd_reply *r, bool keep_alive)
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
	httpd_req_reset(c);
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
	httpd_reply_queue(c, &r, false);
}

/* The whole request is in: the owner answers it. */
static void conn_dispatch(struct httpd_conn *c)
{
	struct httpd *h = c->h;
	struct httpd_reply r = { .status = 500 };
	struct httpd_request req = httpd_req_view(c);
	bool keep = http_should_keep_alive(&c->p);

	h->ops->on_request(h->opaque, &req, &r);
	httpd_reply_queue(c, &r, keep);
	httpd_req_reset(c);
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
				httpd_req_reset(c);
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
