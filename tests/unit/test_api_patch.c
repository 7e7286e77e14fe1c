/*
 * PATCH /drives/{id} and /network-interfaces/{id} through the routes, on a
 * fake VM that records what reaches it: bodies, and the model changing
 * only when the device did (when each is allowed: test_control.c).
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

#include "api/routes.h"
#include "api_req.h"
#include "control/control.h"
#include "fake_vm.h"

struct fixture {
	struct ctl ctl;
	struct fake_vm vm;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(ctl_init(&f->ctl, NULL, NULL, &fake_vm_ops, &f->vm), 0);
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 204);
	assert_int_equal(req(f, "PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", "
			     "\"path_on_host\": \"/a.img\", \"is_root_device\": true, \"rate_limiter\":"
			     " {\"ops\": {\"size\": 10, \"refill_time\": 100}}}"), 204);
	assert_int_equal(req(f, "PUT", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", "
			     "\"host_dev_name\": \"tap0\"}"), 204);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ctl_destroy(&f->ctl);
	free(f);
	return 0;
}

static void boot(struct fixture *f)
{
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
}

/* The drive in GET /vm/config, as a new reference. */
static json_t *drive0(struct fixture *f)
{
	json_t *o, *d;

	assert_int_equal(req(f, "GET", "/vm/config", NULL), 200);
	o = json_loads(body_out, 0, NULL);
	d = json_incref(json_array_get(json_object_get(o, "drives"), 0));
	json_decref(o);
	return d;
}

static uint64_t bucket_field(json_t *parent, const char *rl, const char *bucket, const char *f)
{
	return (uint64_t)json_integer_value(json_object_get(json_object_get(
		json_object_get(parent, rl), bucket), f));
}

/*
 * Firecracker's rule (test_api.py's test_api_patch_pre_boot): a drive is
 * PUT again before boot, never PATCHed; the refusal changes nothing.
 */
static void test_drive_before_boot_refused(void **state)
{
	struct fixture *f = *state;
	json_t *d;

	assert_int_equal(req(f, "PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\", "
			     "\"path_on_host\": \"/b.img\", \"rate_limiter\": {\"bandwidth\":"
			     " {\"size\": 4096, \"refill_time\": 10, \"one_time_burst\": 1}}}"), 400);
	expect_fault("The requested operation is not supported before starting the microVM.");
	assert_int_equal(req(f, "PATCH", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\"}"),
			 400);
	expect_fault("The requested operation is not supported before starting the microVM.");
	/* The same state rule for the endpoints Hearth lacks (test_api_patch_pre_boot). */
	assert_int_equal(req(f, "PATCH", "/pmem/p0", "{\"id\": \"p0\"}"), 400);
	expect_fault_is("The requested operation is not supported before starting the microVM.");
	assert_int_equal(req(f, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": 4}"), 400);
	expect_fault_is("The requested operation is not supported before starting the microVM.");
	assert_int_equal(f->vm.drive_patches + f->vm.net_patches, 0);
	d = drive0(f);
	assert_string_equal(json_string_value(json_object_get(d, "path_on_host")), "/a.img");
	assert_true(json_is_null(json_object_get(json_object_get(d, "rate_limiter"), "bandwidth")));
	json_decref(d);
}

static void test_drive_after_boot_reaches_the_device(void **state)
{
	struct fixture *f = *state;
	json_t *d;

	boot(f);
	assert_int_equal(req(f, "PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\", "
			     "\"rate_limiter\": {\"ops\": {\"size\": 0, \"refill_time\": 0}}}"), 204);
	assert_int_equal(f->vm.drive_patches, 1);
	assert_string_equal(f->vm.drive_id, "rootfs");
	assert_false(f->vm.had_path);
	assert_true(f->vm.rl.ops.set);
	assert_false(f->vm.rl.bandwidth.set);
	/* The device refuses the new file: 400 with its words, the model as it was. */
	f->vm.patch_ret = -EINVAL;
	assert_int_equal(req(f, "PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\", "
			     "\"path_on_host\": \"/nope.img\"}"), 400);
	expect_fault("Drive config error: drive 'rootfs': cannot open disk /nope.img");
	assert_int_equal(f->vm.drive_patches, 2);
	d = drive0(f);
	assert_string_equal(json_string_value(json_object_get(d, "path_on_host")), "/a.img");
	json_decref(d);
	f->vm.patch_ret = 0;
	assert_int_equal(req(f, "PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\", "
			     "\"path_on_host\": \"/c.img\"}"), 204);
	assert_string_equal(f->vm.path, "/c.img");
	d = drive0(f);
	assert_string_equal(json_string_value(json_object_get(d, "path_on_host")), "/c.img");
	json_decref(d);
}

