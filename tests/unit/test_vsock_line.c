/* The hybrid vsock handshake lines: "CONNECT <port>\n" and "OK <port>\n". */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "virtio/vsock/line.h"

/* Parses s whole (no NUL) and returns the result, with *port / *used when 1. */
static int parse(const char *s, uint32_t *port, size_t *used)
{
	*port = 0xdeadbeef;
	*used = 0;
	return vsock_line_parse(s, strlen(s), "CONNECT", port, used);
}

static void test_good(void **state)
{
	uint32_t port;
	size_t used;

	(void)state;
	assert_int_equal(parse("CONNECT 5000\n", &port, &used), 1);
	assert_int_equal(port, 5000);
	assert_int_equal(used, 13);
	assert_int_equal(parse("CONNECT 0\n", &port, &used), 1);
	assert_int_equal(port, 0);
	assert_int_equal(parse("CONNECT 4294967295\n", &port, &used), 1);
	assert_int_equal(port, 4294967295u);
	assert_int_equal(parse("CONNECT \t 52 \r\n", &port, &used), 1);
	assert_int_equal(port, 52);
	assert_int_equal(used, 15);
	/* Leading zeros are digits like any other, within ten of them. */
	assert_int_equal(parse("CONNECT 0000000052\n", &port, &used), 1);
	assert_int_equal(port, 52);
}

static void test_data_after_line(void **state)
{
	uint32_t port;
	size_t used;

	(void)state;
	/* The client's first bytes follow at once: the line stops at its newline. */
	assert_int_equal(parse("CONNECT 7\nhello", &port, &used), 1);
	assert_int_equal(port, 7);
	assert_int_equal(used, 10);
	/* Even garbage past the limit does not matter once the line is whole. */
	assert_int_equal(parse("CONNECT 7\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", &port, &used),
			 1);
}

static void test_partial(void **state)
{
	const char *full = "CONNECT 1234 \r\n";
	uint32_t port;
	size_t used;

	(void)state;
	/* Every proper prefix of a good line asks for more. */
	for (size_t n = 0; n < strlen(full); n++)
		assert_int_equal(vsock_line_parse(full, n, "CONNECT", &port, &used), 0);
	assert_int_equal(vsock_line_parse(full, strlen(full), "CONNECT", &port, &used), 1);
}

static void test_lowercase(void **state)
{
	uint32_t port;
	size_t used;

	(void)state;
	/* Firecracker compares the verb without case; so do we. */
	assert_int_equal(parse("connect 80\n", &port, &used), 1);
	assert_int_equal(port, 80);
	assert_int_equal(parse("CoNnEcT 81\n", &port, &used), 1);
	assert_int_equal(vsock_line_parse("ok 9\n", 5, "OK", &port, &used), 1);
	assert_int_equal(port, 9);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"CONNECT\n",          "CONNECT \n",         "CONNECT x\n",
		"CONNECT -1\n",       "CONNECT +1\n",       "CONNECT 0x10\n",
		"CONNECT 12a\n",      "CONNECT 1 2\n",      "CONNECT 5000 junk\n",
		"CONNECT 5000\r\r\n", "CONNECT 5000\rx",    "CONNECTX 1\n",
		"CONNEC 1\n",         " CONNECT 1\n",       "OK 5\n",
		"CONNECT 4294967296\n", "CONNECT 99999999999\n", "CONNECT 00000000001\n",
		"\n",                 "CONNECT\t\n",
	};
	uint32_t port;
	size_t used;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = parse(bad[i], &port, &used);

		if (ret != -EINVAL)
			fail_msg("'%s': %d, want -EINVAL", bad[i], ret);
		assert_int_equal(port, 0xdeadbeef);
	}
	/* A NUL inside is a bad byte, not the end of the line. */
	assert_int_equal(vsock_line_parse("CONNECT 1\0\n", 11, "CONNECT", &port, &used), -EINVAL);
	/* Out of range is known before the newline arrives. */
	assert_int_equal(parse("CONNECT 4294967296", &port, &used), -EINVAL);
}

static void test_too_long(void **state)
{
	char line[64];
	uint32_t port;
	size_t used;

	(void)state;
	/* Blanks are allowed, but the line must end within VSOCK_LINE_MAX bytes. */
	memset(line, ' ', sizeof(line));
	memcpy(line, "CONNECT", 7);
	assert_int_equal(vsock_line_parse(line, VSOCK_LINE_MAX - 1, "CONNECT", &port, &used), 0);
	assert_int_equal(vsock_line_parse(line, VSOCK_LINE_MAX, "CONNECT", &port, &used), -E2BIG);
	assert_int_equal(vsock_line_parse(line, sizeof(line), "CONNECT", &port, &used), -E2BIG);
	/* A newline just past the limit is too late. */
	line[VSOCK_LINE_MAX - 2] = '1';
	line[VSOCK_LINE_MAX - 1] = '\n';
	assert_int_equal(vsock_line_parse(line, VSOCK_LINE_MAX, "CONNECT", &port, &used), 1);
	assert_int_equal(used, VSOCK_LINE_MAX);
	line[VSOCK_LINE_MAX - 1] = ' ';
	line[VSOCK_LINE_MAX] = '\n';
	assert_int_equal(vsock_line_parse(line, VSOCK_LINE_MAX + 1, "CONNECT", &port, &used),
			 -E2BIG);
}

static void test_format(void **state)
{
	char buf[VSOCK_LINE_MAX], small[6];
	uint32_t port;
	size_t used;

	(void)state;
	assert_int_equal(vsock_line_format(buf, sizeof(buf), "OK", 1073741824u), 14);
	assert_string_equal(buf, "OK 1073741824\n");
	assert_int_equal(vsock_line_parse(buf, strlen(buf), "OK", &port, &used), 1);
	assert_int_equal(port, 1073741824u);
	assert_int_equal(vsock_line_format(small, sizeof(small), "OK", 1234), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),     cmocka_unit_test(test_data_after_line),
		cmocka_unit_test(test_partial),  cmocka_unit_test(test_lowercase),
		cmocka_unit_test(test_malformed), cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
