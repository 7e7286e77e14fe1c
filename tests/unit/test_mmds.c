/*
 * The MMDS store and the guest's responder (src/mmds/mmds*.c), against
 * Firecracker 1.16's behaviour: PUT/PATCH/GET and the size limit; GET's
 * IMDS text and JSON by Accept and imds_compat; V1 and V2 tokens, their
 * TTL bounds and expiry by the clock given; X-Forwarded-For; the
 * statuses and words of every refusal.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mmds/mmds.h"
#include "mmds/mmds_priv.h"

#define S 1000000000ull
/* A literal's bytes, without its NUL. */
#define PUT(m, lit, e) mmds_put(m, lit, sizeof(lit) - 1, e)
#define PATCH(m, lit, e) mmds_patch(m, lit, sizeof(lit) - 1, e)

static const char doc[] = "{\"name\":{\"first\":\"John\",\"second\":\"Doe\"},\"age\":43,"
			  "\"phones\":{\"home\":{\"UK\":\"+44\",\"RO\":\"+40\"},\"mobile\":\"+442\"},"
			  "\"list\":[\"a\",\"b\"],\"a/b\":\"slash\",\"t~\":\"tilde\"}";

static struct mmds *fresh(size_t limit)
{
	struct mmds *m = NULL;

	assert_int_equal(mmds_new(limit, &m), 0);
	return m;
}

static struct mmds *filled(void)
{
	struct err e = ERR_INIT;
	struct mmds *m = fresh(51200);

	assert_int_equal(mmds_put(m, doc, strlen(doc), &e), 0);
	return m;
}

struct answer {
	unsigned int status;
	char type[32];
	char body[2048];
};

static struct answer ask(struct mmds *m, const char *method, const char *path, const char *accept,
			 const char *token, const char *ttl, bool fwd, uint64_t now)
{
	struct mmds_request req = { .method = method, .path = path, .accept = accept,
				    .token = token, .ttl = ttl, .forwarded = fwd };
	struct mmds_response r;
	struct answer a = { 0 };

	mmds_respond(m, &req, now, &r);
	a.status = r.status;
	assert_non_null(r.content_type);
	strcpy(a.type, r.content_type);
	assert_true(r.body_len < sizeof(a.body));
	if (r.body)
		memcpy(a.body, r.body, r.body_len);
	assert_int_equal(strlen(a.body), r.body_len);
	free(r.body);
	return a;
}

#define GET(m, path, accept) ask(m, "GET", path, accept, NULL, NULL, false, 1 * S)

static void expect(struct answer a, unsigned int status, const char *type, const char *body)
{
	assert_int_equal(a.status, status);
	assert_string_equal(a.type, type);
	assert_string_equal(a.body, body);
}

static void test_store_put_get_patch(void **state)
{
	struct err e = ERR_INIT;
	struct mmds *m = fresh(51200);
	char *s;

	(void)state;
	/* Never PUT: GET /mmds is {}, and PATCH is refused in Firecracker's words. */
	s = mmds_get(m);
	assert_string_equal(s, "{}");
	free(s);
	assert_int_equal(PATCH(m, "{\"a\":1}", &e), -EINVAL);
	assert_true(e.usage);
	assert_string_equal(e.msg, "MMDS error: The MMDS data store is not initialized.");

	/* Compact, keys sorted: serde_json's text. */
	assert_int_equal(PUT(m, "{ \"b\" : 1, \"a\" : {\"y\":[1, 2], \"x\":\"\xc3\xa9/\"} }", &e), 0);
	s = mmds_get(m);
	assert_string_equal(s, "{\"a\":{\"x\":\"\xc3\xa9/\",\"y\":[1,2]},\"b\":1}");
	free(s);

	/* RFC 7396: null deletes, objects merge, anything else replaces. */
	assert_int_equal(PATCH(m, "{\"a\":{\"x\":null,\"z\":{\"q\":null,\"r\":true}},\"b\":[3],"
				    "\"c\":\"new\"}", &e), 0);
	s = mmds_get(m);
	assert_string_equal(s, "{\"a\":{\"y\":[1,2],\"z\":{\"r\":true}},\"b\":[3],\"c\":\"new\"}");
	free(s);
	/* A patch that is not an object replaces the whole document. */
	assert_int_equal(PATCH(m, "\"just text\"", &e), 0);
	s = mmds_get(m);
	assert_string_equal(s, "\"just text\"");
	free(s);
	assert_int_equal(PATCH(m, "{\"k\":{\"n\":null}}", &e), 0);
	s = mmds_get(m);
	assert_string_equal(s, "{\"k\":{}}");
	free(s);
	/* A null document reads as {}, as Firecracker's. */
	assert_int_equal(PUT(m, "null", &e), 0);
	s = mmds_get(m);
	assert_string_equal(s, "{}");
	free(s);

	/* Not JSON: refused, the store unchanged. */
	assert_int_equal(PUT(m, "{\"x\":1}", &e), 0);
	assert_int_equal(PUT(m, "{\"x\":", &e), -EINVAL);
	assert_true(e.usage);
	assert_non_null(strstr(e.msg, "not JSON"));
	assert_int_equal(PATCH(m, "", &e), -EINVAL);
	s = mmds_get(m);
	assert_string_equal(s, "{\"x\":1}");
	free(s);
	mmds_free(m);
}

