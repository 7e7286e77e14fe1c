/* config_json: Firecracker's JSON objects into the machine model, and back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/json_request.h"
#include "fcjson/config_json.h"
#include "fcjson/config_json_fault.h"

static struct err err;

static json_t *J(const char *text)
{
	json_error_t je;
	json_t *o = json_loads(text, 0, &je);

	if (!o)
		fail_msg("bad test JSON '%s': %s", text, je.text);
	return o;
}

/* Runs fn on a fresh model with the JSON; returns its result, err.msg holds the message. */
#define RUN(c, call_with_o, text)                                            \
	({                                                                   \
		json_t *o = J(text);                                         \
		int r_;                                                      \
		err.msg[0] = '\0';                                               \
		r_ = call_with_o;                                            \
		json_decref(o);                                              \
		r_;                                                          \
	})

static void expect_msg(const char *needle)
{
	if (!strstr(err.msg, needle))
		fail_msg("error '%s' does not mention '%s'", err.msg, needle);
	assert_null(strchr(err.msg, '\n'));
}

static void test_boot_source(void **state)
{
	struct vm_config c;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(RUN(&c, config_json_boot_source(&c, o, &err),
			     "{\"kernel_image_path\": \"/k\", \"boot_args\": \"console=ttyS0\","
			     " \"initrd_path\": \"/i\"}"), 0);
	assert_string_equal(c.boot.kernel_image_path, "/k");
	assert_string_equal(c.boot.boot_args, "console=ttyS0");
	assert_string_equal(c.boot.initrd_path, "/i");
	assert_int_equal(RUN(&c, config_json_boot_source(&c, o, &err),
			     "{\"boot_args\": \"x\"}"), -EINVAL);
	expect_msg("boot-source: missing field `kernel_image_path`");
	assert_int_equal(RUN(&c, config_json_boot_source(&c, o, &err),
			     "{\"kernel_image_path\": 5}"), -EINVAL);
	expect_msg("boot-source: kernel_image_path: invalid type: integer `5`, expected a string");
	assert_int_equal(RUN(&c, config_json_boot_source(&c, o, &err),
			     "{\"kernel_image_path\": \"/k\", \"kernel\": \"/k\"}"), -EINVAL);
	expect_msg("boot-source: unknown field `kernel`, expected one of `kernel_image_path`, `initrd_path`, `boot_args`");
	/* The setter's own message, after the object's name. */
	assert_int_equal(RUN(&c, config_json_boot_source(&c, o, &err),
			     "{\"kernel_image_path\": \"\"}"), -EINVAL);
	expect_msg("boot-source: kernel_image_path is empty");
	/* Nothing changed by the failures. */
	assert_string_equal(c.boot.kernel_image_path, "/k");
	assert_int_equal(RUN(&c, config_json_boot_source(&c, o, &err), "[1]"),
			 -EINVAL);
	expect_msg("want a JSON object");
	vm_config_release(&c);
}

static void test_machine(void **state)
{
	struct vm_config c;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 4, \"mem_size_mib\": 1024, \"smt\": false,"
			     " \"track_dirty_pages\": true, \"cpu_template\": \"None\","
			     " \"huge_pages\": \"None\"}"), 0);
	assert_int_equal(c.machine.vcpu_count, 4);
	assert_int_equal(c.machine.mem_size_mib, 1024);
	assert_true(c.machine.track_dirty_pages);
	/* PATCH keeps what it does not name; PUT resets it. */
	assert_int_equal(RUN(&c, config_json_machine(&c, o, true, &err),
			     "{\"vcpu_count\": 2}"), 0);
	assert_int_equal(c.machine.vcpu_count, 2);
	assert_int_equal(c.machine.mem_size_mib, 1024);
	assert_true(c.machine.track_dirty_pages);
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 2}"), -EINVAL);
	expect_msg("machine-config: missing field `mem_size_mib`");
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 2, \"mem_size_mib\": 128}"), 0);
	assert_false(c.machine.track_dirty_pages);
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": -1, \"mem_size_mib\": 128}"), -EINVAL);
	expect_msg("machine-config: vcpu_count: invalid value: integer `-1`, expected u8");
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1000, \"mem_size_mib\": 128}"), -EINVAL);
	expect_msg("machine-config: vcpu_count: invalid value: integer `1000`, expected u8");
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 1}"), -EINVAL);
	expect_msg("machine-config: The memory size (MiB) 1 is below Hearth's minimum of 16.");
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 3, \"mem_size_mib\": 128, \"smt\": true}"), -EINVAL);
	expect_msg("must be 1 or an even number if SMT is enabled.");
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"cpu_template\": \"T3\"}"),
			 -EINVAL);
	expect_msg("machine-config: cpu_template: unknown variant `T3`, expected one of `C3`, `T2`, `T2S`, `None`, `T2CL`, `T2A`");
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"cpu_template\": \"t2\"}"),
			 -EINVAL);
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"smt\": \"no\"}"), -EINVAL);
	expect_msg("machine-config: smt: invalid type: string \"no\", expected a boolean");
	assert_int_equal(c.machine.vcpu_count, 2);
	assert_int_equal(c.machine.mem_size_mib, 128);
	assert_int_equal(c.machine.cpu_template, CPU_TEMPLATE_NONE);
	vm_config_release(&c);
}

/*
 * huge_pages as Firecracker 1.16's HugePageConfig: "None" or "2M", the
 * size then even (its InvalidMemorySize words), PUT without it "None",
 * PATCH without it kept; the dump shows it back.
 */
