/*
 * The sandbox server's key and its answers (src/sandboxd/api.c): a
 * request without X-API-Key, or with another key (shorter, longer, a
 * prefix, one byte off), is refused 401 at its headers naming why;
 * /health needs none; with the key, each refusal has E2B's status and a
 * message naming the fault: an unknown sandbox 404, a template that does
 * not exist 404, a malformed body 400, a known path's other method 405,
 * an endpoint Hearth does not serve 501.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandboxd/api.h"

static struct sbx *server(void)
{
	struct sbx *s = calloc(1, sizeof(*s));
	char dir[] = "/tmp/sbx-auth-XXXXXX";

	assert_non_null(mkdtemp(dir));
	strcpy(s->templates, dir);
	strcpy(s->key, "e2b_secret-key");
	s->key_len = strlen(s->key);
	s->cfg = (struct sbx_config){ .max_sandboxes = 4, .default_timeout_s = 300,
				      .max_timeout_s = 3600, .op_timeout_s = 5 };
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	return s;
}

static void server_free(struct sbx *s)
{
	rmdir(s->templates);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}

static void test_key_compare(void **state)
{
	struct sbx *s = server();

	assert_true(sbx_api_key_ok(s, "e2b_secret-key", 14));
	assert_false(sbx_api_key_ok(s, "e2b_secret-ke", 13));
	assert_false(sbx_api_key_ok(s, "e2b_secret-keyy", 15));
	assert_false(sbx_api_key_ok(s, "e2b_secret-kez", 14));
	assert_false(sbx_api_key_ok(s, "", 0));
	/* A server without a key takes none. */
	s->key_len = 0;
	assert_false(sbx_api_key_ok(s, "", 0));
	server_free(s);
}

/* The answer to method path (body, key) through the API's two stages. */
static unsigned int ask(struct sbx *s, const char *method, const char *path, const char *key,
			const char *body, char *msg, size_t len)
{
	struct httpd_header h[1] = { { .name = "X-API-Key", .value = (char *)key } };
	struct httpd_request r = { .method = method, .path = path, .headers = h,
				   .nheaders = key ? 1 : 0, .body = body,
				   .body_len = body ? strlen(body) : 0 };
	struct httpd_reply reply = { .status = 0 };
	json_t *o;

	if (!sbx_api_refuse(s, &r, &reply))
		sbx_api_handle(s, &r, &reply);
	msg[0] = '\0';
	o = reply.body ? json_loadb(reply.body, reply.body_len, 0, NULL) : NULL;
	if (reply.body_len) {
		/* Every error is E2B's {"code", "message"}, its code the status. */
		assert_non_null(o);
		if (reply.status >= 400) {
			assert_int_equal(json_integer_value(json_object_get(o, "code")), reply.status);
			snprintf(msg, len, "%s", json_string_value(json_object_get(o, "message")));
		}
	}
	json_decref(o);
	if (reply.body_owned)
		free((void *)reply.body);
	return reply.status;
}

static void test_refusals(void **state)
{
	struct sbx *s = server();
	char msg[512];

	assert_int_equal(ask(s, "GET", "/v2/sandboxes", NULL, NULL, msg, sizeof(msg)), 401);
	assert_non_null(strstr(msg, "X-API-Key header is missing"));
	assert_int_equal(ask(s, "POST", "/v2/sandboxes", "wrong", "{}", msg, sizeof(msg)), 401);
	assert_non_null(strstr(msg, "Invalid API key"));
	assert_int_equal(ask(s, "GET", "/health", NULL, NULL, msg, sizeof(msg)), 200);
	assert_int_equal(ask(s, "GET", "/v2/sandboxes", "e2b_secret-key", NULL, msg, sizeof(msg)),
			 200);
	assert_int_equal(ask(s, "GET", "/sandboxes/nosuch", "e2b_secret-key", NULL, msg,
			     sizeof(msg)), 404);
	assert_non_null(strstr(msg, "sandbox \"nosuch\" doesn't exist"));
	assert_int_equal(ask(s, "DELETE", "/sandboxes/nosuch", "e2b_secret-key", NULL, msg,
			     sizeof(msg)), 404);
	assert_int_equal(ask(s, "POST", "/sandboxes/nosuch/timeout", "e2b_secret-key",
			     "{\"timeout\":5}", msg, sizeof(msg)), 404);
	assert_int_equal(ask(s, "POST", "/sandboxes/nosuch/pause", "e2b_secret-key", NULL, msg,
			     sizeof(msg)), 404);
	assert_int_equal(ask(s, "POST", "/v2/sandboxes/nosuch/connect", "e2b_secret-key", "{}",
			     msg, sizeof(msg)), 404);
	assert_int_equal(ask(s, "POST", "/v2/sandboxes", "e2b_secret-key",
			     "{\"templateID\":\"nosuch\"}", msg, sizeof(msg)), 404);
	assert_non_null(strstr(msg, "template 'nosuch' not found"));
	assert_int_equal(ask(s, "POST", "/v2/sandboxes", "e2b_secret-key",
			     "{\"templateID\":\"../etc\"}", msg, sizeof(msg)), 404);
	assert_int_equal(ask(s, "POST", "/v2/sandboxes", "e2b_secret-key", "{\"templateID\":",
			     msg, sizeof(msg)), 400);
	assert_non_null(strstr(msg, "malformed JSON body"));
	assert_int_equal(ask(s, "POST", "/sandboxes/x/timeout", "e2b_secret-key", "{}", msg,
			     sizeof(msg)), 400);
	assert_non_null(strstr(msg, "timeout is required"));
	assert_int_equal(ask(s, "GET", "/sandboxes/x/pause", "e2b_secret-key", NULL, msg,
			     sizeof(msg)), 405);
	assert_int_equal(ask(s, "GET", "/nope", "e2b_secret-key", NULL, msg, sizeof(msg)), 404);
	assert_non_null(strstr(msg, "no such endpoint"));
	assert_int_equal(ask(s, "PUT", "/sandboxes/x/network", "e2b_secret-key", "{}", msg,
			     sizeof(msg)), 501);
	assert_non_null(strstr(msg, "not served"));
	server_free(s);
}

static void test_status_of(void **state)
{
	assert_int_equal(sbx_api_status(-ENOENT), 404);
	assert_int_equal(sbx_api_status(-EINVAL), 400);
	assert_int_equal(sbx_api_status(-EALREADY), 409);
	assert_int_equal(sbx_api_status(-EAGAIN), 429);
	assert_int_equal(sbx_api_status(-ETIMEDOUT), 504);
	assert_int_equal(sbx_api_status(-ECANCELED), 503);
	assert_int_equal(sbx_api_status(-EIO), 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_compare),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_status_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
