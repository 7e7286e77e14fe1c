/*
 * The log file: its line format, its level, switching files while other
 * threads log (under hearth's seccomp filters), refusing what cannot be
 * opened, and FIFOs: opened before their reader comes, keeping lines for
 * it, counting lines a full one refused.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox.h"
#include "util/log.h"
#include "util/thread_hook.h"

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
	char path[128], *text;
	struct err err;

	(void)state;
	snprintf(path, sizeof(path), "%s/a.log", tmpdir);
	log_set_instance("vm-7");
	pthread_setname_np(pthread_self(), "tester");
	assert_int_equal(log_open_file(path, LOG_INFO, true, true, &err), 0);
	log_warn("disk %d is slow", 3);
	log_debug("not at Info");
	log_info("plain");
	text = slurp(path);
	/* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnn [vm-7:tester:WARN:<file>:<line>] disk 3 is slow", as Firecracker's */
	assert_int_equal(text[4], '-');
	assert_int_equal(text[10], 'T');
	assert_int_equal(text[19], '.');
	for (int i = 20; i < 29; i++)
		assert_true(text[i] >= '0' && text[i] <= '9');
	assert_int_equal(text[29], ' ');
	assert_non_null(strstr(text, " [vm-7:tester:WARN:"));
	assert_non_null(strstr(text, "test_log_file.c:"));
	assert_non_null(strstr(text, "] disk 3 is slow\n"));
	assert_non_null(strstr(text, ":INFO:"));
	assert_null(strstr(text, "not at Info"));

	/* Without the flags: no level, no origin. */
	assert_int_equal(log_open_file(path, LOG_DEBUG, false, false, &err), 0);
	log_debug("now at Debug");
	text = slurp(path);
	assert_non_null(strstr(text, " [vm-7:tester] now at Debug\n"));

	/* Off: nothing goes to the file. */
	assert_int_equal(log_open_file(path, LOG_FILE_OFF, false, false, &err), 0);
	log_err("an error, on stderr only");
	assert_null(strstr(slurp(path), "an error"));
}

static void test_switch_and_refuse(void **state)
{
	char a[128], b[128], bad[160];
	struct err err;

	(void)state;
	snprintf(a, sizeof(a), "%s/first.log", tmpdir);
	snprintf(b, sizeof(b), "%s/second.log", tmpdir);
	assert_int_equal(log_open_file(a, LOG_INFO, false, false, &err), 0);
	log_info("to the first");
	assert_int_equal(log_open_file(b, LOG_INFO, false, false, &err), 0);
	log_info("to the second");
	assert_non_null(strstr(slurp(a), "to the first"));
	assert_null(strstr(slurp(a), "to the second"));
	assert_non_null(strstr(slurp(b), "to the second"));

	/* A path that cannot be opened leaves the current file in place. */
	snprintf(bad, sizeof(bad), "%s/missing/x.log", tmpdir);
	assert_int_equal(log_open_file(bad, LOG_INFO, false, false, &err), -ENOENT);
	assert_non_null(strstr(err.msg, bad));
	assert_int_equal(log_open_file(tmpdir, LOG_INFO, false, false, &err),
			 -EISDIR);
	log_info("still the second");
	assert_non_null(strstr(slurp(b), "still the second"));
}

/* Every fd this process has open. */
static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* Reads what is in the FIFO now, without waiting; each line must be a whole one. */
static size_t drain(int rd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while ((n = read(rd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	assert_true(n < 0 && errno == EAGAIN);
	buf[got] = '\0';
	assert_true(got == 0 || buf[got - 1] == '\n');
	for (char *p = buf; *p; p = strchr(p, '\n') + 1)
		assert_true(p[4] == '-' && p[10] == 'T' && strstr(p, "] ") < strchr(p, '\n'));
	return got;
}

/*
 * A FIFO as firecracker-containerd makes it: opened with no reader yet;
 * what is logged meanwhile waits for the reader; nobody draining it costs
 * whole lines, counted, never a wait; a reader that leaves is no error.
 */
static void test_fifo(void **state)
{
	static char buf[1 << 20];
	char path[128], big[900];
	struct err err;
	uint64_t before;
	size_t got;
	int rd;

	(void)state;
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(log_open_file(path, LOG_INFO, false, false, &err), 0);
	log_info("before the reader");
	rd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	drain(rd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "] before the reader\n"));
	log_info("after the reader");
	drain(rd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "] after the reader\n"));

	/* The reader leaves and comes back: nothing written meanwhile is lost. */
	close(rd);
	log_info("while nobody reads");
	rd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	drain(rd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "] while nobody reads\n"));

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	before = log_missed_count();
	/* Nobody reads: the pipe fills, and later lines are counted, not waited for. */
	for (int i = 0; i < 200; i++)
		log_info("%s", big);
	assert_true(log_missed_count() > before);
	got = drain(rd, buf, sizeof(buf));
	/* What the pipe kept is whole lines, and the ones it refused are all counted. */
	assert_int_equal(got / (strlen(big) + 30) + (log_missed_count() - before) >= 199, 1);
	log_info("room again");
	drain(rd, buf, sizeof(buf));
	assert_non_null(strstr(buf, "] room again\n"));
	log_close_file();
	close(rd);
}

