/*
 * util/httpd.c over a socketpair: the client's bytes go in one end, the
 * server runs, and what comes out is compared byte for byte. Pipelined
 * requests are answered in order, one at a time; a request split in
 * single bytes is still one request; Expect: 100-continue; keep-alive by
 * version and Connection; oversized headers (431), bodies (counted, not
 * kept) and Content-Lengths (answered at the header, the rest drained);
 * garbage (400 and the close); a client that never reads stops being
 * read; a quiet connection is closed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/httpd.h"

struct rig {
	struct httpd *h;
	int client;
	unsigned int requests;
	unsigned int replied;
	char last_path[256];
	char last_body[256];
	size_t last_len;
	bool last_too_big;
	char last_hdr[64];
	unsigned long long refuse_over; /* on_headers: refuse a Content-Length past it */
};

static bool rig_on_headers(void *opaque, const struct httpd_request *r,
			   unsigned long long content_length, struct httpd_reply *reply)
{
	struct rig *g = opaque;

	if (!g->refuse_over || content_length <= g->refuse_over)
		return false;
	reply->status = 400;
	reply->body = "big";
	reply->body_len = 3;
	return true;
}

static void rig_on_request(void *opaque, const struct httpd_request *r, struct httpd_reply *reply)
{
	struct rig *g = opaque;
	const char *x = httpd_header(r, "x-test");

	g->requests++;
	snprintf(g->last_path, sizeof(g->last_path), "%s %s", r->method, r->path);
	snprintf(g->last_body, sizeof(g->last_body), "%s", r->body ? r->body : "");
	snprintf(g->last_hdr, sizeof(g->last_hdr), "%s", x ? x : "");
	g->last_len = r->body_len;
	g->last_too_big = r->body_too_big;
	reply->status = 200;
	if (!strcmp(r->path, "/big")) {
		/* Larger than any socket buffer: the reply goes out in pieces. */
		size_t n = 8u << 20;
		char *b = malloc(n);

		memset(b, 'b', n);
		reply->body = b;
		reply->body_len = n;
		reply->body_owned = true;
		return;
	}
	reply->content_type = "text/plain";
	reply->body = strdup(r->path);
	reply->body_len = strlen(r->path);
	reply->body_owned = true;
	reply->extra = "X-Extra: 1\r\n";
}

static void rig_on_replied(void *opaque)
{
	((struct rig *)opaque)->replied++;
}

static const struct httpd_ops rig_ops = {
	.on_headers = rig_on_headers,
	.on_request = rig_on_request,
	.on_replied = rig_on_replied,
};

