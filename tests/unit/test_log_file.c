/*
 * The log file: its line format, its level, switching files while logging,
 * refusing what cannot be opened, and counting lines a full FIFO refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/log.h"

static char tmpdir[64];

static int make_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hearth-log-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmp(void **state)
{
	char cmd[128];

	(void)state;
	log_close_file();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path)
{
	static char buf[8192];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static void test_format_and_level(void **state)
{
	char path[128], err[256], *text;

	(void)state;
	snprintf(path, sizeof(path), "%s/a.log", tmpdir);
	log_set_instance("vm-7");
	pthread_setname_np(pthread_self(), "tester");
	assert_int_equal(log_open_file(path, LOG_INFO, true, true, err, sizeof(err)), 0);
	log_warn("disk %d is slow", 3);
	log_debug("not at Info");
	log_info("plain");
	text = slurp(path);
	/* "YYYY-MM-DDTHH:MM:SS.uuuuuu [vm-7:tester:WARN:<file>:<line>] disk 3 is slow" */
	assert_int_equal(text[4], '-');
	assert_int_equal(text[10], 'T');
	assert_int_equal(text[19], '.');
	assert_non_null(strstr(text, " [vm-7:tester:WARN:"));
	assert_non_null(strstr(text, "test_log_file.c:"));
	assert_non_null(strstr(text, "] disk 3 is slow\n"));
	assert_non_null(strstr(text, ":INFO:"));
	assert_null(strstr(text, "not at Info"));

	/* Without the flags: no level, no origin. */
	assert_int_equal(log_open_file(path, LOG_DEBUG, false, false, err, sizeof(err)), 0);
	log_debug("now at Debug");
	text = slurp(path);
	assert_non_null(strstr(text, " [vm-7:tester] now at Debug\n"));

	/* Off: nothing goes to the file. */
	assert_int_equal(log_open_file(path, LOG_FILE_OFF, false, false, err, sizeof(err)), 0);
	log_err("an error, on stderr only");
	assert_null(strstr(slurp(path), "an error"));
}

static void test_switch_and_refuse(void **state)
{
	char a[128], b[128], bad[160], err[256];

	(void)state;
	snprintf(a, sizeof(a), "%s/first.log", tmpdir);
	snprintf(b, sizeof(b), "%s/second.log", tmpdir);
	assert_int_equal(log_open_file(a, LOG_INFO, false, false, err, sizeof(err)), 0);
	log_info("to the first");
	assert_int_equal(log_open_file(b, LOG_INFO, false, false, err, sizeof(err)), 0);
	log_info("to the second");
	assert_non_null(strstr(slurp(a), "to the first"));
	assert_null(strstr(slurp(a), "to the second"));
	assert_non_null(strstr(slurp(b), "to the second"));

	/* A path that cannot be opened leaves the current file in place. */
	snprintf(bad, sizeof(bad), "%s/missing/x.log", tmpdir);
	assert_int_equal(log_open_file(bad, LOG_INFO, false, false, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, bad));
	assert_int_equal(log_open_file(tmpdir, LOG_INFO, false, false, err, sizeof(err)),
			 -EISDIR);
	log_info("still the second");
	assert_non_null(strstr(slurp(b), "still the second"));
}

static void test_fifo(void **state)
{
	char path[128], err[256], big[900];
	uint64_t before;
	int rd;

	(void)state;
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(log_open_file(path, LOG_INFO, false, false, err, sizeof(err)), -ENXIO);
	assert_non_null(strstr(err, "FIFO"));
	rd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	assert_int_equal(log_open_file(path, LOG_INFO, false, false, err, sizeof(err)), 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	before = log_missed_count();
	/* Nobody reads: the pipe fills, and later lines are counted, not waited for. */
	for (int i = 0; i < 200; i++)
		log_info("%s", big);
	assert_true(log_missed_count() > before);
	log_close_file();
	close(rd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_and_level),
		cmocka_unit_test(test_switch_and_refuse),
		cmocka_unit_test(test_fifo),
	};

	return cmocka_run_group_tests(tests, make_tmp, remove_tmp);
}
