/*
 * Test-only: a VM's registry as vm_create fills it, without KVM. The
 * devices come from vmm/devices.c's tables, on a bus and RAM of the
 * rig's, with no VM fd (interrupt lines and ioeventfds go nowhere), and
 * the dirty log is the rig's RAM's. The VM-wide and vCPU components are
 * entered on no KVM object (the VM fd -1, a NULL vCPU): their check reads
 * only the record, and nothing else of theirs may be called here.
 */
#ifndef HEARTH_TESTS_VM_RIG_H
#define HEARTH_TESTS_VM_RIG_H

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/devices.h"
#include "vmm/vm.h"
#include "vmm/vm_state.h"

struct vm_rig {
	struct vm vm;
	struct eventloop loop;
	struct blk_config drives[VM_MAX_DRIVES];
};

static inline void vm_rig_build(struct vm_rig *r, const struct vm_config *cfg)
{
	struct vm *vm = &r->vm;
	struct err err = ERR_INIT;

	memset(r, 0, sizeof(*r));
	assert_int_equal(eventloop_init(&r->loop), 0);
	vm->fd = vm->kvm.fd = vm->stop_efd = -1;
	vm->loop = &r->loop;
	vm->ncpus = cfg->machine.vcpu_count;
	vm->serial_out_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	bus_init(&vm->bus);
	registry_init(&vm->registry);
	assert_int_equal(guest_mem_init(&vm->mem, cfg->machine.mem_size_mib << 20), 0);
	/* VMClock's page: the VM's own memslot in Hearth, plain memory here. */
	vm->vmclock = cfg->vmclock;
	if (vm->vmclock) {
		vm->vmclock_page = calloc(1, LAYOUT_VMCLOCK_SIZE);
		assert_non_null(vm->vmclock_page);
	}
	/* VMGenID's likewise. */
	vm->vmgenid = cfg->vmgenid;
	if (vm->vmgenid) {
		vm->vmgenid_page = calloc(1, LAYOUT_VMGENID_SIZE);
		assert_non_null(vm->vmgenid_page);
	}
	if (cfg->machine.track_dirty_pages)
		assert_int_equal(guest_mem_dirty_enable(&vm->mem), 0);
	assert_int_equal(registry_add(&vm->registry, COMP_VM, "vm", "kvm-vm", NULL,
				      &(struct component){ &vm_state_component, &vm->fd }), 0);
	assert_int_equal(registry_add(&vm->registry, COMP_MEMORY, "memory", "dirty-log", NULL,
				      &(struct component){ &guest_mem_dirty_component, &vm->mem }),
			 0);
	for (unsigned int i = 0; i < vm->ncpus; i++) {
		char id[16];

		snprintf(id, sizeof(id), "%u", i);
		assert_int_equal(registry_add(&vm->registry, COMP_VCPU, id, "vcpu", NULL,
					      &(struct component){ &vcpu_component, NULL }), 0);
	}
	if (vm_devices_layout(vm, cfg, &err) || vm_devices_open_drives(cfg, r->drives, &err) ||
	    vm_devices_create(vm, cfg, (struct power_sink){ 0 }, (struct debug_exit_sink){ 0 },
			      r->drives, &err))
		fail_msg("%s", err.msg);
}

static inline void vm_rig_free(struct vm_rig *r)
{
	registry_destroy(&r->vm.registry);
	vm_devices_close_drives(r->drives);
	bus_destroy(&r->vm.bus);
	guest_mem_destroy(&r->vm.mem);
	free(r->vm.vmclock_page);
	free(r->vm.vmgenid_page);
	close(r->vm.serial_out_fd);
	eventloop_destroy(&r->loop);
}

#endif
