/*
 * A vCPU's state out of KVM and back in (the record is vcpu_state.h's).
 * The vCPU must not be in KVM_RUN: vm_pause parks it first. The ioctls
 * may come from any thread (KVM takes the vCPU's mutex); the snapshot
 * code calls them from the api thread while the vCPU threads are parked,
 * so no file I/O ever runs on a vCPU thread.
 */
#ifndef HEARTH_VCPU_VCPU_KVM_STATE_H
#define HEARTH_VCPU_VCPU_KVM_STATE_H

#include <linux/kvm.h>

#include "util/err.h"
#include "vcpu/vcpu_state.h"

/*
 * The MSRs to save, from KVM_GET_MSR_INDEX_LIST on the system fd filtered
 * by msr_list_build. *out is calloc'ed (free() it). 0 or -errno.
 */
int vcpu_kvm_msr_list(int kvm_fd, struct kvm_msrs **out);

/*
 * Fills s (zeroed first; vcpu_state_release it) from the vCPU. xsave_size
 * is KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) on the VM fd (0: the 4 KiB
 * KVM_GET_XSAVE). An MSR of the list this vCPU cannot read is left out.
 * 0, or -errno with the failing ioctl named in err.
 */
int vcpu_kvm_state_get(int vcpu_fd, int xsave_size, const struct kvm_msrs *list,
		       struct vcpu_snap *s, struct err *err);

/*
 * Loads s into the vCPU, in the order Firecracker uses: MP state, regs,
 * sregs, XSAVE, XCRs, debug registers, LAPIC, then the MSRs (the TSC
 * first and the TSC deadline last, against the LAPIC's timer mode) and
 * the pending events last, since setting the rest may clear them.
 * 0, or -errno with the failing ioctl named in err.
 */
int vcpu_kvm_state_set(int vcpu_fd, int xsave_size, const struct vcpu_snap *s, struct err *err);

#endif
