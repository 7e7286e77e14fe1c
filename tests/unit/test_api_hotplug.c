/*
 * Memory hotplug's endpoints through the routes, on a fake VM:
 * Firecracker's PUT, GET and PATCH /hotplug/memory, its bounds and words
 * for every refusal, in every state; the config file's "memory-hotplug"
 * and GET /vm/config; and the snapshot Hearth refuses for such a VM.
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
#include "fcjson/config_json.h"

#define FC_PRE "The requested operation is not supported before starting the microVM."
#define FC_POST "The requested operation is not supported after starting the microVM."
#define CFG_ERR "Memory hotplug config error: "
#define NO_DEVICE "Failed perform action on device: Device not found"

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

static void expect_config(struct fixture *f, json_int_t total, json_int_t block, json_int_t slot)
{
	json_t *o = get_json(f, "/vm/config"), *h = json_object_get(o, "memory-hotplug");

	assert_int_equal(json_integer_value(json_object_get(h, "total_size_mib")), total);
	assert_int_equal(json_integer_value(json_object_get(h, "block_size_mib")), block);
	assert_int_equal(json_integer_value(json_object_get(h, "slot_size_mib")), slot);
	assert_int_equal(json_object_size(h), 3);
	json_decref(o);
}

/* Firecracker's MemoryHotplugConfig::validate, bound by bound, in its order and words. */
static void test_put_bounds(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[][2] = {
		{ "{\"total_size_mib\": 1024, \"block_size_mib\": 1}",
		  "Block size must not be lower than 2 MiB" },
		{ "{\"total_size_mib\": 1024, \"block_size_mib\": 0}",
		  "Block size must not be lower than 2 MiB" },
		{ "{\"total_size_mib\": 1024, \"block_size_mib\": 3}",
		  "Block size must be a power of 2" },
		{ "{\"total_size_mib\": 1024, \"block_size_mib\": 2, \"slot_size_mib\": 1}",
		  "Slot size must not be lower than 128 MiB" },
		{ "{\"total_size_mib\": 1024, \"block_size_mib\": 4, \"slot_size_mib\": 130}",
		  "Slot size must be a multiple of block size (4 MiB)" },
		{ "{\"total_size_mib\": 1024, \"block_size_mib\": 256}",
		  "Slot size must be a multiple of block size (256 MiB)" },
		{ "{\"total_size_mib\": 64}", "Total size must not be lower than slot size (128 MiB)" },
		{ "{\"total_size_mib\": 0}", "Total size must not be lower than slot size (128 MiB)" },
		{ "{\"total_size_mib\": 1000}",
		  "Total size must be a multiple of slot size (128 MiB)" },
		{ "{\"total_size_mib\": 1024, \"slot_size_mib\": 384}",
		  "Total size must be a multiple of slot size (384 MiB)" },
		{ "{\"total_size_mib\": 4294967295, \"block_size_mib\": 2147483648, "
		  "\"slot_size_mib\": 2147483648}",
		  "Total size must be a multiple of slot size (2147483648 MiB)" },
	};
	char want[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(req(f, "PUT", "/hotplug/memory", bad[i][0]), 400);
		snprintf(want, sizeof(want), CFG_ERR "%s", bad[i][1]);
		expect_fault_is(want);
	}
	/* Nothing taken: GET /vm/config has none. */
	{
		json_t *o = get_json(f, "/vm/config");

		assert_true(json_is_null(json_object_get(o, "memory-hotplug")));
		json_decref(o);
	}
	/* Firecracker's defaults: blocks of 2 MiB, slots of 128 MiB. */
	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{\"total_size_mib\": 1024}"), 204);
	expect_config(f, 1024, 2, 128);
	/* Again: the second replaces the first; a refused one leaves it. */
	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{\"total_size_mib\": 2048, "
			     "\"block_size_mib\": 64, \"slot_size_mib\": 256}"), 204);
	expect_config(f, 2048, 64, 256);
	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{\"total_size_mib\": 100}"), 400);
	expect_config(f, 2048, 64, 256);
	/* null counts as left out (the codec's rule for every object). */
	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{\"total_size_mib\": 128, "
			     "\"block_size_mib\": null}"), 204);
	expect_config(f, 128, 2, 128);
}

static void test_bad_bodies(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{}"), 400);
	expect_fault_is(SERDE "missing field `total_size_mib` at line 1 column 2.");
	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{\"total_size_mib\": \"bar\"}"), 400);
	expect_fault(SERDE "invalid type: string \"bar\", expected u32");
	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{\"total_size_mib\": 4294967296}"), 400);
	expect_fault(SERDE "invalid value: integer `4294967296`, expected u32");
	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{\"total_size_mib\": -1}"), 400);
	expect_fault(SERDE "invalid value: integer `-1`, expected u32");
	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{\"total_size_mib\": 1024, "
			     "\"requested_size_mib\": 1}"), 400);
	expect_fault(SERDE "unknown field `requested_size_mib`");
	assert_int_equal(req(f, "PUT", "/hotplug/memory", NULL), 400);
	expect_fault_is("Empty PUT request.");
	/* Other paths under /hotplug/ are not Firecracker's memory endpoint. */
	assert_int_equal(req(f, "PUT", "/hotplug/memory/x", "{}"), 400);
	expect_fault("is not supported yet");
	assert_int_equal(req(f, "DELETE", "/hotplug/memory", NULL), 400);
}

