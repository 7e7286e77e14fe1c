/*
 * The metrics writer: the JSON line from known counters (deltas, gauges,
 * the timestamp, Hearth's own group or none), the file it writes, and
 * the periodic flush on a real event loop from the VM's start. The
 * schema and what goes where: test_metrics_schema.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "vmm/metrics.h"
#include "vmm/vm.h"

static json_t *parse_line(const char *text)
{
	size_t n = strlen(text);
	json_error_t e;
	json_t *o;

	assert_true(n > 0);
	assert_int_equal(text[n - 1], '\n');
	assert_null(memchr(text, '\n', n - 1));
	o = json_loadb(text, n - 1, 0, &e);
	assert_non_null(o);
	return o;
}

static long long get(json_t *line, const char *group, const char *name)
{
	json_t *v = json_object_get(json_object_get(line, group), name);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

/* Hearth's own group's counter, under METRICS_HEARTH. */
static long long own(json_t *line, const char *group, const char *name)
{
	return get(json_object_get(line, METRICS_HEARTH), group, name);
}

static json_t *devices(json_t *counters, const char *group)
{
	return metrics_group(metrics_group(counters, METRICS_DEVICES), group);
}

static void test_line_deltas_and_gauges(void **state)
{
	struct metrics m;
	json_t *c = json_object(), *g = json_object(), *line;
	char *text;

	(void)state;
	metrics_init(&m, NULL, NULL);
	assert_int_equal(metrics_add(devices(c, "block"), "rootfs", "read_bytes", 4096), 0);
	assert_int_equal(metrics_add(devices(c, "block"), "rootfs", "write_bytes", 0), 0);
	assert_int_equal(metrics_add(c, "vcpu", "exit_io_out", 10), 0);
	/* Adding to a name sums: how per-vCPU totals become one. */
	assert_int_equal(metrics_add(c, "vcpu", "exit_io_out", 5), 0);
	assert_int_equal(metrics_add(g, "api_server", "process_startup_time_us", 1234), 0);
	/* A group or field Firecracker does not have stays out of its groups. */
	assert_int_equal(metrics_add(c, "nope", "x", 1), 0);
	assert_int_equal(metrics_add(c, "vcpu", "exit_hlt", 1), 0);
	assert_int_equal(metrics_add(metrics_group(c, METRICS_HEARTH), "vcpu", "exit_hlt", 1), 0);
	text = metrics_line(&m, c, g, 1700000000123ull);
	assert_non_null(text);
	line = parse_line(text);
	/* The timestamp comes first, as in Firecracker's lines. */
	assert_int_equal(strncmp(text, "{\"utc_timestamp_ms\":1700000000123,", 34), 0);
	assert_int_equal(get(line, "block_rootfs", "read_bytes"), 4096);
	assert_int_equal(get(line, "block_rootfs", "read_count"), 0);
	assert_int_equal(get(line, "vcpu", "exit_io_out"), 15);
	assert_null(json_object_get(json_object_get(line, "vcpu"), "exit_hlt"));
	assert_null(json_object_get(line, "nope"));
	assert_int_equal(own(line, "vcpu", "exit_hlt"), 1);
	assert_int_equal(get(line, "api_server", "process_startup_time_us"), 1234);
	assert_int_equal(get(line, "api_server", "process_startup_time_cpu_us"), 0);
	json_decref(line);
	free(text);
	json_decref(c);
	json_decref(g);

	/* The next line counts what happened since: deltas; the gauge is its value. */
	c = json_object();
	g = json_object();
	metrics_add(devices(c, "block"), "rootfs", "read_bytes", 6144);
	metrics_add(devices(c, "block"), "rootfs", "write_bytes", 512);
	metrics_add(c, "vcpu", "exit_io_out", 15);
	metrics_add(metrics_group(c, METRICS_HEARTH), "vcpu", "exit_hlt", 3);
	metrics_add(g, "api_server", "process_startup_time_us", 1234);
	text = metrics_line(&m, c, g, 1700000060123ull);
	line = parse_line(text);
	assert_int_equal(json_integer_value(json_object_get(line, "utc_timestamp_ms")),
			 1700000060123ll);
	assert_int_equal(get(line, "block_rootfs", "read_bytes"), 2048);
	assert_int_equal(get(line, "block_rootfs", "write_bytes"), 512);
	assert_int_equal(get(line, "vcpu", "exit_io_out"), 0);
	assert_int_equal(own(line, "vcpu", "exit_hlt"), 2);
	assert_int_equal(get(line, "api_server", "process_startup_time_us"), 1234);
	json_decref(line);
	free(text);
	json_decref(c);
	json_decref(g);

	/* A total below the last one is a new VM's: counted from zero, never negative. */
	c = json_object();
	g = json_object();
	metrics_add(c, "vcpu", "exit_io_out", 3);
	text = metrics_line(&m, c, g, 1);
	line = parse_line(text);
	assert_int_equal(get(line, "vcpu", "exit_io_out"), 3);
	/* A device gone is gone from the line; its aggregate stays, at 0. */
	assert_null(json_object_get(line, "block_rootfs"));
	assert_int_equal(get(line, "block", "read_bytes"), 0);
	assert_null(json_object_get(line, "id"));
	json_decref(line);
	free(text);

	/* Firecracker's emit_id and properties: on every line from now on. */
	assert_int_equal(metrics_set_labels(&m, "vm-7", "[1]"), -EINVAL);
	assert_int_equal(metrics_set_labels(&m, "vm-7", "{\"team\":\"a\"}"), 0);
	text = metrics_line(&m, c, g, 2);
	line = parse_line(text);
	assert_string_equal(json_string_value(json_object_get(line, "id")), "vm-7");
	assert_string_equal(json_string_value(json_object_get(json_object_get(line, "properties"),
							      "team")), "a");
	assert_int_equal(get(line, "vcpu", "exit_io_out"), 0);
	json_decref(line);
	free(text);
	assert_int_equal(metrics_set_labels(&m, NULL, NULL), 0);
	text = metrics_line(&m, c, g, 3);
	line = parse_line(text);
	assert_null(json_object_get(line, "id"));
	assert_null(json_object_get(line, "properties"));
	json_decref(line);
	free(text);
	json_decref(c);
	json_decref(g);
	metrics_destroy(&m);
}

