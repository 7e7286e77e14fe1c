/*
 * The devices of a VM: two tables, walked in order, and nothing per
 * device besides. A legacy device's entry says where it sits (the ports,
 * window and line it is given: core/layout.h's) and which constructor
 * builds it (devices/device.h's one shape); a virtio family's entry how
 * many the config asks for and how one is made. Every device is entered
 * in the registry as the component its constructor (or, for virtio, its
 * transport) hands out. This is the one place that knows the virtio
 * transports: devices are built transport-free, then attached here, to
 * virtio-mmio or (cfg->pci) to virtio-pci on the PCI root.
 */
#include "vmm/devices.h"
#include "vmm/devices_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/layout.h"
#include "devices/boot_timer.h"
#include "devices/debug_exit.h"
#include "devices/debugcon.h"
#include "devices/fw_cfg.h"
#include "devices/platform.h"
#include "devices/serial.h"
#include "devices/testdev.h"
#include "devices/vmclock.h"
#include "devices/vmgenid.h"
#include "pci/hotplug.h"
#include "pci/root.h"
#include "virtio/mmio.h"
#include "virtio/pci.h"
#include "vmm/vm_fw.h"

struct legacy_device {
	const char *id;               /* in the registry and the snapshot */
	const char *type;
	const char *what;             /* before its errors */
	dev_create_fn create;
	struct dev_resources res;
	/* NULL: always there. Else whether cfg asks for it, and where it goes. */
	bool (*wanted)(const struct vm_config *cfg, struct dev_resources *res);
	/* Added after snapshots were taken without it: theirs restore it as built. */
	bool optional;
};

static bool want_testdev(const struct vm_config *cfg, struct dev_resources *res)
{
	return cfg->test_devices;
}

static bool want_boot_timer(const struct vm_config *cfg, struct dev_resources *res)
{
	return cfg->boot_timer;
}

static bool want_vmclock(const struct vm_config *cfg, struct dev_resources *res)
{
	return cfg->vmclock && !cfg->flat.present;
}

static bool want_vmgenid(const struct vm_config *cfg, struct dev_resources *res)
{
	return cfg->vmgenid && !cfg->flat.present;
}

/* What a firmware VM has instead: the LPC's PM block, the MCH's root (vmm/vm_fw.h). */
static bool want_no_firmware(const struct vm_config *cfg, struct dev_resources *res)
{
	return !cfg->firmware.path;
}

/* fw_cfg with QEMU's DMA interface where firmware reads it. */
static bool want_fw_cfg(const struct vm_config *cfg, struct dev_resources *res)
{
	if (cfg->firmware.path)
		res->pio_size = FW_CFG_PORTS_DMA;
	return true;
}

static bool want_pci_hotplug(const struct vm_config *cfg, struct dev_resources *res)
{
	return cfg->pci;
}

static bool want_debug_exit(const struct vm_config *cfg, struct dev_resources *res)
{
	res->pio_base = cfg->debug_exit.iobase;
	res->pio_size = cfg->debug_exit.iosize;
	return cfg->debug_exit.present;
}

static bool want_debugcon(const struct vm_config *cfg, struct dev_resources *res)
{
	res->pio_base = cfg->debugcon.port;
	return cfg->debugcon.present;
}

_Static_assert(PORT_ACPI_SLEEP_STS == PORT_ACPI_SLEEP_CTL + 1 &&
	       PORT_ACPI_RESET == PORT_ACPI_SLEEP_CTL + 2,
	       "acpi_pm takes its three registers from one base");

