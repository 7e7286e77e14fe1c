/*
 * Firecracker's metrics schema in Hearth's lines: every group and field
 * in its order, the per-device groups and their aggregates (the sum of
 * the devices' deltas in the line, latencies' min and max 0), what the
 * VM's devices count landing in Firecracker's fields, and which API
 * request counts where.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "vmm/metrics.h"
#include "vmm/metrics_api.h"
#include "vmm/metrics_schema.h"
#include "vmm/vm.h"

static json_t *parse_line(const char *text)
{
	size_t n = strlen(text);
	json_t *o;

	assert_true(n > 0);
	assert_int_equal(text[n - 1], '\n');
	o = json_loadb(text, n - 1, 0, NULL);
	assert_non_null(o);
	return o;
}

static long long get(json_t *line, const char *group, const char *name)
{
	json_t *v = json_object_get(json_object_get(line, group), name);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static long long lat(json_t *line, const char *group, const char *name, const char *part)
{
	return get(json_object_get(line, group), name, part);
}

/* One line, the metrics' memory of the last one kept in m. */
static json_t *line_of(struct metrics *m, json_t *c, json_t *g)
{
	char *text = metrics_line(m, c, g, 7);
	json_t *line;

	assert_non_null(text);
	line = parse_line(text);
	free(text);
	return line;
}

static json_t *device(json_t *counters, const char *group, const char *id)
{
	return metrics_group(metrics_group(metrics_group(counters, METRICS_DEVICES), group), id);
}

/* Field counts of Firecracker 1.16's groups, in its order (a latency aggregate is one). */
static const struct {
	const char *name;
	unsigned int fields;
} fc_groups[] = {
	{ "api_server", 2 }, { "balloon", 12 }, { "block", 20 }, { "deprecated_api", 1 },
	{ "get_api_requests", 5 }, { "i8042", 6 }, { "uart", 7 }, { "latencies_us", 10 },
	{ "logger", 4 }, { "mmds", 13 }, { "net", 26 }, { "patch_api_requests", 12 },
	{ "put_api_requests", 26 }, { "seccomp", 1 }, { "vcpu", 10 }, { "vmm", 1 },
	{ "signals", 7 }, { "vsock", 20 }, { "entropy", 7 }, { "pmem", 6 },
	{ "interrupts", 2 }, { "memory_hotplug", 18 },
};

#define NGROUPS (sizeof(fc_groups) / sizeof(fc_groups[0]))

static void test_every_group(void **state)
{
	json_t *c = json_object(), *g = json_object(), *line, *v;
	const char *key;
	struct metrics m;
	size_t i = 0;

	(void)state;
	metrics_init(&m, NULL, NULL);
	line = line_of(&m, c, g);
	/* No device: every group but the per-device ones, in Firecracker's order, all 0. */
	json_object_foreach(line, key, v) {
		if (!strcmp(key, "utc_timestamp_ms"))
			continue;
		assert_true(i < NGROUPS);
		assert_string_equal(key, fc_groups[i].name);
		assert_int_equal(json_object_size(v), fc_groups[i].fields);
		for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
			json_t *f = json_object_iter_value(it);

			if (json_is_object(f)) {
				assert_int_equal(json_object_size(f), 3);
				assert_int_equal(get(v, json_object_iter_key(it), "min_us"), 0);
			} else {
				assert_int_equal(json_integer_value(f), 0);
			}
		}
		i++;
	}
	assert_int_equal(i, NGROUPS);
	/* x86: no "rtc" (Firecracker has it on aarch64 only). */
	assert_null(metrics_schema_find("rtc"));
	assert_int_equal(metrics_schema_groups, NGROUPS + 1);
	assert_int_equal(metrics_schema_find("vhost_user")->kind, MG_DEVICES);
	json_decref(line);
	json_decref(c);
	json_decref(g);
	metrics_destroy(&m);
}

