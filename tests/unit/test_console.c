#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/console.h"

#define CA 0x01 /* Ctrl-A */

static struct console con;
static uint8_t out[512];

static void reset(bool escape)
{
	memset(&con, 0, sizeof(con));
	con.in_fd = -1;
	con.notify_fd = -1;
	con.escape_enabled = escape;
	memset(out, 0xee, sizeof(out));
}

static size_t run(const void *in, size_t n, bool *quit)
{
	*quit = true; /* must be cleared by the filter */
	return console_filter(&con, in, n, out, quit);
}

static void test_plain_bytes(void **state)
{
	bool quit;
	size_t n;

	(void)state;
	reset(true);
	n = run("hello\r\n", 7, &quit);
	assert_false(quit);
	assert_int_equal(n, 7);
	assert_memory_equal(out, "hello\r\n", 7);
	/* Empty input. */
	n = run("", 0, &quit);
	assert_int_equal(n, 0);
	assert_false(quit);
	/* 'x' alone is just a letter; so are other control characters. */
	n = run("x\x03\x1b[A\x7f", 6, &quit);
	assert_false(quit);
	assert_int_equal(n, 6);
	assert_memory_equal(out, "x\x03\x1b[A\x7f", 6);
}

static void test_quit(void **state)
{
	const uint8_t in[] = { 'a', 'b', CA, 'x', 'c', 'd' };
	bool quit;
	size_t n;

	(void)state;
	reset(true);
	n = run(in, sizeof(in), &quit);
	assert_true(quit);
	/* Bytes before the escape still go to the guest; nothing after. */
	assert_int_equal(n, 2);
	assert_memory_equal(out, "ab", 2);
	assert_int_equal(out[2], 0xee);

	/* Capital X too, and at the very start. */
	reset(true);
	n = run("\x01X", 2, &quit);
	assert_true(quit);
	assert_int_equal(n, 0);
	assert_false(con.saw_escape);
}

static void test_double_escape(void **state)
{
	const uint8_t in[] = { 'a', CA, CA, 'b', CA, CA, CA, CA };
	bool quit;
	size_t n;

	(void)state;
	reset(true);
	n = run(in, sizeof(in), &quit);
	assert_false(quit);
	assert_int_equal(n, 5);
	assert_int_equal(out[0], 'a');
	assert_int_equal(out[1], CA);
	assert_int_equal(out[2], 'b');
	assert_int_equal(out[3], CA);
	assert_int_equal(out[4], CA);
	/* Ctrl-A Ctrl-A is complete: a following x is a plain x. */
	assert_false(con.saw_escape);
	n = run("x", 1, &quit);
	assert_false(quit);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 'x');
}

static void test_other_escape(void **state)
{
	const uint8_t in[] = { CA, 'c', CA, 'h', 'z' };
	bool quit;
	size_t n;

	(void)state;
	reset(true);
	n = run(in, sizeof(in), &quit);
	assert_false(quit);
	assert_int_equal(n, 5);
	assert_memory_equal(out, in, 5);
	/* An escape, an unknown key, then a real quit. */
	reset(true);
	n = run("\x01q\x01x", 4, &quit);
	assert_true(quit);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], CA);
	assert_int_equal(out[1], 'q');
}

static void test_split_across_calls(void **state)
{
	bool quit;
	size_t n;

	(void)state;
	/* Ctrl-A at the end of one read, x at the start of the next. */
	reset(true);
	n = run("ab\x01", 3, &quit);
	assert_false(quit);
	assert_int_equal(n, 2); /* the Ctrl-A is held back */
	assert_memory_equal(out, "ab", 2);
	assert_true(con.saw_escape);
	n = run("xyz", 3, &quit);
	assert_true(quit);
	assert_int_equal(n, 0);

	/* Ctrl-A | Ctrl-A -> one Ctrl-A. */
	reset(true);
	n = run("\x01", 1, &quit);
	assert_int_equal(n, 0);
	assert_false(quit);
	n = run("\x01" "b", 2, &quit);
	assert_false(quit);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], CA);
	assert_int_equal(out[1], 'b');

	/* Ctrl-A | other -> both, as typed. */
	reset(true);
	n = run("\x01", 1, &quit);
	assert_int_equal(n, 0);
	n = run("k", 1, &quit);
	assert_false(quit);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], CA);
	assert_int_equal(out[1], 'k');

	/* An empty read in between keeps the pending escape. */
	reset(true);
	run("\x01", 1, &quit);
	n = run("", 0, &quit);
	assert_int_equal(n, 0);
	assert_false(quit);
	n = run("x", 1, &quit);
	assert_true(quit);
}

static void test_escape_disabled(void **state)
{
	const uint8_t in[] = { 'a', CA, 'x', CA, CA, CA, 'q', 'X', CA };
	bool quit;
	size_t n;

	(void)state;
	reset(false);
	n = run(in, sizeof(in), &quit);
	assert_false(quit);
	assert_int_equal(n, sizeof(in));
	assert_memory_equal(out, in, sizeof(in));
	assert_false(con.saw_escape);
}

/*
 * Worst-case growth: a held Ctrl-A plus a read of unknown escapes may not
 * produce more than one byte per input byte plus one.
 */
static void test_output_bound(void **state)
{
	uint8_t in[128];
	bool quit;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (i & 1) ? 'z' : CA;
	reset(true);
	run("\x01", 1, &quit);
	n = run(in, sizeof(in), &quit);
	assert_false(quit);
	assert_true(n <= sizeof(in) + 1);
	/* Held Ctrl-A + Ctrl-A -> one; then "z", then Ctrl-A z pairs as typed. */
	assert_int_equal(n, sizeof(in));
	assert_int_equal(out[0], CA);
	assert_int_equal(out[1], 'z');
	assert_int_equal(out[2], CA);
	assert_int_equal(out[3], 'z');
	assert_int_equal(out[n], 0xee);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_bytes),
		cmocka_unit_test(test_quit),
		cmocka_unit_test(test_double_escape),
		cmocka_unit_test(test_other_escape),
		cmocka_unit_test(test_split_across_calls),
		cmocka_unit_test(test_escape_disabled),
		cmocka_unit_test(test_output_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