static const struct legacy_device legacy_devices[] = {
	{ .id = "com1", .type = "serial", .what = "COM1", .create = serial_create,
	  .res = { .pio_base = PORT_COM1, .pio_size = SERIAL_PORTS, .gsi = IRQ_COM1 } },
	{ .id = "i8042", .type = "i8042", .what = "i8042", .create = i8042_create,
	  .res = { .pio_base = PORT_I8042_DATA, .pio_size = I8042_PORTS, .gsi = IRQ_KBD } },
	{ .id = "rtc", .type = "rtc", .what = "RTC", .create = rtc_create,
	  .res = { .pio_base = PORT_RTC, .pio_size = RTC_PORTS, .gsi = IRQ_RTC } },
	{ .id = "acpi_pm", .type = "acpi-pm", .what = "ACPI PM", .create = acpi_pm_create,
	  .wanted = want_no_firmware, .res = { .pio_base = PORT_ACPI_SLEEP_CTL, .pio_size = ACPI_PM_PORTS, .gsi = -1 } },
	{ .id = "legacy", .type = "legacy-ports", .what = "legacy ports",
	  .create = legacy_create, .res = { .gsi = -1 } },
	{ .id = "fw_cfg", .type = "fw-cfg", .what = "fw_cfg", .create = fw_cfg_create,
	  .wanted = want_fw_cfg, .res = { .pio_base = PORT_FW_CFG, .pio_size = FW_CFG_PORTS, .gsi = -1 } },
	{ .id = "pci", .type = "pci-root", .what = "PCI root complex", .create = pci_root_create,
	  .optional = true, .wanted = want_no_firmware,
	  .res = { .pio_base = PORT_PCI_CONF1, .pio_size = PCI_CONF1_PORTS,
		   .mmio_base = LAYOUT_PCI_ECAM, .mmio_size = LAYOUT_PCI_ECAM_SIZE, .gsi = -1 } },
	/* Optional: a snapshot from before it restores without its record. */
	{ .id = "pci_hotplug", .type = "pci-hotplug", .what = "PCI hotplug",
	  .create = pci_hotplug_create, .wanted = want_pci_hotplug, .optional = true,
	  .res = { .pio_base = PORT_PCI_HOTPLUG, .pio_size = PCI_HOTPLUG_PORTS,
		   .gsi = LAYOUT_PCI_HOTPLUG_GSI } },
	/* pc-testdev first: a clash is then always the debug-exit's, which has a flag to fix it. */
	{ .id = "testdev", .type = "pc-testdev", .what = "--test-devices",
	  .create = testdev_create, .wanted = want_testdev,
	  .res = { .pio_base = PORT_TESTDEV, .pio_size = TESTDEV_PORTS,
		   .mmio_base = MMIO_TESTDEV, .mmio_size = TESTDEV_MMIO_SIZE, .gsi = -1 } },
	{ .id = "vmclock", .type = "vmclock", .what = "VMClock", .create = vmclock_create,
	  .wanted = want_vmclock,
	  .res = { .mmio_base = LAYOUT_VMCLOCK, .mmio_size = LAYOUT_VMCLOCK_SIZE, .gsi = -1 } },
	/* Not optional: a snapshot's config says whether its VM had one (snapshot/config_rec.c). */
	{ .id = "vmgenid", .type = "vmgenid", .what = "VMGenID", .create = vmgenid_create,
	  .wanted = want_vmgenid,
	  .res = { .mmio_base = LAYOUT_VMGENID, .mmio_size = LAYOUT_VMGENID_SIZE,
		   .gsi = LAYOUT_VMGENID_GSI } },
	{ .id = "boot_timer", .type = "boot-timer", .what = "--boot-timer",
	  .create = boot_timer_create, .wanted = want_boot_timer,
	  .res = { .mmio_base = MMIO_BOOT_TIMER, .mmio_size = BOOT_TIMER_SIZE, .gsi = -1 } },
	{ .id = "debug_exit", .type = "isa-debug-exit", .what = "--debug-exit",
	  .create = debug_exit_create, .wanted = want_debug_exit, .res = { .gsi = -1 } },
	/* Last: a port it shares with anything above is its clash, named by its flag. */
	{ .id = "debugcon", .type = "isa-debugcon", .what = "--debugcon",
	  .create = debugcon_create, .wanted = want_debugcon,
	  .res = { .pio_base = PORT_DEBUGCON, .pio_size = 1, .gsi = -1 } },
};


