/*
 * E2B's JSON in the sandbox server (src/sandboxd/api_json.c): a
 * NewSandboxV2 body as the SDK 2.51 sends it is taken whole; a body that
 * is not JSON, not an object, misses templateID, has a field of the wrong
 * type, an unknown field or an option Hearth does not serve is refused
 * with -EINVAL and a message naming it; timeouts are bounded; the
 * answers have E2B's keys, types and dates; an error is {"code",
 * "message"}.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sandboxd/api_json.h"

static const struct sbx_config cfg = { .default_timeout_s = 300, .max_timeout_s = 3600 };

/* Parses body as NewSandboxV2: 0 with q, or -errno with the message in msg. */
static int parse(const char *body, struct sbx_create_req *q, char *msg, json_t **keep)
{
	struct err e = ERR_INIT;
	json_t *o;
	int ret = sbx_json_body(body, strlen(body), false, &o, &e);

	if (!ret)
		ret = sbx_json_new_sandbox(o, &cfg, q, &e);
	strcpy(msg, e.msg);
	*keep = ret ? (json_decref(o), NULL) : o;
	if (ret)
		assert_true(e.usage);
	return ret;
}

static void refused(const char *body, const char *words)
{
	struct sbx_create_req q;
	char msg[ERR_MSG_MAX];
	json_t *o;

	if (parse(body, &q, msg, &o) != -EINVAL || !strstr(msg, words))
		fail_msg("%s: want -EINVAL naming '%s', got '%s'", body, words, msg);
}

static void test_sdk_body(void **state)
{
	/* What Sandbox.create('base', {envs, metadata, timeoutMs}) sends (undefined keys absent). */
	const char *body = "{\"templateID\":\"base\",\"metadata\":{\"suite\":\"hearth\"},"
			   "\"envVars\":{\"FOO\":\"bar\"},\"timeout\":120}";
	struct sbx_create_req q;
	char msg[ERR_MSG_MAX];
	json_t *o;

	assert_int_equal(parse(body, &q, msg, &o), 0);
	assert_string_equal(q.template_id, "base");
	assert_int_equal(q.timeout_s, 120);
	assert_string_equal(json_string_value(json_object_get(q.metadata, "suite")), "hearth");
	assert_string_equal(json_string_value(json_object_get(q.envs, "FOO")), "bar");
	assert_false(q.auto_pause);
	json_decref(o);
	/* The defaults, and onTimeout 'pause' (autoPause) with null fields. */
	assert_int_equal(parse("{\"templateID\":\"t\",\"autoPause\":true,\"metadata\":null,"
			       "\"secure\":true,\"autoPauseMemory\":true,\"network\":null}",
			       &q, msg, &o), 0);
	assert_int_equal(q.timeout_s, 300);
	assert_true(q.auto_pause);
	assert_null(q.metadata);
	json_decref(o);
}

static void test_refusals(void **state)
{
	refused("", "body is missing");
	refused("{\"templateID\":", "malformed JSON body");
	refused("{\"templateID\":\"a\"} x", "malformed JSON body");
	refused("[1]", "want a JSON object");
	refused("{}", "templateID is required");
	refused("{\"templateID\":5}", "templateID");
	refused("{\"templateID\":\"\"}", "templateID");
	refused("{\"templateID\":\"a\",\"bogus\":1}", "unknown field 'bogus'");
	refused("{\"templateID\":\"a\",\"timeout\":0}", "timeout 0");
	refused("{\"templateID\":\"a\",\"timeout\":3601}", "timeout 3601");
	refused("{\"templateID\":\"a\",\"timeout\":\"5\"}", "timeout");
	refused("{\"templateID\":\"a\",\"metadata\":[]}", "metadata");
	refused("{\"templateID\":\"a\",\"metadata\":{\"k\":1}}", "metadata.k");
	refused("{\"templateID\":\"a\",\"envVars\":{\"\":\"x\"}}", "envVars");
	refused("{\"templateID\":\"a\",\"autoPause\":\"yes\"}", "autoPause");
	refused("{\"templateID\":\"a\",\"network\":{\"allowOut\":[]}}", "network");
	refused("{\"templateID\":\"a\",\"volumeMounts\":[]}", "volumeMounts");
	refused("{\"templateID\":\"a\",\"autoResume\":{\"enabled\":true}}", "autoResume");
	refused("{\"templateID\":\"a\",\"autoPauseMemory\":false}", "autoPauseMemory");
	refused("{\"templateID\":\"a\",\"allow_internet_access\":true}", "no network");
	refused("{\"templateID\":\"a\",\"templateID\":\"b\"}", "malformed JSON body");
}

