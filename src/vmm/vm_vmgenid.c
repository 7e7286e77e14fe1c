/*
 * VMGenID (devices/vmgenid.h) in the VM: its page, a read-only memslot
 * of its own at LAYOUT_VMGENID (vm_vmclock.c maps it), and the moment its
 * notification goes out. A restore writes the new generation while no
 * vCPU runs and leaves the notification owed; it is raised here once the
 * vCPUs run again, so the guest's driver, woken by it, reads the new
 * bytes, and a VM restored paused is told when it is resumed, not while
 * it cannot run.
 */
#include "vmm/vm.h"

#include "core/layout.h"
#include "devices/vmgenid.h"
#include "util/log.h"

int vm_vmgenid_map(struct vm *vm, struct err *err)
{
	if (!vm->vmgenid)
		return 0;
	return vm_page_slot_map(vm, LAYOUT_VMGENID_SLOT, LAYOUT_VMGENID, LAYOUT_VMGENID_SIZE,
				"VMGenID", &vm->vmgenid_page, err);
}

void vm_vmgenid_unmap(struct vm *vm)
{
	vm_page_slot_unmap(&vm->vmgenid_page, LAYOUT_VMGENID_SIZE);
}

void vm_vmgenid_notify(struct vm *vm)
{
	/* The device lives as long as the VM: set once at build, read from any thread. */
	if (vm->vmgenid_dev && vmgenid_notify(vm->vmgenid_dev))
		log_debug("VMGenID: the guest was told of its new generation");
}