static const uint8_t virtio_gsis[] = LAYOUT_VIRTIO_GSIS;

_Static_assert(sizeof(virtio_gsis) == VM_MAX_VIRTIO, "one GSI per virtio-mmio slot");

/*
 * VMGenID's line is the last virtio-mmio one (core/layout.h): a VM on
 * virtio-mmio with VMGenID has one device fewer, as Firecracker's has.
 * On PCI the devices take no line, and VMGenID costs them nothing.
 */
static bool vmgenid_takes_line(const struct vm_config *cfg)
{
	return !cfg->pci && want_vmgenid(cfg, NULL);
}

/* The devices counted, for the refusals' own part after Firecracker's words. */
static void budget_detail(const struct vm_config *cfg, unsigned int n, char *out, size_t len)
{
	char pm[48] = "";
	int at = 0;

	if (cfg->npmem)
		at = snprintf(pm, sizeof(pm), ", %u pmem", cfg->npmem);
	if (cfg->nfs)
		snprintf(pm + at, sizeof(pm) - (size_t)at, ", %u virtio-fs", cfg->nfs);
	snprintf(out, len, "%u drives, %u network interfaces%s%s%s%s%s, %u in all", cfg->ndrives,
		 cfg->nnets, vm_count_rng(cfg) ? ", entropy" : "", vm_count_vsock(cfg) ? ", vsock" : "",
		 vm_count_balloon(cfg) ? ", balloon" : "", pm, vm_count_mem(cfg) ? ", memory-hotplug" : "",
		 n);
}

/* Firecracker's words for a legacy line its allocator cannot give (StartMicrovmError's chain). */
#define FC_NO_LINE "The requested resource is not available."
#define FC_ACPI_NO_GSI "Could not attach device: Error while registering ACPI with KVM: %s: " \
		       "Could not allocate GSI: " FC_NO_LINE " (too many virtio devices: %s; " \
		       "at most %u as `firecracker`, VMGenID and VMClock holding a line each)"

/*
 * Firecracker's own budget, under its name: its builder gives the 19
 * legacy lines to the virtio devices, then to VMGenID, then to VMClock,
 * and the first left without one fails the start in its words. Hearth's
 * VMClock needs no line; here it holds one anyway, so that the same VMs
 * start as in Firecracker (17 virtio devices).
 */
static int fc_mmio_budget(const struct vm_config *cfg, unsigned int n, struct err *err)
{
	bool genid = want_vmgenid(cfg, NULL), clock = want_vmclock(cfg, NULL);
	unsigned int max = VM_MAX_VIRTIO - genid - clock;
	char what[160];

	budget_detail(cfg, n, what, sizeof(what));
	if (n > VM_MAX_VIRTIO)
		return err_set(err, true, -EINVAL, "Could not attach device: MMIO transport error: "
			       "Failed to allocate requested resource: " FC_NO_LINE " (too many "
			       "virtio devices: %s; at most %u as `firecracker`, VMGenID and VMClock "
			       "holding a line each)", what, max);
	if (genid && n == VM_MAX_VIRTIO)
		return err_set(err, true, -EINVAL, FC_ACPI_NO_GSI, "VMGenID", what, max);
	if (clock && n + genid == VM_MAX_VIRTIO)
		return err_set(err, true, -EINVAL, FC_ACPI_NO_GSI, "VMClock", what, max);
	return 0;
}

