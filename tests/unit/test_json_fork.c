/*
 * The body of PUT /fork (api/json_fork.h), parsed as the template and the
 * zygote both parse it: the two shapes, "{i}" expanded in every string
 * (the MMDS contents' too), and hostile bodies (counts, paths, shared
 * files, wrong types) refused with a line naming the fault.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/json_fork.h"

#define DRIVE(p, ro) "{\"drive_id\": \"scratch\", \"path_on_host\": \"" p "\", " \
		     "\"is_read_only\": " ro "}"
#define PMEM(p, ro) "{\"id\": \"pm0\", \"path_on_host\": \"" p "\", \"read_only\": " ro "}"

static int parse(const char *body, struct fork_req *f, struct err *e)
{
	json_t *o = json_loads(body, 0, NULL);
	int ret;

	assert_non_null(o);
	ret = json_fork_parse(o, f, e);
	json_decref(o);
	return ret;
}

static void test_count_expands(void **state)
{
	struct err e = ERR_INIT;
	struct fork_req f;

	(void)state;
	assert_int_equal(parse("{\"count\": 3, \"template\": \"Paused\", \"resume\": false, "
			       "\"clone\": {\"api_sock\": \"c{i}.sock\", \"serial_out\": \"o{i}\", "
			       "\"drive_overrides\": [" DRIVE("d{i}.img", "false") "], "
			       "\"vsock_override\": {\"uds_path\": \"v{i}/s\"}, "
			       "\"mmds\": {\"ip\": \"10.0.0.{i}\", \"n\": 7}}}", &f, &e), 0);
	assert_int_equal(f.n, 3);
	assert_int_equal(f.template_state, 0);
	assert_false(f.resume);
	for (unsigned int i = 0; i < 3; i++) {
		char want[32];
		const struct fork_clone *c = &f.clones[i];

		snprintf(want, sizeof(want), "c%u.sock", i);
		assert_string_equal(c->api_sock, want);
		snprintf(want, sizeof(want), "o%u", i);
		assert_string_equal(c->serial_out, want);
		snprintf(want, sizeof(want), "d%u.img", i);
		assert_int_equal(c->load.n_drive_overrides, 1);
		assert_string_equal(c->load.drive_overrides[0].path_on_host, want);
		snprintf(want, sizeof(want), "v%u/s", i);
		assert_string_equal(c->load.vsock_uds_path, want);
		snprintf(want, sizeof(want), "10.0.0.%u", i);
		assert_string_equal(json_string_value(json_object_get(c->mmds, "ip")), want);
		assert_int_equal(json_integer_value(json_object_get(c->mmds, "n")), 7);
	}
	json_fork_release(&f);
}

static void test_list_and_defaults(void **state)
{
	struct err e = ERR_INIT;
	struct fork_req f;

	(void)state;
	/* The list's strings are each clone's own: "{i}" is kept. */
	assert_int_equal(parse("{\"clones\": [{\"api_sock\": \"a{i}.sock\"}, "
			       "{\"api_sock\": \"b.sock\"}]}", &f, &e), 0);
	assert_int_equal(f.n, 2);
	assert_int_equal(f.template_state, -1);
	assert_true(f.resume);
	assert_string_equal(f.clones[0].api_sock, "a{i}.sock");
	assert_null(f.clones[0].serial_out);
	assert_null(f.clones[1].mmds);
	json_fork_release(&f);
}