static void test_machine_huge_pages(void **state)
{
	struct vm_config c;
	json_t *j;

	(void)state;
	vm_config_init(&c);
	j = config_json_dump_machine(&c);
	assert_string_equal(json_string_value(json_object_get(j, "huge_pages")), "None");
	json_decref(j);
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"huge_pages\": \"2M\"}"),
			 0);
	assert_int_equal(c.machine.huge_pages, VM_HUGE_PAGES_2M);
	j = config_json_dump_machine(&c);
	assert_string_equal(json_string_value(json_object_get(j, "huge_pages")), "2M");
	json_decref(j);
	/* PATCH keeps it, and an odd size under it is refused, nothing changed. */
	assert_int_equal(RUN(&c, config_json_machine(&c, o, true, &err),
			     "{\"vcpu_count\": 2}"), 0);
	assert_int_equal(c.machine.huge_pages, VM_HUGE_PAGES_2M);
	assert_int_equal(RUN(&c, config_json_machine(&c, o, true, &err),
			     "{\"mem_size_mib\": 129}"), -EINVAL);
	expect_msg("machine-config: The memory size (MiB) is either 0, or not a multiple of the "
		   "configured page size.");
	assert_int_equal(c.machine.mem_size_mib, 128);
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 99, \"huge_pages\": \"2M\"}"),
			 -EINVAL);
	expect_msg("not a multiple of the configured page size.");
	/* An odd size is fine with 4 KiB pages: PUT without huge_pages is "None". */
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 99}"), 0);
	assert_int_equal(c.machine.huge_pages, VM_HUGE_PAGES_NONE);
	/* ... and switching to 2M with it is refused. */
	assert_int_equal(RUN(&c, config_json_machine(&c, o, true, &err),
			     "{\"huge_pages\": \"2M\"}"), -EINVAL);
	expect_msg("not a multiple of the configured page size.");
	assert_int_equal(c.machine.huge_pages, VM_HUGE_PAGES_NONE);
	/* Firecracker's names, in their case; "Transparent" is its main branch's (past 1.16). */
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"huge_pages\": \"2m\"}"),
			 -EINVAL);
	expect_msg("machine-config: huge_pages: unknown variant `2m`, expected one of `None`, "
		   "`Transparent`, `2M`");
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 128, "
			     "\"huge_pages\": \"Transparent\"}"), 0);
	assert_int_equal(c.machine.huge_pages, VM_HUGE_PAGES_THP);
	j = config_json_dump_machine(&c);
	assert_string_equal(json_string_value(json_object_get(j, "huge_pages")), "Transparent");
	json_decref(j);
	/* Its size is whole 2 MiB pages too, as Firecracker's is_valid_mem_size. */
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 129, "
			     "\"huge_pages\": \"Transparent\"}"), -EINVAL);
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 99}"), 0);
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 128, \"huge_pages\": 2}"),
			 -EINVAL);
	assert_int_equal(c.machine.mem_size_mib, 99);
	/* PATCH to "None" takes it away. */
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"huge_pages\": \"2M\"}"),
			 0);
	assert_int_equal(RUN(&c, config_json_machine(&c, o, true, &err),
			     "{\"huge_pages\": \"None\"}"), 0);
	assert_int_equal(c.machine.huge_pages, VM_HUGE_PAGES_NONE);
	vm_config_release(&c);
}

/* smt true with 2 vCPUs, and each static template by its name, shown back by the dump. */
static void test_machine_smt_templates(void **state)
{
	static const char *const names[] = { "C3", "T2", "T2S", "T2CL", "T2A" };
	struct vm_config c;
	char body[160];
	json_t *j;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 2, \"mem_size_mib\": 128, \"smt\": true}"), 0);
	assert_true(c.machine.smt);
	j = config_json_dump_machine(&c);
	assert_true(json_is_true(json_object_get(j, "smt")));
	/* No template: no cpu_template key, as Firecracker's MachineConfig. */
	assert_null(json_object_get(j, "cpu_template"));
	json_decref(j);
	for (int i = 0; i < 5; i++) {
		snprintf(body, sizeof(body), "{\"vcpu_count\": 2, \"mem_size_mib\": 128, "
			 "\"cpu_template\": \"%s\"}", names[i]);
		assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err), body), 0);
		assert_int_equal(c.machine.cpu_template, CPU_TEMPLATE_C3 + i);
		j = config_json_dump_machine(&c);
		assert_string_equal(json_string_value(json_object_get(j, "cpu_template")), names[i]);
		json_decref(j);
	}
	/* A PUT without cpu_template keeps it (Firecracker's update); "None" clears it. */
	assert_int_equal(RUN(&c, config_json_machine(&c, o, false, &err),
			     "{\"vcpu_count\": 2, \"mem_size_mib\": 128}"), 0);
	assert_int_equal(c.machine.cpu_template, CPU_TEMPLATE_T2A);
	assert_int_equal(RUN(&c, config_json_machine(&c, o, true, &err),
			     "{\"cpu_template\": \"None\"}"), 0);
	assert_int_equal(c.machine.cpu_template, CPU_TEMPLATE_NONE);
	vm_config_release(&c);
}