int vm_devices_layout(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	unsigned int n = 0, max = VM_MAX_VIRTIO - vmgenid_takes_line(cfg);
	char what[160];
	int ret;

	vm->n_mmio_devs = 0;
	for (unsigned int f = 0; f < vm_virtio_nfamilies; f++)
		n += vm_virtio_families[f].count(cfg);
	budget_detail(cfg, n, what, sizeof(what));
	/* One PCI slot each, the passed-through devices too: Firecracker's words past its 31. */
	if (cfg->pci && n + cfg->nvfio > VM_PCI_SLOTS_MAX)
		return err_set(err, true, -EINVAL, "Could not attach device: Error attach PCI device: "
			       "PCI root error: Could not find an available device slot on the PCI "
			       "bus. (too many devices: %s, %u passed through; at most %u, one per "
			       "PCI slot)", what, cfg->nvfio, VM_PCI_SLOTS_MAX);
	if (!cfg->pci && cfg->fc_rules) {
		ret = fc_mmio_budget(cfg, n, err);
		if (ret)
			return ret;
	}
	if (!cfg->pci && n > max)
		/* Firecracker's words (its GSI allocator's, through InstanceStart's), then ours. */
		return err_set(err, true, -EINVAL, "Could not attach device: MMIO transport error: "
			       "Failed to allocate requested resource: The requested resource is not "
			       "available. (too many virtio devices: %s; at most %u, one per free "
			       "interrupt line%s)", what, max,
			       vmgenid_takes_line(cfg) ? ", VMGenID having one" : "");
	/* On PCI, the devices are functions of the root: nothing on virtio-mmio to describe. */
	vm_vfio_layout(vm, cfg);
	if (cfg->pci)
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		vm->mmio_devs[i].base = LAYOUT_VIRTIO_MMIO_BASE + i * LAYOUT_VIRTIO_MMIO_STRIDE;
		vm->mmio_devs[i].size = VIRTIO_MMIO_SIZE;
		vm->mmio_devs[i].gsi = virtio_gsis[i];
	}
	vm->n_mmio_devs = n;
	return 0;
}

/* Enters c in the registry or, when the registry refuses it, destroys it. */
static int enter(struct vm *vm, const char *id, const char *type,
		 const struct dev_resources *res, const struct component *c, struct err *err)
{
	int ret = registry_add(&vm->registry, COMP_DEVICE, id, type, res, c);

	if (ret) {
		c->ops->destroy(c->obj);
		return err_set(err, ret == -EEXIST, ret, "device '%s': %s", id,
			       ret == -EEXIST ? "the id is taken" : strerror(-ret));
	}
	return 0;
}

static int create_legacy(struct vm *vm, const struct vm_config *cfg, const struct dev_env *env,
			 struct err *err)
{
	for (size_t i = 0; i < sizeof(legacy_devices) / sizeof(legacy_devices[0]); i++) {
		const struct legacy_device *d = &legacy_devices[i];
		struct dev_resources res = d->res;
		struct component c;
		int ret;

		if (d->wanted && !d->wanted(cfg, &res))
			continue;
		ret = d->create(env, &res, &c, err);
		if (ret)
			return err_prefix(err, ret, "%s: ", d->what);
		ret = enter(vm, d->id, d->type, &res, &c, err);
		if (ret)
			return ret;
		if (d->optional)
			registry_find(&vm->registry, COMP_DEVICE, d->id)->optional = true;
	}
	return 0;
}

/* Attaches dev to virtio-mmio at the next slot and enters the two as one component. */
static int attach(struct vm *vm, const struct virtio_build *b, const char *type,
		  unsigned int slot, struct virtio_dev *dev, struct err *err)
{
	struct virtio_host host = { .vm_fd = vm->fd, .bus = &vm->bus, .loop = vm->loop };
	struct dev_resources res = { .mmio_base = vm->mmio_devs[slot].base,
				     .mmio_size = vm->mmio_devs[slot].size,
				     .gsi = (int)vm->mmio_devs[slot].gsi };
	struct virtio_mmio *t;
	int ret;

	ret = virtio_mmio_create(dev, &host, res.mmio_base, (uint32_t)res.gsi, &t);
	if (ret) {
		dev->ops->destroy(dev);
		return err_set(err, false, ret, "%s: cannot attach virtio-mmio: %s", b->what,
			       strerror(-ret));
	}
	return enter(vm, b->id, type, &res, &(struct component){ &virtio_mmio_component, t },
		     err);
}

