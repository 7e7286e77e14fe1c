/* The error type: what err_set and err_prefix leave, and what they return. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/err.h"

static void test_set(void **state)
{
	struct err e = ERR_INIT;

	(void)state;
	assert_string_equal(e.msg, "");
	assert_false(e.usage);
	assert_int_equal(err_set(&e, true, -EINVAL, "--cpus '%s': %s", "0", "out of range"),
			 -EINVAL);
	assert_string_equal(e.msg, "--cpus '0': out of range");
	assert_true(e.usage);
	assert_int_equal(err_set(&e, false, -ENOMEM, "out of memory"), -ENOMEM);
	assert_false(e.usage);
	assert_string_equal(e.msg, "out of memory");
}

static void test_prefix(void **state)
{
	struct err e = ERR_INIT;

	(void)state;
	err_set(&e, true, -ENOENT, "No such file or directory");
	assert_int_equal(err_prefix(&e, -EINVAL, "--disk '%s': ", "a.img"), -EINVAL);
	assert_string_equal(e.msg, "--disk 'a.img': No such file or directory");
	assert_true(e.usage);
	err_prefix(&e, 0, "boot: ");
	assert_string_equal(e.msg, "boot: --disk 'a.img': No such file or directory");
}

/* Cut to fit, NUL-terminated, the prefix kept whole and the rest cut. */
static void test_cut(void **state)
{
	static char big[3 * ERR_MSG_MAX];
	struct err e;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	err_set(&e, false, -E2BIG, "%s", big);
	assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
	err_set(&e, false, -E2BIG, "tail");
	err_prefix(&e, -E2BIG, "%s", big);
	assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
	assert_null(strstr(e.msg, "tail"));
	err_set(&e, false, -E2BIG, "%s", big);
	err_prefix(&e, -E2BIG, "head: ");
	assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
	assert_memory_equal(e.msg, "head: xxx", 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
