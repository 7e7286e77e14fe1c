/*
 * The pages Hearth writes for the guest outside its RAM, VMClock's
 * (devices/vmclock.h) and VMGenID's (vm_vmgenid.c): one page of the
 * host's each, a memslot of its own, read-only to the guest where KVM
 * can make it so (KVM_CAP_READONLY_MEM); outside guest RAM, so no memory
 * file carries them: the devices' records say what a restore puts there.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvm.h>

#include "core/layout.h"
#include "util/log.h"

int vm_page_slot_map(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
		     const char *what, uint8_t **out, struct err *err)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
	};
	void *p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return err_set(err, false, -errno, "%s: cannot map its page: %s", what,
			       strerror(errno));
	*out = p;
	r.userspace_addr = (uint64_t)(uintptr_t)p;
	if (ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0)
		r.flags = KVM_MEM_READONLY;
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return err_set(err, false, -errno, "%s: KVM_SET_USER_MEMORY_REGION: %s", what,
			       strerror(errno));
	if (!r.flags)
		log_debug("%s: this KVM has no read-only memslots: the guest could write its "
			  "page (only its own view of it)", what);
	return 0;
}

void vm_page_slot_unmap(uint8_t **page, uint64_t size)
{
	if (*page)
		munmap(*page, size);
	*page = NULL;
}

int vm_vmclock_map(struct vm *vm, struct err *err)
{
	if (!vm->vmclock)
		return 0;
	return vm_page_slot_map(vm, LAYOUT_VMCLOCK_SLOT, LAYOUT_VMCLOCK, LAYOUT_VMCLOCK_SIZE,
				"VMClock", &vm->vmclock_page, err);
}

void vm_vmclock_unmap(struct vm *vm)
{
	vm_page_slot_unmap(&vm->vmclock_page, LAYOUT_VMCLOCK_SIZE);
}
