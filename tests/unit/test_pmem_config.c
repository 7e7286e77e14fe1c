/*
 * The model's pmem devices: Firecracker's PmemBuilder rules and words
 * (one root device, pmem or block; a PUT of an id replaces it in its
 * place), its JSON (PmemConfig, the config file's "pmem", GET
 * /vm/config's), the kernel command line's root=/dev/pmemN, and where the
 * windows go in guest-physical space.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "fcjson/config_json.h"
#include "fcjson/config_json_pmem.h"
#include "vmm/devices.h"
#include "vmm/vm.h"

static struct vm_pmem pm(const char *id, bool root, bool ro)
{
	struct vm_pmem p = { .path_on_host = "/p", .root_device = root, .read_only = ro };

	snprintf(p.id, sizeof(p.id), "%s", id);
	return p;
}

static void test_root_rules(void **state)
{
	struct vm_config c;
	struct err err = ERR_INIT;
	struct vm_pmem p;
	struct vm_drive d = { .id = "rootfs", .path_on_host = "/d", .is_root_device = true };

	(void)state;
	vm_config_init(&c);
	p = pm("a", true, false);
	assert_int_equal(vm_config_put_pmem(&c, &p, true, &err), 0);
	/* The same id again, still root: replaced, in place. */
	p.read_only = true;
	assert_int_equal(vm_config_put_pmem(&c, &p, true, &err), 0);
	assert_int_equal(c.npmem, 1);
	assert_true(c.pmem[0].read_only);
	p = pm("b", true, false);
	assert_int_equal(vm_config_put_pmem(&c, &p, true, &err), -EINVAL);
	assert_string_equal(err.msg, "A root pmem device already exist");
	assert_int_equal(vm_config_put_drive(&c, &d, true, &err), -EINVAL);
	assert_string_equal(err.msg, "Attempt to add block as a root device while the root device "
			    "defined as a pmem device");
	/* a no longer root: the drive may be, and then no pmem may. */
	p = pm("a", false, false);
	assert_int_equal(vm_config_put_pmem(&c, &p, true, &err), 0);
	assert_int_equal(vm_config_put_drive(&c, &d, true, &err), 0);
	p = pm("a", true, false);
	assert_int_equal(vm_config_put_pmem(&c, &p, true, &err), -EINVAL);
	assert_string_equal(err.msg, "Attempt to add pmem as a root device while the root device "
			    "defined as a block device");
	assert_false(c.pmem[0].root_device);
	/* The CLI's way: an id twice is an error. */
	p = pm("a", false, false);
	assert_int_equal(vm_config_put_pmem(&c, &p, false, &err), -EINVAL);
	p = pm("bad id", false, false);
	assert_int_equal(vm_config_put_pmem(&c, &p, true, &err), -EINVAL);
	p = pm("e", false, false);
	p.path_on_host = "";
	assert_int_equal(vm_config_put_pmem(&c, &p, true, &err), -EINVAL);
	vm_config_release(&c);
}

static void test_limits_and_patch(void **state)
{
	struct vm_config c;
	struct err err = ERR_INIT;
	struct vm_pmem p;
	struct vm_pmem_patch pt = { .id = "p3", .has_rate_limiter = true,
				    .rate_limiter = { .ops = { .set = true, .size = 5,
							       .refill_time = 10 } } };
	char id[8];

	(void)state;
	vm_config_init(&c);
	for (unsigned int i = 0; i < VM_MAX_PMEM; i++) {
		snprintf(id, sizeof(id), "p%u", i);
		p = pm(id, false, false);
		assert_int_equal(vm_config_put_pmem(&c, &p, true, &err), 0);
	}
	p = pm("more", false, false);
	assert_int_equal(vm_config_put_pmem(&c, &p, true, &err), -EINVAL);
	assert_int_equal(vm_config_check_pmem_patch(&c, &pt, &err), 0);
	vm_config_patch_pmem(&c, &pt);
	assert_int_equal(c.pmem[3].rate_limiter.ops.size, 5);
	assert_false(c.pmem[3].rate_limiter.bandwidth.set);
	pt.id = "nope";
	assert_int_equal(vm_config_check_pmem_patch(&c, &pt, &err), -EINVAL);
	assert_string_equal(err.msg, "Unable to patch the pmem device: Failed perform action on "
			    "device: Device not found Please verify the request arguments.");
	vm_config_release(&c);
}

static json_t *parse(const char *s)
{
	json_error_t je;
	json_t *o = json_loads(s, 0, &je);

	assert_non_null(o);
	return o;
}

