/*
 * Firecracker's request line (api/request_log.c): the words its tooling
 * reads ("received a Put request on \"/machine-config\" with body"), the
 * body quoted as Rust's Debug quotes a string, and what stays out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "api/request_log.h"

static const char *describe(const char *method, const char *path, const char *body, bool debug)
{
	static char out[512];

	api_request_describe(out, sizeof(out), method, path, body, body ? strlen(body) : 0,
			     debug);
	return out;
}

static void test_words(void **state)
{
	(void)state;
	/* As Firecracker's own tests expect them (test_api_requests_logs). */
	assert_string_equal(describe("GET", "/machine-config", NULL, false),
			    "Get request on \"/machine-config\"");
	assert_string_equal(describe("PUT", "/machine-config", "{\"vcpu_count\": 2}", false),
			    "Put request on \"/machine-config\" with body \"{\\\"vcpu_count\\\": 2}\"");
	assert_string_equal(describe("PATCH", "/vm", "{\"state\":\"Paused\"}", false),
			    "Patch request on \"/vm\" with body \"{\\\"state\\\":\\\"Paused\\\"}\"");
	assert_string_equal(describe("DELETE", "/drives/x", NULL, false),
			    "Delete request on \"/drives/x\"");
	/* The guest's metadata never goes to the log. */
	assert_string_equal(describe("PUT", "/mmds", "{\"secret\":1}", true),
			    "Put request on \"/mmds\"");
	/* A CPU template only at Debug. */
	assert_string_equal(describe("PUT", "/cpu-config", "{}", false),
			    "Put request on \"/cpu-config\". To view the CPU template received by "
			    "the API, configure log-level to DEBUG");
	assert_string_equal(describe("PUT", "/cpu-config", "{}", true),
			    "Put request on \"/cpu-config\" with body \"{}\"");
}

static void test_quoting(void **state)
{
	(void)state;
	/* Rust's Debug for a str: \n \r \t \\ \0 and \u{..} for other controls; UTF-8 kept. */
	assert_string_equal(describe("PUT", "/a", "x\n\r\t\\\x01\x7f\xc3\xa9", false),
			    "Put request on \"/a\" with body \"x\\n\\r\\t\\\\\\u{1}\\u{7f}\xc3\xa9\"");
	/* Not UTF-8: Firecracker's words. */
	assert_string_equal(describe("PUT", "/a", "\xff\xfe", false),
			    "Put request on \"/a\" with body \"inconvertible to UTF-8\"");
	assert_string_equal(describe("PUT", "/a", "\xc0\x80", false),
			    "Put request on \"/a\" with body \"inconvertible to UTF-8\"");
	/* A path quoted too. */
	assert_string_equal(describe("GET", "/a\"b", NULL, false), "Get request on \"/a\\\"b\"");
}

static void test_cut_short(void **state)
{
	char out[24], big[4096];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	api_request_describe(out, sizeof(out), "PUT", "/drives/rootfs", big, strlen(big), false);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_int_equal(strncmp(out, "Put request on \"/drives", 23), 0);
	api_request_describe(out, 1, "PUT", "/x", big, strlen(big), false);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_cut_short),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