static void test_store_size_limit(void **state)
{
	struct err e = ERR_INIT;
	struct mmds *m = fresh(15);
	char *s;

	(void)state;
	/* The compact text counts, not the body's: 15 bytes exactly fit. */
	assert_int_equal(PUT(m, "{ \"a\" : \"1234567\" }", &e), 0);
	assert_int_equal(PUT(m, "{\"a\":\"12345678\"}", &e), -EFBIG);
	assert_true(e.usage);
	assert_string_equal(e.msg, "MMDS limit exceeded error: The MMDS patch request doesn't fit.");
	/* A PATCH whose result would not fit is refused whole. */
	assert_int_equal(PATCH(m, "{\"b\":1}", &e), -EFBIG);
	assert_int_equal(PATCH(m, "{\"a\":\"1\",\"b\":1}", &e), 0);
	s = mmds_get(m);
	assert_string_equal(s, "{\"a\":\"1\",\"b\":1}");
	free(s);
	mmds_free(m);
}

static void test_get_imds_and_json(void **state)
{
	struct mmds *m = filled();

	(void)state;
	/* No Accept, text/plain, or any other: IMDS text, keys sorted, a slash after objects. */
	expect(GET(m, "/", NULL), 200, "text/plain", "a/b\nage\nlist\nname/\nphones/\nt~");
	expect(GET(m, "/", "*/*"), 200, "text/plain", "a/b\nage\nlist\nname/\nphones/\nt~");
	expect(GET(m, "/phones", "text/plain"), 200, "text/plain", "home/\nmobile");
	expect(GET(m, "/phones/", NULL), 200, "text/plain", "home/\nmobile");
	expect(GET(m, "/name/first", NULL), 200, "text/plain", "John");
	/* Collapsed slashes, and a query ignored. */
	expect(GET(m, "//phones///home//RO?x=1", NULL), 200, "text/plain", "+40");
	/* JSON pointer escapes and array indexes. */
	expect(GET(m, "/a~1b", NULL), 200, "text/plain", "slash");
	expect(GET(m, "/t~0", NULL), 200, "text/plain", "tilde");
	expect(GET(m, "/list/1", NULL), 200, "text/plain", "b");
	/* Only objects and strings have IMDS text. */
	expect(GET(m, "/age", NULL), 501, "text/plain",
	       "Cannot retrieve value. The value has an unsupported type.");
	expect(GET(m, "/list", NULL), 501, "text/plain",
	       "Cannot retrieve value. The value has an unsupported type.");

	/* Accept: application/json: the value's compact JSON. */
	expect(GET(m, "/name", "application/json"), 200, "application/json",
	       "{\"first\":\"John\",\"second\":\"Doe\"}");
	expect(GET(m, "/name/", "application/json"), 200, "application/json",
	       "{\"first\":\"John\",\"second\":\"Doe\"}");
	expect(GET(m, "/age", "application/json"), 200, "application/json", "43");
	expect(GET(m, "/list", "application/json"), 200, "application/json", "[\"a\",\"b\"]");
	expect(GET(m, "/name/first", "application/json"), 200, "application/json", "\"John\"");

	/* Not found names the path as asked (no query). */
	expect(GET(m, "/nope", NULL), 404, "text/plain", "Resource not found: /nope.");
	expect(GET(m, "/nope/", "application/json"), 404, "text/plain", "Resource not found: /nope/.");
	expect(GET(m, "/list/01", NULL), 404, "text/plain", "Resource not found: /list/01.");
	expect(GET(m, "/list/2", NULL), 404, "text/plain", "Resource not found: /list/2.");
	expect(GET(m, "/name/first/x?q", NULL), 404, "text/plain",
	       "Resource not found: /name/first/x.");
	/* An empty path is Firecracker's "Invalid URI.". */
	expect(GET(m, "", NULL), 400, "text/plain", "Invalid URI.");
	expect(GET(m, "?x", NULL), 400, "text/plain", "Invalid URI.");

	/* imds_compat: IMDS text whatever the Accept. */
	mmds_set_version(m, MMDS_V1, true);
	expect(GET(m, "/name", "application/json"), 200, "text/plain", "first\nsecond");
	expect(GET(m, "/age", "application/json"), 501, "text/plain",
	       "Cannot retrieve value. The value has an unsupported type.");
	mmds_free(m);
}