/*
 * Attaches dev to the PCI root as function 0 of device slot (the host
 * bridge is device 0), its BAR where firmware would have put it.
 */
static int attach_pci(struct vm *vm, const struct virtio_build *b, const char *type,
		      unsigned int slot, struct virtio_dev *dev, struct err *err)
{
	struct virtio_host host = { .vm_fd = vm->fd, .bus = &vm->bus, .loop = vm->loop,
				    .routes = vm->has_routes ? &vm->routes : NULL };
	struct reg_entry *root = registry_find(&vm->registry, COMP_DEVICE, "pci");
	struct dev_resources res = { .mmio_base = pci_root_bar_base(slot, VIRTIO_PCI_BAR_SIZE),
				     .mmio_size = VIRTIO_PCI_BAR_SIZE, .gsi = -1 };
	struct virtio_pci *t;
	int ret;

	if (!slot) {
		dev->ops->destroy(dev);
		return err_set(err, true, -EINVAL, "%s: the snapshot records no PCI slot for it",
			       b->what);
	}
	ret = root ? virtio_pci_create(dev, &host, pci_root_of(&root->comp), slot, &t)
		   : -ENODEV;
	if (ret) {
		dev->ops->destroy(dev);
		return err_set(err, false, ret, "%s: cannot attach virtio-pci: %s", b->what,
			       strerror(-ret));
	}
	return enter(vm, b->id, type, &res, &(struct component){ &virtio_pci_component, t },
		     err);
}

/*
 * The slot of the device b made, the n-th in layout order: slot n + 1, or
 * the one a snapshot recorded for it (0 where it recorded none: refused).
 */
static unsigned int pci_slot_of(const struct vm_config *cfg, const struct virtio_build *b,
				const char *type, unsigned int n)
{
	if (!cfg->npci_slots)
		return n + 1;
	for (unsigned int i = 0; i < cfg->npci_slots; i++)
		if (!strcmp(cfg->pci_slots[i].type, type) && !strcmp(cfg->pci_slots[i].name, b->id))
			return cfg->pci_slots[i].slot;
	return 0;
}

static int create_virtio(struct vm *vm, const struct vm_config *cfg,
			 const struct blk_config *drives, struct err *err)
{
	struct virtio_env env = { .loop = vm->loop, .mem = &vm->mem };
	unsigned int slot = 0;

	for (unsigned int f = 0; f < vm_virtio_nfamilies; f++) {
		const struct virtio_family *fam = &vm_virtio_families[f];
		unsigned int n = fam->count(cfg);

		for (unsigned int i = 0; i < n; i++, slot++) {
			struct virtio_build b = { .vm = vm, .env = &env, .cfg = cfg, .drives = drives,
						  .pmem = vm->pmem, .i = i };
			struct virtio_dev *dev = NULL;
			int ret;

			err->msg[0] = '\0';
			ret = fam->create(&b, &dev, err);
			if (ret) {
				if (!err->msg[0])
					err_set(err, false, ret, "%s", strerror(-ret));
				err->usage = ret != -ENOMEM;
				return err_prefix(err, ret, "%s: ", b.what);
			}
			ret = cfg->pci ? attach_pci(vm, &b, fam->type, pci_slot_of(cfg, &b, fam->type,
									  slot), dev, err)
				       : attach(vm, &b, fam->type, slot, dev, err);
			if (ret)
				return ret;
		}
	}
	if (cfg->pci && cfg->npci_slots && cfg->npci_slots != slot)
		return err_set(err, true, -EINVAL, "the snapshot records %u PCI slots for %u "
			       "devices", cfg->npci_slots, slot);
	return 0;
}

