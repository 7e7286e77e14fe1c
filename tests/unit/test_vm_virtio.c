/*
 * The command-line form of the virtio-mmio devices (--virtio-cmdline): the
 * exact text a CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES kernel parses, and a
 * clean refusal when it does not fit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_appends_each_device),
		cmocka_unit_test(test_empty_base_and_no_devices),
		cmocka_unit_test(test_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
