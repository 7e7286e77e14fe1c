/*
 * One proxied connection's parsing and routing (proxy.h): the client's
 * request read by http-parser to find its head's routing headers and its
 * end, every byte it consumed queued for the agent as is; the agent's
 * answer read by a second parser to find its end, its bytes queued for
 * the client as is.
 */
#include "sandboxd/proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandboxd/api.h"
#include "sandboxd/api_json.h"
#include "sandboxd/router.h"

enum { WANT_NONE = -1, WANT_ID, WANT_PORT, WANT_TOKEN };

static struct px_conn *conn_of(http_parser *hp)
{
	return hp->data;
}

static int head_take(struct px_conn *c, size_t n)
{
	c->h.bytes += n;
	return c->h.bytes > PX_HEAD_MAX;
}

static int on_begin(http_parser *hp)
{
	struct px_conn *c = conn_of(hp);

	memset(&c->h, 0, sizeof(c->h));
	c->h.want = WANT_NONE;
	return 0;
}

static int on_url(http_parser *hp, const char *at, size_t n)
{
	return head_take(conn_of(hp), n);
}

static int on_field(http_parser *hp, const char *at, size_t n)
{
	struct px_conn *c = conn_of(hp);
	static const char *const names[] = { "e2b-sandbox-id", "e2b-sandbox-port",
					     "x-access-token" };

	if (head_take(c, n))
		return 1;
	/* A field name comes in pieces; a value ends it (want is set then). */
	if (c->h.want != WANT_NONE || c->h.field_len == SIZE_MAX) {
		c->h.field_len = 0;
		c->h.want = WANT_NONE;
	}
	for (size_t i = 0; i < n; i++)
		if (c->h.field_len < sizeof(c->h.field) - 1)
			c->h.field[c->h.field_len++] = (char)(at[i] | 0x20);
		else
			c->h.field_len = sizeof(c->h.field);
	c->h.field[c->h.field_len < sizeof(c->h.field) ? c->h.field_len : 0] = '\0';
	for (int i = 0; i < 3; i++)
		if (!strcmp(c->h.field, names[i]))
			c->h.want = i;
	if (c->h.want == WANT_NONE)
		c->h.want = WANT_NONE - 1;    /* a field we pass over: its value ends it too */
	return 0;
}

static int append(char *slot, size_t cap, const char *at, size_t n, bool *too_long)
{
	size_t have = strlen(slot);

	if (have + n >= cap) {
		*too_long = true;
		return 0;
	}
	memcpy(slot + have, at, n);
	slot[have + n] = '\0';
	return 0;
}

static int on_value(http_parser *hp, const char *at, size_t n)
{
	struct px_conn *c = conn_of(hp);

	if (head_take(c, n))
		return 1;
	c->h.field_len = SIZE_MAX;      /* the next field starts a new name */
	switch (c->h.want) {
	case WANT_ID:
		return append(c->h.id, sizeof(c->h.id), at, n, &c->h.too_long);
	case WANT_PORT:
		return append(c->h.port, sizeof(c->h.port), at, n, &c->h.too_long);
	case WANT_TOKEN:
		c->h.has_token = true;
		return append(c->h.token, sizeof(c->h.token), at, n, &c->h.too_long);
	default:
		return 0;
	}
}

static int on_headers_complete(http_parser *hp)
{
	struct px_conn *c = conn_of(hp);

	c->headers_done = true;
	c->req_head = hp->method == HTTP_HEAD;
	return 0;
}