unsigned int vm_devices_pci_slot(const struct vm_config *cfg, const char *type, const char *name)
{
	unsigned int slot = 1;

	for (unsigned int f = 0; f < vm_virtio_nfamilies; f++) {
		const struct virtio_family *fam = &vm_virtio_families[f];
		unsigned int n = fam->count(cfg);

		for (unsigned int i = 0; !strcmp(fam->type, type) && i < n; i++)
			if (!strcmp(vm_virtio_family_id(fam, cfg, i), name))
				return slot + i;
		slot += n;
	}
	return 0;
}

int vm_devices_plug_pci(struct vm *vm, const struct vm_config *cfg, const char *type,
			unsigned int i, const struct blk_config *drives, unsigned int slot,
			struct err *err)
{
	struct virtio_env env = { .loop = vm->loop, .mem = &vm->mem };
	struct virtio_build b = { .vm = vm, .env = &env, .cfg = cfg, .drives = drives,
				  .pmem = vm->pmem, .i = i };
	struct virtio_dev *dev = NULL;
	int ret;

	for (unsigned int f = 0; f < vm_virtio_nfamilies; f++) {
		const struct virtio_family *fam = &vm_virtio_families[f];

		if (strcmp(fam->type, type))
			continue;
		if (i >= fam->count(cfg))
			return err_set(err, false, -EINVAL, "%s %u: not in the config", type, i);
		err->msg[0] = '\0';
		ret = fam->create(&b, &dev, err);
		if (ret) {
			if (!err->msg[0])
				err_set(err, false, ret, "%s", strerror(-ret));
			return err_prefix(err, ret, "%s: ", b.what);
		}
		return attach_pci(vm, &b, fam->type, slot, dev, err);
	}
	return err_set(err, false, -EINVAL, "%s: no such device family", type);
}

int vm_devices_create(struct vm *vm, const struct vm_config *cfg, struct power_sink power,
		      struct debug_exit_sink debug_exit, const struct blk_config *drives,
		      struct err *err)
{
	struct dev_env env = {
		.bus = &vm->bus,
		.mem = &vm->mem,
		.loop = vm->loop,
		/* A --flat VM has no irqchip: its devices' lines go nowhere. */
		.irq = { vm->flat ? NULL : irq_kvm_set, &vm->fd, 0 },
		.power = power,
		.debug_exit = debug_exit,
		.console_fd = vm->serial_out_fd >= 0 ? vm->serial_out_fd : STDOUT_FILENO,
		.console_rl = &cfg->serial_rl,
		.vmclock_page = vm->vmclock_page,
		.vmgenid_page = vm->vmgenid_page,
		.debugcon_fd = vm->debugcon_fd >= 0 ? vm->debugcon_fd : STDOUT_FILENO,
		.ncpus = vm->ncpus,
		.ram_size = vm->mem.ram_bytes,
	};
	struct reg_entry *e;
	int ret;

	for (unsigned int i = 0; i < vm->mem.nregions; i++) {
		uint64_t end = vm->mem.regions[i].gpa + vm->mem.regions[i].size;

		if (end > env.max_ram)
			env.max_ram = end;
	}
	if (vm->firmware)
		vm_fw_irq_env(vm, &env);
	ret = create_legacy(vm, cfg, &env, err);
	/* The chipset, its root before the virtio functions it takes. */
	if (!ret && vm->firmware)
		ret = vm_fw_devices(vm, cfg, &env, err);
	if (ret)
		return ret;
	vm->serial = registry_find(&vm->registry, COMP_DEVICE, "com1")->comp.obj;
	e = registry_find(&vm->registry, COMP_DEVICE, "vmgenid");
	vm->vmgenid_dev = e ? e->comp.obj : NULL;
	ret = create_virtio(vm, cfg, drives, err);
	return ret ? ret : vm_vfio_create(vm, cfg, err);
}

struct virtio_dev *vm_virtio_device(const struct reg_entry *e)
{
	if (!e)
		return NULL;
	if (e->comp.ops == &virtio_mmio_component)
		return virtio_mmio_device(e->comp.obj);
	if (e->comp.ops == &virtio_pci_component)
		return virtio_pci_device(e->comp.obj);
	return NULL;
}
