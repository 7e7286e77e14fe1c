#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/acpi.h"
#include "boot/kcache.h"
#include "core/layout.h"
#include "core/irq.h"
#include "devices/debug_exit.h"
#include "devices/fw_cfg.h"
#include "devices/platform.h"
#include "devices/power.h"
#include "util/log.h"
#include "util/trim.h"
#include "vcpu/cpuid.h"
#include "vmm/vm_cpu.h"
#include "vcpu/regs.h"
#include "vmm/devices.h"
#include "vmm/vm_flat.h"
#include "vmm/vm_fw.h"
#include "vmm/vm_pci_hotplug.h"
#include "vmm/vm_ram.h"
#include "vmm/vm_state.h"

/*
 * Intel VT-x needs these pages for real-mode emulation; harmless
 * elsewhere. A firmware VM has its code there: QEMU's place instead.
 */
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull
#define KVM_TSS_ADDR 0xfffbd000ull

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, const char *detail)
{
	int expected = VM_RUNNING;
	uint64_t one = 1;

	if (!__atomic_compare_exchange_n(&vm->stop_reason, &expected, (int)reason, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	snprintf(vm->stop_detail, sizeof(vm->stop_detail), "%s", detail ? detail : "");
	for (unsigned int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus && vm->vcpus[i])
			vcpu_stop(vm->vcpus[i]);
	if (vm->stop_efd >= 0 && write(vm->stop_efd, &one, sizeof(one)) < 0) {
		/* An eventfd only refuses at 2^64-1 pending; nothing to do. */
	}
}

static void on_power_event(void *ctx, enum power_event ev)
{
	struct vm *vm = ctx;

	if (ev == POWER_OFF)
		vm_request_stop(vm, VM_STOP_POWEROFF, "ACPI S5");
	else
		vm_request_stop(vm, VM_STOP_REBOOT, "reset");
}

static void on_debug_exit(void *ctx, uint32_t value)
{
	struct vm *vm = ctx;
	char detail[48];

	if (__atomic_exchange_n(&vm->debug_exit_seen, 1, __ATOMIC_ACQ_REL))
		return;
	vm->debug_exit_value = value;
	snprintf(detail, sizeof(detail), "debug-exit 0x%x", value);
	vm_request_stop(vm, VM_STOP_DEBUG_EXIT, detail);
}

static void on_vcpu_event(void *ctx, enum vcpu_event ev, const char *detail)
{
	static const enum vm_stop_reason reasons[] = {
		[VCPU_EVENT_POWEROFF] = VM_STOP_POWEROFF,
		[VCPU_EVENT_REBOOT] = VM_STOP_REBOOT,
		[VCPU_EVENT_FAILURE] = VM_STOP_FAILURE,
		[VCPU_EVENT_HALTED] = VM_STOP_HALTED,
	};

	struct vm *vm = ctx;

	/*
	 * A failure (a triple fault, an exit Hearth cannot go on from): the
	 * failing vCPU has logged its registers; every vCPU's last exits
	 * follow, read from their rings without stopping them.
	 */
	if (ev == VCPU_EVENT_FAILURE && vm->vcpus)
		for (unsigned int i = 0; i < vm->ncpus; i++)
			if (vm->vcpus[i])
				vcpu_log_recent(vm->vcpus[i]);
	vm_request_stop(ctx, reasons[ev], detail);
}

static int vm_create_kvm_vm(struct vm *vm, struct err *err)
{
	uint64_t ident = vm->firmware ? LAYOUT_Q35_KVM_IDENTITY : KVM_IDENTITY_MAP_ADDR;
	unsigned long tss = vm->firmware ? LAYOUT_Q35_KVM_TSS : KVM_TSS_ADDR;
	/*
	 * A firmware VM's PIT answers the speaker port too (channel 2's gate
	 * and output, which SeaBIOS and GRUB time their TSC by), in KVM.
	 */
	struct kvm_pit_config pit = { .flags = vm->firmware ? KVM_PIT_SPEAKER_DUMMY : 0 };
	const char *what;

	vm->fd = ioctl(vm->kvm.fd, KVM_CREATE_VM, 0);
	what = "KVM_CREATE_VM";
	if (vm->fd < 0)
		goto err_ioctl;
	what = "KVM_SET_TSS_ADDR";
	if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0 ||
	    ioctl(vm->fd, KVM_SET_TSS_ADDR, tss) < 0)
		goto err_ioctl;
	/* A --flat VM has no irqchip or PIT: its hlt comes to us (vcpu_env.irqchip). */
	if (vm->flat)
		return 0;
	what = "KVM_CREATE_IRQCHIP";
	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0)
		goto err_ioctl;
	what = "KVM_SET_GSI_ROUTING";
	if (irq_setup_routing(vm->fd) < 0)
		goto err_ioctl;
	irq_routes_init(&vm->routes, vm->fd);
	vm->has_routes = true;
	what = "KVM_CREATE_PIT2";
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0)
		goto err_ioctl;
	return 0;