static void test_drive(void **state)
{
	struct vm_config c;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "data", &err),
			     "{\"drive_id\": \"data\", \"path_on_host\": \"/d.img\","
			     " \"is_root_device\": false, \"is_read_only\": true,"
			     " \"cache_type\": \"Unsafe\", \"io_engine\": \"Sync\"}"), 0);
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "rootfs", &err),
			     "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r.img\","
			     " \"is_root_device\": true, \"cache_type\": \"Writeback\"}"), 0);
	assert_int_equal(c.ndrives, 2);
	/* The root device comes first (/dev/vda). */
	assert_string_equal(c.drives[0].id, "rootfs");
	assert_string_equal(c.drives[0].serial, "rootfs");
	assert_string_equal(c.drives[1].path_on_host, "/d.img");
	assert_true(c.drives[1].is_read_only);
	/* Firecracker's cache types are the disk's modes: Unsafe syncs nothing. */
	assert_int_equal(c.drives[1].cache_type, BLK_CACHE_UNSAFE);
	assert_int_equal(c.drives[0].cache_type, BLK_CACHE_WRITEBACK);
	assert_string_equal(c.drives[0].partuuid, "");
	/* A PUT of the same id replaces. */
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "data", &err),
			     "{\"drive_id\": \"data\", \"path_on_host\": \"/e.img\","
			     " \"is_root_device\": false}"), 0);
	assert_int_equal(c.ndrives, 2);
	assert_string_equal(vm_config_find_drive(&c, "data")->path_on_host, "/e.img");
	/* Left out: Firecracker's default, Unsafe. */
	assert_int_equal(vm_config_find_drive(&c, "data")->cache_type, BLK_CACHE_UNSAFE);
	/* partuuid: kept; one kernel argument, so printable and without spaces. */
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "rootfs", &err),
			     "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r.img\","
			     " \"is_root_device\": true, \"partuuid\": \"0eaa91a0-01\"}"), 0);
	assert_string_equal(c.drives[0].partuuid, "0eaa91a0-01");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "rootfs", &err),
			     "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r.img\","
			     " \"is_root_device\": true, \"partuuid\": \"0eaa91a0-01 init=/x\"}"),
			 -EINVAL);
	expect_msg("partuuid '0eaa91a0-01 init=/x' has a space");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "rootfs", &err),
			     "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r.img\","
			     " \"is_root_device\": true, \"partuuid\": \"a\\u0001\"}"), -EINVAL);
	expect_msg("not printable ASCII");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "rootfs", &err),
			     "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r.img\","
			     " \"is_root_device\": true, \"partuuid\": \"0123456789012345678901234567890123"
			     "5678901234567890123456789012345678901\"}"), -EINVAL);
	expect_msg("partuuid is longer than 64 bytes");
	/* A refused PUT left the drive as it was. */
	assert_string_equal(c.drives[0].partuuid, "0eaa91a0-01");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "other", &err),
			     "{\"drive_id\": \"data\", \"path_on_host\": \"/e.img\","
			     " \"is_root_device\": false}"), -EINVAL);
	expect_msg("The id from the path does not match the id from the body!");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"path_on_host\": \"/e.img\"}"), -EINVAL);
	expect_msg("drives: missing field `is_root_device`");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"path_on_host\": \"/e\", \"is_root_device\": false,"
			     " \"rate_limiter\": {\"bandwidth\": {\"size\": 1}}}"),
			 -EINVAL);
	expect_msg("drives: rate_limiter: bandwidth: missing field `refill_time`");
	/* vhost-user: a socket and none of what the backend decides, in Firecracker's words. */
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"is_root_device\": false, \"socket\": \"/s\","
			     " \"path_on_host\": \"/e\"}"), -EINVAL);
	expect_msg("Unable to create the virtio block device: Invalid block config.");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"is_root_device\": false, \"socket\": \"/s\","
			     " \"is_read_only\": true}"), -EINVAL);
	expect_msg("Invalid block config.");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"is_root_device\": false, \"socket\": \"/s\","
			     " \"io_engine\": \"Async\"}"), -EINVAL);
	expect_msg("Invalid block config.");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"is_root_device\": false}"), -EINVAL);
	expect_msg("Invalid block config.");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "vub", &err),
			     "{\"drive_id\": \"vub\", \"is_root_device\": false, \"socket\": \"/s\","
			     " \"is_read_only\": null, \"cache_type\": \"Writeback\"}"), 0);
	assert_string_equal(c.drives[2].socket, "/s");
	assert_null(c.drives[2].path_on_host);
	assert_int_equal(c.drives[2].cache_type, BLK_CACHE_WRITEBACK);
	{
		/* GET /vm/config: Firecracker's nulls, and the dump is a config that reads back. */
		json_t *dump = config_json_dump_full(&c);
		json_t *d = json_array_get(json_object_get(dump, "drives"), 2);
		struct vm_config back;

		assert_string_equal(json_string_value(json_object_get(d, "socket")), "/s");
		assert_true(json_is_null(json_object_get(d, "path_on_host")));
		assert_true(json_is_null(json_object_get(d, "is_read_only")));
		assert_true(json_is_null(json_object_get(d, "io_engine")));
		assert_true(json_is_null(json_object_get(d, "rate_limiter")));
		vm_config_init(&back);
		assert_int_equal(config_json_drive(&back, d, NULL, &err), 0);
		assert_string_equal(back.drives[0].socket, "/s");
		vm_config_release(&back);
		json_decref(dump);
	}
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"path_on_host\": \"/e\", \"is_root_device\": true}"),
			 -EINVAL);
	expect_msg("A root block device already exists! ('rootfs' is the root device");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"path_on_host\": \"/e\", \"is_root_device\": false,"
			     " \"cache_type\": \"None\"}"), -EINVAL);
	expect_msg("drives: cache_type: unknown variant `None`, expected `Unsafe` or `Writeback`");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "a b", &err),
			     "{\"drive_id\": \"a b\", \"path_on_host\": \"/e\", \"is_root_device\": false}"),
			 -EINVAL);
	expect_msg("drives: drive_id 'a b'");
	/* Hearth's num_queues: 1 to 16, shown only past one, refused with a socket. */
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "mq", &err),
			     "{\"drive_id\": \"mq\", \"path_on_host\": \"/e\", \"is_root_device\": false,"
			     " \"num_queues\": 17}"), -EINVAL);
	expect_msg("drives: drive 'mq': num_queues 17 is out of range (1 to 16)");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "mq", &err),
			     "{\"drive_id\": \"mq\", \"path_on_host\": \"/e\", \"is_root_device\": false,"
			     " \"num_queues\": 0}"), -EINVAL);
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "mq", &err),
			     "{\"drive_id\": \"mq\", \"socket\": \"/s\", \"is_root_device\": false,"
			     " \"num_queues\": 2}"), -EINVAL);
	expect_msg("Invalid block config.");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "mq", &err),
			     "{\"drive_id\": \"mq\", \"path_on_host\": \"/e\", \"is_root_device\": false,"
			     " \"num_queues\": 4}"), 0);
	{
		json_t *dump = config_json_dump_full(&c);
		json_t *arr = json_object_get(dump, "drives");

		assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 3),
								    "num_queues")), 4);
		assert_null(json_object_get(json_array_get(arr, 1), "num_queues"));
		json_decref(dump);
	}
	assert_int_equal(c.ndrives, 4);
	vm_config_release(&c);
}

/*
 * Hearth's format fields (docs/api.md): format raw (the default) or
 * qcow2, a qcow2 drive's backing_files or backing_from_header; refused
 * where they make no sense; GET /vm/config shows them for a qcow2 drive
 * only, and its dump reads back.
 */
