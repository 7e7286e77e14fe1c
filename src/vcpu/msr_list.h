/*
 * The MSRs a snapshot saves, from KVM_GET_MSR_INDEX_LIST rather than a
 * hand-written list, so whatever this host's KVM can save (kvmclock and
 * the TSC included) is saved. Pure: unit-tested with made-up lists.
 */
#ifndef HEARTH_VCPU_MSR_LIST_H
#define HEARTH_VCPU_MSR_LIST_H

#include <linux/kvm.h>
#include <stdint.h>

#define MSR_IA32_TSC_INDEX 0x10u
#define MSR_IA32_TSC_DEADLINE_INDEX 0x6e0u
/* KVM_GET_MSRS and KVM_SET_MSRS take fewer than 256 at a time (MAX_IO_MSRS). */
#define MSR_BATCH_MAX 255u
#define MSR_LIST_MAX 4096u

/* Whether KVM can read back and restore the MSR at index. */
int msr_list_saveable(uint32_t index);

/*
 * Builds the KVM_GET_MSRS request for n indices as KVM listed them:
 * without what cannot be saved (write-only commands, the x2APIC range
 * KVM_SET_LAPIC restores, MCG_CTL KVM may refuse) and duplicates, in
 * ascending order except that the TSC comes first and the TSC deadline
 * last, because KVM interprets the deadline against the TSC set before
 * it. *out is calloc'ed (free() it). 0, -EINVAL (n over MSR_LIST_MAX)
 * or -ENOMEM.
 */
int msr_list_build(const uint32_t *indices, uint32_t n, struct kvm_msrs **out);

/*
 * Copies entries from..from+max-1 of all (fewer at its end) into batch,
 * which has room for max (at most MSR_BATCH_MAX), and sets its nmsrs;
 * returns how many, 0 when from is past the end.
 */
uint32_t msr_list_batch(const struct kvm_msrs *all, uint32_t from, struct kvm_msrs *batch,
			uint32_t max);

#endif
