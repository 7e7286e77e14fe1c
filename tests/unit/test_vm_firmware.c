/*
 * A firmware boot in the model (vmm/config_firmware.c) and on hearth
 * run's command line (cli/run_firmware.c): each rule refuses with one
 * line naming the field or flag, the model left as it was; and the one
 * refusal (vmm/refusal.c) has no word against a firmware VM. Its snapshot's config record restores as a
 * PCI firmware VM whose image (and store) come from the request only.
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

#include "cli/run.h"
#include "snapshot/config_rec.h"
#include "snapshot/snapshot.h"
#include "snapshot/request.h"
#include "vmm/config.h"
#include "vmm/refusal.h"

static void expect_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' does not mention '%s'", hay, needle);
	assert_null(strchr(hay, '\n'));
}

static void test_model_rules(void **state)
{
	struct vm_config c;
	struct err err;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_check_firmware(&c, &err), 0);
	assert_int_equal(vm_config_set_firmware(&c, "", NULL, &err), -EINVAL);
	expect_contains(err.msg, "firmware_path is empty");
	assert_null(c.firmware.path);

	/* A store or SMBIOS fields without an image. */
	assert_int_equal(vm_config_set_smbios(&c, "ds=nocloud;s=http://x/", NULL, NULL, &err), 0);
	assert_int_equal(vm_config_check_firmware(&c, &err), -EINVAL);
	expect_contains(err.msg, "smbios: the SMBIOS tables are the firmware's to build");

	/* The image with a kernel, then without PCI, then whole. */
	assert_int_equal(vm_config_set_firmware(&c, "/fw/OVMF_CODE_4M.fd", "/fw/vars.fd", &err),
			 0);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	assert_int_equal(vm_config_check_firmware(&c, &err), -EINVAL);
	expect_contains(err.msg, "firmware_path and kernel_image_path exclude each other");
	vm_config_clear_boot(&c);
	assert_int_equal(vm_config_check_firmware(&c, &err), -EINVAL);
	expect_contains(err.msg, "the firmware finds its disks on PCI");
	c.pci = true;
	assert_int_equal(vm_config_check_firmware(&c, &err), 0);

	/* Bad SMBIOS fields leave the good ones. */
	assert_int_equal(vm_config_set_smbios(&c, "s", NULL, "not-a-uuid", &err), -EINVAL);
	expect_contains(err.msg, "smbios uuid 'not-a-uuid': not a UUID");
	assert_int_equal(vm_config_set_smbios(&c, "bad\x01", NULL, NULL, &err), -EINVAL);
	expect_contains(err.msg, "smbios serial: byte 3 is not printable ASCII");
	assert_string_equal(c.smbios.serial, "ds=nocloud;s=http://x/");
	vm_config_release(&c);
}

static void test_cli(void **state)
{
	const char *both[] = { "hearth", "run", "--kernel", "k", "--firmware", "f" };
	const char *vars[] = { "hearth", "run", "--kernel", "k", "--firmware-vars", "v" };
	const char *smb[] = { "hearth", "run", "--firmware", "f", "--smbios", "serial=a,,b,oops=1" };
	const char *ok[] = { "hearth", "run", "--firmware", "f", "--smbios",
			     "serial=a,,b,uuid=01234567-89ab-cdef-0123-456789abcdef" };
	struct cli_config cli;
	struct err err;

	(void)state;
	assert_int_equal(cli_run_parse(6, (char **)both, &cli, &err), -EINVAL);
	cli_run_release(&cli);
	expect_contains(err.msg, "--firmware and --kernel exclude each other");
	assert_int_equal(cli_run_parse(6, (char **)vars, &cli, &err), -EINVAL);
	cli_run_release(&cli);
	expect_contains(err.msg, "--firmware-vars needs --firmware");
	assert_int_equal(cli_run_parse(6, (char **)smb, &cli, &err), -EINVAL);
	cli_run_release(&cli);
	expect_contains(err.msg, "want serial=, uuid= or product= items");
	assert_int_equal(cli_run_parse(6, (char **)ok, &cli, &err), 0);
	/* ',,' is a ',' of the value; --firmware turns PCI on. */
	assert_string_equal(cli.vm.smbios.serial, "a,b");
	assert_true(cli.vm.smbios.has_uuid);
	assert_int_equal(cli.vm.smbios.uuid[0], 0x01);
	assert_true(cli.vm.pci);
	cli_run_release(&cli);
}

/* The one refusal has no word against a firmware VM: its snapshot, migration and fork are proven. */
static void test_not_refused(void **state)
{
	static const enum vm_op ops[] = { VM_OP_SNAPSHOT, VM_OP_MIGRATE, VM_OP_FORK };
	struct vm_config c;
	struct err err;
	char buf[512];

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_firmware(&c, "/fw/bios-256k.bin", NULL, &err), 0);
	for (unsigned int i = 0; i < 3; i++)
		assert_null(vm_refusal(&c, ops[i], buf, sizeof(buf)));
	vm_config_release(&c);
}

/*
 * The record of a PCI firmware VM loads: the transport is known before the
 * vm part's checks ask a firmware boot for PCI (the restore's first try
 * in the lab was refused "the firmware finds its disks on PCI"), and the
 * image is the request's, never the record's.
 */
static void test_snapshot_record(void **state)
{
	struct snap_load_req req = { .firmware_path = "/mine/bios.bin" };
	struct err err = ERR_INIT;
	struct vm_config c;
	char *json = NULL;
	size_t len;
	int ret;

	(void)state;
	vm_config_init(&c);
	c.pci = true;
	assert_int_equal(vm_config_set_machine(&c, &(struct vm_machine){ .vcpu_count = 1,
							.mem_size_mib = 64 }, &err), 0);
	assert_int_equal(vm_config_set_firmware(&c, "/victim/bios.bin", NULL, &err), 0);
	c.smbios.serial = strdup("ds=nocloud");
	assert_int_equal(snap_config_save(&c, &json, &len), 0);
	vm_config_release(&c);

	vm_config_init(&c);
	ret = snap_config_restore(&c, json, len, &err);
	if (ret)
		fail_msg("%s", err.msg);
	assert_true(c.pci);
	assert_int_equal(snap_load_host(&c, &req, &err), 0);
	assert_string_equal(c.firmware.path, "/mine/bios.bin");
	assert_string_equal(c.smbios.serial, "ds=nocloud");
	vm_config_release(&c);

	/* No image in the request: refused by name, the record's never opened. */
	req.firmware_path = NULL;
	vm_config_init(&c);
	assert_int_equal(snap_config_restore(&c, json, len, &err), 0);
	assert_int_equal(snap_load_host(&c, &req, &err), -EINVAL);
	expect_contains(err.msg, "name its image in firmware_override");
	vm_config_release(&c);
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_rules),
		cmocka_unit_test(test_cli),
		cmocka_unit_test(test_not_refused),
		cmocka_unit_test(test_snapshot_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
