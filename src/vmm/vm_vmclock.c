/*
 * VMClock's page (devices/vmclock.h) in the VM: one page of the host's,
 * a memslot of its own at LAYOUT_VMCLOCK, read-only to the guest where
 * KVM can make it so (KVM_CAP_READONLY_MEM); outside guest RAM, so no
 * memory file carries it: the device's record does.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvm.h>

#include "core/layout.h"
#include "util/log.h"

int vm_vmclock_map(struct vm *vm, struct err *err)
{
	struct kvm_userspace_memory_region r = {
		.slot = LAYOUT_VMCLOCK_SLOT,
		.guest_phys_addr = LAYOUT_VMCLOCK,
		.memory_size = LAYOUT_VMCLOCK_SIZE,
	};
	void *p;

	if (!vm->vmclock)
		return 0;
	p = mmap(NULL, LAYOUT_VMCLOCK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return err_set(err, false, -errno, "VMClock: cannot map its page: %s",
			       strerror(errno));
	vm->vmclock_page = p;
	r.userspace_addr = (uint64_t)(uintptr_t)p;
	if (ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0)
		r.flags = KVM_MEM_READONLY;
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return err_set(err, false, -errno, "VMClock: KVM_SET_USER_MEMORY_REGION: %s",
			       strerror(errno));
	if (!r.flags)
		log_debug("VMClock: this KVM has no read-only memslots: the guest could write "
			  "its page (only its own view of it)");
	return 0;
}

void vm_vmclock_unmap(struct vm *vm)
{
	if (vm->vmclock_page)
		munmap(vm->vmclock_page, LAYOUT_VMCLOCK_SIZE);
	vm->vmclock_page = NULL;
}
