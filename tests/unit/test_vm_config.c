/*
 * The machine model's validation: each setter refuses bad input with one
 * line naming the field, and leaves the config as it was. The command line
 * reaches the same setters, so its messages carry the same text.
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
#include "vmm/config.h"

static struct err err;

static void expect_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' does not mention '%s'", hay, needle);
	assert_null(strchr(hay, '\n'));
}

static struct vm_drive drive(const char *id, const char *path, bool root)
{
	struct vm_drive d;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	d.path_on_host = (char *)path;
	d.is_root_device = root;
	return d;
}

static void test_defaults(void **state)
{
	struct vm_config c;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(c.machine.vcpu_count, 1);
	assert_int_equal(c.machine.mem_size_mib, 256);
	assert_true(c.entropy);
	assert_int_equal(c.ndrives, 0);
	assert_int_equal(vm_config_check_bootable(&c, &err), -EINVAL);
	expect_contains(err.msg, "kernel_image_path");
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	assert_int_equal(vm_config_check_bootable(&c, &err), 0);
	vm_config_release(&c);
}

/*
 * boot_args is bounded by the 64 KiB command-line area, not by a bzImage's
 * 2047: ELF and freestanding kernels take longer lines, and the loader
 * refuses a line longer than the kernel's own cmdline_size.
 */
static void test_boot_args_bound(void **state)
{
	size_t area = 64 * 1024;
	char *line = malloc(area + 1);
	struct vm_config c;

	(void)state;
	assert_non_null(line);
	vm_config_init(&c);
	memset(line, 'x', area - 1);
	line[area - 1] = '\0';
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, line, &err), 0);
	assert_int_equal(strlen(c.boot.boot_args), area - 1);
	memset(line, 'y', area);
	line[area] = '\0';
	assert_int_equal(vm_config_set_boot_source(&c, "/k2", NULL, line, &err), -EINVAL);
	expect_contains(err.msg, "boot_args is longer than 65535 bytes");
	/* Refused input leaves the previous boot source in place. */
	assert_string_equal(c.boot.kernel_image_path, "/k");
	assert_int_equal(c.boot.boot_args[0], 'x');
	vm_config_release(&c);
	free(line);
}

static void test_machine_ranges(void **state)
{
	struct vm_config c;
	struct vm_machine m = { .vcpu_count = 2, .mem_size_mib = 512 };

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_machine(&c, &m, &err), 0);
	assert_int_equal(c.machine.vcpu_count, 2);

	m.vcpu_count = 0;
	assert_int_equal(vm_config_set_machine(&c, &m, &err), -EINVAL);
	expect_contains(err.msg, "The number of vCPUs must be greater than 0, less than 255 and must be 1 or an even number if SMT is enabled.");
	m.vcpu_count = 256;
	assert_int_equal(vm_config_set_machine(&c, &m, &err), -EINVAL);
	m.vcpu_count = 1;
	m.mem_size_mib = 15;
	assert_int_equal(vm_config_set_machine(&c, &m, &err), -EINVAL);
	expect_contains(err.msg, "The memory size (MiB) 15 is below Hearth's minimum of 16.");
	m.mem_size_mib = 0;
	assert_int_equal(vm_config_set_machine(&c, &m, &err), -EINVAL);
	expect_contains(err.msg, "The memory size (MiB) is either 0, or not a multiple of the "
			"configured page size.");
	m.mem_size_mib = 64;
	/* smt: two threads per core, so one vCPU or an even count (Firecracker's rule). */
	m.smt = true;
	m.vcpu_count = 3;
	assert_int_equal(vm_config_set_machine(&c, &m, &err), -EINVAL);
	expect_contains(err.msg, "The number of vCPUs must be greater than 0, less than 255 and "
			"must be 1 or an even number if SMT is enabled.");
	m.cpu_template = CPU_TEMPLATE_COUNT;
	m.vcpu_count = 2;
	assert_int_equal(vm_config_set_machine(&c, &m, &err), -EINVAL);
	/* Refused input changes nothing. */
	assert_int_equal(c.machine.vcpu_count, 2);
	assert_int_equal(c.machine.mem_size_mib, 512);
	/* Past Hearth's 1 TiB: taken here, refused at InstanceStart (Firecracker's timing). */
	m = (struct vm_machine){ .vcpu_count = 1, .mem_size_mib = VM_MAX_MEM_MIB + 1 };
	assert_int_equal(vm_config_set_machine(&c, &m, &err), 0);
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, NULL, &err), 0);
	assert_int_equal(vm_config_check_bootable(&c, &err), -EINVAL);
	expect_contains(err.msg, "Invalid Memory Configuration: mem_size_mib 1048577 is more than "
			"Hearth's limit");
	vm_config_release(&c);
}