/* Under the name firecracker: nothing but Firecracker's keys. */
static void test_own_group(void **state)
{
	json_t *c = json_object(), *g = json_object(), *line;
	struct metrics m;
	char *text;

	(void)state;
	metrics_init(&m, NULL, NULL);
	metrics_add(metrics_group(c, METRICS_HEARTH), "uart_com1", "out_bytes", 5);
	text = metrics_line(&m, c, g, 1);
	line = parse_line(text);
	assert_int_equal(own(line, "uart_com1", "out_bytes"), 5);
	json_decref(line);
	free(text);
	metrics_keep_own(&m, false);
	text = metrics_line(&m, c, g, 2);
	line = parse_line(text);
	assert_null(json_object_get(line, METRICS_HEARTH));
	/* The utc_timestamp_ms and Firecracker's 22 groups a VM without devices has, nothing else. */
	assert_int_equal(json_object_size(line), 1 + 22);
	json_decref(line);
	free(text);
	json_decref(c);
	json_decref(g);
	metrics_destroy(&m);
}

struct collector {
	uint64_t n;                /* lines collected */
	struct eventloop *loop;    /* stopped at the second line */
	unsigned int pad;          /* extra counters: a line longer than PIPE_BUF */
};

static void collect(void *ctx, json_t *counters, json_t *gauges)
{
	struct collector *k = ctx;
	json_t *mine = metrics_group(counters, METRICS_HEARTH);
	char name[32];

	(void)gauges;
	k->n++;
	metrics_add(mine, "test", "calls", k->n);
	for (unsigned int i = 0; i < k->pad; i++) {
		snprintf(name, sizeof(name), "padding_counter_%u", i);
		metrics_add(mine, "pad", name, i);
	}
	if (k->loop && k->n == 2)
		eventloop_stop(k->loop);
}

