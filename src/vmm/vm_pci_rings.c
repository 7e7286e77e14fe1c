/*
 * PCI hotplug's io_uring rings (vm_pci_hotplug.h). A disk plugged into a
 * running VM is made on the io thread, long after its seccomp filter went
 * on, and a filter that let it make its ring there would let code on that
 * thread make an unfenced one of its own: io_uring's SQEs open, create,
 * rename and link what the filter refuses as syscalls. So the rings are
 * made here, with the VM, fenced as the boot disks' (virtio/spare_ring.h),
 * and handed to the devices plugged in later.
 */
#include "vmm/vm_pci_hotplug.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "virtio/blk.h"
#include "virtio/pci.h"
#include "virtio/pmem.h"
#include "virtio/spare_ring.h"

struct vm_pci_rings {
	struct spare_rings blk, pmem;
};

static unsigned int min_u(unsigned int a, unsigned int b)
{
	return a < b ? a : b;
}

/* The PCI slots the boot left free: every virtio device and passed-through one has one. */
static unsigned int free_slots(const struct vm *vm, const struct vm_config *cfg)
{
	unsigned int used = cfg->nvfio;

	for (unsigned int i = 0; i < vm->registry.n; i++)
		used += vm->registry.entries[i].comp.ops == &virtio_pci_component;
	return used < VM_PCI_SLOTS_MAX ? VM_PCI_SLOTS_MAX - used : 0;
}

/* One warning line for a family none of whose rings could be made. */
static void warn_none(const struct spare_rings *p, const char *what)
{
	if (p->why)
		log_warn("pci: cannot make the %u io_uring rings for %ss plugged in after start "
			 "(%s): such a plug will be refused", p->asked, what, strerror(-p->why));
}

int vm_pci_rings_make(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	unsigned int slots = free_slots(vm, cfg);
	struct vm_pci_rings *r = calloc(1, sizeof(*r));

	if (!r)
		return err_set(err, false, -ENOMEM, "out of memory");
	vm->pci_rings = r;
	/*
	 * As many as can be plugged in at once: the model refuses a drive
	 * past VM_MAX_DRIVES and a pmem device past VM_MAX_PMEM, the root a
	 * device past its free slots; and no more than VM_PCI_SPARE_RINGS a
	 * family, two descriptors each. A disk has one ring whatever its
	 * queues (the engine's queues share it); a vhost-user disk none.
	 */
	spare_rings_make(&r->blk, min_u(min_u(VM_MAX_DRIVES - min_u(cfg->ndrives, VM_MAX_DRIVES),
					      slots), VM_PCI_SPARE_RINGS), blk_ring_spare_make);
	spare_rings_make(&r->pmem, min_u(min_u(VM_MAX_PMEM - min_u(cfg->npmem, VM_MAX_PMEM), slots),
					 VM_PCI_SPARE_RINGS), pmem_ring_spare_make);
	/* The VM runs without them (io_uring off, too few descriptors): only a plug says it. */
	warn_none(&r->blk, "disk");
	warn_none(&r->pmem, "pmem device");
	return 0;
}

struct spare_ring *vm_pci_ring(struct vm *vm, const char *type, const char *id,
			       struct err *err)
{
	bool pmem = !strcmp(type, "virtio-pmem");
	struct spare_rings *p = !vm->pci_rings ? NULL : pmem ? &vm->pci_rings->pmem
							    : &vm->pci_rings->blk;
	const char *what = pmem ? "pmem device" : "disk";
	struct spare_ring *s = p ? spare_rings_find(p) : NULL;
	unsigned int live;
	char retired[96] = "";

	if (s)
		return s;
	if (!p || !p->n) {
		err_set(err, false, -ENOSPC, "%s '%s': no io_uring ring for it: a %s plugged in "
			"after start runs on one made when the microVM started (no thread may make "
			"one once its seccomp filter is on), and none could be made then%s%s%s",
			pmem ? "pmem" : "drive", id, what, p && p->why ? " (" : "",
			p && p->why ? strerror(-p->why) : "", p && p->why ? ")" : "");
		return NULL;
	}
	live = spare_rings_live(p);
	if (live < p->n)
		snprintf(retired, sizeof(retired), ", %u more given up when I/O left in them did "
			 "not complete", p->n - live);
	err_set(err, true, -ENOSPC, "%s '%s': no io_uring ring is left for it: a %s plugged in "
		"after start runs on a ring made when the microVM started (no thread may make one "
		"once its seccomp filter is on), and the %u made are all taken by %ss plugged in "
		"since%s; unplug one first", pmem ? "pmem" : "drive", id, what, live, what, retired);
	return NULL;
}

void vm_pci_rings_free(struct vm *vm)
{
	if (!vm->pci_rings)
		return;
	spare_rings_free(&vm->pci_rings->blk);
	spare_rings_free(&vm->pci_rings->pmem);
	free(vm->pci_rings);
	vm->pci_rings = NULL;
}