static void test_aggregate(void **state)
{
	json_t *c = json_object(), *g = json_object(), *line, *v;
	const char *key, *order[8];
	struct metrics m;
	size_t n = 0;

	(void)state;
	metrics_init(&m, NULL, NULL);
	/* Four disks, by ids that sort: "B" < "a" < "a_1" < "b". */
	json_object_set_new(device(c, "block", "b"), "read_count", json_integer(4));
	json_object_set_new(device(c, "block", "a"), "read_count", json_integer(3));
	json_object_set_new(device(c, "block", "a"), "read_bytes", json_integer(100));
	json_object_set_new(device(c, "block", "a_1"), "write_count", json_integer(1));
	json_object_set_new(device(c, "block", "B"), "flush_count", json_integer(2));
	metrics_add(device(c, "block", "a"), "read_agg", "sum_us", 20);
	metrics_add(device(c, "block", "b"), "read_agg", "sum_us", 7);
	/* Latencies' min and max are gauges: what they are. */
	metrics_add(device(g, "block", "a"), "read_agg", "min_us", 5);
	metrics_add(device(g, "block", "a"), "read_agg", "max_us", 9);
	/* A vhost-user disk: its own group, no aggregate. */
	json_object_set_new(device(c, "vhost_user", "block_vub"), "activate_fails", json_integer(1));
	line = line_of(&m, c, g);
	json_object_foreach(line, key, v)
		if (!strncmp(key, "block", 5) && n < 8)
			order[n++] = key;
	assert_int_equal(n, 5);
	assert_string_equal(order[0], "block_B");
	assert_string_equal(order[1], "block_a");
	assert_string_equal(order[2], "block_a_1");
	assert_string_equal(order[3], "block_b");
	assert_string_equal(order[4], "block");
	assert_int_equal(get(line, "block_a", "read_count"), 3);
	assert_int_equal(lat(line, "block_a", "read_agg", "min_us"), 5);
	assert_int_equal(lat(line, "block_a", "read_agg", "max_us"), 9);
	assert_int_equal(get(line, "block", "read_count"), 7);
	assert_int_equal(get(line, "block", "read_bytes"), 100);
	assert_int_equal(get(line, "block", "write_count"), 1);
	assert_int_equal(get(line, "block", "flush_count"), 2);
	assert_int_equal(lat(line, "block", "read_agg", "sum_us"), 27);
	assert_int_equal(lat(line, "block", "read_agg", "min_us"), 0);
	assert_int_equal(lat(line, "block", "read_agg", "max_us"), 0);
	assert_int_equal(get(line, "vhost_user_block_vub", "activate_fails"), 1);
	assert_int_equal(get(line, "vhost_user_block_vub", "init_time_us"), 0);
	assert_null(json_object_get(line, "vhost_user"));
	/* No NIC: the aggregate is there all the same, at 0. */
	assert_int_equal(get(line, "net", "rx_count"), 0);
	json_decref(line);
	json_decref(c);

	/* The next line: each device's delta, and the sum of those; a device gone is not in it. */
	c = json_object();
	json_object_set_new(device(c, "block", "a"), "read_count", json_integer(5));
	json_object_set_new(device(c, "block", "c"), "read_count", json_integer(1));
	metrics_add(device(c, "block", "a"), "read_agg", "sum_us", 26);
	line = line_of(&m, c, g);
	assert_int_equal(get(line, "block_a", "read_count"), 2);
	assert_int_equal(get(line, "block_c", "read_count"), 1);
	assert_null(json_object_get(line, "block_b"));
	assert_int_equal(get(line, "block", "read_count"), 3);
	assert_int_equal(lat(line, "block", "read_agg", "sum_us"), 6);
	assert_int_equal(lat(line, "block_a", "read_agg", "min_us"), 5);
	json_decref(line);
	json_decref(c);
	json_decref(g);
	metrics_destroy(&m);
}

struct fake_dev {
	const struct dev_counter *c;
	unsigned int n;
};

static unsigned int fake_counters(void *dev, struct dev_counter *out, unsigned int max)
{
	struct fake_dev *d = dev;

	return dev_counters_copy(out, max, d->c, d->n);
}

static const struct component_ops fake_ops = { .counters = fake_counters };
static const struct component_ops quiet_ops = { .destroy = NULL };

#define FAKE(...)                                                                            \
	{ (const struct dev_counter[]){ __VA_ARGS__ },                                       \
	  sizeof((const struct dev_counter[]){ __VA_ARGS__ }) / sizeof(struct dev_counter) }

static void add_dev(struct vm *vm, const char *id, const char *type, struct fake_dev *d)
{
	assert_int_equal(registry_add(&vm->registry, COMP_DEVICE, id, type, NULL,
				      &(struct component){ d ? &fake_ops : &quiet_ops, d }), 0);
}