static void test_drive_format(void **state)
{
	struct vm_config c;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "q", &err),
			     "{\"drive_id\": \"q\", \"path_on_host\": \"/t.qcow2\","
			     " \"is_root_device\": false, \"format\": \"qcow2\","
			     " \"backing_files\": [\"/mid.qcow2\", \"/base.raw\"]}"), 0);
	assert_int_equal(c.drives[0].format, BLK_FORMAT_QCOW2);
	assert_int_equal(c.drives[0].nbacking, 2);
	assert_string_equal(c.drives[0].backing_files[1], "/base.raw");
	assert_false(c.drives[0].backing_from_header);
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "h", &err),
			     "{\"drive_id\": \"h\", \"path_on_host\": \"/h.qcow2\","
			     " \"is_root_device\": false, \"format\": \"qcow2\","
			     " \"backing_from_header\": true}"), 0);
	assert_true(c.drives[1].backing_from_header);
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "r", &err),
			     "{\"drive_id\": \"r\", \"path_on_host\": \"/r.img\","
			     " \"is_root_device\": false, \"format\": \"raw\"}"), 0);
	assert_int_equal(c.drives[2].format, BLK_FORMAT_RAW);
	{
		json_t *dump = config_json_dump_full(&c), *d;
		struct vm_config back;

		d = json_array_get(json_object_get(dump, "drives"), 0);
		assert_string_equal(json_string_value(json_object_get(d, "format")), "qcow2");
		assert_int_equal(json_array_size(json_object_get(d, "backing_files")), 2);
		assert_true(json_is_false(json_object_get(d, "backing_from_header")));
		/* A raw drive's GET /vm/config is Firecracker's, as it was. */
		assert_null(json_object_get(json_array_get(json_object_get(dump, "drives"), 2),
					    "format"));
		vm_config_init(&back);
		assert_int_equal(config_json_drive(&back, d, NULL, &err), 0);
		assert_int_equal(back.drives[0].format, BLK_FORMAT_QCOW2);
		assert_string_equal(back.drives[0].backing_files[0], "/mid.qcow2");
		vm_config_release(&back);
		json_decref(dump);
	}
	/* Replacing the drive replaces its chain (and frees the old one). */
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "q", &err),
			     "{\"drive_id\": \"q\", \"path_on_host\": \"/t.qcow2\","
			     " \"is_root_device\": false, \"format\": \"qcow2\","
			     " \"backing_files\": [\"/other.qcow2\"]}"), 0);
	assert_int_equal(c.drives[0].nbacking, 1);
	assert_string_equal(c.drives[0].backing_files[0], "/other.qcow2");

	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"path_on_host\": \"/x\","
			     " \"is_root_device\": false, \"format\": \"vmdk\"}"), -EINVAL);
	expect_msg("drives: format: unknown variant `vmdk`, expected `raw` or `qcow2`");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"path_on_host\": \"/x\","
			     " \"is_root_device\": false, \"backing_files\": [\"/b\"]}"), -EINVAL);
	expect_msg("drive 'x': backing files are a qcow2 image's");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"path_on_host\": \"/x\","
			     " \"is_root_device\": false, \"format\": \"qcow2\","
			     " \"backing_files\": [\"/b\"], \"backing_from_header\": true}"), -EINVAL);
	expect_msg("not both");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"path_on_host\": \"/x\","
			     " \"is_root_device\": false, \"format\": \"qcow2\","
			     " \"backing_files\": [\"/b\", 3]}"), -EINVAL);
	expect_msg("backing_files entries must be path strings");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"path_on_host\": \"/x\","
			     " \"is_root_device\": false, \"format\": \"qcow2\","
			     " \"backing_files\": \"/b\"}"), -EINVAL);
	expect_msg("backing_files: invalid type");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"path_on_host\": \"/x\","
			     " \"is_root_device\": false, \"format\": \"qcow2\", \"backing_files\":"
			     " [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\","
			     "\"11\",\"12\",\"13\",\"14\",\"15\",\"16\"]}"), -EINVAL);
	expect_msg("more than 15");
	assert_int_equal(RUN(&c, config_json_drive(&c, o, "x", &err),
			     "{\"drive_id\": \"x\", \"socket\": \"/s\","
			     " \"is_root_device\": false, \"format\": \"qcow2\"}"), -EINVAL);
	expect_msg("a vhost-user drive's image is its backend's");
	assert_int_equal(c.ndrives, 3);
	vm_config_release(&c);
}

/* eth9 with this guest_mac: 0, or -EINVAL with the message checked. */
static int put_mac(struct vm_config *c, const char *mac)
{
	char body[160];
	int ret;

	snprintf(body, sizeof(body), "{\"iface_id\": \"eth9\", \"host_dev_name\": \"tap9\","
		 " \"guest_mac\": \"%s\"}", mac);
	ret = RUN(c, config_json_net(c, o, "eth9", &err), body);
	if (ret)
		expect_msg("is not a MAC address like 06:00:AC:10:00:02");
	return ret;
}

/*
 * Firecracker's MacAddr: six ':'-separated parts of exactly two characters
 * Rust's from_str_radix(16) takes; any address, multicast included.
 */
static void expect_mac_rules(struct vm_config *c)
{
	static const char *const good[] = {
		"01:00:5e:00:00:fb", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "aA:Bb:cC:dD:eE:fF",
		"+a:00:00:00:00:01",
	};
	static const char *const bad[] = {
		"aa:aa:aa:aa:aa:aa:aa", "aa:aa:aa:aa:aa:ax", "aa:aa:aa:aa:aa:b", "aa:aa:aa:aa:aa:bbb",
		"aa-aa-aa-aa-aa-aa", "-1:00:00:00:00:00", " a:00:00:00:00:00", "a+:00:00:00:00:00",
		"0x:00:00:00:00:00", "", "aa:aa:aa:aa:aa:", "aa:aa:aa:aa:aa:aa:",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(put_mac(c, good[i]), 0);
	assert_int_equal(vm_config_find_net(c, "eth9")->dev.mac[0], 0x0a); /* "+a" */
	assert_int_equal(put_mac(c, "01:00:5e:00:00:fb"), 0);
	assert_memory_equal(vm_config_find_net(c, "eth9")->dev.mac, "\x01\x00\x5e\x00\x00\xfb", 6);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(put_mac(c, bad[i]), -EINVAL);
}

/* mtu: Firecracker's 68 to 65535, offered to the guest; GET /vm/config reports it. */
static void expect_mtu_rules(struct vm_config *c)
{
	static const char *const bad[] = { "0", "67", "65536", "-1", "\"1500\"", "1e3" };
	char body[128];
	json_t *dump;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "{\"iface_id\": \"eth9\", \"host_dev_name\": "
			 "\"tap9\", \"mtu\": %s}", bad[i]);
		assert_int_equal(RUN(c, config_json_net(c, o, "eth9", &err), body), -EINVAL);
		assert_true(strstr(err.msg, "mtu") != NULL);
	}
	expect_msg("network-interfaces: mtu: invalid type: floating point `1000.0`, expected u16");
	assert_int_equal(RUN(c, config_json_net(c, o, "eth9", &err),
			     "{\"iface_id\": \"eth9\", \"host_dev_name\": \"tap9\", \"mtu\": 67}"),
			 -EINVAL);
	expect_msg("network-interfaces: mtu 67 is out of range (68 to 65535)");
	assert_int_equal(RUN(c, config_json_net(c, o, "eth9", &err),
			     "{\"iface_id\": \"eth9\", \"host_dev_name\": \"tap9\", \"mtu\": 9000}"),
			 0);
	assert_int_equal(vm_config_find_net(c, "eth9")->dev.mtu, 9000);
	dump = config_json_dump_full(c);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
		json_object_get(dump, "network-interfaces"), 1), "mtu")), 9000);
	assert_true(json_is_null(json_object_get(json_array_get(
		json_object_get(dump, "network-interfaces"), 0), "mtu")));
	json_decref(dump);
	assert_int_equal(RUN(c, config_json_net(c, o, "eth9", &err),
			     "{\"iface_id\": \"eth9\", \"host_dev_name\": \"tap9\", \"mtu\": 68}"),
			 0);
	assert_int_equal(RUN(c, config_json_net(c, o, "eth9", &err),
			     "{\"iface_id\": \"eth9\", \"host_dev_name\": \"tap9\", \"mtu\": 65535}"),
			 0);
	assert_int_equal(vm_config_find_net(c, "eth9")->dev.mtu, 65535);
	/* Left out or null: none, as Firecracker. */
	assert_int_equal(RUN(c, config_json_net(c, o, "eth9", &err),
			     "{\"iface_id\": \"eth9\", \"host_dev_name\": \"tap9\", \"mtu\": null}"),
			 0);
	assert_int_equal(vm_config_find_net(c, "eth9")->dev.mtu, 0);
	/* A user-mode NIC: up to libslirp's 65520, which frames past would not cross. */
	assert_int_equal(RUN(c, config_json_net(c, o, "eth9", &err),
			     "{\"iface_id\": \"eth9\", \"backend\": \"user\", \"mtu\": 65521}"),
			 -EINVAL);
	expect_msg("network-interfaces: mtu 65521 is above 65520, the largest a user-mode "
		   "backend carries");
	assert_int_equal(RUN(c, config_json_net(c, o, "eth9", &err),
			     "{\"iface_id\": \"eth9\", \"backend\": \"user\", \"mtu\": 65520}"),
			 0);
	assert_int_equal(vm_config_find_net(c, "eth9")->dev.mtu, 65520);
}

