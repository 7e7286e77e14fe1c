/*
 * The VM-wide KVM state a snapshot keeps (the "vm" section): the two
 * PICs and the IOAPIC of the in-kernel irqchip, the PIT and the KVM
 * clock. Record: tag "VMST", version 1, then parts tagged and sized as a
 * vCPU's are: PICM, PICS, IOAP (struct kvm_irqchip), PIT2 (struct
 * kvm_pit_state2), CLCK (struct kvm_clock_data).
 */
#ifndef HEARTH_VMM_VM_STATE_H
#define HEARTH_VMM_VM_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/component.h"
#include "util/bytes.h"
#include "util/err.h"

#define VM_STATE_VERSION 1u

struct vm_kvm_state {
	struct kvm_irqchip pic_master, pic_slave, ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/* From KVM; the vCPUs are parked. 0, or -errno with the ioctl named in err. */
int vm_state_get(int vm_fd, struct vm_kvm_state *s, struct err *err);
/*
 * Into a VM freshly created (irqchip and PIT made), before its vCPUs
 * run. The clock is set to the saved value without KVM_CLOCK_REALTIME:
 * the guest's clock goes on from where it stopped, never backwards and
 * without a jump by the time the snapshot spent on disk.
 */
int vm_state_set(int vm_fd, const struct vm_kvm_state *s, struct err *err);

/*
 * PUT /snapshot/load's clock_realtime, after vm_state_set: the clock set
 * again from the record (in, len) with KVM_CLOCK_REALTIME, so KVM adds
 * the host's real time elapsed since KVM_GET_CLOCK took it. Refused
 * (usage, -EOPNOTSUPP) when the record has no realtime (its host's
 * KVM_GET_CLOCK gave none: no stable master clock, or a kernel before
 * 5.16) or this host's KVM cannot take one (KVM_CAP_ADJUST_CLOCK
 * without KVM_CLOCK_REALTIME). apply false: those checks only.
 */
int vm_state_clock_realtime(int vm_fd, const void *in, size_t len, bool apply,
			    struct err *err);

/* The record, appended to o, and read back: 0, -ENODATA, -EPROTO or -EINVAL. */
int vm_state_save(const struct vm_kvm_state *s, struct bytes_out *o);
int vm_state_restore(struct vm_kvm_state *s, const void *in, size_t len);

/*
 * The VM-wide KVM state as a component (core/component.h), obj a pointer
 * to the VM's fd: save is vm_state_get and the record, restore the
 * record's check and vm_state_set. No pause (the vCPUs' parking is what
 * holds it still) and no destroy (the VM owns its fd).
 */
extern const struct component_ops vm_state_component;

#endif