static void test_methods(void **state)
{
	struct mmds *m = filled();

	(void)state;
	for (int v = MMDS_V1; v <= MMDS_V2; v++) {
		mmds_set_version(m, (enum mmds_version)v, false);
		expect(ask(m, "PATCH", "/", NULL, NULL, NULL, false, S), 405, "text/plain",
		       "Not allowed HTTP method.");
		expect(ask(m, "POST", "/latest/api/token", NULL, NULL, "60", false, S), 405,
		       "text/plain", "Not allowed HTTP method.");
		expect(ask(m, "DELETE", "/", NULL, NULL, NULL, false, S), 405, "text/plain",
		       "Not allowed HTTP method.");
	}
	mmds_free(m);
}

static char *token(struct mmds *m, const char *ttl, uint64_t now)
{
	struct answer a = ask(m, "PUT", "/latest/api/token", NULL, NULL, ttl, false, now);

	assert_int_equal(a.status, 200);
	assert_string_equal(a.type, "text/plain");
	assert_int_equal(strlen(a.body), MMDS_TOKEN_LEN);
	return strdup(a.body);
}

/* Firecracker's mmds.rx_no_token and rx_invalid_token, as totals. */
static void expect_counts(struct mmds *m, uint64_t no_token, uint64_t invalid_token)
{
	uint64_t a = 99, b = 99;

	mmds_token_counts(m, &a, &b);
	assert_int_equal(a, no_token);
	assert_int_equal(b, invalid_token);
}

static void test_v2_tokens(void **state)
{
	struct mmds *m = filled();
	char *t1, *t2;

	(void)state;
	mmds_set_version(m, MMDS_V2, false);
	assert_int_equal(mmds_get_version(m), MMDS_V2);
	expect(GET(m, "/name/first", NULL), 401, "text/plain", "No MMDS token provided. Use "
	       "`X-metadata-token` or `X-aws-ec2-metadata-token` header to specify the session "
	       "token.");
	expect(ask(m, "GET", "/name/first", NULL, "bogus", NULL, false, S), 401, "text/plain",
	       "MMDS token not valid.");
	expect_counts(m, 1, 1);

	/* TTL bounds, 1 to 21600, and its parsing. */
	t1 = token(m, "1", 10 * S);
	t2 = token(m, "+21600", 10 * S);
	assert_string_not_equal(t1, t2);
	expect(ask(m, "PUT", "/latest/api/token", NULL, NULL, "0", false, S), 400, "text/plain",
	       "Invalid time to live value provided for token: 0. Please provide a value between "
	       "1 and 21600.");
	expect(ask(m, "PUT", "/latest/api/token", NULL, NULL, "21601", false, S), 400, "text/plain",
	       "Invalid time to live value provided for token: 21601. Please provide a value "
	       "between 1 and 21600.");
	expect(ask(m, "PUT", "/latest/api/token", NULL, NULL, "4294967296", false, S), 400,
	       "text/plain", "Invalid header. Reason: Invalid value. "
	       "Key:X-metadata-token-ttl-seconds; Value:4294967296");
	expect(ask(m, "PUT", "/latest/api/token", NULL, NULL, "-1", false, S), 400, "text/plain",
	       "Invalid header. Reason: Invalid value. Key:X-metadata-token-ttl-seconds; Value:-1");
	expect(ask(m, "PUT", "/latest/api/token", NULL, NULL, NULL, false, S), 400, "text/plain",
	       "Token time to live value not found. Use `X-metadata-token-ttl-seconds` or "
	       "`X-aws-ec2-metadata-token-ttl-seconds` header to specify the token's lifetime.");
	/* X-Forwarded-For on the token's PUT: refused before anything else. */
	expect(ask(m, "PUT", "/latest/api/token", NULL, NULL, "60", true, S), 400, "text/plain",
	       "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For");
	/* Only the token's path takes a PUT; collapsed slashes reach it. */
	expect(ask(m, "PUT", "/token", NULL, NULL, "60", false, S), 404, "text/plain",
	       "Resource not found: /token.");
	free(token(m, "60", S));
	{
		struct answer a = ask(m, "PUT", "//latest//api/token", NULL, NULL, "60", false, S);

		assert_int_equal(a.status, 200);
	}

	/* A token works until its expiry, by the clock given, and not at it. */
	expect(ask(m, "GET", "/name/first", NULL, t1, NULL, false, 10 * S), 200, "text/plain",
	       "John");
	expect(ask(m, "GET", "/name/first", NULL, t1, NULL, false, 11 * S - 1), 200, "text/plain",
	       "John");
	expect(ask(m, "GET", "/name/first", NULL, t1, NULL, false, 11 * S), 401, "text/plain",
	       "MMDS token not valid.");
	/* Expired is gone for good, even if the clock were to read earlier. */
	expect(ask(m, "GET", "/name/first", NULL, t1, NULL, false, 10 * S), 401, "text/plain",
	       "MMDS token not valid.");
	expect(ask(m, "GET", "/name", "application/json", t2, NULL, false, 21610 * S - 1), 200,
	       "application/json", "{\"first\":\"John\",\"second\":\"Doe\"}");
	expect(ask(m, "GET", "/name", NULL, t2, NULL, false, 21610 * S), 401, "text/plain",
	       "MMDS token not valid.");
	/* A V2 GET with a good token still meets 404s. */
	{
		char *t3 = token(m, "60", 100 * S);

		expect(ask(m, "GET", "/invalid", NULL, t3, NULL, false, 100 * S), 404, "text/plain",
		       "Resource not found: /invalid.");
		/* The prefix of a token, or a longer string around it, is not the token. */
		t3[20] = '\0';
		expect(ask(m, "GET", "/", NULL, t3, NULL, false, 100 * S), 401, "text/plain",
		       "MMDS token not valid.");
		free(t3);
	}
	free(t1);
	free(t2);
	mmds_free(m);
}