static void test_machine_smt(void **state)
{
	struct vm_config c;
	struct vm_machine m = { .vcpu_count = 1, .mem_size_mib = 64, .smt = true };

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_machine(&c, &m, &err), 0);
	assert_true(c.machine.smt);
	for (m.vcpu_count = 2; m.vcpu_count <= 8; m.vcpu_count += 2)
		assert_int_equal(vm_config_set_machine(&c, &m, &err), 0);
	m.vcpu_count = 254;
	assert_int_equal(vm_config_set_machine(&c, &m, &err), 0);
	m.vcpu_count = 5;
	assert_int_equal(vm_config_set_machine(&c, &m, &err), -EINVAL);
	assert_int_equal(c.machine.vcpu_count, 254);
	/* Without smt any count goes. */
	m.smt = false;
	assert_int_equal(vm_config_set_machine(&c, &m, &err), 0);
	vm_config_release(&c);
}

static int refuse_template(void *ctx, enum cpu_template_id id, struct err *e)
{
	(void)ctx;
	return id == CPU_TEMPLATE_T2A ? err_set(e, true, -EINVAL, CPU_TEMPLATE_VENDOR_MISMATCH) : 0;
}

/* A static template the host refuses leaves the model; one it takes replaces a custom one. */
static void test_machine_template(void **state)
{
	static const struct vm_config_probe probe = { .cpu_template = refuse_template };
	struct vm_config c;
	struct vm_machine m = { .vcpu_count = 2, .mem_size_mib = 64 };

	(void)state;
	vm_config_init(&c);
	c.probe = &probe;
	vm_config_set_cpu_config(&c, calloc(1, sizeof(struct cpu_template_custom)));
	assert_non_null(c.cpu_config);
	m.cpu_template = CPU_TEMPLATE_T2A;
	assert_int_equal(vm_config_set_machine(&c, &m, &err), -EINVAL);
	expect_contains(err.msg, "CPU vendor mismatched between actual CPU and CPU template.");
	assert_non_null(c.cpu_config);
	assert_int_equal(c.machine.cpu_template, CPU_TEMPLATE_NONE);
	m.cpu_template = CPU_TEMPLATE_T2;
	assert_int_equal(vm_config_set_machine(&c, &m, &err), 0);
	assert_null(c.cpu_config);
	assert_int_equal(c.machine.cpu_template, CPU_TEMPLATE_T2);
	/* A custom one replaces the static one. */
	vm_config_set_cpu_config(&c, calloc(1, sizeof(struct cpu_template_custom)));
	assert_int_equal(c.machine.cpu_template, CPU_TEMPLATE_NONE);
	vm_config_release(&c);
}

static void test_drives(void **state)
{
	struct vm_config c;
	struct vm_drive d;

	(void)state;
	vm_config_init(&c);
	d = drive("data", "/d.img", false);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), 0);
	d = drive("rootfs", "/r.img", true);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), 0);
	/* The root device moves to the front, to be /dev/vda. */
	assert_int_equal(c.ndrives, 2);
	assert_string_equal(c.drives[0].id, "rootfs");
	assert_string_equal(c.drives[1].id, "data");

	d = drive("other", "/o.img", true);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), -EINVAL);
	expect_contains(err.msg, "A root block device already exists! ('rootfs' is the root device");
	d = drive("data", "/x.img", false);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), -EINVAL);
	expect_contains(err.msg, "drive 'data' is given twice");
	/* The API's PUT replaces by id. */
	assert_int_equal(vm_config_put_drive(&c, &d, true, &err), 0);
	assert_string_equal(vm_config_find_drive(&c, "data")->path_on_host, "/x.img");
	assert_int_equal(c.ndrives, 2);

	d = drive("bad id!", "/b.img", false);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), -EINVAL);
	expect_contains(err.msg, "drive_id 'bad id!'");
	d = drive("", "/b.img", false);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), -EINVAL);
	d = drive("e", "", false);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), -EINVAL);
	expect_contains(err.msg, "path_on_host");
	for (unsigned int i = c.ndrives; i < VM_MAX_DRIVES; i++) {
		char id[8];

		snprintf(id, sizeof(id), "d%u", i);
		d = drive(id, "/f", false);
		assert_int_equal(vm_config_put_drive(&c, &d, false, &err), 0);
	}
	d = drive("onemore", "/f", false);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), -EINVAL);
	/* One a PCI slot; the transport's budget (virtio-mmio's is smaller) waits for the start. */
	expect_contains(err.msg, "drive 'onemore': at most 31 drives");
	assert_int_equal(c.ndrives, 31);
	vm_config_release(&c);
}