static void rig_open(struct rig *g, unsigned int idle_s)
{
	struct httpd_config cfg = { .idle_timeout_s = idle_s, .max_body = 64 };
	int sv[2];

	memset(g, 0, sizeof(*g));
	assert_int_equal(httpd_create(&g->h, &cfg, &rig_ops, g), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(httpd_add(g->h, sv[0]), 0);
	g->client = sv[1];
	assert_int_equal(httpd_connections(g->h), 1);
}

static void rig_close(struct rig *g)
{
	close(g->client);
	httpd_destroy(g->h);
}

static void rig_send(struct rig *g, const char *s)
{
	assert_int_equal(send(g->client, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Runs the server until it has nothing left, then reads what it sent. */
static size_t rig_read(struct rig *g, char *buf, size_t cap)
{
	size_t got = 0;

	for (int i = 0; i < 8; i++)
		httpd_run(g->h);
	for (;;) {
		ssize_t n = recv(g->client, buf + got, cap - 1 - got, MSG_DONTWAIT);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

/* 1 when the server closed its end (EOF after what was read). */
static int rig_eof(struct rig *g)
{
	char c;

	httpd_run(g->h);
	return recv(g->client, &c, 1, MSG_DONTWAIT) == 0;
}

static void test_pipelined_in_order(void **state)
{
	struct rig g;
	char buf[2048];

	rig_open(&g, 30);
	rig_send(&g, "GET /a?q=1 HTTP/1.1\r\nX-Test: one\r\n\r\n"
		     "PUT /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
		     "GET /c HTTP/1.1\r\n\r\n");
	rig_read(&g, buf, sizeof(buf));
	assert_string_equal(buf,
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nX-Extra: 1\r\n\r\n/a"
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nX-Extra: 1\r\n\r\n/b"
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nX-Extra: 1\r\n\r\n/c");
	assert_int_equal(g.requests, 3);
	assert_int_equal(g.replied, 3);
	assert_string_equal(g.last_path, "GET /c");
	assert_false(rig_eof(&g));
	rig_close(&g);
}

static void test_split_bytes(void **state)
{
	const char *req = "PUT /split HTTP/1.1\r\nX-Test: v\r\nContent-Length: 3\r\n\r\nabc";
	struct rig g;
	char buf[512];

	rig_open(&g, 30);
	for (size_t i = 0; req[i]; i++) {
		char one[2] = { req[i], 0 };

		rig_send(&g, one);
		httpd_run(g.h);
	}
	rig_read(&g, buf, sizeof(buf));
	assert_int_equal(g.requests, 1);
	assert_string_equal(g.last_path, "PUT /split");
	assert_string_equal(g.last_body, "abc");
	assert_string_equal(g.last_hdr, "v");
	assert_non_null(strstr(buf, "\r\n\r\n/split"));
	rig_close(&g);
}

static void test_keep_alive_rules(void **state)
{
	struct rig g;
	char buf[512];

	rig_open(&g, 30);
	rig_send(&g, "GET /old HTTP/1.0\r\n\r\n");
	rig_read(&g, buf, sizeof(buf));
	assert_non_null(strstr(buf, "Connection: close\r\n"));
	assert_true(rig_eof(&g));
	assert_int_equal(httpd_connections(g.h), 0);
	rig_close(&g);

	rig_open(&g, 30);
	rig_send(&g, "GET /x HTTP/1.1\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n");
	rig_read(&g, buf, sizeof(buf));
	assert_int_equal(g.requests, 1);
	assert_true(rig_eof(&g));
	rig_close(&g);
}

static void test_expect_continue(void **state)
{
	struct rig g;
	char buf[512];

	rig_open(&g, 30);
	rig_send(&g, "PUT /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
	rig_read(&g, buf, sizeof(buf));
	assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
	assert_int_equal(g.requests, 0);
	rig_send(&g, "ok");
	rig_read(&g, buf, sizeof(buf));
	assert_int_equal(g.requests, 1);
	assert_string_equal(g.last_body, "ok");
	rig_close(&g);
}

static void test_body_past_limit_counted(void **state)
{
	struct rig g;
	char buf[512], req[512];

	rig_open(&g, 30);
	/* Chunked: no Content-Length to refuse at, so it is read, counted and dropped. */
	snprintf(req, sizeof(req), "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "50\r\n%080d\r\n0\r\n\r\n", 0);
	rig_send(&g, req);
	rig_read(&g, buf, sizeof(buf));
	assert_int_equal(g.requests, 1);
	assert_true(g.last_too_big);
	assert_int_equal(g.last_len, 80);
	assert_string_equal(g.last_body, "");
	assert_false(rig_eof(&g));
	rig_close(&g);
}

static void test_refused_at_headers(void **state)
{
	struct rig g;
	char buf[512];

	rig_open(&g, 30);
	g.refuse_over = 10;
	rig_send(&g, "PUT /r HTTP/1.1\r\nContent-Length: 100\r\n\r\nfirst-bytes");
	rig_read(&g, buf, sizeof(buf));
	assert_string_equal(buf, "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n"
				 "Connection: close\r\n\r\nbig");
	assert_int_equal(g.requests, 0);
	assert_int_equal(g.replied, 1);
	/* Its write side is shut, its read side still drains what the client sends. */
	rig_send(&g, "more body bytes");
	httpd_run(g.h);
	assert_int_equal(httpd_connections(g.h), 1);
	shutdown(g.client, SHUT_WR);
	httpd_run(g.h);
	assert_int_equal(httpd_connections(g.h), 0);
	rig_close(&g);
}

static void test_garbage_and_big_headers(void **state)
{
	struct rig g;
	char buf[512];
	char *big = malloc(20000);

	rig_open(&g, 30);
	rig_send(&g, "NOT HTTP AT ALL\r\n\r\n");
	rig_read(&g, buf, sizeof(buf));
	assert_memory_equal(buf, "HTTP/1.1 400 Bad Request\r\n", 26);
	assert_true(rig_eof(&g));
	assert_int_equal(g.requests, 0);
	rig_close(&g);

	rig_open(&g, 30);
	memset(big, 'a', 19999);
	big[19999] = '\0';
	rig_send(&g, "GET / HTTP/1.1\r\nX-Big: ");
	/* The socketpair's buffer may not take it at once: the server reads as it goes. */
	for (size_t off = 0; off < 19999;) {
		ssize_t n = send(g.client, big + off, 19999 - off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EPIPE)
			break;
		if (n > 0)
			off += (size_t)n;
		httpd_run(g.h);
	}
	rig_read(&g, buf, sizeof(buf));
	assert_memory_equal(buf, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46);
	assert_int_equal(g.requests, 0);
	free(big);
	rig_close(&g);
}

static void test_unread_replies_stop_reading(void **state)
{
	struct rig g;
	char buf[4096];
	size_t got = 0;

	rig_open(&g, 30);
	rig_send(&g, "GET /big HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n");
	for (int i = 0; i < 4; i++)
		httpd_run(g.h);
	/* The 8 MiB reply does not fit: the second request waits unread. */
	assert_int_equal(g.requests, 1);
	assert_true(httpd_timeout_ms(g.h) != 0);
	for (int i = 0; i < 100000 && g.requests < 2; i++) {
		ssize_t n = recv(g.client, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0)
			got += (size_t)n;
		httpd_run(g.h);
	}
	assert_int_equal(g.requests, 2);
	assert_string_equal(g.last_path, "GET /after");
	for (ssize_t n; (n = recv(g.client, buf, sizeof(buf), MSG_DONTWAIT)) > 0;)
		got += (size_t)n;
	assert_true(got > (8u << 20));
	rig_close(&g);
}

static void test_idle_closed(void **state)
{
	struct rig g;

	rig_open(&g, 0);
	assert_int_equal(httpd_timeout_ms(g.h), 0);
	httpd_run(g.h);
	assert_int_equal(httpd_connections(g.h), 0);
	assert_true(rig_eof(&g));
	rig_close(&g);

	rig_open(&g, 30);
	assert_true(httpd_timeout_ms(g.h) > 29000);
	httpd_run(g.h);
	assert_int_equal(httpd_connections(g.h), 1);
	rig_close(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_in_order),
		cmocka_unit_test(test_split_bytes),
		cmocka_unit_test(test_keep_alive_rules),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_body_past_limit_counted),
		cmocka_unit_test(test_refused_at_headers),
		cmocka_unit_test(test_garbage_and_big_headers),
		cmocka_unit_test(test_unread_replies_stop_reading),
		cmocka_unit_test(test_idle_closed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
