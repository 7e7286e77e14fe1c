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

#include "boot/acpi.h"
#include "core/layout.h"
#include "vmm/config.h"
#include "vmm/devices.h"
#include "vmm/vm.h"

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
	/* A vhost-user root: its backend decides read-only, so rw, as Firecracker writes it. */
	{
		struct vm_drive v = { .id = "rootfs", .socket = "/run/vub.sock",
				      .is_root_device = true };

		assert_int_equal(vm_config_put_drive(&c, &v, true, &err), 0);
		assert_string_equal(cmdline(&c, false), VM_DEFAULT_CMDLINE " root=/dev/vda rw");
	}
	add_drive(&c, "rootfs", true, true, "0eaa91a0-01");
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
	/*
	 * The init's arguments, past "--", stay last and whole (Firecracker's
	 * test_init_params: init=/bin/cat -- /etc/os-release); a word that
	 * only starts with "--" is the kernel's.
	 */
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, "console=ttyS0 init=/bin/cat "
						   "-- /etc/os-release", &err), 0);
	assert_string_equal(cmdline(&c, false), "console=ttyS0 init=/bin/cat "
			    "root=PARTUUID=0eaa91a0-01 ro virtio_mmio.device=0x1000@0xd0000000:16 "
			    "virtio_mmio.device=0x1000@0xd0001000:5 -- /etc/os-release");
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, "-- a b", &err), 0);
	c.virtio_cmdline = false;
	assert_string_equal(cmdline(&c, false), "root=PARTUUID=0eaa91a0-01 ro -- a b");
	assert_int_equal(vm_config_set_boot_source(&c, "/k", NULL, "quiet --x y --", &err), 0);
	assert_string_equal(cmdline(&c, false), "quiet --x y root=PARTUUID=0eaa91a0-01 ro --");
	vm_config_release(&c);
}

/*
 * A root drive and 18 more (Kata's pool of 8 fits twice) on a VM without
 * VMGenID (a snapshot's from before it): each on its own window and
 * interrupt line, none a legacy device's, all in the IOAPIC's 24 pins;
 * the DSDT and --virtio-cmdline take them all. One device more is
 * refused, naming what was asked for.
 */
static void test_layout_of_every_drive(void **state)
{
	static struct vm vm;
	static char line[4096];
	struct vm_config c;
	struct err err;
	uint32_t seen = 0;

	vm_config_init(&c);
	c.vmgenid = false;
	vm_config_set_entropy(&c, false);
	add_drive(&c, "rootfs", true, false, "");
	for (unsigned int i = 1; i < VM_MAX_VIRTIO; i++) {
		char id[8];

		snprintf(id, sizeof(id), "pool%u", i);
		add_drive(&c, id, false, false, "");
	}
	assert_int_equal(c.ndrives, 19);
	assert_int_equal(vm_devices_layout(&vm, &c, &err), 0);
	assert_int_equal(vm.n_mmio_devs, 19);
	for (unsigned int i = 0; i < vm.n_mmio_devs; i++) {
		const struct acpi_mmio_dev *d = &vm.mmio_devs[i];

		assert_int_equal(d->base, LAYOUT_VIRTIO_MMIO_BASE + i * LAYOUT_VIRTIO_MMIO_STRIDE);
		assert_true(d->base + d->size <= LAYOUT_IOAPIC);
		assert_true(d->gsi < 24);
		assert_false(seen & (1u << d->gsi));
		seen |= 1u << d->gsi;
	}
	/* Not the timer, the keyboard, the cascade, COM1 or the RTC. */
	assert_int_equal(seen & ((1u << 0) | (1u << 1) | (1u << 2) | (1u << IRQ_COM1) |
				 (1u << IRQ_RTC) | (1u << IRQ_KBD)), 0);
	/* The snapshots' slots keep their lines. */
	assert_int_equal(vm.mmio_devs[0].gsi, 16);
	assert_int_equal(vm.mmio_devs[15].gsi, 14);

	c.virtio_cmdline = true;
	assert_int_equal(vm_kernel_cmdline(&c, false, vm.mmio_devs, vm.n_mmio_devs, line,
					   sizeof(line)), 0);
	assert_non_null(strstr(line, " root=/dev/vda rw virtio_mmio.device=0x1000@0xd0000000:16 "));
	assert_non_null(strstr(line, "virtio_mmio.device=0x1000@0xd0012000:15"));
	/* Within the 2048 bytes (cmdline_size) a stock x86 kernel takes. */
	assert_true(strlen(line) < 2048);
	{
		struct acpi_config ac = { .ncpus = 1, .ioapic_addr = LAYOUT_IOAPIC,
					  .lapic_addr = LAYOUT_LAPIC, .com1_port = PORT_COM1,
					  .com1_irq = IRQ_COM1, .mmio_devs = vm.mmio_devs,
					  .n_mmio_devs = vm.n_mmio_devs };
		static uint8_t tables[LAYOUT_ACPI_SIZE];
		uint64_t rsdp;

		assert_int_equal(acpi_build(tables, LAYOUT_ACPI_BASE, sizeof(tables), &ac, &rsdp), 0);
	}

	assert_int_equal(vm_config_set_entropy(&c, true), 0);
	assert_int_equal(vm_devices_layout(&vm, &c, &err), -EINVAL);
	assert_true(err.usage);
	assert_non_null(strstr(err.msg, "19 drives, 0 network interfaces, entropy, 20 in all; "
				      "at most 19"));
	vm_config_release(&c);
}

