/* The jailer's command line (src/jailer/args.c): its parser's rules and its words. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jailer/args.h"

/* A command line: name[] and its count name_n. */
#define ARGS(name, ...) \
	char *name[] = { "jailer", __VA_ARGS__, NULL }; \
	const int name##_n = (int)(sizeof(name) / sizeof(name[0])) - 1

/* Parses argv; expects msg ("": success) and returns with a filled (freed by the caller). */
static void parse_expect(char **argv, int argc, struct jailer_args *a, const char *msg)
{
	struct err e = ERR_INIT;
	int ret = jailer_args_parse(argc, argv, a, &e);

	if (!msg[0]) {
		assert_int_equal(ret, 0);
		return;
	}
	assert_int_equal(ret, -EINVAL);
	assert_true(e.usage);
	assert_string_equal(e.msg, msg);
}

static void refused(char **argv, int argc, const char *msg)
{
	struct jailer_args a;

	parse_expect(argv, argc, &a, msg);
	jailer_args_free(&a);
}

#define REFUSED(msg, ...) do { \
		ARGS(v_, __VA_ARGS__); \
		refused(v_, v__n, msg); \
	} while (0)

#define REQ "--id", "i", "--exec-file", "f", "--uid", "1", "--gid", "2"

static void test_full(void **state)
{
	ARGS(v, REQ, "--chroot-base-dir", "/b", "--netns", "/n", "--daemonize",
	     "--new-pid-ns", "--cgroup", "a.b=1", "--cgroup", "c.d=2", "--cgroup-version",
	     "2", "--parent-cgroup", "p/q", "--resource-limit", "fsize=5",
	     "--resource-limit", "no-file=7", "--", "--api-sock", "/s", "--");
	struct jailer_args a;

	(void)state;
	parse_expect(v, v_n, &a, "");
	assert_string_equal(a.id, "i");
	assert_string_equal(a.exec_file, "f");
	assert_string_equal(a.uid, "1");
	assert_string_equal(a.gid, "2");
	assert_string_equal(a.chroot_base, "/b");
	assert_string_equal(a.netns, "/n");
	assert_true(a.daemonize);
	assert_true(a.new_pid_ns);
	assert_int_equal(a.ncgroups, 2);
	assert_string_equal(a.cgroups[0], "a.b=1");
	assert_string_equal(a.cgroups[1], "c.d=2");
	assert_string_equal(a.cgroup_version, "2");
	assert_string_equal(a.parent_cgroup, "p/q");
	assert_int_equal(a.nrlimits, 2);
	/* Everything after the first "--" is the exec file's, a later "--" included. */
	assert_int_equal(a.nextra, 3);
	assert_string_equal(a.extra[0], "--api-sock");
	assert_string_equal(a.extra[2], "--");
	jailer_args_free(&a);
}

static void test_defaults(void **state)
{
	ARGS(v, REQ);
	struct jailer_args a;

	(void)state;
	parse_expect(v, v_n, &a, "");
	assert_string_equal(a.chroot_base, "/srv/jailer");
	assert_string_equal(a.cgroup_version, "1");
	assert_null(a.netns);
	assert_null(a.parent_cgroup);
	assert_false(a.daemonize);
	assert_false(a.new_pid_ns);
	assert_int_equal(a.ncgroups, 0);
	assert_int_equal(a.nextra, 0);
	jailer_args_free(&a);
}

static void test_refusals(void **state)
{
	(void)state;
	/* The required ones are checked in name order: exec-file, gid, id, uid. */
	REFUSED("Failed to parse arguments: Argument 'exec-file' required, but not found.",
		"--id", "x");
	REFUSED("Failed to parse arguments: Argument 'id' required, but not found.",
		"--exec-file", "f", "--uid", "1", "--gid", "1");
	REFUSED("Failed to parse arguments: Argument 'uid' required, but not found.",
		"--exec-file", "f", "--id", "1", "--gid", "1");
	REFUSED("Failed to parse arguments: Found argument 'bogus' which wasn't expected, or "
		"isn't valid in this context.", REQ, "--bogus");
	REFUSED("Failed to parse arguments: Found argument 'stray' which wasn't expected, or "
		"isn't valid in this context.", "stray", REQ);
	REFUSED("Failed to parse arguments: Found argument 'uid=1' which wasn't expected, or "
		"isn't valid in this context.", "--uid=1", "--id", "i");
	REFUSED("Failed to parse arguments: The argument 'uid' was provided more than once.",
		REQ, "--uid", "3");
	REFUSED("Failed to parse arguments: The argument 'new-pid-ns' was provided more than "
		"once.", REQ, "--new-pid-ns", "--new-pid-ns");
	REFUSED("Failed to parse arguments: The argument 'netns' requires a value, but none was "
		"supplied.", REQ, "--netns");
	REFUSED("Failed to parse arguments: The argument 'netns' requires a value, but none was "
		"supplied.", REQ, "--netns", "--daemonize");
	/* The value ends at "--": what follows is the exec file's. */
	REFUSED("Failed to parse arguments: The argument 'netns' requires a value, but none was "
		"supplied.", REQ, "--netns", "--", "x");
}

