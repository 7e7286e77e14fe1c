/*
 * The balloon's endpoints through the routes, on a fake VM: Firecracker's
 * test_api_balloon written anew, with its words for every refusal, in
 * every state, and the model following what the device was told.
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
	assert_int_equal(req(f, "PUT", "/machine-config", "{\"vcpu_count\": 2, "
			     "\"mem_size_mib\": 256}"), 204);
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

static json_t *get_json(struct fixture *f, const char *path)
{
	assert_int_equal(req(f, "GET", path, NULL), 200);
	return json_loads(body_out, 0, NULL);
}

static void test_before_boot(void **state)
{
	struct fixture *f = *state;
	json_t *o;

	/* None yet: Firecracker's words, for the config and for a change. */
	assert_int_equal(req(f, "GET", "/balloon", NULL), 400);
	expect_fault_is("Balloon config error: No balloon device found.");
	assert_int_equal(req(f, "PATCH", "/balloon", "{\"amount_mib\": 0}"), 400);
	expect_fault_is("The requested operation is not supported before starting the microVM.");
	assert_int_equal(req(f, "PUT", "/balloon", "{\"amount_mib\": 1, \"deflate_on_oom\": true}"),
			 204);
	/* Put again: the second replaces the first, defaults and all. */
	assert_int_equal(req(f, "PUT", "/balloon", "{\"amount_mib\": 0, \"deflate_on_oom\": false, "
			     "\"stats_polling_interval_s\": 5}"), 204);
	o = get_json(f, "/balloon");
	assert_int_equal(json_integer_value(json_object_get(o, "amount_mib")), 0);
	assert_true(json_is_false(json_object_get(o, "deflate_on_oom")));
	assert_int_equal(json_integer_value(json_object_get(o, "stats_polling_interval_s")), 5);
	assert_true(json_is_false(json_object_get(o, "free_page_hinting")));
	assert_true(json_is_false(json_object_get(o, "free_page_reporting")));
	json_decref(o);
	/* More than the VM's memory; the one before stays. */
	assert_int_equal(req(f, "PUT", "/balloon", "{\"amount_mib\": 1024, \"deflate_on_oom\": "
			     "false}"), 400);
	expect_fault_is("Balloon config error: Amount of pages requested is too large.");
	/* The memory may not shrink below the target now there is one. */
	assert_int_equal(req(f, "PUT", "/balloon", "{\"amount_mib\": 200, \"deflate_on_oom\": "
			     "false}"), 204);
	assert_int_equal(req(f, "PATCH", "/machine-config", "{\"mem_size_mib\": 128}"), 400);
	expect_fault_is("Machine config error: The memory size (MiB) is smaller than the "
			"previously set balloon device target size.");
	/* The device's reads and hinting wait for the device. */
	assert_int_equal(req(f, "GET", "/balloon/statistics", NULL), 400);
	expect_fault_is("The requested operation is not supported before starting the microVM.");
	assert_int_equal(req(f, "PATCH", "/balloon/hinting/start", NULL), 400);
	expect_fault_is("The requested operation is not supported before starting the microVM.");
	assert_int_equal(f->vm.balloon_calls, 0);
	/* GET /vm/config carries it, in Firecracker's shape. */
	o = get_json(f, "/vm/config");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "balloon"),
							    "amount_mib")), 200);
	json_decref(o);
}

static void test_bad_bodies(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/balloon", "{\"amount_mib\": 1}"), 400);
	expect_fault_is(SERDE "missing field `deflate_on_oom` at line 1 column 17.");
	assert_int_equal(req(f, "PUT", "/balloon", "{\"amount_mib\": -1, \"deflate_on_oom\": true}"),
			 400);
	expect_fault(SERDE "invalid value: integer `-1`, expected u32");
	assert_int_equal(req(f, "PUT", "/balloon", "{\"amount_mib\": 1, \"deflate_on_oom\": true, "
			     "\"stats_polling_interval_s\": 65536}"), 400);
	expect_fault(SERDE "invalid value: integer `65536`, expected u16");
	assert_int_equal(req(f, "PUT", "/balloon", "{\"amount_mib\": 1, \"deflate_on_oom\": true, "
			     "\"x\": 1}"), 400);
	expect_fault(SERDE "unknown field `x`");
	assert_int_equal(req(f, "GET", "/balloon", NULL), 400);
	expect_fault_is("Balloon config error: No balloon device found.");
}

static void boot_with_balloon(struct fixture *f)
{
	assert_int_equal(req(f, "PUT", "/balloon", "{\"amount_mib\": 0, \"deflate_on_oom\": false, "
			     "\"stats_polling_interval_s\": 5, \"free_page_hinting\": true}"), 204);
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
}