/*
 * Hearth's user-mode NIC through the API and the config file: backend in
 * --net's words in place of host_dev_name, shown back the same way.
 */
/* GET /vm/config's backend for the last network interface is want. */
static void expect_last_backend(const struct vm_config *c, const char *want)
{
	json_t *dump = config_json_dump_full(c);
	json_t *nic = json_array_get(json_object_get(dump, "network-interfaces"), c->nnets - 1);

	assert_string_equal(json_string_value(json_object_get(nic, "backend")), want);
	json_decref(dump);
}

static void expect_user_backend(struct vm_config *c)
{
	const struct vm_net *n;
	json_t *dump, *nic;

	assert_int_equal(RUN(c, config_json_net(c, o, "u1", &err),
			     "{\"iface_id\": \"u1\", \"backend\": \"user,host-loopback=on,"
			     "hostfwd=tcp:2222-:22\", \"guest_mac\": \"06:00:00:00:00:09\"}"), 0);
	n = vm_config_find_net(c, "u1");
	assert_non_null(n);
	assert_int_equal(n->dev.backend, NET_USER);
	assert_true(n->dev.host_loopback);
	assert_int_equal(n->dev.nfwd, 1);
	assert_int_equal(n->dev.fwd[0].host_port, 2222);
	assert_true(n->dev.mac_set);
	dump = config_json_dump_full(c);
	nic = json_array_get(json_object_get(dump, "network-interfaces"), c->nnets - 1);
	assert_string_equal(json_string_value(json_object_get(nic, "backend")),
			    "user,host-loopback=on,hostfwd=tcp:2222-:22");
	assert_null(json_object_get(nic, "host_dev_name"));
	json_decref(dump);

	assert_int_equal(RUN(c, config_json_net(c, o, "u2", &err),
			     "{\"iface_id\": \"u2\", \"backend\": \"user\", \"host_dev_name\": "
			     "\"tap7\"}"), -EINVAL);
	expect_msg("give host_dev_name or backend, not both");
	assert_int_equal(RUN(c, config_json_net(c, o, "u2", &err),
			     "{\"iface_id\": \"u2\", \"backend\": \"slirp\"}"), -EINVAL);
	expect_msg("backend 'slirp' is neither a user-mode backend");
	assert_int_equal(RUN(c, config_json_net(c, o, "u2", &err),
			     "{\"iface_id\": \"u2\", \"backend\": \"tap=tap7,vhost=maybe\"}"),
			 -EINVAL);
	expect_msg("backend: vhost='maybe': want on, off or auto");
	assert_int_equal(RUN(c, config_json_net(c, o, "u2", &err),
			     "{\"iface_id\": \"u2\", \"backend\": \"tap=tap7,mtu=9000\"}"),
			 -EINVAL);
	expect_msg("give a TAP's MAC and MTU as guest_mac and mtu");
	/* A TAP's vhost choice, and GET /vm/config's words for it. */
	assert_int_equal(RUN(c, config_json_net(c, o, "t2", &err),
			     "{\"iface_id\": \"t2\", \"backend\": \"tap=tap7,vhost=off\"}"), 0);
	n = vm_config_find_net(c, "t2");
	assert_non_null(n);
	assert_int_equal(n->dev.backend, NET_TAP);
	assert_string_equal(n->dev.ifname, "tap7");
	assert_int_equal(n->dev.vhost, NET_VHOST_OFF);
	dump = config_json_dump_full(c);
	nic = json_array_get(json_object_get(dump, "network-interfaces"), c->nnets - 1);
	assert_string_equal(json_string_value(json_object_get(nic, "backend")),
			    "tap=tap7,vhost=off");
	assert_null(json_object_get(nic, "host_dev_name"));
	json_decref(dump);
	assert_true(vm_config_drop_net(c, "t2"));
	/* queues=N is kept and shown back, with or without a vhost choice. */
	assert_int_equal(RUN(c, config_json_net(c, o, "t2", &err),
			     "{\"iface_id\": \"t2\", \"backend\": \"tap=tap7,queues=2\"}"), 0);
	n = vm_config_find_net(c, "t2");
	assert_non_null(n);
	assert_int_equal(n->dev.queues, 2);
	assert_int_equal(n->dev.vhost, NET_VHOST_AUTO);
	expect_last_backend(c, "tap=tap7,queues=2");
	assert_true(vm_config_drop_net(c, "t2"));
	assert_int_equal(RUN(c, config_json_net(c, o, "t2", &err),
			     "{\"iface_id\": \"t2\", \"backend\": \"tap=tap7,vhost=on,queues=1\"}"),
			 0);
	expect_last_backend(c, "tap=tap7,vhost=on,queues=1");
	assert_true(vm_config_drop_net(c, "t2"));
	assert_int_equal(RUN(c, config_json_net(c, o, "u2", &err),
			     "{\"iface_id\": \"u2\", \"backend\": \"user,hostfwd=tcp:0-:1\"}"),
			 -EINVAL);
	expect_msg("network-interfaces: backend: hostfwd=tcp:0-:1");
	assert_null(vm_config_find_net(c, "u2"));
}

