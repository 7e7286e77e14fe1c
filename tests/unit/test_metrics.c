/*
 * The metrics writer: the JSON line from known counters (deltas, gauges,
 * the timestamp), the VM's groups from a registry and vCPUs built by hand,
 * the file it writes, and the periodic flush on a real event loop.
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

static void test_line_deltas_and_gauges(void **state)
{
	struct metrics m;
	json_t *c = json_object(), *g = json_object(), *line;
	char *text;

	(void)state;
	metrics_init(&m, NULL, NULL);
	assert_int_equal(metrics_add(c, "block_rootfs", "read_bytes", 4096), 0);
	assert_int_equal(metrics_add(c, "block_rootfs", "write_bytes", 0), 0);
	assert_int_equal(metrics_add(c, "vcpu", "exit_io_out", 10), 0);
	/* Adding to a name sums: how per-vCPU totals become one. */
	assert_int_equal(metrics_add(c, "vcpu", "exit_io_out", 5), 0);
	assert_int_equal(metrics_add(g, "api_server", "process_startup_time_us", 1234), 0);
	text = metrics_line(&m, c, g, 1700000000123ull);
	assert_non_null(text);
	line = parse_line(text);
	/* The timestamp comes first, as in Firecracker's lines. */
	assert_int_equal(strncmp(text, "{\"utc_timestamp_ms\":1700000000123,", 34), 0);
	assert_int_equal(get(line, "block_rootfs", "read_bytes"), 4096);
	assert_int_equal(get(line, "vcpu", "exit_io_out"), 15);
	assert_int_equal(get(line, "api_server", "process_startup_time_us"), 1234);
	json_decref(line);
	free(text);
	json_decref(c);
	json_decref(g);

	/* The next line counts what happened since: deltas; the gauge is its value. */
	c = json_object();
	g = json_object();
	metrics_add(c, "block_rootfs", "read_bytes", 6144);
	metrics_add(c, "block_rootfs", "write_bytes", 512);
	metrics_add(c, "vcpu", "exit_io_out", 15);
	metrics_add(g, "api_server", "process_startup_time_us", 1234);
	text = metrics_line(&m, c, g, 1700000060123ull);
	line = parse_line(text);
	assert_int_equal(json_integer_value(json_object_get(line, "utc_timestamp_ms")),
			 1700000060123ll);
	assert_int_equal(get(line, "block_rootfs", "read_bytes"), 2048);
	assert_int_equal(get(line, "block_rootfs", "write_bytes"), 512);
	assert_int_equal(get(line, "vcpu", "exit_io_out"), 0);
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
	assert_null(json_object_get(line, "block_rootfs"));
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

struct fake_dev {
	uint64_t a;
};

static unsigned int fake_counters(void *dev, struct dev_counter *out, unsigned int max)
{
	struct dev_counter c[] = { { "requests", ((struct fake_dev *)dev)->a }, { "errors", 1 } };

	return dev_counters_copy(out, max, c, 2);
}

static const struct component_ops fake_ops = { .counters = fake_counters };
static const struct component_ops quiet_ops = { .destroy = NULL };