enum { SWITCH_THREADS = 4, SWITCH_LINES = 3000, SWITCHES = 200 };

/* A vCPU that logs: under the vCPU's seccomp filter, as in hearth. */
static void *logger_thread(void *arg)
{
	int id = (int)(long)arg;

	if (thread_hook_enter(THREAD_VCPU))
		_exit(95);
	for (int i = 0; i < SWITCH_LINES; i++)
		log_info("thread %d line %d", id, i);
	return NULL;
}

/* In a child: the switches on a thread under the api filter, as PUT /logger. */
static int switch_child(void)
{
	pthread_t th[SWITCH_THREADS];
	char path[128];
	struct err err;
	int fds;

	if (sandbox_init(&err))
		return 90;
	snprintf(path, sizeof(path), "%s/switch-0.log", tmpdir);
	if (log_open_file(path, LOG_INFO, false, false, &err))
		return 91;
	fds = count_fds();
	for (long i = 0; i < SWITCH_THREADS; i++)
		if (pthread_create(&th[i], NULL, logger_thread, (void *)i))
			return 92;
	if (thread_hook_enter(THREAD_API))
		return 93;
	for (int s = 1; s <= SWITCHES; s++) {
		snprintf(path, sizeof(path), "%s/switch-%d.log", tmpdir, s % 3);
		if (log_open_file(path, LOG_INFO, false, false, &err))
			return 94;
	}
	for (int i = 0; i < SWITCH_THREADS; i++)
		pthread_join(th[i], NULL);
	/* One file open for the log, as before the switches: each old one was closed. */
	if (count_fds() != fds)
		return 96;
	log_close_file();
	return count_fds() == fds - 1 ? 0 : 97;
}

/* Lines of path that say "thread T line N", counted per thread T. */
static void count_lines(const char *path, int *per_thread)
{
	char line[2048];
	FILE *f = fopen(path, "r");
	int t, n;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		const char *m = strstr(line, "] thread ");

		assert_non_null(m);
		assert_int_equal(line[strlen(line) - 1], '\n');
		assert_int_equal(sscanf(m, "] thread %d line %d", &t, &n), 2);
		assert_true(t >= 0 && t < SWITCH_THREADS);
		per_thread[t]++;
	}
	fclose(f);
}

/*
 * Switching files while other threads log (the api thread's PUT /logger
 * while vCPUs and the io thread write), each under its own seccomp filter:
 * no thread traps, every line lands whole in one of the files, none is
 * lost, and every file switched away from is closed.
 */
static void test_switch_while_logging(void **state)
{
	int per_thread[SWITCH_THREADS] = { 0 };
	char path[128];
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(switch_child());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("the switching child: status 0x%x (exit 148: a seccomp trap)", st);
	for (int f = 0; f < 3; f++) {
		snprintf(path, sizeof(path), "%s/switch-%d.log", tmpdir, f);
		count_lines(path, per_thread);
	}
	for (int i = 0; i < SWITCH_THREADS; i++)
		assert_int_equal(per_thread[i], SWITCH_LINES);
}

/* The level and flags alone: the file stays. */
static void test_options_only(void **state)
{
	char path[128], *text;
	struct err err;

	(void)state;
	snprintf(path, sizeof(path), "%s/options.log", tmpdir);
	assert_int_equal(log_open_file(path, LOG_INFO, false, false, &err), 0);
	log_debug("hidden at Info");
	log_set_file_options(LOG_DEBUG, true, false);
	log_debug("shown at Debug");
	text = slurp(path);
	assert_null(strstr(text, "hidden"));
	assert_non_null(strstr(text, ":DEBUG] shown at Debug\n"));
	log_close_file();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_and_level),
		cmocka_unit_test(test_switch_and_refuse),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_switch_while_logging),
		cmocka_unit_test(test_options_only),
	};

	return cmocka_run_group_tests(tests, make_tmp, remove_tmp);
}
