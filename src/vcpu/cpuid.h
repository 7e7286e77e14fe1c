/* The CPUID each vCPU sees: KVM's supported set, filtered per vCPU. */
#ifndef HEARTH_VCPU_CPUID_H
#define HEARTH_VCPU_CPUID_H

#include <linux/kvm.h>

/* KVM_GET_SUPPORTED_CPUID into a heap table. */
int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out);

/*
 * Rewrites a copy of the supported table for vCPU index of ncpus: APIC IDs,
 * topology (one socket, ncpus cores, one thread each), the hypervisor bit
 * and the KVM paravirt leaves. Pure; unit tested.
 */
void cpuid_filter(struct kvm_cpuid2 *c, unsigned int index, unsigned int ncpus);

/* Copies, filters and applies with KVM_SET_CPUID2. */
int cpuid_setup_vcpu(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned int index,
		     unsigned int ncpus);

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned int function,
				    unsigned int index);

#endif