err_ioctl:
	return err_set(err, false, -errno, "cannot create the VM: %s: %s", what, strerror(errno));
}

static int vm_build_acpi(struct vm *vm, uint64_t *rsdp)
{
	struct acpi_config cfg;
	uint8_t *buf = guest_mem_ptr(&vm->mem, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE);

	if (!buf)
		return -EFAULT;
	vm_acpi_config(vm, &cfg);
	return acpi_build(buf, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE, &cfg, rsdp);
}

/*
 * A restored guest's RAM is its snapshot's memory file, mapped privately
 * (read into huge pages with huge_pages "2M": vm_ram.h), or anonymous
 * RAM a handler process fills (the Uffd backend): ACPI, page tables and
 * the kernel are in it already, and writing them again would only dirty
 * pages. The device slots are laid out as they were, from the same config.
 */
static int vm_prepare_restored(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	const struct vm_mem_file *mf = vm->mem_file;
	int ret;

	/* The BSP's registers come from the snapshot; until then, a plain 64-bit entry. */
	loader_entry(&(const struct boot_plan){ 0 }, &vm->entry);
	if (mf->fd < 0) {
		/* The Uffd backend: fresh RAM (in huge pages too) that the handler fills. */
		ret = vm_ram_init(vm, cfg, err);
		if (!ret)
			ret = mf->attach(mf->attach_ctx, &vm->mem, err);
		return ret ? ret : vm_devices_layout(vm, cfg, err);
	}
	ret = vm_ram_restore(vm, cfg, err);
	if (ret)
		return ret;
	return vm_devices_layout(vm, cfg, err);
}

/*
 * Guest RAM, ACPI and the kernel are placed before KVM is opened, so a
 * kernel or initrd that does not fit is a usage error found first.
 */