static char tmpdir[64];

static int make_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hearth-metrics-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmp(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Every line of path, parsed. */
static size_t read_lines(const char *path, json_t **out, size_t max)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	assert_non_null(f);
	while (n < max && fgets(buf, sizeof(buf), f))
		out[n++] = parse_line(buf);
	fclose(f);
	return n;
}

static void test_file(void **state)
{
	struct collector k = { 0, NULL, 0 };
	char path[128];
	struct err err;
	json_t *lines[4];
	struct metrics m;

	(void)state;
	snprintf(path, sizeof(path), "%s/metrics.json", tmpdir);
	metrics_init(&m, collect, &k);
	assert_false(metrics_configured(&m));
	assert_int_equal(metrics_flush(&m), -ENOENT);
	assert_int_equal(k.n, 0);
	assert_int_equal(metrics_open(&m, path, &err), 0);
	assert_true(metrics_configured(&m));
	assert_int_equal(metrics_open(&m, path, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "already configured"));
	assert_int_equal(metrics_flush(&m), 0);
	assert_int_equal(metrics_flush(&m), 0);
	metrics_destroy(&m);
	assert_int_equal(read_lines(path, lines, 4), 2);
	/* Cumulative 1 then 2: the lines say 1 and 1. */
	assert_int_equal(own(lines[0], "test", "calls"), 1);
	assert_int_equal(own(lines[1], "test", "calls"), 1);
	assert_int_equal(get(lines[1], "logger", "missed_metrics_count"), 0);
	json_decref(lines[0]);
	json_decref(lines[1]);

	/* Appended to, not truncated. */
	metrics_init(&m, collect, &k);
	assert_int_equal(metrics_open(&m, path, &err), 0);
	assert_int_equal(metrics_flush(&m), 0);
	metrics_destroy(&m);
	assert_int_equal(read_lines(path, lines, 4), 3);
	for (int i = 0; i < 3; i++)
		json_decref(lines[i]);

	/* A missing directory is refused at once. */
	metrics_init(&m, collect, &k);
	snprintf(path, sizeof(path), "%s/no/such/dir", tmpdir);
	assert_int_equal(metrics_open(&m, path, &err), -ENOENT);
	assert_non_null(strstr(err.msg, path));
	assert_false(metrics_configured(&m));
	metrics_destroy(&m);
}