static void test_nets(void **state)
{
	struct vm_config c;
	struct vm_net n;

	(void)state;
	vm_config_init(&c);
	memset(&n, 0, sizeof(n));
	snprintf(n.id, sizeof(n.id), "eth0");
	n.dev.backend = NET_TAP;
	snprintf(n.dev.ifname, sizeof(n.dev.ifname), "tap0");
	n.dev.mac_set = true;
	memcpy(n.dev.mac, "\x06\x00\x00\x00\x00\x01", 6);
	assert_int_equal(vm_config_put_net(&c, &n, false, &err), 0);

	/* Firecracker's order: the MAC first, then the TAP. */
	snprintf(n.id, sizeof(n.id), "eth1");
	assert_int_equal(vm_config_put_net(&c, &n, false, &err), -EINVAL);
	expect_contains(err.msg, "The MAC address is already in use: 06:00:00:00:00:01 (by 'eth0')");
	n.dev.mac[5] = 0x02;
	assert_int_equal(vm_config_put_net(&c, &n, false, &err), -EINVAL);
	expect_contains(err.msg, "host_dev_name tap0 is already used by 'eth0'");
	n.dev.mac[5] = 0x01;
	snprintf(n.dev.ifname, sizeof(n.dev.ifname), "tap1");
	/* Multicast, as Firecracker takes it; then the MTU's floor. */
	n.dev.mac[0] = 0x01;
	n.dev.mtu = 67;
	assert_int_equal(vm_config_put_net(&c, &n, false, &err), -EINVAL);
	expect_contains(err.msg, "network interface 'eth1': mtu 67 is out of range (68 to 65535)");
	n.dev.mtu = 68;
	assert_int_equal(vm_config_put_net(&c, &n, true, &err), 0);
	assert_int_equal(vm_config_find_net(&c, "eth1")->dev.mac[0], 0x01);
	assert_int_equal(vm_config_find_net(&c, "eth1")->dev.mtu, 68);
	snprintf(n.id, sizeof(n.id), "eth2");
	n.dev.mac_set = false;
	n.dev.ifname[0] = '\0';
	assert_int_equal(vm_config_put_net(&c, &n, false, &err), -EINVAL);
	expect_contains(err.msg, "host_dev_name");
	n.dev.backend = NET_USER;
	assert_int_equal(vm_config_put_net(&c, &n, false, &err), 0);
	assert_int_equal(c.nnets, 3);
	assert_non_null(vm_config_find_net(&c, "eth2"));
	/*
	 * A refused replacement, as Firecracker's NetBuilder: a MAC in use
	 * keeps the old interface; any later refusal has removed it.
	 */
	n.dev.mac_set = true;
	memcpy(n.dev.mac, "\x06\x00\x00\x00\x00\x01", 6);
	assert_int_equal(vm_config_put_net(&c, &n, true, &err), -EINVAL);
	expect_contains(err.msg, "The MAC address is already in use");
	assert_non_null(vm_config_find_net(&c, "eth2"));
	n.dev.mac_set = false;
	n.dev.mtu = 5;
	assert_int_equal(vm_config_put_net(&c, &n, true, &err), -EINVAL);
	expect_contains(err.msg, "the interface it replaced was removed");
	assert_null(vm_config_find_net(&c, "eth2"));
	assert_int_equal(c.nnets, 2);
	assert_non_null(vm_config_find_net(&c, "eth0"));
	assert_non_null(vm_config_find_net(&c, "eth1"));
	/* Firecracker's --enable-pci VM: a drive and 30 NICs; up to 31, one a PCI slot. */
	n.dev.mtu = 0;
	for (unsigned int i = c.nnets; i < VM_MAX_NETS; i++) {
		snprintf(n.id, sizeof(n.id), "eth%u", i);
		assert_int_equal(vm_config_put_net(&c, &n, false, &err), 0);
	}
	assert_int_equal(c.nnets, 31);
	snprintf(n.id, sizeof(n.id), "eth31");
	assert_int_equal(vm_config_put_net(&c, &n, false, &err), -EINVAL);
	expect_contains(err.msg, "network interface 'eth31': at most 31 interfaces");
	assert_int_equal(c.nnets, 31);
	vm_config_release(&c);
}

