/*
 * The command-line form of the virtio-mmio devices (--virtio-cmdline): the
 * exact text a CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES kernel parses, and a
 * clean refusal when it does not fit; and the whole kernel command line,
 * with the root= arguments Firecracker adds for a root drive.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/config.h"
#include "vmm/devices.h"

static const struct acpi_mmio_dev devs[] = {
	{ .base = 0xd0000000ull, .size = 0x1000, .gsi = 16 },
	{ .base = 0xd0001000ull, .size = 0x1000, .gsi = 5 },
};

static void test_appends_each_device(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(vm_virtio_cmdline("console=ttyS0", devs, 2, out, sizeof(out)), 0);
	assert_string_equal(out, "console=ttyS0 virtio_mmio.device=0x1000@0xd0000000:16"
				 " virtio_mmio.device=0x1000@0xd0001000:5");
}

static void test_empty_base_and_no_devices(void **state)
{
	char out[128];

	(void)state;
	assert_int_equal(vm_virtio_cmdline("", devs, 1, out, sizeof(out)), 0);
	assert_string_equal(out, "virtio_mmio.device=0x1000@0xd0000000:16");
	assert_int_equal(vm_virtio_cmdline("quiet", devs, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "quiet");
}

static void test_too_long(void **state)
{
	const char *want = "a virtio_mmio.device=0x1000@0xd0000000:16";
	char out[64];

	(void)state;
	/* Exactly fits, then one byte short: refused, and out stays a string. */
	assert_int_equal(vm_virtio_cmdline("a", devs, 1, out, strlen(want) + 1), 0);
	assert_string_equal(out, want);
	memset(out, 'x', sizeof(out));
	assert_int_equal(vm_virtio_cmdline("a", devs, 1, out, strlen(want)), -E2BIG);
	assert_string_equal(out, "a");
	assert_int_equal(vm_virtio_cmdline("abcd", devs, 1, out, 4), -E2BIG);
}

/* cfg's kernel command line, with the two devices above when asked. */
static const char *cmdline(const struct vm_config *c, bool multiboot)
{
	static char out[1024];

	assert_int_equal(vm_kernel_cmdline(c, multiboot, devs, 2, out, sizeof(out)), 0);
	return out;
}

static void add_drive(struct vm_config *c, const char *id, bool root, bool ro,
		      const char *partuuid)
{
	struct vm_drive d = { .path_on_host = "/img", .is_root_device = root,
			      .is_read_only = ro };
	struct err err;

	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.partuuid, sizeof(d.partuuid), "%s", partuuid);
	assert_int_equal(vm_config_put_drive(c, &d, true, &err), 0);
}

/* Firecracker's builder: root=PARTUUID=ID or root=/dev/vda, then ro or rw. */
static void test_root_arguments(void **state)
{
	struct vm_config c;
	struct err err;

	vm_config_init(&c);
	assert_string_equal(cmdline(&c, false), VM_DEFAULT_CMDLINE);
	assert_string_equal(cmdline(&c, true), "");
	/* A drive that is not the root adds nothing, its partuuid included. */
	add_drive(&c, "data", false, false, "feedf00d-02");
	assert_string_equal(cmdline(&c, false), VM_DEFAULT_CMDLINE);
	add_drive(&c, "rootfs", true, false, "");
	assert_string_equal(cmdline(&c, false), VM_DEFAULT_CMDLINE " root=/dev/vda rw");
	add_drive(&c, "rootfs", true, true, "");
	assert_string_equal(cmdline(&c, false), VM_DEFAULT_CMDLINE " root=/dev/vda ro");
	add_drive(&c, "rootfs", true, false, "0eaa91a0-01");
	assert_string_equal(cmdline(&c, false), VM_DEFAULT_CMDLINE " root=PARTUUID=0eaa91a0-01 rw");
	add_drive(&c, "rootfs", true, true, "0eaa91a0-01");
	assert_string_equal(cmdline(&c, false), VM_DEFAULT_CMDLINE " root=PARTUUID=0eaa91a0-01 ro");
	/* After the user's own arguments, which may name a root too: the kernel takes the last. */
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, "root=/dev/vdb quiet", &err), 0);
	assert_string_equal(cmdline(&c, false), "root=/dev/vdb quiet root=PARTUUID=0eaa91a0-01 ro");
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, "", &err), 0);
	assert_string_equal(cmdline(&c, false), "root=PARTUUID=0eaa91a0-01 ro");
	/* Then the devices, with --virtio-cmdline. */
	c.virtio_cmdline = true;
	assert_string_equal(cmdline(&c, false), "root=PARTUUID=0eaa91a0-01 ro "
			    "virtio_mmio.device=0x1000@0xd0000000:16 "
			    "virtio_mmio.device=0x1000@0xd0001000:5");
	vm_config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_appends_each_device),
		cmocka_unit_test(test_empty_base_and_no_devices),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_root_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
