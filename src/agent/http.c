/*
 * The agent's HTTP connections (http.h): accepted from the listeners,
 * read into a fixed buffer and parsed (http_parse.c) one request at a
 * time, answered from a growing output buffer. A connection answering a
 * request reads nothing more until the answer is done (a stream's end, a
 * file's last byte), so what a client sends ahead is bounded by the
 * buffer; it still hears the client go (EPOLLRDHUP). Objects are freed
 * through loop_defer: an epoll batch may still name them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/http_priv.h"

/* A file answer is read in pieces this big, each once the last one is out. */
#define HTTP_FILE_PIECE (128u << 10)
#define HTTP_SWEEP_MS 5000u

const char *http_reason(unsigned int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 499: return "Client Closed Request";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

int http_out_append(struct http_conn *c, const void *d, size_t n)
{
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *no;

		while (cap < c->out_len + n)
			cap *= 2;
		no = realloc(c->out, cap);
		if (!no)
			return -ENOMEM;
		c->out = no;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, d, n);
	c->out_len += n;
	return 0;
}

size_t http_queued(const struct http_conn *c)
{
	return c->out_len - c->out_off;
}

static void conn_free(void *opaque)
{
	struct http_conn *c = opaque;

	free(c->req.headers);
	free(c->hlen);
	free(c->out);
	free(c);
}

