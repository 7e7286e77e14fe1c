/*
 * A built VM while it runs: starting its vCPUs, pausing and resuming it
 * (vCPUs and devices, each on the thread that serves it), the stop's
 * report on the I/O thread, and the exit code a stop makes. Building and
 * tearing down are vm.c's.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "devices/debug_exit.h"
#include "devices/platform.h"
#include "util/log.h"

static void on_stop_event(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint64_t n;

	(void)events;
	if (read(vm->stop_efd, &n, sizeof(n)) < 0) {
		/* Nonblocking and already drained: the report below is once only anyway. */
	}
	if (vm->stop_reported)
		return;
	vm->stop_reported = true;
	if (vm->on_stop)
		vm->on_stop(vm->on_stop_ctx);
}

int vm_start(struct vm *vm, void (*on_stop)(void *ctx), void *ctx)
{
	int ret;

	vm->on_stop = on_stop;
	vm->on_stop_ctx = ctx;
	vm->t_mark[VM_MARK_START] = vm_stats_now_ns();
	ret = eventloop_add(vm->loop, vm->stop_efd, EPOLLIN, on_stop_event, vm);
	if (ret)
		return ret;
	for (; vm->started < vm->ncpus; vm->started++) {
		ret = vcpu_start(vm->vcpus[vm->started]);
		if (ret) {
			log_err("cannot start vcpu%u: %s", vm->started, strerror(-ret));
			vm_request_stop(vm, VM_STOP_FAILURE, "vCPU thread creation failed");
			return ret;
		}
	}
	return 0;
}

static int vm_devices_pause(void *ctx, struct err *err)
{
	return registry_pause(&((struct vm *)ctx)->registry, COMP_DEVICE);
}

static int vm_devices_resume(void *ctx, struct err *err)
{
	return registry_resume(&((struct vm *)ctx)->registry, COMP_DEVICE);
}

/*
 * vCPUs first (here: never on a vCPU thread, which the io thread may be
 * serving), so the guest queues nothing more, then the devices, on the
 * I/O thread that serves them: they stop taking from the rings while what
 * is in flight completes. Resume goes the other way round.
 */
int vm_pause(struct vm *vm)
{
	int ret = registry_pause(&vm->registry, COMP_VCPU);
	/* Refused only while Hearth shuts down: the devices stop with the VM then. */
	int dret = eventloop_run_on(vm->loop, vm_devices_pause, vm, NULL);

	return ret && dret != -ESHUTDOWN ? ret : dret;
}

void vm_start_paused(struct vm *vm)
{
	/* The vCPU threads are not started: each takes the pause up when it starts. */
	registry_pause(&vm->registry, COMP_VCPU);
	registry_pause(&vm->registry, COMP_DEVICE);
}

void vm_resume_here(struct vm *vm)
{
	registry_resume(&vm->registry, COMP_DEVICE);
	registry_resume(&vm->registry, COMP_VCPU);
}

void vm_resume(struct vm *vm)
{
	/* Refused only while Hearth shuts down: nothing is left to resume then. */
	if (eventloop_run_on(vm->loop, vm_devices_resume, vm, NULL) == -ESHUTDOWN)
		return;
	registry_resume(&vm->registry, COMP_VCPU);
	/* A VM restored paused learns of its new generation now that it runs. */
	vm_vmgenid_notify(vm);
}

int vm_send_ctrl_alt_del(struct vm *vm)
{
	struct reg_entry *e = registry_find(&vm->registry, COMP_DEVICE, "i8042");

	return e ? i8042_send_ctrl_alt_del(e->comp.obj) : -ENODEV;
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
	case VM_STOP_HALTED:
		log_info("guest halted%s%s", vm->stop_detail[0] ? " " : "", vm->stop_detail);
		return HEARTH_EXIT_OK;
	case VM_STOP_HOST:
		log_info("stopped from the host (%s)", vm->stop_detail);
		return HEARTH_EXIT_STOPPED;
	case VM_STOP_DEBUG_EXIT:
		/* A test kernel's verdict: shown even with --quiet, as failures are. */
		log_err("guest wrote 0x%x to the debug-exit port: exit status %d",
			vm->debug_exit_value, debug_exit_status(vm->debug_exit_value));
		return debug_exit_status(vm->debug_exit_value);
	default:
		log_err("guest stopped on a failure: %s", vm->stop_detail);
		return HEARTH_EXIT_FAILURE;
	}
}

int vm_finish(struct vm *vm)
{
	if (!vm_stopping(vm))
		vm_request_stop(vm, VM_STOP_HOST, "shutting down");
	for (unsigned int i = 0; i < vm->started; i++) {
		vcpu_stop(vm->vcpus[i]);
		vcpu_join(vm->vcpus[i]);
	}
	if (vm->exit_stats && vm->started)
		vm_stats_report(vm, stderr);
	vm->started = 0;
	if (vm->stop_efd >= 0)
		eventloop_remove(vm->loop, vm->stop_efd);
	return vm_exit_code(vm);
}