static void test_net_vsock_entropy(void **state)
{
	struct vm_config c;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(RUN(&c, config_json_net(&c, o, "eth0", &err),
			     "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\","
			     " \"guest_mac\": \"06:00:AC:10:00:02\"}"), 0);
	assert_int_equal(c.nnets, 1);
	assert_int_equal(c.nets[0].dev.backend, NET_TAP);
	assert_string_equal(c.nets[0].dev.ifname, "tap0");
	assert_true(c.nets[0].dev.mac_set);
	assert_int_equal(c.nets[0].dev.mac[2], 0xac);
	assert_int_equal(RUN(&c, config_json_net(&c, o, "eth1", &err),
			     "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap1\","
			     " \"guest_mac\": \"06:00:AC:10:00\"}"), -EINVAL);
	expect_msg("guest_mac '06:00:AC:10:00' is not a MAC address");
	assert_int_equal(RUN(&c, config_json_net(&c, o, "eth1", &err),
			     "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap0\"}"), -EINVAL);
	expect_msg("host_dev_name tap0 is already used by 'eth0'");
	assert_int_equal(RUN(&c, config_json_net(&c, o, "eth1", &err),
			     "{\"iface_id\": \"eth1\", \"host_dev_name\": \"tap1\","
			     " \"rx_rate_limiter\": {\"foo\": {}}}"), -EINVAL);
	expect_msg("network-interfaces: rx_rate_limiter: unknown field `foo`, expected `bandwidth` or `ops`");
	assert_int_equal(RUN(&c, config_json_net(&c, o, "eth1", &err),
			     "{\"iface_id\": \"eth1\"}"), -EINVAL);
	expect_msg("network-interfaces: missing field `host_dev_name`");

	assert_int_equal(RUN(&c, config_json_vsock(&c, o, &err),
			     "{\"guest_cid\": 3, \"uds_path\": \"/tmp/v.sock\"}"), 0);
	assert_true(c.vsock.present);
	assert_string_equal(c.vsock.uds_path, "/tmp/v.sock");
	assert_int_equal(RUN(&c, config_json_vsock(&c, o, &err), "{\"guest_cid\": 2}"),
			 -EINVAL);
	expect_msg("vsock: guest_cid 2 is out of range");
	assert_int_equal(RUN(&c, config_json_vsock(&c, o, &err), "{}"),
			 -EINVAL);
	expect_msg("vsock: missing field `guest_cid`");

	vm_config_set_entropy(&c, false);
	assert_int_equal(RUN(&c, config_json_entropy(&c, o, &err), "{}"), 0);
	assert_true(c.entropy);
	assert_int_equal(RUN(&c, config_json_entropy(&c, o, &err),
			     "{\"rate_limiter\": {\"ops\": 5}}"), -EINVAL);
	expect_msg("entropy: rate_limiter: ops: invalid type: integer `5`, expected struct TokenBucketConfig");
	expect_mac_rules(&c);
	expect_mtu_rules(&c);
	expect_user_backend(&c);
	vm_config_release(&c);
}

static char *write_tmp(const char *text)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/hearth-api-json-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

/* A config file's error and the same object's PUT error carry one message. */
static void test_file_and_put_agree(void **state)
{
	static const struct {
		const char *file;
		const char *body;
		int (*put)(struct vm_config *c, json_t *o, struct err *e);
	} cases[] = {
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\", \"foo\": 1}}",
		  "{\"kernel_image_path\": \"/k\", \"foo\": 1}", config_json_boot_source },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"vsock\": {\"guest_cid\": true}}",
		  "{\"guest_cid\": true}", config_json_vsock },
		{ "{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"entropy\": {\"rate_limiter\":"
		  " {\"ops\": {\"size\": 1, \"refill_time\": 99999999999999}}}}",
		  "{\"rate_limiter\": {\"ops\": {\"size\": 1, \"refill_time\": 99999999999999}}}",
		  config_json_entropy },
	};
	struct err put_err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vm_config a, b;
		const char *path = write_tmp(cases[i].file);
		json_t *o = J(cases[i].body);

		vm_config_init(&a);
		vm_config_init(&b);
		assert_int_equal(config_json_load_file(&a, path, &err), -EINVAL);
		assert_int_equal(cases[i].put(&b, o, &put_err), -EINVAL);
		/* The file's message is "PATH: " and then the PUT's. */
		assert_true(strlen(err.msg) > strlen(path) + 2);
		assert_memory_equal(err.msg, path, strlen(path));
		assert_string_equal(err.msg + strlen(path) + 2, put_err.msg);
		json_decref(o);
		unlink(path);
		vm_config_release(&a);
		vm_config_release(&b);
	}
	/* Machine and drive, through their own signatures. */
	{
		struct vm_config a, b;
		const char *path = write_tmp("{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
					     " \"machine-config\": {\"vcpu_count\": 0, \"mem_size_mib\": 64}}");
		json_t *o = J("{\"vcpu_count\": 0, \"mem_size_mib\": 64}");

		vm_config_init(&a);
		vm_config_init(&b);
		assert_int_equal(config_json_load_file(&a, path, &err), -EINVAL);
		assert_int_equal(config_json_machine(&b, o, false, &put_err), -EINVAL);
		assert_string_equal(err.msg + strlen(path) + 2, put_err.msg);
		expect_msg("machine-config: The number of vCPUs must be greater than 0, less than 255 and must be 1 or an even number if SMT is enabled.");
		json_decref(o);
		unlink(path);
		vm_config_release(&a);
		vm_config_release(&b);
	}
	{
		struct vm_config a, b;
		const char *path = write_tmp("{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
					     " \"drives\": [{\"drive_id\": \"r\", \"is_root_device\": \"yes\"}]}");
		json_t *o = J("{\"drive_id\": \"r\", \"is_root_device\": \"yes\"}");

		vm_config_init(&a);
		vm_config_init(&b);
		assert_int_equal(config_json_load_file(&a, path, &err), -EINVAL);
		assert_int_equal(config_json_drive(&b, o, "r", &put_err), -EINVAL);
		assert_string_equal(err.msg + strlen(path) + 2, put_err.msg);
		expect_msg("drives: is_root_device: invalid type: string \"yes\", expected a boolean");
		json_decref(o);
		unlink(path);
		vm_config_release(&a);
		vm_config_release(&b);
	}
}

/*
 * The config file's "cpu-config": Firecracker's path to a template file
 * (custom wins over machine-config's static template), or the object GET
 * /vm/config writes; a path to no regular file is refused by name.
 */