/*
 * VMGenID takes the last virtio-mmio line, as Firecracker's takes one of
 * its GSIs: 18 devices fit beside it, none on its line, and the 19th is
 * refused in Firecracker's words, saying why. On PCI the devices take no
 * line, and all 19 fit beside it.
 */
static void test_vmgenid_takes_a_line(void **state)
{
	static struct vm vm;
	struct vm_config c;
	struct err err;

	(void)state;
	vm_config_init(&c);
	assert_true(c.vmgenid);
	vm_config_set_entropy(&c, false);
	add_drive(&c, "rootfs", true, false, "");
	for (unsigned int i = 1; i < VM_MAX_VIRTIO - 1; i++) {
		char id[8];

		snprintf(id, sizeof(id), "pool%u", i);
		add_drive(&c, id, false, false, "");
	}
	assert_int_equal(vm_devices_layout(&vm, &c, &err), 0);
	assert_int_equal(vm.n_mmio_devs, 18);
	for (unsigned int i = 0; i < vm.n_mmio_devs; i++)
		assert_int_not_equal(vm.mmio_devs[i].gsi, LAYOUT_VMGENID_GSI);
	add_drive(&c, "pool18", false, false, "");
	assert_int_equal(vm_devices_layout(&vm, &c, &err), -EINVAL);
	assert_true(err.usage);
	assert_non_null(strstr(err.msg, "Failed to allocate requested resource"));
	assert_non_null(strstr(err.msg, "19 drives, 0 network interfaces, 19 in all; at most 18, "
				      "one per free interrupt line, VMGenID having one"));
	c.pci = true;
	assert_int_equal(vm_devices_layout(&vm, &c, &err), 0);
	/* A --flat VM has no ACPI, so no VMGenID: its line is free. */
	c.pci = false;
	c.flat.present = true;
	assert_int_equal(vm_devices_layout(&vm, &c, &err), 0);
	assert_int_equal(vm.n_mmio_devs, 19);
	c.flat.present = false;
	vm_config_release(&c);
}

/* As `firecracker`: 17 on virtio-mmio (VMGenID and VMClock hold a line each), 31 on PCI. */
static void test_firecracker_budget(void **state)
{
	static struct vm vm;
	struct vm_config c;
	struct err err;

	(void)state;
	vm_config_init(&c);
	c.fc_rules = true;
	vm_config_set_entropy(&c, false);
	for (unsigned int i = 0; i < 17; i++) {
		char id[8];

		snprintf(id, sizeof(id), "d%u", i);
		add_drive(&c, id, false, false, "");
	}
	assert_int_equal(vm_devices_layout(&vm, &c, &err), 0);
	assert_int_equal(vm.n_mmio_devs, 17);
	add_drive(&c, "d17", false, false, "");
	assert_int_equal(vm_devices_layout(&vm, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "Could not attach device: Error while registering ACPI "
				      "with KVM: VMClock: Could not allocate GSI: The requested "
				      "resource is not available."));
	add_drive(&c, "d18", false, false, "");
	assert_int_equal(vm_devices_layout(&vm, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, ": VMGenID: Could not allocate GSI: "));
	vm_config_set_entropy(&c, true);
	assert_int_equal(vm_devices_layout(&vm, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "MMIO transport error: Failed to allocate requested "
				      "resource"));
	/* Without VMClock (a restore's config may lack it), its line is a device's. */
	vm_config_set_entropy(&c, false);
	c.vmclock = false;
	assert_int_equal(vm_devices_layout(&vm, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, ": VMGenID: "));
	/* Under hearth's name the old budget: 18 with VMGenID. */
	c.fc_rules = false;
	c.vmclock = true;
	assert_int_equal(vm_devices_layout(&vm, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "at most 18, one per free interrupt line"));
	/* PCI: 31 slots, the passed-through devices' too, under either name. */
	c.pci = true;
	assert_int_equal(vm_devices_layout(&vm, &c, &err), 0);
	c.nvfio = 12;
	assert_int_equal(vm_devices_layout(&vm, &c, &err), 0);
	c.nvfio = 13;
	assert_int_equal(vm_devices_layout(&vm, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "Could not attach device: Error attach PCI device: PCI "
				      "root error: Could not find an available device slot on the "
				      "PCI bus."));
	c.nvfio = 0;
	vm_config_release(&c);
}