static void test_hostile(void **state)
{
	static const char *const bad[][2] = {
		{ "{\"count\": 0, \"clone\": {\"api_sock\": \"c{i}\"}}", "from 1 to 1000" },
		{ "{\"count\": 1001, \"clone\": {\"api_sock\": \"c{i}\"}}", "from 1 to 1000" },
		{ "{\"count\": 4294967297, \"clone\": {\"api_sock\": \"c{i}\"}}", "count" },
		{ "{\"count\": -1, \"clone\": {\"api_sock\": \"c{i}\"}}", "count" },
		{ "{\"clone\": {\"api_sock\": \"c{i}\"}}", "clone needs count" },
		{ "{\"count\": 1}", "give clone (with count) or clones" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": \"c\"}, \"clones\": []}",
		  "one of them" },
		{ "{\"count\": 3, \"clones\": [{\"api_sock\": \"a\"}]}", "is not the 1 clones" },
		{ "{\"clones\": []}", "from 1 to 1000" },
		{ "{\"count\": 1, \"clone\": {}}", "api_sock" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": \"/tmp/c\"}}", "relative" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": \"\"}}", "relative" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": \"a/../../c\"}}", "no '..'" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": \"..\"}}", "no '..'" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": \"c\", \"serial_out\": \"../o\"}}",
		  "serial_out" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": \"c\", \"drive_overrides\": ["
		  DRIVE("/etc/passwd", "true") "]}}", "drive_overrides path_on_host" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": \"c\", \"vsock_override\": "
		  "{\"uds_path\": \"../v\"}}}", "vsock_override uds_path" },
		{ "{\"count\": 2, \"clone\": {\"api_sock\": \"c\"}}", "have one api_sock" },
		{ "{\"count\": 2, \"clone\": {\"api_sock\": \"c{i}\", \"vsock_override\": "
		  "{\"uds_path\": \"v\"}}}", "have one vsock uds_path" },
		{ "{\"count\": 2, \"clone\": {\"api_sock\": \"c{i}\", \"drive_overrides\": ["
		  DRIVE("d.img", "false") "]}}", "share the drive image" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": \"c\", \"mmds\": [1]}}",
		  "MMDS contents" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": \"c\", \"mac\": \"x\"}}", "mac" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": 5}}", "api_sock" },
		{ "{\"count\": 1, \"template\": \"Stopped\", \"clone\": {\"api_sock\": \"c\"}}",
		  "template" },
		{ "{\"count\": 1, \"clones\": 3}", "clones" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err e = ERR_INIT;
		struct fork_req f;

		if (parse(bad[i][0], &f, &e) == 0)
			fail_msg("accepted: %s", bad[i][0]);
		if (!e.usage || !strstr(e.msg, bad[i][1]))
			fail_msg("%s: want '%s' (usage), got '%s' (usage %d)", bad[i][0], bad[i][1],
				 e.msg, e.usage);
		assert_int_equal(f.n, 0);
		assert_null(f.clones);
	}
}

/* Two read-only clones may share an image; one writable and one not may not. */
static void test_shared_read_only(void **state)
{
	struct err e = ERR_INIT;
	struct fork_req f;

	(void)state;
	assert_int_equal(parse("{\"count\": 2, \"clone\": {\"api_sock\": \"c{i}\", "
			       "\"drive_overrides\": [" DRIVE("base.img", "true") "]}}", &f, &e), 0);
	json_fork_release(&f);
	assert_int_not_equal(parse("{\"clones\": [{\"api_sock\": \"a\", \"drive_overrides\": ["
				   DRIVE("base.img", "true") "]}, {\"api_sock\": \"b\", "
				   "\"drive_overrides\": [" DRIVE("base.img", "false") "]}]}",
				   &f, &e), 0);
	assert_non_null(strstr(e.msg, "share the drive image"));
}

/*
 * pmem (mapped shared: live memory between two clones) and serial_out kept
 * distinct as drives are (issue 62, F2), by the request's names; the
 * zygote checks the files themselves (run_fork_test.py's "distinct").
 */
static void test_distinct_files(void **state)
{
	static const char *const bad[][2] = {
		{ "{\"count\": 2, \"clone\": {\"api_sock\": \"c{i}\", \"pmem_overrides\": ["
		  PMEM("p.img", "false") "]}}", "share the pmem file 'p.img', writable" },
		{ "{\"clones\": [{\"api_sock\": \"a\", \"pmem_overrides\": [" PMEM("p", "true")
		  "]}, {\"api_sock\": \"b\", \"pmem_overrides\": [" PMEM("p", "false") "]}]}",
		  "share the pmem file 'p'" },
		{ "{\"clones\": [{\"api_sock\": \"a\", \"drive_overrides\": [" DRIVE("x", "false")
		  "]}, {\"api_sock\": \"b\", \"pmem_overrides\": [" PMEM("x", "true") "]}]}",
		  "share 'x', as a drive image and as a pmem file" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": \"a\", \"drive_overrides\": ["
		  DRIVE("x", "false") "], \"pmem_overrides\": [" PMEM("x", "false") "]}}",
		  "clone 0 has 'x' as its drive image and its pmem file" },
		{ "{\"count\": 2, \"clone\": {\"api_sock\": \"c{i}\", \"serial_out\": \"o\"}}",
		  "have one serial_out" },
		{ "{\"clones\": [{\"api_sock\": \"a\", \"serial_out\": \"d1.img\"}, "
		  "{\"api_sock\": \"b\", \"drive_overrides\": [" DRIVE("d1.img", "false") "]}]}",
		  "clone 0's serial_out 'd1.img' is clone 1's drive image" },
		{ "{\"clones\": [{\"api_sock\": \"a\", \"pmem_overrides\": [" PMEM("p", "true")
		  "]}, {\"api_sock\": \"b\", \"serial_out\": \"p\"}]}",
		  "clone 1's serial_out 'p' is clone 0's pmem file" },
		{ "{\"count\": 1, \"clone\": {\"api_sock\": \"a\", \"serial_out\": \"d\", "
		  "\"drive_overrides\": [" DRIVE("d", "true") "]}}",
		  "clone 0's serial_out 'd' is clone 0's drive image" },
	};
	struct err e = ERR_INIT;
	struct fork_req f;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = (struct err)ERR_INIT;
		if (parse(bad[i][0], &f, &e) == 0)
			fail_msg("accepted: %s", bad[i][0]);
		if (!e.usage || !strstr(e.msg, bad[i][1]))
			fail_msg("%s: want '%s' (usage), got '%s'", bad[i][0], bad[i][1], e.msg);
	}
	/* A read-only pmem file may be every clone's, as a read-only drive image may. */
	assert_int_equal(parse("{\"count\": 3, \"clone\": {\"api_sock\": \"c{i}\", "
			       "\"serial_out\": \"o{i}\", \"pmem_overrides\": [" PMEM("base.img", "true")
			       "], \"drive_overrides\": [" DRIVE("base.img", "true") "]}}", &f, &e), 0);
	json_fork_release(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_count_expands),
		cmocka_unit_test(test_list_and_defaults),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_shared_read_only),
		cmocka_unit_test(test_distinct_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