static void test_full_cpu_config(void **state)
{
	struct vm_config c;
	char tmpl[64], cfg[512];
	const char *path;
	json_t *dump;

	(void)state;
	path = write_tmp("{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\","
			 " \"flags\": 0, \"modifiers\": [{\"register\": \"edx\", \"bitmap\": \"0b0\"}]}]}");
	snprintf(tmpl, sizeof(tmpl), "%s", path);
	snprintf(cfg, sizeof(cfg), "{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
		 " \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 128, \"smt\": true,"
		 " \"cpu_template\": \"T2\"}, \"cpu-config\": \"%s\"}", tmpl);
	path = write_tmp(cfg);
	vm_config_init(&c);
	assert_int_equal(config_json_load_file(&c, path, &err), 0);
	unlink(path);
	assert_non_null(c.cpu_config);
	assert_int_equal(c.machine.cpu_template, CPU_TEMPLATE_NONE);
	assert_true(c.machine.smt);
	assert_int_equal(c.cpu_config->cpuid[0].mods[0].reg, CPU_REG_EDX);
	/* Dumped as an object, which loads back the same. */
	dump = config_json_dump_full(&c);
	assert_true(json_is_object(json_object_get(dump, "cpu-config")));
	vm_config_release(&c);
	vm_config_init(&c);
	assert_int_equal(config_json_full(&c, dump, &err), 0);
	assert_non_null(c.cpu_config);
	assert_int_equal(c.cpu_config->cpuid[0].mods[0].filter, 1);
	json_decref(dump);
	vm_config_release(&c);
	unlink(tmpl);

	vm_config_init(&c);
	path = write_tmp("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"cpu-config\": \"/dev\"}");
	assert_int_equal(config_json_load_file(&c, path, &err), -EINVAL);
	expect_msg("cpu-config: /dev: not a regular file of at most 1048576 bytes");
	unlink(path);
	path = write_tmp("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"cpu-config\": \"/nonexistent-t\"}");
	assert_int_equal(config_json_load_file(&c, path, &err), -EINVAL);
	expect_msg("cpu-config: /nonexistent-t: No such file or directory");
	unlink(path);
	path = write_tmp("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"cpu-config\": {\"x\": 1}}");
	assert_int_equal(config_json_load_file(&c, path, &err), -EINVAL);
	expect_msg("cpu-config: unknown field `x`, expected one of `kvm_capabilities`, `cpuid_modifiers`, `msr_modifiers`");
	unlink(path);
	assert_null(c.cpu_config);
	vm_config_release(&c);
}

static void test_full_file(void **state)
{
	struct vm_config c, d;
	const char *path;
	json_t *dump;
	char *text;

	(void)state;
	path = write_tmp("{\"boot-source\": {\"kernel_image_path\": \"/k\", \"boot_args\": \"quiet\"},"
			 " \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 256},"
			 " \"drives\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r\","
			 "   \"is_root_device\": true, \"is_read_only\": false}],"
			 " \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}],"
			 " \"vsock\": {\"guest_cid\": 5},"
			 " \"entropy\": {}, \"balloon\": null, \"logger\": null}");
	vm_config_init(&c);
	assert_int_equal(config_json_load_file(&c, path, &err), 0);
	unlink(path);
	assert_int_equal(c.machine.vcpu_count, 2);
	assert_int_equal(c.ndrives, 1);
	assert_int_equal(c.nnets, 1);
	assert_true(c.vsock.present);
	assert_true(c.entropy);
	/* GET /vm/config's JSON is a config file that gives the same model. */
	dump = config_json_dump_full(&c);
	assert_non_null(dump);
	text = json_dumps(dump, JSON_COMPACT);
	vm_config_init(&d);
	assert_int_equal(config_json_full(&d, dump, &err), 0);
	assert_string_equal(d.boot.kernel_image_path, "/k");
	assert_string_equal(d.boot.boot_args, "quiet");
	assert_int_equal(d.machine.vcpu_count, 2);
	assert_string_equal(d.drives[0].id, "rootfs");
	assert_string_equal(d.nets[0].dev.ifname, "tap0");
	assert_int_equal(d.vsock.guest_cid, 5);
	assert_true(d.entropy);
	free(text);
	json_decref(dump);
	vm_config_release(&d);
	vm_config_release(&c);

	/* Hearth's "pci" section: the transport, shown by a PCI VM's dump only. */
	vm_config_init(&c);
	path = write_tmp("{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
			 " \"pci\": {\"enabled\": true}}");
	assert_int_equal(config_json_load_file(&c, path, &err), 0);
	unlink(path);
	assert_true(c.pci);
	dump = config_json_dump_full(&c);
	assert_non_null(dump);
	assert_true(json_is_true(json_object_get(json_object_get(dump, "pci"), "enabled")));
	c.pci = false;
	json_decref(dump);
	dump = config_json_dump_full(&c);
	assert_null(json_object_get(dump, "pci"));
	json_decref(dump);
	vm_config_release(&c);
	vm_config_init(&c);
	path = write_tmp("{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
			 " \"pci\": {\"enabled\": \"yes\"}}");
	assert_int_equal(config_json_load_file(&c, path, &err), -EINVAL);
	expect_msg("enabled");
	unlink(path);
	path = write_tmp("{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
			 " \"pci\": {\"enabled\": true, \"bus\": 1}}");
	assert_int_equal(config_json_load_file(&c, path, &err), -EINVAL);
	expect_msg("bus");
	unlink(path);
	vm_config_release(&c);

	/* Unknown sections, no kernel, bad JSON. */
	vm_config_init(&c);
	path = write_tmp("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"disks\": []}");
	assert_int_equal(config_json_load_file(&c, path, &err), -EINVAL);
	expect_msg("unknown section 'disks'");
	unlink(path);
	path = write_tmp("{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 64}}");
	assert_int_equal(config_json_load_file(&c, path, &err), -EINVAL);
	expect_msg("kernel_image_path is not set");
	unlink(path);
	path = write_tmp("{\"boot-source\": ");
	assert_int_equal(config_json_load_file(&c, path, &err), -EINVAL);
	expect_msg("bad JSON at line 1");
	unlink(path);
	assert_int_equal(config_json_load_file(&c, "/nonexistent/hearth.json", &err),
			 -EINVAL);
	expect_msg("/nonexistent/hearth.json");
	vm_config_release(&c);
}

/* serde_json's words and its line and column for a body Firecracker cannot read. */
static void expect_body_fault(const char *body, const char *words)
{
	char want[ERR_MSG_MAX];

	assert_null(config_json_body(body, strlen(body), "struct BootSourceConfig", &err));
	snprintf(want, sizeof(want), "An error occurred when deserializing the json body of a "
		 "request: %s.", words);
	assert_string_equal(err.msg, want);
}

