/*
 * Live changes to a running VM's devices: Firecracker's PATCH of drives
 * and network interfaces after boot. Called from the API's thread; files
 * are opened and checked there, and the devices change on the I/O thread
 * (eventloop_run_on), between two of their requests.
 */
#ifndef HEARTH_VMM_VM_PATCH_H
#define HEARTH_VMM_VM_PATCH_H

#include <stddef.h>

#include "util/err.h"
#include "vmm/config.h"
#include "vmm/vm.h"

/*
 * d is the drive as the model has it (read-only, cache mode); p the
 * change, checked by vm_config_check_drive_patch. A new path_on_host
 * swaps the disk's image (the same file: its size is read again); a
 * rate_limiter replaces the live one. 0, or -errno with one line in err
 * and the disk as it was.
 */
int vm_patch_drive(struct vm *vm, const struct vm_drive *d, const struct vm_drive_patch *p,
		   struct err *err);
int vm_patch_net(struct vm *vm, const struct vm_net_patch *p, struct err *err);
/* A pmem device's rate limiter, on the I/O thread. */
int vm_patch_pmem(struct vm *vm, const struct vm_pmem_patch *p, struct err *err);
/*
 * A live migration's switch-over, the VM paused: every disk's image lock
 * let go (hold false; the destination takes them on shared storage), or
 * taken again (hold true: each tried, the last failure returned). 0 or
 * -errno with err.
 */
/* After a live migration: every NIC's MAC announced on its wire (virtio_net_announce). */
int vm_nets_announce(struct vm *vm, const struct vm_config *cfg);
int vm_drives_hold(struct vm *vm, const struct vm_config *cfg, bool hold, struct err *err);

#endif