static void test_vsock_logger_metrics(void **state)
{
	struct vm_config c;
	struct vm_vsock v = { .guest_cid = 2 };
	struct vm_logger l = { .level = VM_LOG_DEBUG, .log_path = "/tmp/log" };
	enum vm_log_level lv;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_vsock(&c, &v, &err), -EINVAL);
	expect_contains(err.msg, "guest_cid 2 is out of range");
	assert_false(c.vsock.present);
	v.guest_cid = 3;
	v.uds_path = "/tmp/v.sock";
	assert_int_equal(vm_config_set_vsock(&c, &v, &err), 0);
	assert_true(c.vsock.present);
	assert_string_equal(c.vsock.uds_path, "/tmp/v.sock");
	assert_ptr_not_equal(c.vsock.uds_path, v.uds_path);

	assert_int_equal(vm_config_set_logger(&c, &l, &err), 0);
	assert_string_equal(c.logger.log_path, "/tmp/log");
	assert_int_equal(vm_log_level_parse("warning", &lv), 0);
	assert_int_equal(lv, VM_LOG_WARNING);
	assert_int_equal(vm_log_level_parse("loud", &lv), -EINVAL);
	assert_string_equal(vm_log_level_name(VM_LOG_TRACE), "Trace");
	assert_int_equal(vm_config_set_metrics(&c, &(struct vm_metrics){ .metrics_path = "" }, &err),
			 -EINVAL);
	expect_contains(err.msg, "metrics_path");
	assert_int_equal(vm_config_set_metrics(&c, &(struct vm_metrics){ .metrics_path = "/tmp/m",
				.emit_id = true, .properties = "{\"a\":\"b\"}" }, &err), 0);
	assert_true(c.metrics.emit_id);
	assert_string_equal(c.metrics.properties, "{\"a\":\"b\"}");
	vm_config_release(&c);
}

/*
 * A qcow2 drive's chain in the model: copied (the caller's strings stay
 * the caller's), replaced, freed when the drive goes; refused where it
 * makes no sense; a PATCH that swaps its image refused by name. The
 * command line's --disk format= and backing= reach the same setter.
 */