static void conn_close(struct http_conn *c)
{
	struct agent_http *h = c->h;

	if (c->dead)
		return;
	c->dead = true;
	loop_fd_del(h->loop, &c->w);
	close(c->fd);
	if (c->file_fd >= 0)
		close(c->file_fd);
	c->file_fd = -1;
	if (c->resp == RESP_STREAM && c->sops) {
		const struct http_stream_ops *ops = c->sops;

		c->sops = NULL;
		ops->closed(c->owner);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->nconns--;
	http_req_reset(c);
	if (loop_defer(h->loop, conn_free, c))
		conn_free(c);   /* out of memory: nothing can hold it by now but this batch */
}

/* What the connection waits for: input only between requests, output while some is queued. */
static void conn_watch(struct http_conn *c)
{
	uint32_t ev = EPOLLRDHUP;

	if (!c->busy && c->in_off == c->in_len)
		ev |= EPOLLIN;
	if (http_queued(c))
		ev |= EPOLLOUT;
	loop_fd_mod(c->h->loop, &c->w, ev);
}

/* Sends what is queued: 1 all out, 0 the socket is full, -1 broken. */
static int conn_flush(struct http_conn *c)
{
	while (http_queued(c)) {
		ssize_t n = send(c->fd, c->out + c->out_off, http_queued(c),
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		c->out_off += (size_t)n;
		c->last_ns = loop_now_ns();
	}
	c->out_off = c->out_len = 0;
	/* A stream's or a file's buffer may have grown large once; it need not stay so. */
	if (c->out_cap > (1u << 20)) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	return 1;
}

/* The answer is whole: the next request may be read. */
static void conn_done(struct http_conn *c)
{
	c->resp = RESP_NONE;
	c->busy = false;
	c->sops = NULL;
	c->owner = NULL;
	if (!c->req.keep_alive)
		c->close_after = true;
	http_req_reset(c);
}

static void conn_serve(struct http_conn *c);

static void conn_queue_head(struct http_conn *c, unsigned int status, const char *ctype,
			    const char *extra, const char *length_line)
{
	char head[512];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %u %s\r\n%s%s%s%s%s", status,
			 http_reason(status), length_line, ctype ? "Content-Type: " : "",
			 ctype ? ctype : "", ctype ? "\r\n" : "",
			 c->close_after || !c->req.keep_alive ? "Connection: close\r\n" : "");

	if (n < 0 || (size_t)n >= sizeof(head) || http_out_append(c, head, (size_t)n) ||
	    (extra && http_out_append(c, extra, strlen(extra))) || http_out_append(c, "\r\n", 2))
		c->close_after = true;
}

void http_reply(struct http_conn *c, unsigned int status, const char *ctype, const char *extra,
		const void *body, size_t len)
{
	char lenline[64];

	if (c->resp != RESP_NONE || c->early)
		return;
	snprintf(lenline, sizeof(lenline), "Content-Length: %zu\r\n", len);
	conn_queue_head(c, status, ctype, extra, status == 204 || status < 200 ? "" : lenline);
	if (len && status != 204 && http_out_append(c, body, len))
		c->close_after = true;
	if (!c->busy) {
		/* At the headers: the body still comes and is dropped. */
		c->early = true;
		c->resp = RESP_NONE;
		return;
	}
	c->resp = RESP_DONE;
}

void http_reply_fd(struct http_conn *c, unsigned int status, const char *ctype, const char *extra,
		   int fd, uint64_t len)
{
	char lenline[64];

	if (c->resp != RESP_NONE || !c->busy) {
		close(fd);
		return;
	}
	snprintf(lenline, sizeof(lenline), "Content-Length: %llu\r\n", (unsigned long long)len);
	conn_queue_head(c, status, ctype, extra, lenline);
	c->file_fd = fd;
	c->file_left = len;
	c->resp = RESP_FD;
}

int http_stream_start(struct http_conn *c, unsigned int status, const char *ctype,
		      const struct http_stream_ops *ops, void *owner)
{
	if (c->resp != RESP_NONE || !c->busy)
		return -EINVAL;
	/* HTTP/1.0 has no chunks: the stream ends with the connection. */
	c->chunked = c->req.http_minor >= 1;
	if (!c->chunked)
		c->close_after = true;
	conn_queue_head(c, status, ctype, NULL, c->chunked ? "Transfer-Encoding: chunked\r\n" : "");
	c->resp = RESP_STREAM;
	c->sops = ops;
	c->owner = owner;
	return 0;
}

int http_stream_chunk(struct http_conn *c, const void *d, size_t n)
{
	char size[32];
	int len = snprintf(size, sizeof(size), "%zx\r\n", n);

	if (c->dead || c->resp != RESP_STREAM)
		return -EPIPE;
	if (!n)
		return 0;
	if ((c->chunked && http_out_append(c, size, (size_t)len)) || http_out_append(c, d, n) ||
	    (c->chunked && http_out_append(c, "\r\n", 2)))
		return -ENOMEM;
	if (conn_flush(c) < 0)
		return -EPIPE;
	conn_watch(c);
	return 0;
}

/*
 * Deferred from http_stream_finish: serving may answer the next request
 * at once, which must not run inside the stream owner's own call.
 */
static void conn_kick(void *opaque)
{
	struct http_conn *c = opaque;

	if (!c->dead)
		conn_serve(c);
}

void http_stream_finish(struct http_conn *c)
{
	if (c->dead || c->resp != RESP_STREAM)
		return;
	if (c->chunked && http_out_append(c, "0\r\n\r\n", 5))
		c->close_after = true;
	conn_done(c);
	if (loop_defer(c->h->loop, conn_kick, c))
		c->close_after = true;
	conn_watch(c);
}

/* Refills the output from the file being sent: false once it cannot go on. */
static bool conn_file_pump(struct http_conn *c)
{
	char buf[HTTP_FILE_PIECE];
	size_t want = c->file_left < sizeof(buf) ? (size_t)c->file_left : sizeof(buf);
	ssize_t n;

	do
		n = read(c->file_fd, buf, want);
	while (n < 0 && errno == EINTR);
	/* A file cut short under us: the length is promised, so the connection must go. */
	if (n <= 0 || http_out_append(c, buf, (size_t)n))
		return false;
	c->file_left -= (uint64_t)n;
	if (!c->file_left) {
		close(c->file_fd);
		c->file_fd = -1;
		conn_done(c);
	}
	return true;
}

/* Reads and parses what it can; false once the connection is closed. */
static bool conn_read(struct http_conn *c)
{
	if (c->in_off == c->in_len) {
		ssize_t n = recv(c->fd, c->in, sizeof(c->in), MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		if (n <= 0) {
			conn_close(c);
			return false;
		}
		c->in_off = 0;
		c->in_len = (size_t)n;
		c->last_ns = loop_now_ns();
	}
	c->in_off += http_parser_execute(&c->p, &http_agent_settings, c->in + c->in_off,
					 c->in_len - c->in_off);
	if (HTTP_PARSER_ERRNO(&c->p) == HPE_PAUSED) {
		http_parser_pause(&c->p, 0);
		if (c->early) {
			/* Answered at its headers, its body dropped: on to the next one. */
			c->busy = false;
			if (!c->req.keep_alive)
				c->close_after = true;
			http_req_reset(c);
		} else {
			c->h->ops->on_request(c->h->opaque, c, &c->req);
			if (c->dead)
				return false;
			if (c->resp == RESP_NONE)
				http_reply(c, 500, "text/plain", NULL, "no answer", 9);
			if (c->resp == RESP_DONE)
				conn_done(c);
		}
	} else if (HTTP_PARSER_ERRNO(&c->p) != HPE_OK) {
		unsigned int status = c->head_overflow ? 431 : 400;
		const char *why = c->head_overflow ? "request headers too large"
						   : http_errno_description(HTTP_PARSER_ERRNO(&c->p));

		/* Nothing after a request that cannot be read can be read either. */
		c->in_off = c->in_len;
		c->busy = true;
		c->close_after = true;
		c->resp = RESP_NONE;
		c->req.keep_alive = false;
		http_reply(c, status, "text/plain", NULL, why, strlen(why));
		conn_done(c);
	}
	return true;
}

/* Serves c as far as it goes without waiting; c may be closed when it returns. */
static void conn_serve(struct http_conn *c)
{
	for (int round = 0; round < 64 && !c->dead; round++) {
		int f = conn_flush(c);

		if (f < 0) {
			conn_close(c);
			return;
		}
		if (!f)
			break;
		if (c->resp == RESP_STREAM) {
			if (c->sops && c->sops->drained)
				c->sops->drained(c->owner);
			break;
		}
		if (c->resp == RESP_FD) {
			if (!conn_file_pump(c)) {
				conn_close(c);
				return;
			}
			continue;
		}
		if (c->close_after) {
			conn_close(c);
			return;
		}
		if (c->busy)
			break;
		if (!conn_read(c))
			return;
		if (c->in_off == c->in_len && !http_queued(c) && !c->busy)
			break;
	}
	if (!c->dead)
		conn_watch(c);
}

static void conn_event(void *opaque, uint32_t events)
{
	struct http_conn *c = opaque;

	/* Gone, or going while busy (its answer has no reader): close. */
	if ((events & (EPOLLERR | EPOLLHUP)) || ((events & EPOLLRDHUP) && c->busy)) {
		conn_close(c);
		return;
	}
	conn_serve(c);
}

int http_add_conn(struct agent_http *h, int fd)
{
	struct http_conn *c;
	int ret;

	if (h->nconns >= h->cfg.max_conns) {
		close(fd);
		return -EMFILE;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->h = h;
	c->fd = fd;
	c->file_fd = -1;
	c->sink_fd = -1;
	c->w.fd = -1;
	c->last_ns = loop_now_ns();
	c->req.query = "";
	c->mem_limit = h->cfg.max_body;
	http_parser_init(&c->p, HTTP_REQUEST);
	c->p.data = c;
	ret = loop_fd_add(h->loop, &c->w, fd, EPOLLIN | EPOLLRDHUP, conn_event, c);
	if (ret) {
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

static void listener_event(void *opaque, uint32_t events)
{
	struct http_listener *l = opaque;

	/* A burst of clients is taken in bounded rounds, so connections in service get their turn. */
	for (int i = 0; i < 64; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		http_add_conn(l->h, fd);
	}
}

int http_listen(struct agent_http *h, int fd)
{
	struct http_listener *nl = realloc(h->listeners, (h->nlisteners + 1) * sizeof(*nl));
	struct http_listener *l;
	int ret;

	if (!nl)
		return -ENOMEM;
	/* The loop holds pointers to the old array's entries: move them one by one. */
	h->listeners = nl;
	for (unsigned int i = 0; i < h->nlisteners; i++) {
		loop_fd_del(h->loop, &nl[i].w);
		ret = loop_fd_add(h->loop, &nl[i].w, nl[i].fd, EPOLLIN, listener_event, &nl[i]);
		if (ret)
			return ret;
	}
	l = &nl[h->nlisteners];
	*l = (struct http_listener){ .h = h, .fd = fd, .w.fd = -1 };
	ret = loop_fd_add(h->loop, &l->w, fd, EPOLLIN, listener_event, l);
	if (ret)
		return ret;
	h->nlisteners++;
	return 0;
}

unsigned int http_conn_count(const struct agent_http *h)
{
	return h->nconns;
}

/* Closes the connections quiet for idle_s with nothing in flight. */
static void http_sweep(void *opaque)
{
	struct agent_http *h = opaque;
	uint64_t limit = (uint64_t)h->cfg.idle_s * 1000000000ull, now = loop_now_ns();

	for (struct http_conn *c = h->conns, *next; c; c = next) {
		next = c->next;
		if (!c->busy && !http_queued(c) && now - c->last_ns > limit)
			conn_close(c);
	}
	loop_timer_arm(h->loop, &h->sweep, HTTP_SWEEP_MS, http_sweep, h);
}

int http_create(struct agent_http **out, struct agent_loop *l, const struct http_cfg *cfg,
		const struct http_ops *ops, void *opaque)
{
	struct agent_http *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	h->ops = ops;
	h->opaque = opaque;
	h->loop = l;
	if (h->cfg.idle_s)
		loop_timer_arm(l, &h->sweep, HTTP_SWEEP_MS, http_sweep, h);
	*out = h;
	return 0;
}

void http_destroy(struct agent_http *h)
{
	if (!h)
		return;
	loop_timer_cancel(h->loop, &h->sweep);
	while (h->conns)
		conn_close(h->conns);
	for (unsigned int i = 0; i < h->nlisteners; i++)
		loop_fd_del(h->loop, &h->listeners[i].w);
	free(h->listeners);
	free(h);
}
