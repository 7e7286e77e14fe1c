/*
 * The running VM's memory hotplug device (virtio/mem.h): its status and
 * requested size, as Firecracker's GET and PATCH /hotplug/memory after
 * boot; and what the device asks of the VM (vm_hotplug_ops: plugging and
 * unplugging ranges of the region mem/guest_mem_hotplug.h maps).
 */
#ifndef HEARTH_VMM_VM_HOTPLUG_H
#define HEARTH_VMM_VM_HOTPLUG_H

#include <stdint.h>

#include "util/err.h"
#include "virtio/mem.h"
#include "vmm/config.h"
#include "vmm/vm.h"

/* The device's ops; ctx the VM's struct guest_mem. */
extern const struct virtio_mem_ops vm_hotplug_ops;

/*
 * Maps the hotplug region cfg asks for, above the RAM vm->mem holds
 * (nothing without one). 0, or -errno with err.
 */
int vm_hotplug_map(struct vm *vm, const struct vm_config *cfg, struct err *err);

/*
 * On the I/O thread: a new requested size (err in the device's words),
 * the device's status. -ENODEV when the VM has none.
 */
int vm_hotplug_set(struct vm *vm, uint32_t requested_mib, struct err *err);
int vm_hotplug_status(struct vm *vm, struct virtio_mem_status *out, struct err *err);

#endif
