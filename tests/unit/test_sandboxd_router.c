/*
 * The sandbox server's routes (src/sandboxd/router.c): every E2B endpoint
 * the SDK calls reaches its route with the sandbox id out of its path; a
 * known path with another method is told apart from an unknown path; ids
 * are bounded; the query's parameters are found and percent-decoded, and
 * a bad escape or a value too long for its buffer is refused. And
 * util/httpd's query, which the list's filters read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandboxd/router.h"
#include "util/httpd.h"

static void expect_route(const char *method, const char *path, enum sbx_route route,
			 bool method_ok, const char *id)
{
	struct sbx_match m;

	sbx_route_match(method, path, &m);
	if (m.route != route || m.method_ok != method_ok || strcmp(m.id, id))
		fail_msg("%s %s: route %d (want %d), method_ok %d (want %d), id '%s' (want '%s')",
			 method, path, m.route, route, m.method_ok, method_ok, m.id, id);
}

static void test_sdk_endpoints(void **state)
{
	expect_route("POST", "/v2/sandboxes", SBX_R_CREATE, true, "");
	expect_route("GET", "/v2/sandboxes", SBX_R_LIST, true, "");
	expect_route("GET", "/sandboxes/abc123", SBX_R_GET, true, "abc123");
	expect_route("DELETE", "/sandboxes/abc123", SBX_R_KILL, true, "abc123");
	expect_route("POST", "/sandboxes/abc123/timeout", SBX_R_TIMEOUT, true, "abc123");
	expect_route("POST", "/sandboxes/abc123/pause", SBX_R_PAUSE, true, "abc123");
	expect_route("POST", "/sandboxes/abc123/fork", SBX_R_FORK, true, "abc123");
	expect_route("POST", "/sandboxes/abc123/snapshots", SBX_R_SNAPSHOT, true, "abc123");
	expect_route("POST", "/v2/sandboxes/abc123/connect", SBX_R_CONNECT, true, "abc123");
	expect_route("POST", "/sandboxes/abc123/resume", SBX_R_CONNECT, true, "abc123");
	expect_route("GET", "/sandboxes/abc123/metrics", SBX_R_METRICS, true, "abc123");
	expect_route("POST", "/sandboxes/abc123/refreshes", SBX_R_REFRESH, true, "abc123");
	expect_route("GET", "/health", SBX_R_HEALTH, true, "");
	/* A trailing slash is the same path. */
	expect_route("GET", "/sandboxes/abc123/", SBX_R_GET, true, "abc123");
}

static void test_unknown_and_wrong_method(void **state)
{
	expect_route("GET", "/nope", SBX_R_NONE, false, "");
	expect_route("GET", "/", SBX_R_NONE, false, "");
	expect_route("GET", "/sandboxes/a/b/c", SBX_R_NONE, false, "");
	expect_route("GET", "/sandboxes//pause", SBX_R_NONE, false, "");
	/* Known path, other method: 405, not 404. */
	expect_route("PUT", "/sandboxes/abc/pause", SBX_R_PAUSE, false, "abc");
	expect_route("PATCH", "/v2/sandboxes", SBX_R_LIST, false, "");
	/* E2B endpoints Hearth does not serve are named as such. */
	expect_route("PUT", "/sandboxes/abc/network", SBX_R_UNSERVED, true, "abc");
	expect_route("GET", "/sandboxes/metrics", SBX_R_UNSERVED, true, "");
	expect_route("GET", "/snapshots", SBX_R_UNSERVED, true, "");
}

static void test_id_bounds(void **state)
{
	char path[256], id[SBX_ROUTE_ID_MAX + 2];

	memset(id, 'a', SBX_ROUTE_ID_MAX);
	id[SBX_ROUTE_ID_MAX] = '\0';
	snprintf(path, sizeof(path), "/sandboxes/%s/pause", id);
	expect_route("POST", path, SBX_R_PAUSE, true, id);
	strcat(id, "a");
	snprintf(path, sizeof(path), "/sandboxes/%s/pause", id);
	expect_route("POST", path, SBX_R_NONE, false, "");
}

static void test_query(void **state)
{
	char v[64];

	assert_int_equal(sbx_query_get("state=running,paused&limit=5", "limit", v, sizeof(v)), 1);
	assert_string_equal(v, "5");
	assert_int_equal(sbx_query_get("state=running%2Cpaused", "state", v, sizeof(v)), 14);
	assert_string_equal(v, "running,paused");
	assert_int_equal(sbx_query_get("a=x+y&b", "a", v, sizeof(v)), 3);
	assert_string_equal(v, "x y");
	/* A key without a value is present and empty; an absent one is -1. */
	assert_int_equal(sbx_query_get("a=1&b", "b", v, sizeof(v)), 0);
	assert_int_equal(sbx_query_get("a=1", "c", v, sizeof(v)), -1);
	assert_int_equal(sbx_query_get(NULL, "c", v, sizeof(v)), -1);
	/* The first of two; keys are decoded too. */
	assert_int_equal(sbx_query_get("k%65y=1&key=2", "key", v, sizeof(v)), 1);
	assert_string_equal(v, "1");
	/* Bad escapes and values too long are refused, never cut. */
	assert_int_equal(sbx_query_get("a=%zz", "a", v, sizeof(v)), -1);
	assert_int_equal(sbx_query_get("a=%4", "a", v, sizeof(v)), -1);
	assert_int_equal(sbx_query_get("a=0123456789", "a", v, 8), -1);
	assert_int_equal(sbx_url_decode("%41%42", 6, v, sizeof(v)), 2);
	assert_string_equal(v, "AB");
	assert_int_equal(sbx_url_decode("%", 1, v, sizeof(v)), -1);
}

/* util/httpd hands the query apart from the path (the list's filters are in it). */
static const char *seen_query;
static char seen_path[64], seen_q[64];

static void on_request(void *opaque, const struct httpd_request *r, struct httpd_reply *reply)
{
	snprintf(seen_path, sizeof(seen_path), "%s", r->path);
	snprintf(seen_q, sizeof(seen_q), "%s", r->query ? r->query : "(none)");
	seen_query = r->query;
	reply->status = 204;
}

static const struct httpd_ops ops = { .on_request = on_request };

static void one_request(const char *target)
{
	const struct httpd_config cfg = { .idle_timeout_s = 5, .max_body = 1024 };
	struct httpd *h;
	char req[256], buf[256];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(httpd_create(&h, &cfg, &ops, NULL), 0);
	assert_int_equal(httpd_add(h, sv[0]), 0);
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
	assert_int_equal(write(sv[1], req, strlen(req)), (ssize_t)strlen(req));
	seen_path[0] = seen_q[0] = '\0';
	for (int i = 0; i < 10 && !seen_path[0]; i++)
		httpd_run(h);
	assert_true(read(sv[1], buf, sizeof(buf)) > 0);
	httpd_destroy(h);
	close(sv[1]);
}

static void test_httpd_query(void **state)
{
	one_request("/v2/sandboxes?state=running&limit=2");
	assert_string_equal(seen_path, "/v2/sandboxes");
	assert_string_equal(seen_q, "state=running&limit=2");
	one_request("/v2/sandboxes");
	assert_string_equal(seen_q, "(none)");
	one_request("/a?b=1#frag");
	assert_string_equal(seen_path, "/a");
	assert_string_equal(seen_q, "b=1");
	one_request("/a#frag?x");
	assert_string_equal(seen_path, "/a");
	assert_string_equal(seen_q, "(none)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sdk_endpoints),
		cmocka_unit_test(test_unknown_and_wrong_method),
		cmocka_unit_test(test_id_bounds),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_httpd_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
