/* The shared option parser: both sets of rules, and what each refusal is called. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/opt.h"

struct t_opts {
	const char *name;
	const char *path;
	bool flag;
	bool help;
	int verbose;
	const char *eq;
	int eq_calls;
};

static int t_eq(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct t_opts *t = ctx;

	t->eq = val;
	t->eq_calls++;
	return val && !strcmp(val, "bad") ? err_set(e, true, -EINVAL, "%s: bad", o->name) : 0;
}

static const struct opt t_table[] = {
	OPT_STRING("--name", struct t_opts, name),
	OPT_STRING("--path", struct t_opts, path),
	OPT_FLAG("--flag", struct t_opts, flag),
	OPT_SET("-v", struct t_opts, verbose, 1),
	OPT_SET("-q", struct t_opts, verbose, -1),
	OPT_CALL("--eq", OPT_EQ, t_eq),
	OPT_CALL("--maybe", OPT_MAYBE, t_eq),
	OPT_REFUSED("--old", OPT_VALUE, "gone"),
	{ .name = "--only2", .kind = OPT_TRUE, .modes = 2,
	  .off = OPT_FIELD(struct t_opts, flag, bool) },
	{ .name = "--help", .kind = OPT_TRUE, .stop = true,
	  .off = OPT_FIELD(struct t_opts, help, bool) },
	OPT_END,
};

static int t_fault(const struct opt_cmd *cmd, enum opt_fault f, const char *arg,
		   const struct opt *o, struct err *e)
{
	static const char *const names[] = { "unknown", "unexpected", "needs-value", "no-value",
					     "refused" };

	return err_set(e, true, -EINVAL, "%s %s%s%s", names[f], arg, o ? " " : "",
		       o ? o->name : "");
}

static struct t_opts t;
static struct err err;

static int parse(bool gnu, unsigned int mode, int argc, const char **argv)
{
	const struct opt_cmd cmd = { "t", t_table, mode, gnu, t_fault };

	memset(&t, 0, sizeof(t));
	memset(&err, 0, sizeof(err));
	return opt_parse(&cmd, argc, (char **)argv, 1, &t, &err);
}

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define PARSE(gnu, ...)                                                      \
	({                                                                   \
		const char *argv_[] = { "cmd", __VA_ARGS__ };                \
		parse(gnu, 1, ARGC(argv_), argv_);                           \
	})

static void test_plain(void **state)
{
	(void)state;
	assert_int_equal(PARSE(false, "--name", "a", "--path=b", "--flag", "-q", "--eq"), 0);
	assert_string_equal(t.name, "a");
	assert_string_equal(t.path, "b");
	assert_true(t.flag);
	assert_int_equal(t.verbose, -1);
	assert_null(t.eq);
	assert_int_equal(t.eq_calls, 1);
	assert_int_equal(PARSE(false, "--eq=x", "--name", "--flag"), 0);
	assert_string_equal(t.eq, "x");
	assert_string_equal(t.name, "--flag");   /* a value is the next argument, whatever it is */
	assert_false(t.flag);
	assert_int_equal(PARSE(false, "--eq", "x"), -EINVAL);
	assert_string_equal(err.msg, "unexpected x");
	assert_int_equal(PARSE(false, "--na", "a"), -EINVAL);
	assert_string_equal(err.msg, "unknown --na");
	assert_int_equal(PARSE(false, "-vq"), -EINVAL);
	assert_string_equal(err.msg, "unexpected -vq");
	assert_int_equal(PARSE(false, "--flag=1"), -EINVAL);
	assert_string_equal(err.msg, "no-value --flag=1 --flag");
	assert_int_equal(PARSE(false, "--name"), -EINVAL);
	assert_string_equal(err.msg, "needs-value --name --name");
	assert_int_equal(PARSE(false, "--old=x"), -EINVAL);
	assert_string_equal(err.msg, "refused --old=x --old");
	assert_int_equal(PARSE(false, "--eq=bad", "--help"), -EINVAL);
	assert_string_equal(err.msg, "--eq: bad");
	/* Nothing after a stop is looked at. */
	assert_int_equal(PARSE(false, "--help", "--bogus"), 0);
	assert_true(t.help);
	assert_int_equal(PARSE(false, "--", "x"), -EINVAL);
	assert_string_equal(err.msg, "unknown --");
}

static void test_modes(void **state)
{
	const char *argv[] = { "cmd", "--only2" };

	(void)state;
	assert_int_equal(parse(false, 1, 2, argv), -EINVAL);
	assert_string_equal(err.msg, "unknown --only2");
	assert_int_equal(parse(false, 2, 2, argv), 0);
	assert_true(t.flag);
	/* Entries without modes are every mode's. */
	assert_int_equal(PARSE(false, "--flag"), 0);
}