static int vm_prepare_guest(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	struct boot_plan plan;
	struct kernel_image img;
	struct stat kst;
	bool kst_ok = false;
	char *cmdline = NULL;
	uint64_t rsdp = 0;
	int ret;

	/* A firmware's files are the first thing checked, a boot's or a restore's. */
	if (vm->firmware) {
		ret = vm_fw_open(vm, cfg, err);
		if (ret)
			return ret;
	}
	if (vm->mem_file)
		return vm_prepare_restored(vm, cfg, err);
	if (vm->flat)
		return vm_prepare_flat(vm, cfg, err);
	if (vm->firmware)
		return vm_fw_prepare(vm, cfg, err);
	/* A kernel the cache has seen in this version is not even read (boot/kcache.h). */
	if (cfg->kernel_cache && !cfg->guest_decompress &&
	    !stat(cfg->boot.kernel_image_path, &kst) && S_ISREG(kst.st_mode)) {
		kst_ok = true;
		if (!kcache_open_known(cfg->boot.kernel_image_path, &kst, cfg->kernel_cache, &img))
			goto loaded;
	}
	ret = loader_open(cfg->boot.kernel_image_path, &img, err);
	if (ret) {
		err->usage = true;
		return err_prefix(err, ret, "%s %s: ", cfg->cli ? "--kernel" : "kernel_image_path",
				  cfg->boot.kernel_image_path);
	}
	/*
	 * Decompressed here, booted through PVH; else the guest decompresses
	 * it, as before, where this host cannot (a format's library missing,
	 * no PVH entry). A payload that is itself broken (corrupt, cut short,
	 * past its declared size, or no ELF kernel inside) is refused: the
	 * guest's own decompressor would stop on it too, with the VM left
	 * halted and no word to the caller.
	 */
	if (img.kind == KERNEL_BZIMAGE && !cfg->guest_decompress) {
		struct err why = ERR_INIT;

		ret = cfg->kernel_cache ? kcache_unpack(&img, cfg->kernel_cache,
							kst_ok ? &kst : NULL, &why)
					: bzimage_unpack(&img, &why);
		if (ret && why.usage) {
			*err = why;
			err_prefix(err, ret, "%s %s: ", cfg->cli ? "--kernel" : "kernel_image_path",
				   cfg->boot.kernel_image_path);
			goto err_close;
		}
		if (ret)
			log_info("kernel %s: the guest decompresses it: %s",
				 cfg->boot.kernel_image_path, why.msg);
		else
			log_debug("kernel %s: %s, booting through PVH", cfg->boot.kernel_image_path,
				  img.cached ? "decompressed, from the kernel cache"
					     : "decompressed on the host");
	}
loaded:
	ret = vm_ram_init(vm, cfg, err);
	if (ret)
		goto err_close;
	ret = vm_devices_layout(vm, cfg, err);
	if (ret)
		goto err_close;
	ret = vm_build_acpi(vm, &rsdp);
	if (ret) {
		err_set(err, false, ret, "cannot build ACPI tables: %s", strerror(-ret));
		goto err_close;
	}
	ret = regs_setup_tables(&vm->mem, LAYOUT_GDT, true);
	if (ret) {
		err_set(err, false, ret, "cannot write boot page tables");
		goto err_close;
	}
	cmdline = malloc(LAYOUT_CMDLINE_MAX);
	ret = -ENOMEM;
	if (cmdline)
		ret = vm_kernel_cmdline(cfg, img.kind == KERNEL_MULTIBOOT, vm->mmio_devs,
					vm->n_mmio_devs, cmdline, LAYOUT_CMDLINE_MAX);
	if (ret) {
		err_set(err, ret == -E2BIG, ret, ret == -E2BIG ? "the kernel command line would "
			"exceed %llu bytes" : "out of memory", (unsigned long long)LAYOUT_CMDLINE_MAX - 1);
		goto err_close;
	}
	err->msg[0] = '\0';
	ret = loader_load(&img, &vm->mem, cfg->boot.initrd_path, cmdline, rsdp, &plan, err);
	if (ret) {
		if (!err->msg[0])
			err_set(err, false, ret, "%s", strerror(-ret));
		err->usage = ret != -EFAULT && ret != -ENOMEM;
	} else {
		loader_entry(&plan, &vm->entry);
		/*
		 * Firecracker's debug line, by the protocol the vCPU enters
		 * through; "(bzImage)" when the file was one (its tests look
		 * for that word), whether unpacked here or by the guest.
		 */
		log_debug("Kernel loaded using %s%s", plan.multiboot ? "Multiboot" :
			  plan.pvh ? "PVH boot protocol" : "Linux 64-bit boot protocol",
			  img.kind == KERNEL_BZIMAGE || img.unpacked || img.cached ? " (bzImage)" : "");
	}
err_close:
	free(cmdline);
	loader_close(&img);
	return ret;
}

static int vm_open_kvm(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	const char *path = cfg->kvm_path ? cfg->kvm_path : "/dev/kvm";
	int ret;

	ret = kvm_open(&vm->kvm, path, err);
	if (ret) {
		err->usage = false;
		return ret;
	}
	if ((int)cfg->machine.vcpu_count > vm->kvm.max_vcpus)
		return err_set(err, true, -EINVAL, "vcpu_count %u: this host's KVM allows at most "
			       "%d vCPUs", cfg->machine.vcpu_count, vm->kvm.max_vcpus);
	if (vm->kvm.pvm)
		log_warn("%s is backed by PVM (kvm_pvm): ring-0 guest code will be emulated and a "
			 "stock kernel will likely fail; boot real kernels through the lab "
			 "(make demo, tests/lab)", path);
	return vm_create_kvm_vm(vm, err);
}

/*
 * COM1's output file, opened as Firecracker opens it: created if missing,
 * appended to, and non-blocking, so a FIFO needs its reader first (ENXIO)
 * and then costs the guest output bytes, never a stall, when it is full.
 */