static void test_collect_vm(void **state)
{
	struct fake_dev disk = FAKE({ "read_requests", 7 }, { "read_bytes", 512 },
				    { "errors", 1 }, { "flush_ignored", 2 },
				    { "rate_limiter_throttled", 3 });
	struct fake_dev nic = FAKE({ "rx_packets", 4 }, { "rx_bytes", 400 }, { "tx_dropped", 1 },
				   { "mmds_frames_in", 2 }, { "mmds_frames_out", 3 });
	struct fake_dev com1 = FAKE({ "out_bytes", 11 }, { "in_bytes", 2 },
				    { "rate_limiter_dropped_bytes", 1 });
	struct fake_dev rng = FAKE({ "requests", 9 }, { "bytes", 64 });
	struct fake_dev pm = FAKE({ "flushes", 2 }, { "cfg_fails", 1 });
	struct fake_dev other = FAKE({ "requests", 5 });
	static struct component_ops vcpu_counted;
	json_t *c = json_object(), *g = json_object(), *line, *mine;
	struct vcpu v0, v1;
	struct metrics m;
	struct vm vm;

	(void)state;
	memset(&vm, 0, sizeof(vm));
	memset(&v0, 0, sizeof(v0));
	memset(&v1, 0, sizeof(v1));
	registry_init(&vm.registry);
	add_dev(&vm, "com1", "serial", &com1);
	add_dev(&vm, "rtc", "rtc", NULL);
	add_dev(&vm, "my-disk", "virtio-blk", &disk);
	add_dev(&vm, "eth0", "virtio-net", &nic);
	add_dev(&vm, "entropy", "virtio-rng", &rng);
	add_dev(&vm, "p0", "virtio-pmem", &pm);
	add_dev(&vm, "pm", "acpi-pm", &other);
	v0.exits[VCPU_EXIT_IO_OUT] = 100;
	v1.exits[VCPU_EXIT_IO_OUT] = 11;
	v1.exits[VCPU_EXIT_MMIO_WRITE] = 4;
	v0.exits[VCPU_EXIT_HLT] = 6;
	v0.exits[VCPU_EXIT_FAIL_ENTRY] = 1;
	v1.exits[VCPU_EXIT_RUN_FAILED] = 2;
	/* The vCPUs' counters, as their component has them; not their destroy (not real vCPUs). */
	vcpu_counted.counters = vcpu_component.counters;
	assert_int_equal(registry_add(&vm.registry, COMP_VCPU, "0", "vcpu", NULL,
				      &(struct component){ &vcpu_counted, &v0 }), 0);
	assert_int_equal(registry_add(&vm.registry, COMP_VCPU, "1", "vcpu", NULL,
				      &(struct component){ &vcpu_counted, &v1 }), 0);

	metrics_collect_vm(c, &vm);
	metrics_init(&m, NULL, NULL);
	line = line_of(&m, c, g);
	/* Renamed where Hearth's word is another, as it is where the word is Firecracker's. */
	assert_int_equal(get(line, "block_my-disk", "read_count"), 7);
	assert_int_equal(get(line, "block_my-disk", "read_bytes"), 512);
	assert_int_equal(get(line, "block_my-disk", "execute_fails"), 1);
	assert_int_equal(get(line, "block_my-disk", "rate_limiter_throttled_events"), 3);
	assert_int_equal(get(line, "block", "read_count"), 7);
	assert_int_equal(get(line, "net_eth0", "rx_packets_count"), 4);
	assert_int_equal(get(line, "net_eth0", "rx_count"), 4);
	assert_int_equal(get(line, "net_eth0", "rx_bytes_count"), 400);
	assert_int_equal(get(line, "net_eth0", "tx_fails"), 0);
	assert_int_equal(get(line, "mmds", "rx_accepted"), 2);
	assert_int_equal(get(line, "mmds", "tx_frames"), 3);
	assert_int_equal(get(line, "uart", "write_count"), 11);
	assert_int_equal(get(line, "uart", "read_count"), 2);
	assert_int_equal(get(line, "uart", "rate_limiter_dropped_bytes"), 1);
	assert_int_equal(get(line, "entropy", "entropy_bytes"), 64);
	assert_int_equal(get(line, "entropy", "entropy_event_count"), 0);
	assert_int_equal(get(line, "pmem_p0", "cfg_fails"), 1);
	assert_int_equal(get(line, "pmem", "cfg_fails"), 1);
	assert_int_equal(get(line, "vcpu", "exit_io_out"), 111);
	assert_int_equal(get(line, "vcpu", "exit_mmio_write"), 4);
	assert_int_equal(get(line, "vcpu", "failures"), 3);
	/* Hearth's own: every counter under its device's own name, nothing left out. */
	mine = json_object_get(line, METRICS_HEARTH);
	assert_int_equal(get(mine, "uart_com1", "out_bytes"), 11);
	assert_int_equal(get(mine, "block_my-disk", "read_requests"), 7);
	assert_int_equal(get(mine, "block_my-disk", "flush_ignored"), 2);
	assert_int_equal(get(mine, "net_eth0", "tx_dropped"), 1);
	assert_int_equal(get(mine, "entropy", "requests"), 9);
	assert_int_equal(get(mine, "pmem_p0", "flushes"), 2);
	assert_int_equal(get(mine, "acpi_pm_pm", "requests"), 5);
	assert_int_equal(get(mine, "vcpu", "exit_hlt"), 6);
	assert_int_equal(get(mine, "vcpu", "kvm_run_failures"), 2);
	/* A device without counters has no group; one Firecracker has none for, only Hearth's. */
	assert_null(json_object_get(mine, "rtc"));
	assert_null(json_object_get(line, "acpi_pm_pm"));
	assert_null(json_object_get(line, "uart_com1"));
	json_decref(line);
	json_decref(c);
	json_decref(g);
	metrics_destroy(&m);
	registry_destroy(&vm.registry);
}