static void test_collect_vm(void **state)
{
	struct fake_dev disk = { 7 }, rng = { 9 }, pm = { 2 };
	static struct component_ops vcpu_counted;
	struct vcpu v0, v1;
	json_t *c = json_object(), *g = json_object(), *line;
	struct metrics m;
	struct vm vm;
	char *text;

	(void)state;
	memset(&vm, 0, sizeof(vm));
	memset(&v0, 0, sizeof(v0));
	memset(&v1, 0, sizeof(v1));
	registry_init(&vm.registry);
	assert_int_equal(registry_add(&vm.registry, COMP_DEVICE, "com1", "serial", NULL,
				      &(struct component){ &fake_ops, &pm }), 0);
	assert_int_equal(registry_add(&vm.registry, COMP_DEVICE, "rtc", "rtc", NULL,
				      &(struct component){ &quiet_ops, NULL }), 0);
	assert_int_equal(registry_add(&vm.registry, COMP_DEVICE, "my-disk", "virtio-blk", NULL,
				      &(struct component){ &fake_ops, &disk }), 0);
	assert_int_equal(registry_add(&vm.registry, COMP_DEVICE, "entropy", "virtio-rng", NULL,
				      &(struct component){ &fake_ops, &rng }), 0);
	assert_int_equal(registry_add(&vm.registry, COMP_DEVICE, "pm", "acpi-pm", NULL,
				      &(struct component){ &fake_ops, &pm }), 0);
	v0.exits[VCPU_EXIT_IO_OUT] = 100;
	v1.exits[VCPU_EXIT_IO_OUT] = 11;
	v1.exits[VCPU_EXIT_MMIO_WRITE] = 4;
	/* The vCPUs' counters, as their component has them; not their destroy (not real vCPUs). */
	vcpu_counted.counters = vcpu_component.counters;
	assert_int_equal(registry_add(&vm.registry, COMP_VCPU, "0", "vcpu", NULL,
				      &(struct component){ &vcpu_counted, &v0 }), 0);
	assert_int_equal(registry_add(&vm.registry, COMP_VCPU, "1", "vcpu", NULL,
				      &(struct component){ &vcpu_counted, &v1 }), 0);

	metrics_collect_vm(c, &vm);
	metrics_init(&m, NULL, NULL);
	text = metrics_line(&m, c, g, 42);
	line = parse_line(text);
	assert_int_equal(get(line, "uart_com1", "requests"), 2);
	assert_int_equal(get(line, "block_my-disk", "requests"), 7);
	assert_int_equal(get(line, "block_my-disk", "errors"), 1);
	assert_int_equal(get(line, "entropy", "requests"), 9);
	assert_int_equal(get(line, "acpi_pm_pm", "requests"), 2);
	/* A device without counters has no group. */
	assert_null(json_object_get(line, "rtc"));
	assert_int_equal(get(line, "vcpu", "exit_io_out"), 111);
	assert_int_equal(get(line, "vcpu", "exit_mmio_write"), 4);
	assert_int_equal(get(line, "vcpu", "exit_internal_error"), 0);
	assert_int_equal(get(line, "vcpu", "kvm_run_failures"), 0);
	json_decref(line);
	free(text);
	json_decref(c);
	json_decref(g);
	metrics_destroy(&m);
	registry_destroy(&vm.registry);
}

struct collector {
	uint64_t n;                /* lines collected */
	struct eventloop *loop;    /* stopped at the second line */
	unsigned int pad;          /* extra counters: a line longer than PIPE_BUF */
};

static void collect(void *ctx, json_t *counters, json_t *gauges)
{
	struct collector *k = ctx;
	char name[32];

	(void)gauges;
	k->n++;
	metrics_add(counters, "test", "calls", k->n);
	for (unsigned int i = 0; i < k->pad; i++) {
		snprintf(name, sizeof(name), "padding_counter_%u", i);
		metrics_add(counters, "pad", name, i);
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
	char buf[4096];
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
	assert_int_equal(get(lines[0], "test", "calls"), 1);
	assert_int_equal(get(lines[1], "test", "calls"), 1);
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
	assert_int_equal(get(lines[1], "test", "calls"), 1);
	put_lines(lines, n);

	/* Nobody reads: the pipe fills, later lines are dropped whole, never waited for. */
	for (int i = 0; i < 4000 && dropped < 3; i++) {
		ret = metrics_flush(&m);
		assert_true(ret == 0 || ret == -EAGAIN);
		dropped += ret == -EAGAIN;
	}
	assert_int_equal(dropped, 3);
	kept = drain_lines(rd, lines, 4096);
	assert_true(kept > 10);
	put_lines(lines, kept);
	/* The next line counts the dropped ones. */
	assert_int_equal(metrics_flush(&m), 0);
	assert_int_equal(drain_lines(rd, lines, 1), 1);
	assert_int_equal(get(lines[0], "logger", "missed_metrics_count"), 3);
	put_lines(lines, 1);

	/* Longer than PIPE_BUF: only into an empty pipe, so never torn by a full one. */
	k.pad = 400;
	assert_int_equal(metrics_flush(&m), 0);
	k.pad = 0;
	assert_int_equal(metrics_flush(&m), 0);
	k.pad = 400;
	assert_int_equal(metrics_flush(&m), -EAGAIN);
	assert_int_equal(drain_lines(rd, lines, 4), 2);
	assert_true(json_object_size(json_object_get(lines[0], "pad")) == 400);
	assert_null(json_object_get(lines[1], "pad"));
	put_lines(lines, 2);
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
	assert_int_equal(eventloop_run(&loop), 0);
	metrics_destroy(&m);
	eventloop_destroy(&loop);
	assert_int_equal(k.n, 2);
	assert_int_equal(read_lines(path, lines, 4), 2);
	assert_int_equal(get(lines[1], "test", "calls"), 1);
	json_decref(lines[0]);
	json_decref(lines[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_deltas_and_gauges),
		cmocka_unit_test(test_collect_vm),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_timer),
	};

	return cmocka_run_group_tests(tests, make_tmp, remove_tmp);
}
