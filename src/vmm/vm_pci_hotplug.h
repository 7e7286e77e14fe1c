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
 * guest told. 0, or -errno with err.
 */
int vm_pci_plug(struct vm *vm, const struct vm_config *cfg, const char *type, unsigned int i,
		struct err *err);

/*
 * Unplugs the device of that type and id: when the guest drives it, it
 * is asked to give it up (an ACPI Eject Request) and waited for, at most
 * VM_UNPLUG_WAIT_MS; one it still drives then stays, with -EBUSY. Then
 * the function leaves the bus and the device is destroyed on the io
 * thread. On the api thread. 0, -ENOENT, -EBUSY, or -errno with err.
 */
int vm_pci_unplug(struct vm *vm, const char *type, const char *id, struct err *err);

/*
 * A snapshot restores each device where a boot from cfg puts it (the
 * layout order) unless its config records where each sits. Whether some
 * PCI function is elsewhere (a drive plugged in or out); with rec (a copy
 * of cfg) given, its pci_slots then get every function's slot.
 */
bool vm_pci_record_slots(struct vm *vm, const struct vm_config *cfg, struct vm_config *rec);

#endif