/* What is in the FIFO now, read without waiting: whole lines, each parsed into lines[]. */
static size_t drain_lines(int rd, json_t **lines, size_t max)
{
	static char buf[1 << 20];
	size_t got = 0, n = 0;
	ssize_t r;
	char *p;

	while ((r = read(rd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)r;
	assert_true(r < 0 && errno == EAGAIN);
	buf[got] = '\0';
	assert_true(got == 0 || buf[got - 1] == '\n');
	for (p = buf; *p; n++) {
		char *end = strchr(p, '\n'), save = end[1];

		assert_true(n < max);
		end[1] = '\0';
		lines[n] = parse_line(p);
		end[1] = save;
		p = end + 1;
	}
	return n;
}

static void put_lines(json_t **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(lines[i]);
}

/*
 * A FIFO as firecracker-containerd makes it: opened before anyone reads
 * (no reader: no ENXIO), the lines written meanwhile kept for the reader,
 * a full pipe costing whole lines (counted), never half a line, even for
 * a line longer than PIPE_BUF.
 */
static void test_fifo(void **state)
{
	struct collector k = { 0, NULL, 0 };
	static json_t *lines[4096];
	char fifo[128];
	struct err err;
	struct metrics m;
	size_t n, kept;
	int rd, ret, dropped = 0;

	(void)state;
	snprintf(fifo, sizeof(fifo), "%s/metrics.fifo", tmpdir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	metrics_init(&m, collect, &k);
	assert_int_equal(metrics_open(&m, fifo, &err), 0);
	assert_int_equal(metrics_flush(&m), 0);
	assert_int_equal(metrics_flush(&m), 0);
	/* The reader comes late and finds both lines. */
	rd = open(fifo, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	n = drain_lines(rd, lines, 4096);
	assert_int_equal(n, 2);
	assert_int_equal(own(lines[1], "test", "calls"), 1);
	put_lines(lines, n);

	/*
	 * Nobody reads: the pipe fills, later lines are dropped whole, never
	 * waited for. Every line is longer than PIPE_BUF (Firecracker's groups
	 * alone are): each goes in beside those queued only while the pipe
	 * surely has the buffers for all of it.
	 */
	for (int i = 0; i < 4000 && dropped < 3; i++) {
		ret = metrics_flush(&m);
		assert_true(ret == 0 || ret == -EAGAIN);
		dropped += ret == -EAGAIN;
	}
	assert_int_equal(dropped, 3);
	kept = drain_lines(rd, lines, 4096);
	assert_true(kept >= 3);
	put_lines(lines, kept);
	/* The next line counts the dropped ones. */
	assert_int_equal(metrics_flush(&m), 0);
	assert_int_equal(drain_lines(rd, lines, 1), 1);
	assert_int_equal(get(lines[0], "logger", "missed_metrics_count"), 3);
	put_lines(lines, 1);

	/* A longer line still goes in beside a queued one where it fits, and whole. */
	assert_int_equal(metrics_flush(&m), 0);
	k.pad = 400;
	assert_int_equal(metrics_flush(&m), 0);
	n = drain_lines(rd, lines, 4);
	assert_int_equal(n, 2);
	assert_null(json_object_get(json_object_get(lines[0], METRICS_HEARTH), "pad"));
	assert_int_equal(json_object_size(json_object_get(json_object_get(lines[1], METRICS_HEARTH),
							  "pad")), 400);
	put_lines(lines, n);
	/* One the pipe can never hold is refused whatever is queued, and counted. */
	k.pad = 8000;
	assert_int_equal(metrics_flush(&m), -EMSGSIZE);
	k.pad = 0;
	assert_int_equal(metrics_flush(&m), 0);
	assert_int_equal(drain_lines(rd, lines, 4), 1);
	assert_int_equal(get(lines[0], "logger", "missed_metrics_count"), 1);
	put_lines(lines, 1);
	metrics_destroy(&m);
	close(rd);
}

static void test_timer(void **state)
{
	struct eventloop loop;
	struct collector k = { 0, &loop, 0 };
	struct itimerspec its;
	char path[128];
	struct err err;
	json_t *lines[4];
	struct metrics m;

	(void)state;
	snprintf(path, sizeof(path), "%s/timer.json", tmpdir);
	assert_int_equal(eventloop_init(&loop), 0);
	metrics_init(&m, collect, &k);
	assert_int_equal(metrics_open(&m, path, &err), 0);
	/* A short period only so the test does not wait a minute; nothing is timed. */
	assert_int_equal(metrics_start_timer(&m, &loop, 5), 0);
	/* Made, not armed: Firecracker's periodic lines begin with the VM. */
	assert_int_equal(timerfd_gettime(m.timer_fd, &its), 0);
	assert_true(its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0);
	assert_int_equal(k.n, 0);
	/* The VM starts: a line at once, then the timer's (the collector stops at the second). */
	assert_int_equal(metrics_started(&m), 0);
	assert_int_equal(k.n, 1);
	assert_int_equal(eventloop_run(&loop), 0);
	metrics_destroy(&m);
	eventloop_destroy(&loop);
	assert_int_equal(k.n, 2);
	assert_int_equal(read_lines(path, lines, 4), 2);
	assert_int_equal(own(lines[1], "test", "calls"), 1);
	json_decref(lines[0]);
	json_decref(lines[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_deltas_and_gauges),
		cmocka_unit_test(test_own_group),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_timer),
	};

	return cmocka_run_group_tests(tests, make_tmp, remove_tmp);
}