static void test_drive_chain(void **state)
{
	const char *argv[] = { "hearth", "run", "--kernel", "k", "--disk",
			       "path=t.qcow2,format=qcow2,backing=m.qcow2,backing=b.raw,id=q",
			       "--disk", "path=h.qcow2,format=qcow2,backing=header" };
	char mid[] = "m.qcow2", base[] = "b.qcow2";
	struct vm_drive_patch p = { .id = "q", .path_on_host = "/other.qcow2" };
	struct cli_config cli;
	struct vm_config c;
	struct vm_drive d;

	(void)state;
	vm_config_init(&c);
	d = drive("q", "t.qcow2", false);
	d.format = BLK_FORMAT_QCOW2;
	d.backing_files[0] = mid;
	d.backing_files[1] = base;
	d.nbacking = 2;
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), 0);
	assert_ptr_not_equal(c.drives[0].backing_files[0], mid);
	mid[0] = 'x';
	assert_string_equal(c.drives[0].backing_files[0], "m.qcow2");
	assert_true(vm_config_has_qcow2(&c));
	/* Its image is not swapped by PATCH; its limiter is changed. */
	assert_int_equal(vm_config_patch_drive(&c, &p, &err), -EINVAL);
	expect_contains(err.msg, "drive 'q': a qcow2 drive's image is not swapped");
	p.path_on_host = NULL;
	p.has_rate_limiter = true;
	p.rate_limiter.ops = (struct rl_bucket_config){ .set = true, .size = 10,
							.refill_time = 100 };
	assert_int_equal(vm_config_patch_drive(&c, &p, &err), 0);
	d.nbacking = 0;
	d.backing_from_header = true;
	assert_int_equal(vm_config_put_drive(&c, &d, true, &err), 0);
	assert_int_equal(c.drives[0].nbacking, 0);
	assert_true(c.drives[0].backing_from_header);
	d.nbacking = 1;
	assert_int_equal(vm_config_put_drive(&c, &d, true, &err), -EINVAL);
	expect_contains(err.msg, "not both");
	d = drive("r", "r.img", false);
	d.backing_from_header = true;
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), -EINVAL);
	expect_contains(err.msg, "drive 'r': backing files are a qcow2 image's");
	d = drive("s", "r.img", false);
	d.format = BLK_FORMAT_QCOW2;
	d.nbacking = 1;
	d.backing_files[0] = (char *)"";
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), -EINVAL);
	expect_contains(err.msg, "backing file 1 is empty");
	assert_true(vm_config_drop_drive(&c, "q"));
	assert_false(vm_config_has_qcow2(&c));
	vm_config_release(&c);

	assert_int_equal(cli_run_parse(8, (char **)argv, &cli, &err), 0);
	assert_int_equal(cli.vm.ndrives, 2);
	assert_int_equal(cli.vm.drives[0].format, BLK_FORMAT_QCOW2);
	assert_int_equal(cli.vm.drives[0].nbacking, 2);
	assert_string_equal(cli.vm.drives[0].backing_files[1], "b.raw");
	assert_true(cli.vm.drives[1].backing_from_header);
	cli_run_release(&cli);
}

/* The command line reports the model's own message, prefixed with the flag. */
static void test_cli_uses_the_same_messages(void **state)
{
	const char *cpus[] = { "hearth", "run", "--kernel", "k", "--cpus", "0" };
	const char *mem[] = { "hearth", "run", "--kernel", "k", "--memory", "8" };
	const char *vs[] = { "hearth", "run", "--kernel", "k", "--vsock", "cid=4294967295" };
	const char *dup[] = { "hearth", "run", "--kernel", "k", "--disk", "path=a,id=x",
			      "--disk", "path=b,id=x" };
	struct vm_config c;
	struct vm_machine m = { .vcpu_count = 0, .mem_size_mib = 256 };
	struct cli_config cli;
	struct err model;
	struct err cerr;
	struct vm_drive d;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_machine(&c, &m, &model), -EINVAL);
	assert_int_equal(cli_run_parse(6, (char **)cpus, &cli, &cerr), -EINVAL);
	cli_run_release(&cli);
	expect_contains(cerr.msg, "--cpus '0'");
	expect_contains(cerr.msg, model.msg);

	m = (struct vm_machine){ .vcpu_count = 1, .mem_size_mib = 8 };
	assert_int_equal(vm_config_set_machine(&c, &m, &model), -EINVAL);
	assert_int_equal(cli_run_parse(6, (char **)mem, &cli, &cerr), -EINVAL);
	cli_run_release(&cli);
	expect_contains(cerr.msg, "--memory '8'");
	expect_contains(cerr.msg, model.msg);

	assert_int_equal(cli_run_parse(6, (char **)vs, &cli, &cerr), -EINVAL);
	cli_run_release(&cli);
	expect_contains(cerr.msg, "--vsock");

	d = drive("x", "a", false);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &model), 0);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &model), -EINVAL);
	assert_int_equal(cli_run_parse(8, (char **)dup, &cli, &cerr), -EINVAL);
	cli_run_release(&cli);
	expect_contains(cerr.msg, "--disk 'path=b,id=x'");
	expect_contains(cerr.msg, model.msg);
	vm_config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_boot_args_bound),
		cmocka_unit_test(test_machine_ranges),
		cmocka_unit_test(test_machine_smt),
		cmocka_unit_test(test_machine_template),
		cmocka_unit_test(test_drives),
		cmocka_unit_test(test_drive_chain),
		cmocka_unit_test(test_nets),
		cmocka_unit_test(test_vsock_logger_metrics),
		cmocka_unit_test(test_cli_uses_the_same_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