static void test_after_boot(void **state)
{
	struct fixture *f = *state;
	json_t *o;

	boot_with_balloon(f);
	assert_int_equal(req(f, "PUT", "/balloon", "{\"amount_mib\": 0, \"deflate_on_oom\": false}"),
			 400);
	expect_fault_is("The requested operation is not supported after starting the microVM.");
	assert_int_equal(req(f, "PATCH", "/balloon", "{\"amount_mib\": 4}"), 204);
	assert_int_equal(f->vm.last_balloon.type, CTL_PATCH_BALLOON);
	assert_int_equal(f->vm.last_balloon.amount_mib, 4);
	/* More than the memory: Firecracker's words, which name the amount; the device untold. */
	assert_int_equal(req(f, "PATCH", "/balloon", "{\"amount_mib\": 300}"), 400);
	expect_fault_is("Balloon update error: Balloon: Requested memory should be less than "
			"300MiB");
	assert_int_equal(req(f, "PATCH", "/balloon", "{\"amount_mib\": 33554432}"), 400);
	assert_int_equal(f->vm.balloon_calls, 1);
	assert_int_equal(req(f, "PATCH", "/balloon/statistics", "{\"stats_polling_interval_s\": 7}"),
			 204);
	assert_int_equal(f->vm.last_balloon.interval_s, 7);
	o = get_json(f, "/balloon");
	assert_int_equal(json_integer_value(json_object_get(o, "amount_mib")), 4);
	assert_int_equal(json_integer_value(json_object_get(o, "stats_polling_interval_s")), 7);
	json_decref(o);
	/* The device's refusal, after Firecracker's prefix; the model keeps the last target. */
	f->vm.balloon_ret = -EINVAL;
	assert_int_equal(req(f, "PATCH", "/balloon", "{\"amount_mib\": 8}"), 400);
	expect_fault_is("Balloon update error: Balloon: Device not activated yet.");
	assert_int_equal(req(f, "GET", "/balloon/statistics", NULL), 400);
	expect_fault_is("Internal VMM error: Balloon: Device not activated yet.");
	f->vm.balloon_ret = 0;
	o = get_json(f, "/balloon");
	assert_int_equal(json_integer_value(json_object_get(o, "amount_mib")), 4);
	json_decref(o);
	o = get_json(f, "/balloon/statistics");
	assert_non_null(json_object_get(o, "target_mib"));
	json_decref(o);
}

static void test_hinting(void **state)
{
	struct fixture *f = *state;
	json_t *o;

	boot_with_balloon(f);
	/* No body, an empty one or an object: all Firecracker's StartHintingCmd. */
	assert_int_equal(req(f, "PATCH", "/balloon/hinting/start", NULL), 204);
	assert_true(f->vm.last_balloon.ack_on_stop);
	assert_int_equal(req(f, "PATCH", "/balloon/hinting/start",
			     "{\"acknowledge_on_stop\": false}"), 204);
	assert_false(f->vm.last_balloon.ack_on_stop);
	assert_int_equal(f->vm.last_balloon.type, CTL_BALLOON_HINT_START);
	assert_int_equal(req(f, "PATCH", "/balloon/hinting/start", "{\"x\": 1}"), 400);
	expect_fault(SERDE "unknown field `x`");
	o = get_json(f, "/balloon/hinting/status");
	assert_true(json_is_null(json_object_get(o, "guest_cmd")));
	json_decref(o);
	assert_int_equal(req(f, "PATCH", "/balloon/hinting/stop", NULL), 204);
	assert_int_equal(f->vm.last_balloon.type, CTL_BALLOON_HINT_STOP);
	/* A body there is not read, as Firecracker's parse_patch_hinting. */
	assert_int_equal(req(f, "PATCH", "/balloon/hinting/stop", "{\"x\": 1}"), 204);
}

static void test_after_boot_without_balloon(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
	assert_int_equal(req(f, "GET", "/balloon", NULL), 400);
	expect_fault_is("Internal VMM error: Failed perform action on device: Device not found");
	assert_int_equal(req(f, "PATCH", "/balloon", "{\"amount_mib\": 0}"), 400);
	expect_fault_is("Balloon update error: Failed perform action on device: Device not found");
	assert_int_equal(req(f, "GET", "/balloon/statistics", NULL), 400);
	expect_fault_is("Internal VMM error: Failed perform action on device: Device not found");
	assert_int_equal(f->vm.balloon_calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_before_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_after_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hinting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_after_boot_without_balloon, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