static void test_gnu(void **state)
{
	(void)state;
	/* Prefixes that name one option, grouped short flags. */
	assert_int_equal(PARSE(true, "--na", "a", "--p=b", "--fl", "-vq"), 0);
	assert_string_equal(t.name, "a");
	assert_string_equal(t.path, "b");
	assert_true(t.flag);
	assert_int_equal(t.verbose, -1);
	/* An exact name wins over the longer names it begins. */
	assert_int_equal(PARSE(true, "--eq"), 0);
	assert_int_equal(t.eq_calls, 1);
	/* "--o" begins --old and --only2 (mode 1 leaves --only2 out). */
	assert_int_equal(PARSE(true, "--o", "x"), -EINVAL);
	assert_string_equal(err.msg, "refused --o --old");
	assert_int_equal(PARSE(true, "--h"), 0);
	assert_true(t.help);
	assert_int_equal(PARSE(true, "--", "--help"), -EINVAL);
	assert_string_equal(err.msg, "unexpected --help");
	/* Not options: passed over, the first refused once every option was taken. */
	assert_int_equal(PARSE(true, "x", "--name", "a", "y"), -EINVAL);
	assert_string_equal(err.msg, "unexpected x");
	assert_string_equal(t.name, "a");
	assert_int_equal(PARSE(true, "x", "--bogus"), -EINVAL);
	assert_string_equal(err.msg, "unknown --bogus");
	assert_int_equal(PARSE(true, "-", "--help"), 0);
	assert_int_equal(PARSE(true, "-vx"), -EINVAL);
	assert_string_equal(err.msg, "unknown -vx");
}

static void test_ambiguous(void **state)
{
	static const struct opt two[] = {
		OPT_FLAG("--no-seccomp", struct t_opts, flag),
		OPT_FLAG("--no-sandbox", struct t_opts, help),
		OPT_END,
	};
	const struct opt_cmd cmd = { "t", two, 0, true, t_fault };
	const char *argv[] = { "cmd", "--no-s" };
	const char *argv2[] = { "cmd", "--no-sa" };

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(opt_parse(&cmd, 2, (char **)argv, 1, &t, &err), -EINVAL);
	assert_string_equal(err.msg, "unknown --no-s");
	assert_int_equal(opt_parse(&cmd, 2, (char **)argv2, 1, &t, &err), 0);
	assert_true(t.help);
}

/* OPT_MAYBE: alone, =VALUE, or the next argument unless it is an option (plain rules only). */
static void test_maybe(void **state)
{
	(void)state;
	assert_int_equal(PARSE(false, "--maybe"), 0);
	assert_null(t.eq);
	assert_int_equal(t.eq_calls, 1);
	assert_int_equal(PARSE(false, "--maybe=port=1"), 0);
	assert_string_equal(t.eq, "port=1");
	assert_int_equal(PARSE(false, "--maybe", "port=2", "--flag"), 0);
	assert_string_equal(t.eq, "port=2");
	assert_true(t.flag);
	/* An option after it is not its value. */
	assert_int_equal(PARSE(false, "--maybe", "--flag"), 0);
	assert_null(t.eq);
	assert_true(t.flag);
	assert_int_equal(PARSE(false, "--maybe", "bad"), -EINVAL);
	assert_string_equal(err.msg, "--maybe: bad");
	/* getopt's rules pass arguments over: never taken as the value. */
	assert_int_equal(PARSE(true, "--maybe", "port=3"), -EINVAL);
	assert_null(t.eq);
	assert_string_equal(err.msg, "unexpected port=3");
}

static void test_numbers(void **state)
{
	uint64_t v = 42;

	(void)state;
	assert_int_equal(opt_parse_num("0x1F", 0xff, &v), 0);
	assert_int_equal(v, 0x1f);
	assert_int_equal(opt_parse_num("31", 0xff, &v), 0);
	assert_int_equal(v, 31);
	assert_int_equal(opt_parse_num("0x100", 0xff, &v), -ERANGE);
	assert_int_equal(opt_parse_num("0x", 0xff, &v), -EINVAL);
	assert_int_equal(opt_parse_num("0xg", 0xff, &v), -EINVAL);
	assert_int_equal(opt_parse_num("256", 0xff, &v), -ERANGE);
	assert_int_equal(v, 31);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_gnu),
		cmocka_unit_test(test_ambiguous),
		cmocka_unit_test(test_maybe),
		cmocka_unit_test(test_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