static void test_parse_body(void **state)
{
	const char *body;
	json_t *o;

	(void)state;
	assert_null(config_json_body("", 0, "struct BootSourceConfig", &err));
	expect_msg("empty");
	/* Firecracker's parse_put_boot_source test feeds "invalid_payload". */
	expect_body_fault("invalid_payload", "expected value at line 1 column 1");
	/* Firecracker: "invalid length 0, expected struct BootSourceConfig with 3 elements". */
	expect_body_fault("[]", "invalid type: sequence, expected struct BootSourceConfig at "
			  "line 1 column 0");
	expect_body_fault("\"x\"", "invalid type: string \"x\", expected struct "
			  "BootSourceConfig at line 1 column 3");
	expect_body_fault(" 5 ", "invalid type: integer `5`, expected struct BootSourceConfig "
			  "at line 1 column 2");
	expect_body_fault("{} x", "trailing characters at line 1 column 4");
	expect_body_fault("{", "EOF while parsing an object at line 1 column 1");
	expect_body_fault("{\"a\"", "EOF while parsing an object at line 1 column 4");
	expect_body_fault("{\"a\":", "EOF while parsing a value at line 1 column 5");
	expect_body_fault("{\"a\":\"x", "EOF while parsing a string at line 1 column 7");
	expect_body_fault("{\"a\":[", "EOF while parsing a list at line 1 column 6");
	expect_body_fault("{\"a\":[1", "EOF while parsing a list at line 1 column 7");
	expect_body_fault("{\"a\":[1,", "EOF while parsing a value at line 1 column 8");
	expect_body_fault("{\"a\":1,", "EOF while parsing a value at line 1 column 7");
	expect_body_fault("{\"a\":1 ", "EOF while parsing an object at line 1 column 7");
	expect_body_fault("{\"a\":nul}", "expected ident at line 1 column 9");
	expect_body_fault("{\"a\":-}", "invalid number at line 1 column 7");
	expect_body_fault("{\"a\":}", "expected value at line 1 column 6");
	expect_body_fault("{\"a\" 1}", "expected `:` at line 1 column 6");
	expect_body_fault("{\"a\":1 \"b\":2}", "expected `,` or `}` at line 1 column 8");
	expect_body_fault("{\"a\":[1 2]}", "expected `,` or `]` at line 1 column 9");
	expect_body_fault("{'a':1}", "key must be a string at line 1 column 2");
	expect_body_fault("{\"a\":[1,]}", "trailing comma at line 1 column 9");
	expect_body_fault("{\"a\":tru}", "expected ident at line 1 column 9");
	expect_body_fault("{\"a\":01}", "invalid number at line 1 column 7");
	expect_body_fault("{\"a\":1.}", "invalid number at line 1 column 8");
	expect_body_fault("{\"a\":\"\\q\"}", "invalid escape at line 1 column 8");
	expect_body_fault("{\"boot_args\":\"x\",\"boot_args\" :\"y\"}", "duplicate field "
			  "`boot_args` at line 1 column 29");
	/* Firecracker's test_parse_put_snapshot: a trailing comma in a nested object. */
	expect_body_fault("{\n            \"snapshot_path\": \"foo\",\n            \"mem_backend\": "
			  "{\n                \"backend_type\": \"File\",\n            }\n        }",
			  "trailing comma at line 5 column 13");
	o = config_json_body("{\"a\":1}", 7, "struct BootSourceConfig", &err);
	assert_non_null(o);
	json_decref(o);
	/* Past u64 or below i64 serde_json reads an integer as an f64; so is it here. */
	body = "{\"a\": 18446744073709551616, \"b\": -99999999999999999999}";
	o = config_json_body(body, strlen(body), "struct BootSourceConfig", &err);
	assert_non_null(o);
	assert_true(json_is_real(json_object_get(o, "a")));
	assert_true(json_real_value(json_object_get(o, "a")) == 18446744073709551616.0);
	assert_true(json_real_value(json_object_get(o, "b")) == -1e20);
	json_decref(o);
	expect_body_fault("{\"a\":1e999}", "number out of range at line 1 column 10");
}

/* A boot source body through the check and serde_json's placing of its fault. */
static void expect_placed(const char *body, const char *words)
{
	struct vm_config c;
	char want[ERR_MSG_MAX];
	json_t *o = J(body);

	vm_config_init(&c);
	assert_int_equal(config_json_boot_source(&c, o, &err), -EINVAL);
	config_json_fault_place(&err, body, strlen(body), o);
	json_decref(o);
	vm_config_release(&c);
	snprintf(want, sizeof(want), "An error occurred when deserializing the json body of a "
		 "request: %s.", words);
	assert_string_equal(err.msg, want);
}

/*
 * The spot is found by walking the text beside the parsed tree: strings
 * with escapes (a quote, a brace) before it, keys with escapes, blanks
 * and lines, values inside arrays do not throw the count off.
 */
static void test_fault_place(void **state)
{
	(void)state;
	expect_placed("{\"boot_args\": \"a\\\"}{\", \"kernel_image_path\": \"/k\", \"x\\ty\": 1}",
		      "unknown field `x\ty`, expected one of `kernel_image_path`, `initrd_path`, "
		      "`boot_args` at line 1 column 56");
	expect_placed("{\n  \"boot_args\": \"}\"\n}", "missing field `kernel_image_path` at line 3 "
		      "column 1");
	expect_placed("{\"kernel_image_path\":\n\t[1, {\"a\": 2}]}", "invalid type: sequence, "
		      "expected a string at line 2 column 1");
	expect_placed("{\"kernel_image_path\": 1.5e300}", "invalid type: floating point `1.5e300`, "
		      "expected a string at line 1 column 29");
	expect_placed("{\"kernel_image_path\": 0.25}", "invalid type: floating point `0.25`, "
		      "expected a string at line 1 column 26");
	expect_placed("{\"kernel_image_path\": 20.0}", "invalid type: floating point `20.0`, "
		      "expected a string at line 1 column 26");
	expect_placed("{\"kernel_image_path\": null}", "invalid type: null, expected a string at "
		      "line 1 column 26");
	expect_placed("{\"kernel_image_path\": \"\\u0001\\\"\\u00e9\", \"boot_args\": \"b\", \"a\": 1}",
		      "unknown field `a`, expected one of `kernel_image_path`, `initrd_path`, "
		      "`boot_args` at line 1 column 61");
	expect_placed("{\"kernel_image_path\": {\"a\": 1}}", "invalid type: map, expected a string "
		      "at line 1 column 22");
	{
		/* A string quoted as Rust's Debug quotes it. */
		const char *body = "{\"vcpu_count\": \"\\u0001\\\"\\n\"}";
		struct vm_config c;
		json_t *o = J(body);

		vm_config_init(&c);
		assert_int_equal(config_json_machine(&c, o, true, &err), -EINVAL);
		config_json_fault_place(&err, body, strlen(body), o);
		json_decref(o);
		vm_config_release(&c);
		assert_string_equal(err.msg, "An error occurred when deserializing the json body of "
				    "a request: invalid type: string \"\\u{1}\\\"\\n\", expected u8 at "
				    "line 1 column 27.");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot_source),
		cmocka_unit_test(test_fault_place),
		cmocka_unit_test(test_machine),
		cmocka_unit_test(test_machine_huge_pages),
		cmocka_unit_test(test_machine_smt_templates),
		cmocka_unit_test(test_drive),
		cmocka_unit_test(test_drive_format),
		cmocka_unit_test(test_net_vsock_entropy),
		cmocka_unit_test(test_file_and_put_agree),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_full_cpu_config),
		cmocka_unit_test(test_parse_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