static int vm_open_serial_out(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	const char *path = cfg->serial_out_path;

	if (!path)
		return 0;
	vm->serial_out_fd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CREAT | O_CLOEXEC |
				 O_NOCTTY, 0600);
	if (vm->serial_out_fd < 0)
		return err_set(err, true, -errno, "serial_out_path %s: %s%s", path,
			       strerror(errno), errno == ENXIO ? " (a FIFO needs its reader "
			       "first)" : "");
	return 0;
}

static int vm_create_vcpus(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	int ret;

	ret = vm_cpu_prepare(vm, cfg, err);
	if (ret)
		return ret;
	vm->vcpu_env = (struct vcpu_env){
		.kvm_fd = vm->kvm.fd,
		.vm_fd = vm->fd,
		.run_size = (size_t)vm->kvm.run_size,
		.bus = &vm->bus,
		.mem = &vm->mem,
		.cpuid = vm->cpuid,
		.ncpus = vm->ncpus,
		.smt = cfg->machine.smt,
		.entry = &vm->entry,
		.irqchip = !vm->flat,
		.on_event = on_vcpu_event,
		.ctx = vm,
	};
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return err_set(err, false, -ENOMEM, "out of memory");
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = vcpu_create(&vm->vcpu_env, i);
		char id[16];

		if (!v)
			return err_set(err, false, -errno, "cannot create vcpu%u: %s", i,
				       strerror(errno));
		ret = vm_cpu_vcpu(v, cfg, err);
		if (ret) {
			vcpu_destroy(v);
			return err_prefix(err, ret, "vcpu%u: ", i);
		}
		snprintf(id, sizeof(id), "%u", i);
		ret = registry_add(&vm->registry, COMP_VCPU, id, "vcpu", NULL,
				   &(struct component){ &vcpu_component, v });
		if (ret) {
			vcpu_destroy(v);
			return err_set(err, false, ret, "vcpu%u: %s", i, strerror(-ret));
		}
		vm->vcpus[i] = v;
	}
	return 0;
}

/*
 * The VM-wide KVM state and the memory's dirty log join the registry as
 * soon as there is a VM and its memslots; the vCPUs and devices follow.
 */
static int vm_register_kvm(struct vm *vm, struct err *err)
{
	int ret = registry_add(&vm->registry, COMP_VM, "vm", "kvm-vm", NULL,
			       &(struct component){ &vm_state_component, &vm->fd });

	if (!ret)
		ret = registry_add(&vm->registry, COMP_MEMORY, "memory", "dirty-log", NULL,
				   &(struct component){ &guest_mem_dirty_component, &vm->mem });
	return ret ? err_set(err, false, ret, "the registry: %s", strerror(-ret)) : 0;
}

int vm_create(struct vm *vm, const struct vm_config *cfg, struct eventloop *loop,
	      struct err *err)
{
	return vm_create_from(vm, cfg, NULL, loop, err);
}

int vm_create_from(struct vm *vm, const struct vm_config *cfg, const struct vm_mem_file *mf,
		   struct eventloop *loop, struct err *err)
{
	struct blk_config drives[VM_MAX_DRIVES];
	struct power_sink sink = { on_power_event, vm };
	int ret;

	/* A clone's host is zero pages: only what the VM fills becomes its own (trim.h). */
	trim_zero(vm, sizeof(*vm));
	memset(err, 0, sizeof(*err));
	memset(drives, 0, sizeof(drives));
	vm->fd = -1;
	vm->stop_efd = -1;
	vm->serial_out_fd = -1;
	vm->debugcon_fd = -1;
	vm->flat = cfg->flat.present;
	vm->vmclock = cfg->vmclock && !vm->flat;
	vm->vmgenid = cfg->vmgenid && !vm->flat;
	vm->pci = cfg->pci;
	vm->firmware = cfg->firmware.path != NULL;
	vm->exit_stats = cfg->exit_stats;
	vm->t_mark[VM_MARK_CREATE] = vm_stats_now_ns();
	vm->kvm.fd = -1;
	vm->loop = loop;
	vm->mem_file = mf;
	vm->ncpus = cfg->machine.vcpu_count;
	bus_init(&vm->bus);
	registry_init(&vm->registry);