static void test_json(void **state)
{
	struct vm_config c, d;
	struct err err = ERR_INIT;
	json_t *o, *dump, *arr;

	(void)state;
	vm_config_init(&c);
	o = parse("{\"id\": \"p0\", \"path_on_host\": \"/img\", \"root_device\": true, "
		  "\"read_only\": true, \"rate_limiter\": {\"ops\": {\"size\": 1, "
		  "\"refill_time\": 100}}}");
	assert_int_equal(config_json_pmem(&c, o, "p0", &err), 0);
	assert_int_equal(config_json_pmem(&c, o, "p1", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "The id from the path does not match the id from the "
				 "body!"));
	json_decref(o);
	o = parse("{\"id\": \"p1\"}");
	assert_int_equal(config_json_pmem(&c, o, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "missing field `path_on_host`"));
	json_decref(o);
	o = parse("{\"id\": \"p1\", \"path_on_host\": \"/x\", \"root_device\": 1}");
	assert_int_equal(config_json_pmem(&c, o, NULL, &err), -EINVAL);
	json_decref(o);
	assert_int_equal(c.npmem, 1);

	/* GET /vm/config's "pmem", and back through the config file's parser. */
	dump = config_json_dump_full(&c);
	arr = json_object_get(dump, "pmem");
	assert_int_equal(json_array_size(arr), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0),
							      "path_on_host")), "/img");
	assert_true(json_is_true(json_object_get(json_array_get(arr, 0), "read_only")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(
		json_array_get(arr, 0), "rate_limiter"), "ops"), "size")), 1);
	json_object_set_new(dump, "boot-source", json_pack("{s:s}", "kernel_image_path", "/k"));
	vm_config_init(&d);
	assert_int_equal(config_json_full(&d, dump, &err), 0);
	assert_int_equal(d.npmem, 1);
	assert_true(d.pmem[0].root_device && d.pmem[0].read_only);
	assert_int_equal(d.pmem[0].rate_limiter.ops.size, 1);
	vm_config_release(&d);
	/* The config file: drives come first, so a root drive refuses a root pmem. */
	json_object_set_new(dump, "drives", json_pack("[{s:s, s:s, s:b}]", "drive_id", "r",
						      "path_on_host", "/r", "is_root_device", 1));
	vm_config_init(&d);
	assert_int_equal(config_json_full(&d, dump, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "Attempt to add pmem as a root device"));
	vm_config_release(&d);
	json_decref(dump);

	/* PmemDeviceUpdateConfig. */
	{
		struct rl_config rl;
		bool has;

		o = parse("{\"id\": \"p0\"}");
		assert_int_equal(config_json_pmem_update(o, "p0", &rl, &has, &err), 0);
		assert_false(has);
		json_decref(o);
		o = parse("{\"id\": \"p0\", \"rate_limiter\": {\"bandwidth\": {\"size\": 9, "
			  "\"refill_time\": 9}}}");
		assert_int_equal(config_json_pmem_update(o, "p0", &rl, &has, &err), 0);
		assert_true(has && rl.bandwidth.set && rl.bandwidth.size == 9 && !rl.ops.set);
		json_decref(o);
		o = parse("{\"id\": \"p0\", \"path_on_host\": \"/x\"}");
		assert_int_equal(config_json_pmem_update(o, "p0", &rl, &has, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "unknown field `path_on_host`"));
		json_decref(o);
	}
	vm_config_release(&c);
}

static void test_cmdline(void **state)
{
	struct vm_config c;
	struct err err = ERR_INIT;
	struct vm_pmem p;
	char line[512];

	(void)state;
	vm_config_init(&c);
	c.virtio_cmdline = false;
	p = pm("a", false, false);
	assert_int_equal(vm_config_put_pmem(&c, &p, true, &err), 0);
	p = pm("b", true, true);
	assert_int_equal(vm_config_put_pmem(&c, &p, true, &err), 0);
	assert_int_equal(vm_kernel_cmdline(&c, false, NULL, 0, line, sizeof(line)), 0);
	assert_string_equal(line, VM_DEFAULT_CMDLINE " root=/dev/pmem1 ro");
	p = pm("b", true, false);
	assert_int_equal(vm_config_put_pmem(&c, &p, true, &err), 0);
	assert_int_equal(vm_kernel_cmdline(&c, false, NULL, 0, line, sizeof(line)), 0);
	assert_string_equal(line, VM_DEFAULT_CMDLINE " root=/dev/pmem1 rw");
	vm_config_release(&c);
}

/* Past RAM and the 32-bit hole, on a 2 MiB line, whatever the RAM. */
static void test_window_base(void **state)
{
	struct guest_mem gm;

	(void)state;
	memset(&gm, 0, sizeof(gm));
	assert_int_equal(guest_mem_layout(&gm, 128ull << 20), 0);
	assert_int_equal(vm_pmem_base(&gm), 1ull << 32);
	memset(&gm, 0, sizeof(gm));
	assert_int_equal(guest_mem_layout(&gm, (4ull << 30) + (1ull << 20)), 0);
	assert_int_equal(vm_pmem_base(&gm) % (2ull << 20), 0);
	assert_true(vm_pmem_base(&gm) >= gm.regions[gm.nregions - 1].gpa +
					 gm.regions[gm.nregions - 1].size);
	assert_true(vm_pmem_base(&gm) < gm.regions[gm.nregions - 1].gpa +
					gm.regions[gm.nregions - 1].size + (2ull << 20));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_rules), cmocka_unit_test(test_limits_and_patch),
		cmocka_unit_test(test_json), cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_window_base),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