static void test_net_after_boot(void **state)
{
	struct fixture *f = *state;
	const char *body = "{\"iface_id\": \"eth0\", \"tx_rate_limiter\": {\"bandwidth\":"
			   " {\"size\": 1000, \"refill_time\": 100}}}";
	json_t *o;

	boot(f);
	assert_int_equal(req(f, "PATCH", "/network-interfaces/eth0", body), 204);
	assert_int_equal(f->vm.net_patches, 1);
	assert_true(f->vm.tx.bandwidth.set);
	assert_false(f->vm.rl.bandwidth.set || f->vm.rl.ops.set);
	assert_int_equal(req(f, "GET", "/vm/config", NULL), 200);
	o = json_loads(body_out, 0, NULL);
	assert_int_equal(bucket_field(json_array_get(json_object_get(o, "network-interfaces"), 0),
				      "tx_rate_limiter", "bandwidth", "size"), 1000);
	json_decref(o);
	assert_int_equal(req(f, "PATCH", "/network-interfaces/eth9", "{\"iface_id\": \"eth9\"}"),
			 400);
	expect_fault("Network config error: network interface 'eth9' does not exist");
	assert_int_equal(f->vm.net_patches, 1);
}

static void test_bad_bodies(void **state)
{
	struct fixture *f = *state;
	/*
	 * Firecracker's words: serde_json's, at its line and column, for what
	 * BlockDeviceUpdateConfig and NetworkInterfaceUpdateConfig refuse;
	 * Hearth's own for what they take but the device does not.
	 */
	static const char *const cases[][3] = {
		{ "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"is_read_only\": true}",
		  SERDE "unknown field `is_read_only`, expected one of `drive_id`, `path_on_host`, "
		  "`rate_limiter` at line 1 column 37." },
		{ "/drives/rootfs", "{\"path_on_host\": \"/x\"}",
		  SERDE "missing field `drive_id` at line 1 column 22." },
		/* parse_patch_drive's own words, which name neither id. */
		{ "/drives/rootfs", "{\"drive_id\": \"other\"}",
		  "The id from the path does not match the id from the body!" },
		{ "/drives/rootfs", "{\"drive_id\": 7}",
		  SERDE "invalid type: integer `7`, expected a string at line 1 column 14." },
		{ "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": 1}",
		  SERDE "invalid type: integer `1`, expected a string at line 1 column 40." },
		{ "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"\"}",
		  "Drive config error: drive 'rootfs': path_on_host is empty or too long" },
		{ "/drives/nope", "{\"drive_id\": \"nope\"}", "Drive config error: drive 'nope' does not exist" },
		/* Firecracker's for a PATCH that names neither a file nor a limiter. */
		{ "/drives/rootfs", "{\"drive_id\": \"rootfs\"}",
		  "Drive config error: Unable to patch the block device: Block: Running method "
		  "expected different backend. Please verify the request arguments." },
		{ "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"rate_limiter\": \"x\"}",
		  SERDE "invalid type: string \"x\", expected struct RateLimiterConfig at line 1 "
		  "column 42." },
		{ "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"rate_limiter\": {\"ops\":"
		  " {\"size\": -1, \"refill_time\": 1}}}",
		  SERDE "invalid value: integer `-1`, expected u64 at line 1 column 58." },
		{ "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"rate_limiter\": {\"ops\":"
		  " {\"size\": 1, \"refill_time\": 1, \"x\": 1}}}",
		  SERDE "unknown field `x`, expected one of `size`, `one_time_burst`, `refill_time` "
		  "at line 1 column 80." },
		{ "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"t\"}",
		  SERDE "unknown field `host_dev_name`, expected one of `iface_id`, "
		  "`rx_rate_limiter`, `tx_rate_limiter` at line 1 column 36." },
		{ "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"rx_rate_limiter\":"
		  " {\"bandwidth\": {\"refill_time\": 1}}}",
		  SERDE "missing field `size` at line 1 column 72." },
		/* parse_patch_net's, which name both. */
		{ "/network-interfaces/eth0", "{\"iface_id\": \"eth1\"}",
		  "The id from the path [eth0] does not match the id from the body [eth1]!" },
		{ "/drives/rootfs", "[1]",
		  SERDE "invalid type: sequence, expected struct BlockDeviceUpdateConfig at line 1 "
		  "column 0." },
		{ "/drives/rootfs", "", "Empty PATCH request." },
	};

	boot(f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(req(f, "PATCH", cases[i][0], cases[i][1]), 400);
		expect_fault_is(cases[i][2]);
	}
	/* Nothing reached the model. */
	assert_int_equal(req(f, "GET", "/vm/config", NULL), 200);
	assert_non_null(strstr(body_out, "\"/a.img\""));
	assert_null(strstr(body_out, "\"bandwidth\":{"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_drive_before_boot_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drive_after_boot_reaches_the_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_net_after_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_bodies, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
