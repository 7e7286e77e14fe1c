/*
 * VMGenID, the Virtual Machine Generation ID, as Firecracker has it on
 * x86 (since 1.8, with the IDs its #5760 corrected): 16 random bytes the
 * guest reads at a guest-physical address the DSDT's VGEN device gives
 * (its ADDR), and a new 16 bytes every time the VM becomes another one:
 * every restore of a snapshot, so every clone of one. Linux's vmgenid
 * driver (drivers/virt/vmgenid.c, 5.18 and later, bound by _HID VMGENCTR
 * or _CID VM_GEN_COUNTER) reads them at probe and again on Notify(VGEN,
 * 0x80); a change reseeds its RNG (add_vmfork_randomness, "crng reseeded
 * due to virtual machine fork"), so two clones never share its state.
 *
 * The page is the VM's (a read-only memslot of its own: vmm); the device
 * is given it in dev_env and writes it only when it is made and at a
 * restore, neither while a vCPU runs. The notification is its line, which
 * a Generic Event Device (boot/acpi_vmgenid.c) turns into the Notify: a
 * restore only marks it owed, and vmgenid_notify raises it once the
 * vCPUs run again, so it lands in a guest that runs, after the new bytes.
 *
 * Record "VGID" 1: the device's place (the address, u64, and the line,
 * u32), never the generation: a restore writes a new one.
 */
#ifndef HEARTH_DEVICES_VMGENID_H
#define HEARTH_DEVICES_VMGENID_H

#include <stdbool.h>

#include "devices/device.h"

#define VMGENID_SIZE 16

struct vmgenid;

/*
 * env->vmgenid_page (res->mmio_size bytes: the page at res->mmio_base)
 * and res->gsi must be there. Fills the generation with getrandom().
 */
int vmgenid_create(const struct dev_env *env, const struct dev_resources *res,
		   struct component *out, struct err *err);

/*
 * Raises the notification a restore left owed, once (an edge on the
 * line); nothing when none is owed. Any thread, the vCPUs running.
 * Returns whether it raised one.
 */
bool vmgenid_notify(struct vmgenid *g);

#endif