static void add_user_net(struct vm_config *c, unsigned int i)
{
	struct vm_net n = { .dev = { .backend = NET_USER } };
	struct err err;

	snprintf(n.id, sizeof(n.id), "eth%u", i);
	assert_int_equal(vm_config_put_net(c, &n, false, &err), 0);
}

/*
 * Firecracker's test_max_devices with --enable-pci: a root drive and 30
 * NICs take the 31 slots and start; a 31st NIC is accepted at its PUT and
 * refused at InstanceStart in Firecracker's words, under either name. On
 * virtio-mmio the same VMs, and the largest the model takes (every drive
 * and every NIC), are refused cleanly, the 19 slots never overrun.
 */
static void test_pci_budget(void **state)
{
	static struct vm vm;
	struct vm_config c;
	struct err err;

	(void)state;
	vm_config_init(&c);
	c.fc_rules = true;
	c.pci = true;
	vm_config_set_entropy(&c, false);
	add_drive(&c, "rootfs", true, false, "");
	for (unsigned int i = 0; i < 30; i++)
		add_user_net(&c, i);
	assert_int_equal(vm_devices_layout(&vm, &c, &err), 0);
	assert_int_equal(vm.n_mmio_devs, 0);
	add_user_net(&c, 30);
	assert_int_equal(c.nnets, 31);
	for (int fc = 1; fc >= 0; fc--) {
		c.fc_rules = fc;
		assert_int_equal(vm_devices_layout(&vm, &c, &err), -EINVAL);
		assert_true(err.usage);
		assert_non_null(strstr(err.msg, "Could not find an available device slot on the "
					      "PCI bus."));
		assert_non_null(strstr(err.msg, "1 drives, 31 network interfaces, 32 in all, 0 "
					      "passed through; at most 31, one per PCI slot"));
	}
	c.pci = false;
	for (int fc = 1; fc >= 0; fc--) {
		c.fc_rules = fc;
		assert_int_equal(vm_devices_layout(&vm, &c, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "MMIO transport error: Failed to allocate requested "
					      "resource"));
	}
	/* Every drive the model takes, as many as the slots: PCI's 31, not virtio-mmio's. */
	for (unsigned int i = 1; i < VM_MAX_DRIVES; i++) {
		char id[8];

		snprintf(id, sizeof(id), "d%u", i);
		add_drive(&c, id, false, false, "");
	}
	assert_int_equal(c.ndrives, VM_MAX_DRIVES);
	assert_int_equal(vm_devices_layout(&vm, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "31 drives, 31 network interfaces, 62 in all; at most 18"));
	assert_true(vm.n_mmio_devs <= VM_MAX_VIRTIO);
	while (c.nnets)
		assert_true(vm_config_drop_net(&c, c.nets[0].id));
	assert_int_equal(vm_devices_layout(&vm, &c, &err), -EINVAL);
	c.pci = true;
	assert_int_equal(vm_devices_layout(&vm, &c, &err), 0);
	vm_config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_appends_each_device),
		cmocka_unit_test(test_empty_base_and_no_devices),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_root_arguments),
		cmocka_unit_test(test_layout_of_every_drive),
		cmocka_unit_test(test_vmgenid_takes_a_line),
		cmocka_unit_test(test_firecracker_budget),
		cmocka_unit_test(test_pci_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
