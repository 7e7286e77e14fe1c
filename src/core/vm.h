/* The VM: lifecycle from configuration to exit code. */
#ifndef HEARTH_CORE_VM_H
#define HEARTH_CORE_VM_H

#include <stdint.h>

#include "boot/acpi.h"
#include "boot/loader.h"
#include "core/bus.h"
#include "core/eventloop.h"
#include "core/kvm.h"
#include "mem/guest_mem.h"
#include "util/cli.h"
#include "vcpu/vcpu.h"

struct vcpu;
struct virtio_dev;
struct virtio_mmio;

#define VM_MAX_VIRTIO 16

/* Virtio devices requested on the command line, parsed before KVM is opened. */
struct vm_device_plan;
struct serial;
struct i8042;
struct rtc;
struct acpi_pm;

enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_POWEROFF,
	VM_STOP_REBOOT,
	VM_STOP_FAILURE,   /* a vCPU hit an error exit */
	VM_STOP_HOST,      /* Ctrl-A x, SIGINT, SIGTERM */
};

struct vm {
	struct kvm kvm;
	int fd;
	struct guest_mem mem;
	struct bus bus;
	struct vcpu_env vcpu_env;
	struct vcpu **vcpus;
	unsigned int ncpus;
	struct kvm_cpuid2 *cpuid;
	struct boot_plan plan;
	int stop_reason;   /* enum vm_stop_reason, set once atomically */
	int stop_efd;      /* eventfd: the I/O loop wakes when the VM stops */
	char stop_detail[64];
	struct serial *serial;
	struct i8042 *i8042;
	struct rtc *rtc;
	struct acpi_pm *acpi_pm;
	struct eventloop loop;      /* the I/O thread's */
	const struct vm_device_plan *devs;
	struct acpi_mmio_dev mmio_devs[VM_MAX_VIRTIO];
	unsigned int n_mmio_devs;   /* laid out by vm_virtio_layout */
	struct virtio_dev *virtio[VM_MAX_VIRTIO];
	struct virtio_mmio *virtio_mmio[VM_MAX_VIRTIO]; /* each device's transport */
	unsigned int nvirtio;
};

/* Validates and loads everything; exits through die_code before the guest runs. */
int vm_create(struct vm *vm, const struct cli_config *cfg, const struct kernel_image *img,
	      const struct vm_device_plan *devs);

/* Runs until the guest or the host stops it; returns the process exit code. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* vm_virtio.c: addresses and GSIs for the planned devices, in mmio_devs. */
void vm_virtio_layout(struct vm *vm);
/* Creates the planned devices; exits with a clear error on failure. */
void vm_virtio_create(struct vm *vm);
void vm_virtio_destroy(struct vm *vm);

/* Any thread: the first reason wins; vCPUs are kicked and the I/O loop woken. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, const char *detail);

static inline int vm_stopping(const struct vm *vm)
{
	return __atomic_load_n(&vm->stop_reason, __ATOMIC_ACQUIRE) != VM_RUNNING;
}

#endif
