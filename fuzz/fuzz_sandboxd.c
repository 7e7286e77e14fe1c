/*
 * libFuzzer target for what the sandbox server (`hearth sandboxes`,
 * src/sandboxd) parses from its clients and from guests: byte 0 picks
 *   0: a route (method NUL path) and a query (what follows the next NUL):
 *      sbx_route_match, sbx_query_get for every parameter the list reads,
 *      and the list itself (sbx_api_list) over two sandboxes;
 *   1: a NewSandboxV2 body, then the same bytes as a fork, timeout and
 *      pause/connect body;
 *   2: a client's bytes on envd's endpoint, in pieces whose sizes come
 *      from the input, through the proxy's request parser and routing
 *      (no sandbox is running: each request is refused, or waits);
 *   3: an agent's answer through the proxy's response side, a request
 *      already routed;
 *   4: an agent's (or a VM API's) answer to the server's own requests
 *      (hc_exchange) over a socketpair.
 * Checked besides ASan/UBSan: a route's id is at most its bound and only
 * set with a path; a query value fits its buffer and is NUL-terminated;
 * every list answer is a JSON array; an accepted body has a template and
 * a timeout within the bounds; the proxy's buffers never pass their size,
 * a refusal queues an answer starting "HTTP/1.1 " (unless the answer had
 * begun) and closes; hc_exchange answers only with a status it parsed
 * and a body no longer than its bound.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sandboxd/api.h"
#include "sandboxd/api_json.h"
#include "sandboxd/hclient.h"
#include "sandboxd/proxy.h"
#include "sandboxd/router.h"

static struct sbx *server(void)
{
	static struct sbx s;
	static struct sbx_tpl tpl = { .id = "base", .vcpus = 1, .mem_mib = 128 };
	static bool ready;

	if (!ready) {
		struct sbx_box *b;

		s.cfg = (struct sbx_config){ .max_sandboxes = 8, .default_timeout_s = 300,
					     .max_timeout_s = 3600, .op_timeout_s = 1 };
		pthread_mutex_init(&s.lock, NULL);
		pthread_cond_init(&s.cond, NULL);
		/* Two paused sandboxes: no VM behind them, the list and the proxy see them. */
		for (int i = 0; i < 2; i++) {
			if (sbx_box_add(&s, &tpl, &b))
				abort();
			b->state = SBX_PAUSED;
			b->busy = false;
			b->metadata = json_pack("{s:s}", "k", i ? "a b" : "x");
			b->envs = json_object();
		}
		ready = true;
	}
	return &s;
}

static void fuzz_route(const char *d, size_t n)
{
	char buf[4096], v[SBX_QUERY_MAX];
	const char *method = buf, *path, *query;
	static const char *const names[] = { "state", "metadata", "template", "startedAfter",
					     "limit", "nextToken", "order" };
	struct httpd_reply reply = { 0 };
	struct httpd_request r;
	struct sbx_match m;
	json_t *o;

	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, d, n);
	buf[n] = '\0';
	path = buf + strlen(buf) + (strlen(buf) < n);
	query = path + strlen(path) + ((size_t)(path - buf) + strlen(path) < n);
	sbx_route_match(method, path, &m);
	if (strlen(m.id) > SBX_ROUTE_ID_MAX || (m.id[0] && m.route == SBX_R_NONE))
		abort();
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int got = sbx_query_get(query, names[i], v, sizeof(v));

		if (got >= (int)sizeof(v) || (got >= 0 && strlen(v) > (size_t)got))
			abort();
	}
	r = (struct httpd_request){ .method = "GET", .path = "/v2/sandboxes", .query = query };
	sbx_api_list(server(), &r, &reply);
	if (reply.status == 200) {
		o = json_loadb(reply.body, reply.body_len, 0, NULL);
		if (!json_is_array(o))
			abort();
		json_decref(o);
	}
	if (reply.body_owned)
		free((void *)reply.body);
}