static void test_v1_tokens(void **state)
{
	struct mmds *m = filled();
	char *t;

	(void)state;
	/* V1: a GET without a token, or with a wrong one, is answered (Firecracker only counts it). */
	expect(GET(m, "/name/first", NULL), 200, "text/plain", "John");
	expect_counts(m, 1, 0);
	expect(ask(m, "GET", "/name/first", NULL, "INVALID", NULL, false, S), 200, "text/plain",
	       "John");
	expect_counts(m, 1, 1);
	/* V1 hands out tokens too, so a guest can move to V2's flow first. */
	t = token(m, "60", S);
	expect(ask(m, "GET", "/name/first", NULL, t, NULL, false, S), 200, "text/plain", "John");
	expect_counts(m, 1, 1);
	/* A token issued under V1 is good under V2. */
	mmds_set_version(m, MMDS_V2, false);
	expect(ask(m, "GET", "/name/first", NULL, t, NULL, false, 2 * S), 200, "text/plain", "John");
	free(t);
	mmds_free(m);
}

static void test_token_table_bounded(void **state)
{
	struct mmds *m = filled();
	char *first, *last = NULL;
	int live = 0;

	(void)state;
	mmds_set_version(m, MMDS_V2, false);
	/* The first token lives the shortest: the one a full table gives up first. */
	first = token(m, "1", S);
	for (int i = 0; i < MMDS_TOKENS_MAX + 10; i++) {
		free(last);
		last = token(m, "600", S);
	}
	for (int i = 0; i < MMDS_TOKENS_MAX; i++)
		live += m->tokens[i].text[0] != '\0';
	assert_int_equal(live, MMDS_TOKENS_MAX);
	expect(ask(m, "GET", "/name/first", NULL, first, NULL, false, S), 401, "text/plain",
	       "MMDS token not valid.");
	expect(ask(m, "GET", "/name/first", NULL, last, NULL, false, S), 200, "text/plain", "John");
	free(first);
	free(last);
	mmds_free(m);
}

static void test_uninitialized_store(void **state)
{
	struct mmds *m = fresh(100);

	(void)state;
	/* Never PUT: the document is null, as Firecracker's. */
	expect(GET(m, "/", "application/json"), 200, "application/json", "null");
	expect(GET(m, "/", NULL), 501, "text/plain",
	       "Cannot retrieve value. The value has an unsupported type.");
	expect(GET(m, "/x", NULL), 404, "text/plain", "Resource not found: /x.");
	mmds_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_put_get_patch),
		cmocka_unit_test(test_store_size_limit),
		cmocka_unit_test(test_get_imds_and_json),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_v2_tokens),
		cmocka_unit_test(test_v1_tokens),
		cmocka_unit_test(test_token_table_bounded),
		cmocka_unit_test(test_uninitialized_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
