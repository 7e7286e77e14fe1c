#include "core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "boot/acpi.h"
#include "boot/layout.h"
#include "core/console.h"
#include "core/eventloop.h"
#include "core/irq.h"
#include "core/vm_virtio.h"
#include "devices/platform.h"
#include "devices/serial.h"
#include "util/log.h"
#include "util/term.h"
#include "vcpu/cpuid.h"
#include "vcpu/regs.h"
#include "vcpu/vcpu.h"

/* Intel VT-x needs these three pages for real-mode emulation; harmless elsewhere. */
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull
#define KVM_TSS_ADDR 0xfffbd000ull

static int vm_gsi_fd; /* irq_kvm_set's context: the VM fd */

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
	if (write(vm->stop_efd, &one, sizeof(one)) < 0) {
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

static void on_vcpu_event(void *ctx, enum vcpu_event ev, const char *detail)
{
	static const enum vm_stop_reason reasons[] = {
		[VCPU_EVENT_POWEROFF] = VM_STOP_POWEROFF,
		[VCPU_EVENT_REBOOT] = VM_STOP_REBOOT,
		[VCPU_EVENT_FAILURE] = VM_STOP_FAILURE,
	};

	vm_request_stop(ctx, reasons[ev], detail);
}

static int vm_create_kvm_vm(struct vm *vm)
{
	uint64_t ident = KVM_IDENTITY_MAP_ADDR;
	struct kvm_pit_config pit = { .flags = 0 };

	vm->fd = ioctl(vm->kvm.fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0) {
		log_err("KVM_CREATE_VM: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0 ||
	    ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
		log_err("KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		log_err("KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -errno;
	}
	if (irq_setup_routing(vm->fd) < 0) {
		log_err("KVM_SET_GSI_ROUTING: %s", strerror(errno));
		return -errno;
	}
	if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_err("KVM_CREATE_PIT2: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int vm_create_devices(struct vm *vm)
{
	struct power_sink sink = { on_power_event, vm };
	struct irq_line com1 = { irq_kvm_set, &vm_gsi_fd, IRQ_COM1 };
	int ret;

	vm_gsi_fd = vm->fd;
	vm->serial = serial_create(STDOUT_FILENO, com1);
	if (!vm->serial)
		return -ENOMEM;
	ret = serial_attach(vm->serial, &vm->bus, PORT_COM1);
	if (ret)
		return ret;
	vm->i8042 = i8042_create(&vm->bus, sink);
	vm->rtc = rtc_create(&vm->bus);
	vm->acpi_pm = acpi_pm_create(&vm->bus, sink);
	if (!vm->i8042 || !vm->rtc || !vm->acpi_pm)
		return -errno ? -errno : -ENOMEM;
	return legacy_create(&vm->bus, sink);
}

static int vm_build_acpi(struct vm *vm, uint64_t *rsdp)
{
	struct acpi_config cfg = {
		.ncpus = vm->ncpus,
		.ioapic_addr = (uint32_t)LAYOUT_IOAPIC,
		.lapic_addr = (uint32_t)LAYOUT_LAPIC,
		.sleep_ctl_port = PORT_ACPI_SLEEP_CTL,
		.sleep_sts_port = PORT_ACPI_SLEEP_STS,
		.reset_port = PORT_ACPI_RESET,
		.reset_value = ACPI_RESET_VALUE,
		.s5_slp_typ = ACPI_S5_SLP_TYP,
		.com1_port = PORT_COM1,
		.com1_irq = IRQ_COM1,
		.mmio_devs = vm->mmio_devs,
		.n_mmio_devs = vm->n_mmio_devs,
	};
	uint8_t *buf = guest_mem_ptr(&vm->mem, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE);

	if (!buf)
		return -EFAULT;
	return acpi_build(buf, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE, &cfg, rsdp);
}

/*
 * Guest RAM, ACPI and the kernel are placed before KVM is opened, so a
 * kernel or initrd that does not fit is a usage error found first.
 */
static void vm_prepare_guest(struct vm *vm, const struct cli_config *cfg,
			     const struct kernel_image *img)
{
	char err[LOADER_ERR_MAX];
	const char *cmdline = cfg->cmdline;
	char *extended = NULL;
	uint64_t rsdp = 0;
	int ret;

	if (guest_mem_init(&vm->mem, cfg->memory_mib << 20))
		die("cannot allocate %llu MiB of guest RAM: %s",
		    (unsigned long long)cfg->memory_mib, strerror(errno));
	vm_virtio_layout(vm);
	ret = vm_build_acpi(vm, &rsdp);
	if (ret)
		die("cannot build ACPI tables: %s", strerror(-ret));
	if (regs_setup_tables(&vm->mem))
		die("cannot write boot page tables");
	if (cfg->virtio_cmdline) {
		extended = malloc(LAYOUT_CMDLINE_MAX);
		if (!extended)
			die("out of memory");
		if (vm_virtio_cmdline(cfg->cmdline, vm->mmio_devs, vm->n_mmio_devs, extended,
				      LAYOUT_CMDLINE_MAX))
			die_code(HEARTH_EXIT_USAGE, "--virtio-cmdline: the command line would exceed "
				 "%llu bytes", (unsigned long long)LAYOUT_CMDLINE_MAX - 1);
		cmdline = extended;
	}
	ret = loader_load(img, &vm->mem, cfg->initrd, cmdline, rsdp, &vm->plan, err);
	free(extended);
	if (ret)
		die_code(ret == -EFAULT || ret == -ENOMEM ? HEARTH_EXIT_FAILURE : HEARTH_EXIT_USAGE,
			 "%s", err);
}

int vm_create(struct vm *vm, const struct cli_config *cfg, const struct kernel_image *img,
	      const struct vm_device_plan *devs)
{
	int ret;

	memset(vm, 0, sizeof(*vm));
	vm->fd = -1;
	vm->stop_efd = -1;
	vm->ncpus = cfg->cpus;
	vm->devs = devs;
	bus_init(&vm->bus);
	if (eventloop_init(&vm->loop))
		die("epoll: %s", strerror(errno));
	vm_prepare_guest(vm, cfg, img);

	if (kvm_open(&vm->kvm, cfg->kvm_path))
		exit(HEARTH_EXIT_FAILURE);
	if ((int)cfg->cpus > vm->kvm.max_vcpus)
		die_code(HEARTH_EXIT_USAGE, "--cpus %u: this host's KVM allows at most %d vCPUs",
			 cfg->cpus, vm->kvm.max_vcpus);
	if (vm->kvm.pvm)
		log_warn("%s is backed by PVM (kvm_pvm): ring-0 guest code will be emulated and a "
			 "stock kernel will likely fail; boot real kernels through the lab "
			 "(make demo, tests/lab)", cfg->kvm_path);
	if (vm_create_kvm_vm(vm))
		die("cannot create the VM");
	if (guest_mem_register(&vm->mem, vm->fd))
		die("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	ret = vm_create_devices(vm);
	if (ret)
		die("cannot create devices: %s", strerror(-ret));
	vm_virtio_create(vm);

	ret = cpuid_get_supported(vm->kvm.fd, &vm->cpuid);
	if (ret)
		die("KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		die("out of memory");
	vm->vcpu_env = (struct vcpu_env){
		.vm_fd = vm->fd,
		.run_size = (size_t)vm->kvm.run_size,
		.bus = &vm->bus,
		.mem = &vm->mem,
		.cpuid = vm->cpuid,
		.ncpus = vm->ncpus,
		.plan = &vm->plan,
		.on_event = on_vcpu_event,
		.ctx = vm,
	};
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		vm->vcpus[i] = vcpu_create(&vm->vcpu_env, i);
		if (!vm->vcpus[i])
			die("cannot create vcpu%u", i);
	}
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		die("eventfd: %s", strerror(errno));
	if (vcpu_signals_init())
		die("cannot install the vCPU kick signal");
	bus_seal(&vm->bus);
	return 0;
}

static void on_stop(void *opaque, uint32_t events)
{
	struct eventloop *loop = opaque;

	(void)events;
	eventloop_stop(loop);
}

struct signal_ctx {
	struct vm *vm;
	int fd;
};

static void on_signal(void *opaque, uint32_t events)
{
	struct signal_ctx *s = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(s->fd, &si, sizeof(si)) != sizeof(si))
		return;
	vm_request_stop(s->vm, VM_STOP_HOST, strsignal((int)si.ssi_signo));
}

static int vm_exit_code(struct vm *vm)
{
	switch (__atomic_load_n(&vm->stop_reason, __ATOMIC_ACQUIRE)) {
	case VM_STOP_POWEROFF:
		log_info("guest powered off");
		return HEARTH_EXIT_OK;
	case VM_STOP_REBOOT:
		log_info("guest requested a reboot (%s); Hearth does not restart guests, exiting",
			 vm->stop_detail);
		return HEARTH_EXIT_OK;
	case VM_STOP_HOST:
		log_info("stopped from the host (%s)", vm->stop_detail);
		return HEARTH_EXIT_STOPPED;
	default:
		log_err("guest stopped on a failure: %s", vm->stop_detail);
		return HEARTH_EXIT_FAILURE;
	}
}

int vm_run(struct vm *vm)
{
	struct signal_ctx sig = { vm, -1 };
	struct eventloop *loop = &vm->loop;
	struct console con;
	sigset_t mask;
	unsigned int started = 0;
	int ret;

	/* SIGINT/SIGTERM arrive through a signalfd; vCPU threads inherit the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sig.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sig.fd < 0)
		die("cannot set up the I/O loop: %s", strerror(errno));
	if (eventloop_add(loop, sig.fd, EPOLLIN, on_signal, &sig) ||
	    eventloop_add(loop, vm->stop_efd, EPOLLIN, on_stop, loop) ||
	    console_init(&con, vm, vm->serial, loop, STDIN_FILENO))
		die("cannot set up the I/O loop");
	if (term_raw_enter(STDIN_FILENO))
		log_warn("cannot put the terminal in raw mode; input is line-buffered");
	pthread_setname_np(pthread_self(), "io");

	for (; started < vm->ncpus; started++) {
		ret = vcpu_start(vm->vcpus[started]);
		if (ret) {
			log_err("cannot start vcpu%u: %s", started, strerror(-ret));
			vm_request_stop(vm, VM_STOP_FAILURE, "vCPU thread creation failed");
			break;
		}
	}
	ret = eventloop_run(loop);
	if (ret)
		vm_request_stop(vm, VM_STOP_FAILURE, "I/O loop failed");
	for (unsigned int i = 0; i < started; i++) {
		vcpu_stop(vm->vcpus[i]);
		vcpu_join(vm->vcpus[i]);
	}
	/* The guest's last output goes out in the terminal mode it was written for. */
	console_destroy(&con);
	term_restore();
	eventloop_remove(loop, sig.fd);
	eventloop_remove(loop, vm->stop_efd);
	close(sig.fd);
	return vm_exit_code(vm);
}

void vm_destroy(struct vm *vm)
{
	vm_virtio_destroy(vm);
	for (unsigned int i = 0; vm->vcpus && i < vm->ncpus; i++)
		vcpu_destroy(vm->vcpus[i]);
	free(vm->vcpus);
	free(vm->cpuid);
	if (vm->serial)
		serial_destroy(vm->serial);
	if (vm->i8042)
		i8042_destroy(vm->i8042);
	if (vm->rtc)
		rtc_destroy(vm->rtc);
	if (vm->acpi_pm)
		acpi_pm_destroy(vm->acpi_pm);
	bus_destroy(&vm->bus);
	guest_mem_destroy(&vm->mem);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	if (vm->fd >= 0)
		close(vm->fd);
	eventloop_destroy(&vm->loop);
	kvm_close(&vm->kvm);
}
