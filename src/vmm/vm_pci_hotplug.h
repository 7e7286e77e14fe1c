/*
 * PCI hotplug on the VM's side (Firecracker 1.16's PUT after
 * InstanceStart and DELETE on /drives, /network-interfaces and /pmem):
 * a device of the config made and attached to a free slot of the PCI
 * root, or taken away, the guest told each time through ACPI
 * (pci/hotplug.h), so it needs no rescan by hand.
 */
#ifndef HEARTH_VMM_VM_PCI_HOTPLUG_H
#define HEARTH_VMM_VM_PCI_HOTPLUG_H

#include "util/err.h"
#include "vmm/config.h"
#include "vmm/vm.h"

/* How long an unplug waits for the guest to give the device up. */
#define VM_UNPLUG_WAIT_MS 5000u

/*
 * Plugs the i-th device of family type ("virtio-blk", "virtio-net",
 * "virtio-pmem") of cfg into the first free slot: the disk's image
 * opened here (the api thread), the device made on the io thread, the
 * guest told. Type "vfio": cfg->vfio[i], which must be a device passed
 * through at start and unplugged since (still open), plugged back.
 * 0, or -errno with err.
 */
int vm_pci_plug(struct vm *vm, const struct vm_config *cfg, const char *type, unsigned int i,
		struct err *err);

/*
 * Unplugs the device of that type and id: when the guest drives it, it
 * is asked to give it up (an ACPI Eject Request) and waited for, at most
 * VM_UNPLUG_WAIT_MS; one it still drives then stays, with -EBUSY. Then
 * the function leaves the bus and the device is destroyed on the io
 * thread; a "vfio" one is kept, reset, for a later plug. On the api thread. 0, -ENOENT, -EBUSY, or -errno with err.
 */
int vm_pci_unplug(struct vm *vm, const char *type, const char *id, struct err *err);

/*
 * vm_pci_rings.c. The io_uring rings the disks and pmem devices plugged
 * in after start will run on, made with the VM, before any thread's seal:
 * no thread may make one once its seccomp filter is on (docs/security.md).
 * One a disk (whatever its queues: a disk has one ring) and one a pmem
 * device for as many as can still be plugged in at once, by the model's
 * limits (VM_MAX_DRIVES, VM_MAX_PMEM) and the PCI slots the boot left
 * free, at most VM_PCI_SPARE_RINGS a family (each costs two descriptors
 * and its ring memory, used or not; a plug past them is refused, naming
 * why); an unplugged device's goes back for the next. Each family's are
 * made all or none: none (one warning line naming why) leaves the VM
 * running, its plugs of that family refused. On the io thread, before
 * any seal; 0, or -ENOMEM with err (vm_pci_rings_free undoes it).
 */
#define VM_PCI_SPARE_RINGS 19
int vm_pci_rings_make(struct vm *vm, const struct vm_config *cfg, struct err *err);
/*
 * A ring for the device of family type ("virtio-blk", "virtio-pmem") with
 * that id about to be plugged in: one no device has. The device claims it
 * when made and gives it back when destroyed. On the io thread. NULL with
 * err (usage, -ENOSPC) naming why when none is left.
 */
struct spare_ring *vm_pci_ring(struct vm *vm, const char *type, const char *id,
			       struct err *err);
/* After the devices are gone: every ring closed. */
void vm_pci_rings_free(struct vm *vm);

/*
 * A snapshot restores each device where a boot from cfg puts it (the
 * layout order) unless its config records where each sits. Whether some
 * PCI function is elsewhere (a drive plugged in or out); with rec (a copy
 * of cfg) given, its pci_slots then get every function's slot.
 */
bool vm_pci_record_slots(struct vm *vm, const struct vm_config *cfg, struct vm_config *rec);

#endif