	ret = vm_config_check_bootable(cfg, err);
	if (ret) {
		err->usage = true;
		goto err_destroy;
	}
	ret = vm_prepare_guest(vm, cfg, err);
	vm->t_mark[VM_MARK_LOADED] = vm_stats_now_ns();
	if (!ret)
		ret = vm_devices_open_drives(cfg, drives, err);
	if (!ret)
		ret = vm_open_serial_out(vm, cfg, err);
	if (!ret)
		ret = vm_open_debugcon(vm, cfg, err);
	if (!ret)
		ret = vm_open_kvm(vm, cfg, err);
	if (ret)
		goto err_destroy;
	/* Diff snapshots: KVM logs the guest's writes from the first instruction on. */
	if (cfg->machine.track_dirty_pages) {
		ret = guest_mem_dirty_enable(&vm->mem);
		if (ret) {
			err_set(err, false, ret, "cannot track dirty pages: %s", strerror(-ret));
			goto err_destroy;
		}
	}
	if (guest_mem_register(&vm->mem, vm->fd)) {
		ret = err_set(err, false, -errno, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		goto err_destroy;
	}
	vm->t_mark[VM_MARK_MEMSLOTS] = vm_stats_now_ns();
	ret = vm_vmclock_map(vm, err);
	if (!ret)
		ret = vm_vmgenid_map(vm, err);
	if (!ret)
		ret = vm_pmem_map(vm, cfg, err);
	if (ret)
		goto err_destroy;
	ret = vm_register_kvm(vm, err);
	if (ret)
		goto err_destroy;
	ret = vm_devices_create(vm, cfg, sink, (struct debug_exit_sink){ on_debug_exit, vm },
				drives, err);
	if (!ret)
		ret = vm_create_vcpus(vm, cfg, err);
	/* The SMBIOS tables name the vCPUs' CPUID: after them. */
	if (!ret && vm->firmware)
		ret = vm_fw_files(vm, cfg, err);
	if (ret)
		goto err_destroy;
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0) {
		ret = err_set(err, false, -errno, "eventfd: %s", strerror(errno));
		goto err_destroy;
	}
	ret = vcpu_signals_init();
	if (ret) {
		err_set(err, false, ret, "cannot install the vCPU kick signal");
		goto err_destroy;
	}
	/* The rings devices plugged in later run on: now, before any thread's seal. */
	if (vm->pci && !cfg->no_plug) {
		ret = vm_pci_rings_make(vm, cfg, err);
		if (ret)
			goto err_destroy;
	}
	vm_devices_close_drives(drives);
	bus_seal(&vm->bus);
	vm->mem_file = NULL;
	vm->t_mark[VM_MARK_BUILT] = vm_stats_now_ns();
	return 0;

err_destroy:
	vm_devices_close_drives(drives);
	vm_destroy(vm);
	return ret;
}

void vm_destroy(struct vm *vm)
{
	if (vm->started)
		vm_finish(vm);
	/* Devices first (they may still complete I/O into guest RAM), then the vCPUs. */
	registry_destroy(&vm->registry);
	/* After the devices: the ROM's region reads its mapping. */
	vm_fw_destroy(vm);
	/* After the devices, which give back the rings they took. */
	vm_pci_rings_free(vm);
	vm->serial = NULL;
	vm->vmgenid_dev = NULL;
	if (vm->serial_out_fd >= 0)
		close(vm->serial_out_fd);
	vm->serial_out_fd = -1;
	if (vm->debugcon_fd >= 0)
		close(vm->debugcon_fd);
	vm->debugcon_fd = -1;
	free(vm->vcpus);
	vm->vcpus = NULL;
	free(vm->cpuid);
	vm->cpuid = NULL;
	bus_destroy(&vm->bus);
	vm_vmclock_unmap(vm);
	vm_vmgenid_unmap(vm);
	vm_pmem_unmap(vm);
	guest_mem_destroy(&vm->mem);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	vm->stop_efd = -1;
	if (vm->has_routes)
		irq_routes_destroy(&vm->routes);
	vm->has_routes = false;
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
	if (vm->kvm.fd >= 0)
		kvm_close(&vm->kvm);
	vm->kvm.fd = -1;
}
