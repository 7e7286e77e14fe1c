/*
 * hearth-agent's HTTP face, forked on a Unix socket: /health; an unknown
 * route; POST /init setting the access token (then every route but
 * /health wants X-Access-Token, a Connect call answering unauthenticated
 * in Connect's shape), the env vars (GET /envs) and the default user; a
 * /init older than the last one changing nothing; a VM generation change
 * (SIGUSR1 here) holding every route but /health and /init until the
 * next /init; keep-alive; and what is refused: garbage (400), a wrong
 * Content-Type (415), malformed JSON and envelopes (invalid_argument),
 * compressed envelopes (unimplemented), an unknown field ignored.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "test_agent_rig.h"

static int setup(void **state)
{
	struct rig *g = calloc(1, sizeof(*g));

	rig_start(g, "root");
	*state = g;
	return 0;
}

static int teardown(void **state)
{
	rig_stop(*state);
	free(*state);
	return 0;
}

static void test_health_and_unknown(void **state)
{
	struct rig *g = *state;
	struct resp r;

	assert_int_equal(rig_do(g, "GET", "/health", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_int_equal(rig_do(g, "GET", "/nope", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 404);
	resp_free(&r);
	assert_int_equal(rig_do(g, "DELETE", "/files", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 405);
	resp_free(&r);
}

static void test_init_token_envs(void **state)
{
	struct rig *g = *state;
	const char *init = "{\"envVars\":{\"A\":\"1\",\"B\":\"two\"},\"accessToken\":\"s3cret\","
			   "\"timestamp\":\"2000-01-01T00:00:00Z\",\"defaultUser\":\"root\"}";
	char code[64];
	struct resp r;
	json_t *j;

	assert_int_equal(rig_do(g, "POST", "/init", "Content-Type: application/json\r\n", init,
				strlen(init), &r), 0);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	/* /health needs nothing; the rest the token. */
	assert_int_equal(rig_do(g, "GET", "/health", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_int_equal(rig_do(g, "GET", "/envs", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	assert_int_equal(rig_do(g, "GET", "/envs", "X-Access-Token: s3creT\r\n", NULL, 0, &r), 0);
	assert_int_equal(r.status, 401);
	resp_free(&r);
	assert_int_equal(rig_unary(g, "/process.Process/List", "{}", NULL, &r), 0);
	assert_int_equal(r.status, 401);
	assert_string_equal(err_code(&r, code, sizeof(code)), "unauthenticated");
	resp_free(&r);
	assert_int_equal(rig_do(g, "GET", "/envs", "X-Access-Token: s3cret\r\n", NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	j = json_loads(r.body, 0, NULL);
	assert_string_equal(jstr(j, 1, "A"), "1");
	assert_string_equal(jstr(j, 1, "B"), "two");
	assert_string_equal(jstr(j, 1, "E2B_SANDBOX"), "true");
	json_decref(j);
	resp_free(&r);
	/* An older /init changes nothing: the token stays. */
	init = "{\"accessToken\":\"other\",\"timestamp\":\"1999-01-01T00:00:00Z\"}";
	assert_int_equal(rig_do(g, "POST", "/init", "X-Access-Token: s3cret\r\n", init,
				strlen(init), &r), 0);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_int_equal(rig_do(g, "GET", "/envs", "X-Access-Token: s3cret\r\n", NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* A bad one is refused whole. */
	init = "{\"envVars\":{\"A\":1}}";
	assert_int_equal(rig_do(g, "POST", "/init", "X-Access-Token: s3cret\r\n", init,
				strlen(init), &r), 0);
	assert_int_equal(r.status, 400);
	resp_free(&r);
	/* A newer one without a token clears it. */
	init = "{\"timestamp\":\"2001-01-01T00:00:00.5+01:00\",\"envVars\":{}}";
	assert_int_equal(rig_do(g, "POST", "/init", "X-Access-Token: s3cret\r\n", init,
				strlen(init), &r), 0);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_int_equal(rig_do(g, "GET", "/envs", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	j = json_loads(r.body, 0, NULL);
	assert_null(jstr(j, 1, "A"));
	json_decref(j);
	resp_free(&r);
}

static void test_generation_change(void **state)
{
	struct rig *g = *state;
	const char *init = "{\"timestamp\":\"2030-01-01T00:00:00Z\"}";
	char code[64];
	struct resp r;

	kill(g->pid, SIGUSR1);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(rig_unary(g, "/process.Process/List", "{}", NULL, &r), 0);
		if (r.status == 503)
			break;
		resp_free(&r);
		usleep(10000);
	}
	assert_int_equal(r.status, 503);
	assert_string_equal(err_code(&r, code, sizeof(code)), "unavailable");
	resp_free(&r);
	assert_int_equal(rig_do(g, "GET", "/health", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_int_equal(rig_do(g, "POST", "/init", NULL, init, strlen(init), &r), 0);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	assert_int_equal(rig_unary(g, "/process.Process/List", "{}", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void test_keep_alive(void **state)
{
	struct rig *g = *state;
	int fd = rig_dial(g);
	struct resp r;

	/* Two requests written at once, answered in order on one connection. */
	rig_send(fd, "GET", "/health", NULL, NULL, 0);
	rig_send(fd, "POST", "/process.Process/List", "Content-Type: application/json\r\n", "{}", 2);
	resp_init(&r);
	assert_int_equal(resp_read(fd, &r, NULL, 0), 0);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	resp_init(&r);
	assert_int_equal(resp_read(fd, &r, NULL, 0), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"processes\":[]}");
	resp_free(&r);
	close(fd);
}

static void test_refusals(void **state)
{
	struct rig *g = *state;
	char code[64], hdr[128];
	struct resp r;
	size_t len;
	char *env;
	uint8_t flags[4];
	json_t *msgs[4] = { 0 };
	int fd;

	/* Not HTTP at all. */
	fd = rig_dial(g);
	assert_int_equal(send(fd, "\x01\x02garbage\r\n\r\n", 13, MSG_NOSIGNAL), 13);
	resp_init(&r);
	assert_int_equal(resp_read(fd, &r, NULL, 0), 0);
	assert_int_equal(r.status, 400);
	resp_free(&r);
	close(fd);
	/* A unary call in the wrong media type; a stream's in a unary's. */
	assert_int_equal(rig_do(g, "POST", "/filesystem.Filesystem/Stat",
				"Content-Type: application/proto\r\n", "{}", 2, &r), 0);
	assert_int_equal(r.status, 415);
	resp_free(&r);
	assert_int_equal(rig_do(g, "GET", "/filesystem.Filesystem/Stat", NULL, NULL, 0, &r), 0);
	assert_int_equal(r.status, 405);
	resp_free(&r);
	/* JSON that is not, or not an object, or a field of the wrong type. */
	assert_int_equal(rig_unary(g, "/filesystem.Filesystem/Stat", "{\"path\":", NULL, &r), 0);
	assert_int_equal(r.status, 400);
	assert_string_equal(err_code(&r, code, sizeof(code)), "invalid_argument");
	resp_free(&r);
	assert_int_equal(rig_unary(g, "/filesystem.Filesystem/Stat", "[1]", NULL, &r), 0);
	assert_string_equal(err_code(&r, code, sizeof(code)), "invalid_argument");
	resp_free(&r);
	assert_int_equal(rig_unary(g, "/filesystem.Filesystem/Stat", "{\"path\":7}", NULL, &r), 0);
	assert_string_equal(err_code(&r, code, sizeof(code)), "invalid_argument");
	resp_free(&r);
	assert_int_equal(rig_unary(g, "/filesystem.Filesystem/Stat", "{\"path\":\"a\\u0000b\"}",
				   NULL, &r), 0);
	assert_string_equal(err_code(&r, code, sizeof(code)), "invalid_argument");
	resp_free(&r);
	/* An unknown field is ignored, as connect-go does. */
	assert_int_equal(rig_unary(g, "/filesystem.Filesystem/Stat",
				   "{\"path\":\"/\",\"someday\":true}", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* A stream's refusals come in its end message. */
	snprintf(hdr, sizeof(hdr), "Content-Type: application/connect+json\r\n");
	assert_int_equal(rig_do(g, "POST", "/process.Process/Connect", hdr, "\0\0\0", 3, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(envelopes(&r, flags, msgs, 4), 1);
	assert_int_equal(flags[0], 2);
	assert_string_equal(jstr(msgs[0], 2, "error", "code"), "invalid_argument");
	json_decref(msgs[0]);
	resp_free(&r);
	env = rig_envelope("{\"process\":{\"pid\":1}}", 1, &len);
	assert_int_equal(rig_do(g, "POST", "/process.Process/Connect", hdr, env, len, &r), 0);
	free(env);
	assert_int_equal(envelopes(&r, flags, msgs, 4), 1);
	assert_string_equal(jstr(msgs[0], 2, "error", "code"), "unimplemented");
	json_decref(msgs[0]);
	resp_free(&r);
	env = rig_envelope("{\"process\":{\"pid\":4000000}}", 0, &len);
	env[4] = (char)(env[4] + 1);   /* a length past the body */
	assert_int_equal(rig_do(g, "POST", "/process.Process/Connect", hdr, env, len, &r), 0);
	free(env);
	assert_int_equal(envelopes(&r, flags, msgs, 4), 1);
	assert_string_equal(jstr(msgs[0], 2, "error", "code"), "invalid_argument");
	json_decref(msgs[0]);
	resp_free(&r);
	env = rig_envelope("{\"process\":{\"pid\":4000000}}", 0, &len);
	assert_int_equal(rig_do(g, "POST", "/process.Process/Connect", hdr, env, len, &r), 0);
	free(env);
	assert_int_equal(envelopes(&r, flags, msgs, 4), 1);
	assert_string_equal(jstr(msgs[0], 2, "error", "code"), "not_found");
	json_decref(msgs[0]);
	resp_free(&r);
	/* A Basic user that does not exist. */
	assert_int_equal(rig_unary(g, "/filesystem.Filesystem/Stat", "{\"path\":\"/\"}",
				   "Authorization: Basic bm9zdWNodXNlcjo=\r\n", &r), 0);
	assert_int_equal(r.status, 401);
	assert_string_equal(err_code(&r, code, sizeof(code)), "unauthenticated");
	resp_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_health_and_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_token_envs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generation_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