static void test_api_routes(void **state)
{
	struct metrics_api a;
	json_t *c = json_object();
	int r;

	(void)state;
	memset(&a, 0, sizeof(a));
	assert_true(metrics_api_route("GET", "/", false) >= 0);
	assert_int_equal(metrics_api_route("GET", "/x", false), -1);
	/* A GET with a body, a PUT without one: Firecracker's parser refuses them first. */
	assert_int_equal(metrics_api_route("GET", "/", true), -1);
	assert_int_equal(metrics_api_route("PUT", "/drives/a", false), -1);
	assert_int_equal(metrics_api_route("PUT", "/drives/a", true),
			 metrics_api_route("PUT", "/drives", true));
	assert_int_equal(metrics_api_route("PUT", "/drivesx", true), -1);
	assert_int_equal(metrics_api_route("PUT", "/mmds/config", true),
			 metrics_api_route("PUT", "/mmds", true));
	assert_true(metrics_api_route("PATCH", "/hotplug/memory", true) >= 0);
	assert_int_equal(metrics_api_route("PATCH", "/hotplug/other", true), -1);
	assert_int_equal(metrics_api_route("PUT", "/entropy", true), -1);
	assert_int_equal(metrics_api_route("DELETE", "/drives/a", false), -1);

	r = metrics_api_route("PUT", "/drives/a", true);
	metrics_api_count(&a, r);
	metrics_api_done(&a, r, true, false);
	metrics_api_count(&a, r);
	metrics_api_done(&a, r, false, true);
	r = metrics_api_route("PATCH", "/machine-config", true);
	metrics_api_count(&a, r);
	metrics_api_done(&a, r, false, false);
	r = metrics_api_route("GET", "/version", false);
	metrics_api_count(&a, r);
	metrics_api_done(&a, r, true, false);
	metrics_api_done(&a, -1, true, true);
	metrics_api_collect(&a, c);
	assert_int_equal(get(c, "put_api_requests", "drive_count"), 2);
	assert_int_equal(get(c, "put_api_requests", "drive_fails"), 1);
	assert_int_equal(get(c, "put_api_requests", "actions_count"), 0);
	assert_int_equal(get(c, "patch_api_requests", "machine_cfg_count"), 1);
	assert_int_equal(get(c, "get_api_requests", "vmm_version_count"), 1);
	/* A GET has no fails in Firecracker's groups. */
	assert_null(json_object_get(json_object_get(c, "get_api_requests"), "vmm_version_fails"));
	assert_int_equal(get(c, "deprecated_api", "deprecated_http_api_calls"), 2);
	/* Every field collected is one of the schema's, and all of the three groups' are. */
	for (int i = 0; i < 3; i++) {
		static const char *const names[] = { "get_api_requests", "put_api_requests",
						     "patch_api_requests" };
		const struct metrics_group *grp = metrics_schema_find(names[i]);
		json_t *got = json_object_get(c, names[i]);
		const char *k;
		json_t *v;

		assert_int_equal(json_object_size(got), grp->nfields);
		json_object_foreach(got, k, v)
			assert_non_null(metrics_schema_field(grp, k));
	}
	json_decref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_group),
		cmocka_unit_test(test_aggregate),
		cmocka_unit_test(test_collect_vm),
		cmocka_unit_test(test_api_routes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