static void test_help_version(void **state)
{
	struct jailer_args a;
	ARGS(h, "--bogus", "-h");
	ARGS(v, "--id", "bad_id", "--version");
	ARGS(after, REQ, "--", "--help");

	(void)state;
	parse_expect(h, h_n, &a, "");
	assert_true(a.help);
	jailer_args_free(&a);
	parse_expect(v, v_n, &a, "");
	assert_true(a.version);
	assert_false(a.help);
	jailer_args_free(&a);
	parse_expect(after, after_n, &a, "");
	assert_false(a.help);
	assert_int_equal(a.nextra, 1);
	jailer_args_free(&a);
}

static void test_id(void **state)
{
	char long_id[80];
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(jailer_check_id("551e7604-e35c-42b3-b825-416853441234", &e), 0);
	assert_int_equal(jailer_check_id("12_3aa", &e), -EINVAL);
	assert_string_equal(e.msg, "Invalid instance ID: Invalid char (_) at position 2");
	assert_int_equal(jailer_check_id("", &e), -EINVAL);
	assert_string_equal(e.msg, "Invalid instance ID: Invalid len (0);  the length must be "
			    "between 1 and 64");
	memset(long_id, 'a', 65);
	long_id[65] = '\0';
	assert_int_equal(jailer_check_id(long_id, &e), -EINVAL);
	assert_string_equal(e.msg, "Invalid instance ID: Invalid len (65);  the length must be "
			    "between 1 and 64");
	long_id[64] = '\0';
	assert_int_equal(jailer_check_id(long_id, &e), 0);
}

static void test_numbers(void **state)
{
	struct jailer_args a = { .uid = "+7", .gid = "4294967295", .cgroup_version = "2" };
	struct err e = ERR_INIT;
	uint32_t uid, gid;
	unsigned int ver;

	(void)state;
	assert_int_equal(jailer_parse_ids(&a, &uid, &gid, &e), 0);
	assert_int_equal(uid, 7);
	assert_int_equal(gid, 4294967295u);
	a.gid = "4294967296";
	assert_int_equal(jailer_parse_ids(&a, &uid, &gid, &e), -EINVAL);
	assert_string_equal(e.msg, "Invalid gid: 4294967296");
	a.uid = "-1";
	assert_int_equal(jailer_parse_ids(&a, &uid, &gid, &e), -EINVAL);
	assert_string_equal(e.msg, "Invalid uid: -1");
	a.uid = "";
	assert_int_equal(jailer_parse_ids(&a, &uid, &gid, &e), -EINVAL);
	assert_int_equal(jailer_cgroup_version(&a, &ver, &e), 0);
	assert_int_equal(ver, 2);
	a.cgroup_version = "256";
	assert_int_equal(jailer_cgroup_version(&a, &ver, &e), -EINVAL);
	assert_string_equal(e.msg, "256 is an invalid cgroup version specifier");
}

static void test_paths(void **state)
{
	struct jailer_args a = { .parent_cgroup = NULL };
	struct err e = ERR_INIT;
	const char *p;

	(void)state;
	assert_true(jailer_relpath_ok("a/b"));
	assert_true(jailer_relpath_ok("a/./b"));    /* Rust drops a "." that is not first */
	assert_true(jailer_relpath_ok(".hidden"));
	assert_false(jailer_relpath_ok("/a"));
	assert_false(jailer_relpath_ok("./a"));
	assert_false(jailer_relpath_ok("."));
	assert_false(jailer_relpath_ok("a/../b"));
	assert_false(jailer_relpath_ok(".."));
	assert_int_equal(jailer_parent_cgroup(&a, "firecracker", &p, &e), 0);
	assert_string_equal(p, "firecracker");
	a.parent_cgroup = "../x";
	assert_int_equal(jailer_parent_cgroup(&a, "firecracker", &p, &e), -EINVAL);
	assert_string_equal(e.msg, "Parent cgroup path is invalid. Path should not be absolute "
			    "or contain '..' or '.'");
}