static int on_message_complete(http_parser *hp)
{
	struct px_conn *c = conn_of(hp);

	c->req_done = true;
	/* Stop at this request's last byte: a pipelined next one waits for this answer. */
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings req_settings = {
	.on_message_begin = on_begin,
	.on_url = on_url,
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

static int resp_head(http_parser *hp, const char *at, size_t n)
{
	struct px_conn *c = conn_of(hp);

	c->resp_head += n;
	return c->resp_head > PX_RESP_HEAD_MAX;
}

static int resp_headers_complete(http_parser *hp)
{
	struct px_conn *c = conn_of(hp);

	c->resp_head = 0;
	/* An answer that ends only at the agent's close ends the client's connection too. */
	if (hp->status_code >= 200 && hp->status_code != 204 && hp->status_code != 304 &&
	    !c->req_head && !(hp->flags & (F_CHUNKED | F_CONTENTLENGTH)))
		c->close_after = true;
	return c->req_head ? 1 : 0;
}

static int resp_complete(http_parser *hp)
{
	struct px_conn *c = conn_of(hp);

	if (hp->status_code < 200)
		return 0;
	c->resp_done = true;
	if (!http_should_keep_alive(hp))
		c->close_after = true;
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings resp_settings = {
	.on_status = resp_head,
	.on_header_field = resp_head,
	.on_header_value = resp_head,
	.on_headers_complete = resp_headers_complete,
	.on_message_complete = resp_complete,
};

void px_conn_init(struct px_conn *c)
{
	http_parser_init(&c->req, HTTP_REQUEST);
	c->req.data = c;
	c->ufd = -1;
	c->state = PX_IDLE;
}

void px_refuse(struct px *p, struct px_conn *c, unsigned int status, const char *msg)
{
	char *js = sbx_json_error(status, msg);
	char head[256];
	int n;

	if (c->ufd >= 0) {
		close(c->ufd);
		c->ufd = -1;
	}
	c->up.off = c->up.len = 0;
	c->state = PX_REFUSED;
	c->close_after = true;
	c->drain_left = PX_DRAIN_MAX;
	/* What the client has sent of its answer's place cannot be taken back: only the close. */
	if (c->resp_started || !js) {
		c->down.off = c->down.len = 0;
		free(js);
		return;
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n", status,
		     status == 502 ? "Bad Gateway" : httpd_reason(status), strlen(js));
	c->down.off = c->down.len = 0;
	px_buf_put(&c->down, head, (size_t)n);
	px_buf_put(&c->down, js, strlen(js));
	free(js);
}

/* Whether a (a client's, any length) is token, in time that does not depend on where they differ. */
static bool same_token(const char *a, const char *token)
{
	unsigned char diff = strlen(a) != SBX_TOKEN_LEN;

	for (size_t i = 0; i < SBX_TOKEN_LEN; i++)
		diff |= (unsigned char)(token[i] ^ (diff ? 0 : a[i]));
	return !diff;
}

int px_route(struct px *p, struct px_conn *c, char *vsock, size_t len, unsigned int *status,
	     char *msg, size_t msglen)
{
	struct sbx *s = p->s;
	struct sbx_box *b;
	int ret = -1;

	*status = 502;
	if (!c->h.id[0] || c->h.too_long) {
		*status = 400;
		snprintf(msg, msglen, "E2b-Sandbox-Id names no sandbox: this is envd's endpoint "
			 "(E2B_SANDBOX_URL); E2B's API is the other listener");
		return -1;
	}
	if (c->h.port[0] && strcmp(c->h.port, "49983")) {
		snprintf(msg, msglen, "port %.15s of sandbox %.64s is not served: only envd's, 49983",
			 c->h.port, c->h.id);
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	b = sbx_box_find(s, c->h.id);
	if (!b) {
		snprintf(msg, msglen, "The sandbox %.64s was not found", c->h.id);
	} else if (b->state != SBX_RUNNING) {
		snprintf(msg, msglen, "The sandbox %.64s is paused: connect to it first", c->h.id);
	} else if (c->h.has_token && !same_token(c->h.token, b->token)) {
		*status = 401;
		snprintf(msg, msglen, "X-Access-Token is not sandbox %.64s's", c->h.id);
	} else if (snprintf(vsock, len, "%s", b->vm.vsock) < (int)len) {
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* The head is in: where it goes, the agent connected and Hearth's CONNECT line on its way. */
static void route_head(struct px *p, struct px_conn *c)
{
	char vsock[SBX_PATH], msg[200];
	unsigned int status;

	if (c->req.upgrade) {
		px_refuse(p, c, 501, "protocol upgrades are not served by the sandbox proxy");
		return;
	}
	if (px_route(p, c, vsock, sizeof(vsock), &status, msg, sizeof(msg))) {
		px_refuse(p, c, status, msg);
		return;
	}
	if (px_upstream_open(p, c, vsock)) {
		snprintf(msg, sizeof(msg), "The sandbox %.64s cannot be reached", c->h.id);
		px_refuse(p, c, 502, msg);
		return;
	}
	http_parser_init(&c->resp, HTTP_RESPONSE);
	c->resp.data = c;
	c->hs_done = c->resp_started = c->resp_done = false;
	c->hs_len = c->resp_head = 0;
	c->state = PX_FORWARD;
}

void px_client_parse(struct px *p, struct px_conn *c)
{
	/* Bounded by up's room: a slow agent stops the client being read. */
	while (c->in_off < c->in_len && !c->req_done && c->state != PX_REFUSED) {
		size_t room = px_buf_room(&c->up), n = c->in_len - c->in_off, used;
		bool had_head = c->headers_done;

		if (!room)
			return;
		if (n > room)
			n = room;
		/* Stop at the head's end, to route before anything goes anywhere. */
		used = http_parser_execute(&c->req, &req_settings, c->in + c->in_off, n);
		if (HTTP_PARSER_ERRNO(&c->req) != HPE_OK && HTTP_PARSER_ERRNO(&c->req) != HPE_PAUSED) {
			px_refuse(p, c, c->h.bytes > PX_HEAD_MAX ? 431 : 400,
				  c->h.bytes > PX_HEAD_MAX ? "request head too large"
							   : http_errno_description(
								     HTTP_PARSER_ERRNO(&c->req)));
			return;
		}
		px_buf_put(&c->up, c->in + c->in_off, used);
		c->in_off += used;
		if (!had_head && c->headers_done)
			route_head(p, c);
		if (c->req.upgrade && c->state != PX_REFUSED)
			px_refuse(p, c, 501, "protocol upgrades are not served by the sandbox proxy");
		if (!used && !c->req_done)
			return;
	}
}

/* Hearth's line, then the agent's answer: bytes for the client, its end found. */
void px_upstream_data(struct px *p, struct px_conn *c, const char *buf, size_t n)
{
	size_t used;

	while (!c->hs_done && n) {
		char ch = *buf++;

		n--;
		if (c->hs_len == sizeof(c->hs) - 1) {
			px_refuse(p, c, 502, "the sandbox's vsock gave no OK");
			return;
		}
		c->hs[c->hs_len++] = ch;
		if (ch != '\n')
			continue;
		c->hs[c->hs_len] = '\0';
		if (strncmp(c->hs, "OK ", 3)) {
			px_refuse(p, c, 502, "the sandbox's vsock gave no OK");
			return;
		}
		c->hs_done = true;
	}
	if (!c->hs_done) {
		if (!n && !buf)
			px_refuse(p, c, 502, "nothing answers on envd's port in the sandbox");
		return;
	}
	/* All of it was Hearth's line: nothing for the parser (n 0 there would be the end). */
	if (c->resp_done || (buf && !n))
		return;
	used = http_parser_execute(&c->resp, &resp_settings, buf, n);
	if (HTTP_PARSER_ERRNO(&c->resp) != HPE_OK && HTTP_PARSER_ERRNO(&c->resp) != HPE_PAUSED) {
		/* The agent is guest code: a broken answer ends the exchange, never the server. */
		px_refuse(p, c, 502, "the sandbox's agent sent no valid HTTP answer");
		return;
	}
	if (used) {
		px_buf_put(&c->down, buf, used);
		c->resp_started = true;
	}
	if (!n && !c->resp_done) {
		/* The agent closed before its answer's end. */
		px_refuse(p, c, 502, "the sandbox's agent closed the connection");
		return;
	}
	if (c->resp_done && !c->req_done) {
		/* Answered early (an upload refused): the rest of the body is dropped, then the close. */
		c->close_after = true;
	}
}

void px_exchange_end(struct px *p, struct px_conn *c)
{
	if (c->ufd >= 0) {
		close(c->ufd);
		c->ufd = -1;
	}
	if (c->close_after || !c->req_done || !http_should_keep_alive(&c->req)) {
		c->state = PX_REFUSED;
		c->close_after = true;
		c->drain_left = PX_DRAIN_MAX;
		return;
	}
	c->state = PX_IDLE;
	c->headers_done = c->req_done = false;
	/* The next request's answer is its own: a refusal of it must still be written. */
	c->hs_done = c->resp_started = c->resp_done = false;
	c->up.off = c->up.len = 0;
	http_parser_pause(&c->req, 0);
}