static void test_bounds(void **state)
{
	char big[SBX_MAX_KV * 16 + 64];
	size_t n = 0;

	/* One more entry than the server keeps. */
	n += (size_t)sprintf(big + n, "{\"templateID\":\"a\",\"metadata\":{");
	for (int i = 0; i <= SBX_MAX_KV; i++)
		n += (size_t)sprintf(big + n, "%s\"k%d\":\"v\"", i ? "," : "", i);
	sprintf(big + n, "}}");
	refused(big, "at most");
}

static void test_other_bodies(void **state)
{
	struct err e = ERR_INIT;
	unsigned int count, t;
	json_t *o;

	assert_int_equal(sbx_json_body(NULL, 0, true, &o, &e), 0);
	assert_int_equal(sbx_json_fork_req(o, &cfg, &count, &t, &e), 0);
	assert_int_equal(count, 1);
	assert_int_equal(t, 300);
	assert_int_equal(sbx_json_memory(o, &e), 0);
	json_decref(o);
	o = json_pack("{s:i, s:i}", "count", 17, "timeout", 5);
	assert_int_equal(sbx_json_fork_req(o, &cfg, &count, &t, &e), -EINVAL);
	json_decref(o);
	o = json_pack("{s:b}", "memory", 0);
	assert_int_equal(sbx_json_memory(o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "memory"));
	json_decref(o);
	o = json_object();
	assert_int_equal(sbx_json_timeout(o, &cfg, true, 0, &t, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "timeout is required"));
	json_decref(o);
}

static struct sbx_tpl tpl = { .id = "base", .vcpus = 2, .mem_mib = 512,
			      .disk_bytes = 300ull << 20 };

static void test_answers(void **state)
{
	struct sbx_box b = { .id = "i7x5h9ttwrlelu5dss0r", .token = "00ff", .tpl = &tpl,
			     .state = SBX_PAUSED, .started_ms = 1700000000123,
			     .end_ms = 1700000300123 };
	json_t *o;
	char date[32], *js;

	b.metadata = json_pack("{s:s}", "k", "v");
	sbx_json_date(1700000000123, date);
	assert_string_equal(date, "2023-11-14T22:13:20.123Z");
	o = sbx_json_sandbox(&b);
	assert_string_equal(json_string_value(json_object_get(o, "sandboxID")), b.id);
	assert_string_equal(json_string_value(json_object_get(o, "templateID")), "base");
	assert_string_equal(json_string_value(json_object_get(o, "envdVersion")), "0.5.7");
	assert_string_equal(json_string_value(json_object_get(o, "envdAccessToken")), "00ff");
	assert_true(json_is_null(json_object_get(o, "domain")));
	json_decref(o);
	o = sbx_json_detail(&b);
	assert_string_equal(json_string_value(json_object_get(o, "state")), "paused");
	assert_string_equal(json_string_value(json_object_get(o, "startedAt")),
			    "2023-11-14T22:13:20.123Z");
	assert_string_equal(json_string_value(json_object_get(o, "endAt")),
			    "2023-11-14T22:18:20.123Z");
	assert_int_equal(json_integer_value(json_object_get(o, "cpuCount")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "memoryMB")), 512);
	assert_int_equal(json_integer_value(json_object_get(o, "diskSizeMB")), 300);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "metadata"),
							      "k")), "v");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "lifecycle"),
							      "onTimeout")), "kill");
	json_decref(o);
	b.state = SBX_RUNNING;
	o = sbx_json_listed(&b);
	assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
	assert_null(json_object_get(o, "envdAccessToken"));
	json_decref(o);
	js = sbx_json_error(404, "sandbox \"x\" doesn't exist");
	assert_string_equal(js, "{\"code\":404,\"message\":\"sandbox \\\"x\\\" doesn't exist\"}");
	free(js);
	json_decref(b.metadata);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sdk_body),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_other_bodies),
		cmocka_unit_test(test_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