static void test_cgroup_values(void **state)
{
	struct err e = ERR_INIT;
	const char *value;
	char file[64], ctl[16];

	(void)state;
	assert_int_equal(jailer_cgroup_split("cpuset.cpus=0-3", file, sizeof(file), &value, &e), 0);
	assert_string_equal(file, "cpuset.cpus");
	assert_string_equal(value, "0-3");
	assert_int_equal(jailer_cgroup_controller(file, ctl, sizeof(ctl), &e), 0);
	assert_string_equal(ctl, "cpuset");
	assert_int_equal(jailer_cgroup_split("pids.max", file, sizeof(file), &value, &e), -EINVAL);
	assert_string_equal(e.msg, "Invalid format for cgroups: pids.max");
	assert_int_equal(jailer_cgroup_split("pids.max=", file, sizeof(file), &value, &e),
			 -EINVAL);
	assert_string_equal(e.msg, "Invalid format for cgroups: pids.max=");
	assert_int_equal(jailer_cgroup_split("a=b=c", file, sizeof(file), &value, &e), -EINVAL);
	assert_string_equal(e.msg, "Invalid format for cgroups: a=b=c");
	assert_int_equal(jailer_cgroup_split("/pids.max=1", file, sizeof(file), &value, &e),
			 -EINVAL);
	assert_string_equal(e.msg, "Cgroup invalid file: /pids.max=1");
	assert_int_equal(jailer_cgroup_controller("nodot", ctl, sizeof(ctl), &e), -EINVAL);
	assert_string_equal(e.msg, "Cgroup invalid file: nodot");
}

static void test_rlimits(void **state)
{
	const char *ok[] = { "fsize=250000000", "no-file=1024", "no-file=99" };
	const char *bad[][2] = {
		{ "fsize", "Invalid format for resources limits: fsize" },
		{ "fsize=x1", "Invalid limit value for resource: x1: invalid digit found in string" },
		{ "fsize=", "Invalid limit value for resource: : cannot parse integer from empty "
			    "string" },
		{ "fsize=99999999999999999999", "Invalid limit value for resource: "
		  "99999999999999999999: number too large to fit in target type" },
		{ "cpu=1", "Invalid resource argument: cpu" },
		/* The value is read first: a bad one is named before a bad resource. */
		{ "cpu=x", "Invalid limit value for resource: x: invalid digit found in string" },
	};
	struct jailer_args a = { .rlimits = ok, .nrlimits = 3 };
	struct jailer_rlimits r;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(jailer_rlimits_parse(&a, &r, &e), 0);
	assert_true(r.have_fsize);
	assert_int_equal(r.fsize, 250000000);
	assert_int_equal(r.nofile, 99);
	a.nrlimits = 0;
	assert_int_equal(jailer_rlimits_parse(&a, &r, &e), 0);
	assert_false(r.have_fsize);
	assert_int_equal(r.nofile, 2048);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a.rlimits = &bad[i][0];
		a.nrlimits = 1;
		assert_int_equal(jailer_rlimits_parse(&a, &r, &e), -EINVAL);
		assert_string_equal(e.msg, bad[i][1]);
	}
}

static void test_help_text(void **state)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	(void)state;
	jailer_args_help(f);
	fclose(f);
	/* Padded to the longest name in each group, defaults quoted, as the jailer prints them. */
	assert_non_null(strstr(buf, "required arguments:\n  --exec-file <exec-file>   File path "
			       "to exec into.\n  --gid <gid>               "));
	assert_non_null(strstr(buf, "\n\noptional arguments:\n  --cgroup <cgroup>         "));
	assert_non_null(strstr(buf, "  --cgroup-version <cgroup-version>     Select the cgroup "
			       "version used by the jailer. [default: \"1\"]\n"));
	assert_non_null(strstr(buf, "  --help                                Show the help "
			       "message.\n"));
	free(buf);
}

/* Firecracker's jailer is a musl binary: its OS errors are musl's words. */
static void test_os_error_words(void **state)
{
	char b[96];

	(void)state;
	assert_string_equal(jailer_os_error(EMFILE, b, sizeof(b)),
			    "No file descriptors available (os error 24)");
	assert_string_equal(jailer_os_error(EEXIST, b, sizeof(b)), "File exists (os error 17)");
	assert_string_equal(jailer_os_error(ETXTBSY, b, sizeof(b)), "Text file busy (os error 26)");
	assert_string_equal(jailer_os_error(EBUSY, b, sizeof(b)), "Resource busy (os error 16)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_cgroup_values),
		cmocka_unit_test(test_rlimits),
		cmocka_unit_test(test_help_text),
		cmocka_unit_test(test_os_error_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