static void test_before_boot(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "GET", "/hotplug/memory", NULL), 400);
	expect_fault_is(FC_PRE);
	assert_int_equal(req(f, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": 4}"), 400);
	expect_fault_is(FC_PRE);
	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{\"total_size_mib\": 1024}"), 204);
	assert_int_equal(req(f, "GET", "/hotplug/memory", NULL), 400);
	expect_fault_is(FC_PRE);
	assert_int_equal(req(f, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": 4}"), 400);
	expect_fault_is(FC_PRE);
	assert_int_equal(f->vm.hotplug_calls, 0);
	/* Firecracker's boot_path: a hotplug PUT closes snapshot/load. */
	assert_int_equal(req(f, "PUT", "/snapshot/load", "{\"snapshot_path\": \"/s\", "
			     "\"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": "
			     "\"/m\"}}"), 400);
	expect_fault("Loading a microVM snapshot not allowed after configuring boot-specific "
		     "resources.");
}

static void test_after_boot(void **state)
{
	struct fixture *f = *state;
	json_t *o;

	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{\"total_size_mib\": 1024}"), 204);
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{\"total_size_mib\": 2048}"), 400);
	expect_fault_is(FC_POST);
	/* A refused PUT after boot does not read the body's values either. */
	assert_int_equal(req(f, "PUT", "/hotplug/memory", "{\"total_size_mib\": 1}"), 400);
	expect_fault_is(FC_POST);
	assert_int_equal(req(f, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": 256}"), 204);
	assert_int_equal(f->vm.last_requested, 256);
	o = get_json(f, "/hotplug/memory");
	assert_int_equal(json_integer_value(json_object_get(o, "requested_size_mib")), 256);
	json_decref(o);
	/* The body's words are serde's; the device is not asked. */
	assert_int_equal(req(f, "PATCH", "/hotplug/memory", "{}"), 400);
	expect_fault_is(SERDE "missing field `requested_size_mib` at line 1 column 2.");
	assert_int_equal(req(f, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": 1, "
			     "\"x\": 2}"), 400);
	expect_fault(SERDE "unknown field `x`");
	assert_int_equal(req(f, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": -2}"), 400);
	expect_fault(SERDE "invalid value: integer `-2`, expected u32");
	assert_int_equal(f->vm.hotplug_calls, 2);
	/* The device's refusal, after Firecracker's MemoryHotplugUpdate and InternalVmm prefixes. */
	f->vm.hotplug_ret = -EINVAL;
	assert_int_equal(req(f, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": 4}"), 400);
	expect_fault_is("Memory hotplug update error: Failed to create memory hotplug device: "
			"Device is not active");
	assert_int_equal(req(f, "GET", "/hotplug/memory", NULL), 400);
	expect_fault_is("Internal VMM error: Failed to create memory hotplug device: Device is "
			"not active");
	f->vm.hotplug_ret = 0;
	/* GET /vm/config keeps the config. */
	expect_config(f, 1024, 2, 128);
	/* Paused, the same. */
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 204);
	assert_int_equal(req(f, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": 0}"), 204);
	assert_int_equal(f->vm.last_requested, 0);
	/* A snapshot goes to the VM, which writes the plugged memory (snapshot/create.c). */
	assert_int_equal(req(f, "PUT", "/snapshot/create", "{\"snapshot_path\": \"/s\", "
			     "\"mem_file_path\": \"/m\"}"), 204);
	assert_int_equal(f->vm.creates, 1);
}

static void test_after_boot_without_device(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
	assert_int_equal(req(f, "GET", "/hotplug/memory", NULL), 400);
	expect_fault_is("Internal VMM error: " NO_DEVICE);
	assert_int_equal(req(f, "PATCH", "/hotplug/memory", "{\"requested_size_mib\": 2}"), 400);
	expect_fault_is("Memory hotplug update error: " NO_DEVICE);
	assert_int_equal(f->vm.hotplug_calls, 0);
}

/* The config file's section: the same object and words, "memory-hotplug: " before them. */
static void test_config_file(void **state)
{
	struct vm_config c;
	struct err err = ERR_INIT;
	json_t *root;

	(void)state;
	vm_config_init(&c);
	root = json_loads("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"machine-config\": "
			  "{\"vcpu_count\": 1, \"mem_size_mib\": 128}, \"memory-hotplug\": "
			  "{\"total_size_mib\": 256, \"slot_size_mib\": 256}}", 0, NULL);
	assert_int_equal(config_json_full(&c, root, &err), 0);
	assert_true(c.hotplug.present);
	assert_int_equal(c.hotplug.total_size_mib, 256);
	assert_int_equal(c.hotplug.block_size_mib, 2);
	assert_int_equal(c.hotplug.slot_size_mib, 256);
	json_decref(root);
	vm_config_release(&c);
	vm_config_init(&c);
	root = json_loads("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"memory-hotplug\": "
			  "{\"total_size_mib\": 200}}", 0, NULL);
	assert_int_equal(config_json_full(&c, root, &err), -EINVAL);
	assert_string_equal(err.msg, "memory-hotplug: Total size must be a multiple of slot size "
			    "(128 MiB)");
	json_decref(root);
	vm_config_release(&c);
	/* null: none, as GET /vm/config writes it. */
	vm_config_init(&c);
	root = json_loads("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"memory-hotplug\": "
			  "null}", 0, NULL);
	assert_int_equal(config_json_full(&c, root, &err), 0);
	assert_false(c.hotplug.present);
	json_decref(root);
	vm_config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_before_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_after_boot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_after_boot_without_device, setup, teardown),
		cmocka_unit_test(test_config_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