static void fuzz_bodies(const char *d, size_t n)
{
	const struct sbx_config cfg = { .default_timeout_s = 300, .max_timeout_s = 3600 };
	struct sbx_create_req q;
	struct err e = ERR_INIT;
	unsigned int count, t;
	json_t *o;

	if (sbx_json_body(d, n, true, &o, &e))
		return;
	if (!sbx_json_new_sandbox(o, &cfg, &q, &e) &&
	    (!q.template_id || !*q.template_id || !q.timeout_s || q.timeout_s > 3600))
		abort();
	if (!sbx_json_fork_req(o, &cfg, &count, &t, &e) && (!count || count > 16 || t > 3600))
		abort();
	sbx_json_timeout(o, &cfg, true, 0, &t, &e);
	sbx_json_memory(o, &e);
	json_decref(o);
}

static void check_conn(const struct px_conn *c)
{
	if (c->up.len > PX_BUF || c->down.len > PX_BUF || c->up.off > c->up.len ||
	    c->down.off > c->down.len || c->in_off > c->in_len || c->hs_len >= sizeof(c->hs))
		abort();
}

/* Feeds d to c's client side in pieces; each piece's size is the next byte. */
static void fuzz_client(const char *d, size_t n)
{
	struct px p = { .s = server(), .ep = -1 };
	struct px_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return;
	c->cfd = -1;
	px_conn_init(c);
	for (size_t pos = 0; pos < n && c->state != PX_REFUSED;) {
		size_t piece = (unsigned char)d[pos++] % 64 + 1;

		if (piece > n - pos)
			piece = n - pos;
		if (c->in_off == c->in_len) {
			memcpy(c->in, d + pos, piece);
			c->in_off = 0;
			c->in_len = piece;
			pos += piece;
		}
		px_client_parse(&p, c);
		check_conn(c);
		/* Nothing was routed (no sandbox runs): a finished head is refused, never forwarded. */
		if (c->ufd >= 0)
			abort();
		if (c->state == PX_REFUSED && c->down.len && memcmp(c->down.d, "HTTP/1.1 ", 9))
			abort();
		/* The proxy's up buffer drains as the agent reads; here nobody does. */
		c->up.off = c->up.len = 0;
	}
	free(c);
}

static void fuzz_answer(const char *d, size_t n)
{
	struct px p = { .s = server(), .ep = -1 };
	struct px_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return;
	c->cfd = -1;
	px_conn_init(c);
	c->state = PX_FORWARD;
	c->headers_done = true;
	c->req_head = n && (d[0] & 1);
	http_parser_init(&c->resp, HTTP_RESPONSE);
	c->resp.data = c;
	for (size_t pos = n ? 1 : 0; pos <= n && c->state == PX_FORWARD && !c->resp_done;) {
		size_t piece = pos < n ? (unsigned char)d[pos] % 128 + 1 : 0;

		pos += pos < n;
		if (piece > n - pos)
			piece = n - pos;
		/* A piece of 0 is the agent's close. */
		px_upstream_data(&p, c, piece ? d + pos : NULL, piece);
		pos += piece ? piece : 1;
		check_conn(c);
		c->down.off = c->down.len = 0;
	}
	free(c);
}

static void fuzz_hclient(const char *d, size_t n)
{
	struct err e = ERR_INIT;
	struct hc_reply r;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return;
	/* The answer is there before the request: the server's side reads it after sending. */
	if (n > 150000)
		n = 150000;
	if (send(sv[1], d, n, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
		shutdown(sv[1], SHUT_WR);
		if (!hc_exchange(sv[0], "GET", "/health", NULL, NULL, 0, 200, &r, &e)) {
			if (r.status < 100 || r.status > 999 || r.len > HC_MAX_BODY ||
			    strlen(r.body) > r.len)
				abort();
			hc_reply_free(&r);
		}
	}
	close(sv[0]);
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data + 1;

	if (!size)
		return 0;
	switch (data[0] % 5) {
	case 0: fuzz_route(d, size - 1); break;
	case 1: fuzz_bodies(d, size - 1); break;
	case 2: fuzz_client(d, size - 1); break;
	case 3: fuzz_answer(d, size - 1); break;
	default: fuzz_hclient(d, size - 1); break;
	}
	return 0;
}
