/* The CPUID each vCPU sees: KVM's supported set, filtered per vCPU. */
#ifndef HEARTH_VCPU_CPUID_H
#define HEARTH_VCPU_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>

/*
 * Entries cpuid_filter may add to a table (leaf 0xb and 0x1f's core
 * level, which KVM stopped listing in 6.2, and AMD's 0x8000001e): a
 * table handed to it has room for this many past its nent.
 */
#define CPUID_FILTER_SPARE 4u

enum cpu_vendor { CPU_VENDOR_OTHER, CPU_VENDOR_INTEL, CPU_VENDOR_AMD };

/* KVM_GET_SUPPORTED_CPUID into a heap table (the process's first answer, kept: cpuid.c). */
int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out);

/* A heap copy of src with room for extra more entries (nent stays src's); NULL on ENOMEM. */
struct kvm_cpuid2 *cpuid_copy(const struct kvm_cpuid2 *src, unsigned int extra);

/* Leaf 0's vendor string: GenuineIntel, AuthenticAMD, or anything else. */
enum cpu_vendor cpuid_vendor(const struct kvm_cpuid2 *c);

/*
 * Rewrites a copy of the supported table for vCPU index of ncpus, as
 * Firecracker's normalize does: APIC IDs and the topology (one socket;
 * with smt and more than one vCPU, two threads per core, vCPUs 2n and
 * 2n+1 the threads of core n, otherwise one thread per core), the
 * hypervisor bit and the KVM paravirt leaves. c has room for
 * CPUID_FILTER_SPARE entries past nent. Pure; unit tested.
 */
void cpuid_filter(struct kvm_cpuid2 *c, unsigned int index, unsigned int ncpus, bool smt);

/* Copies, filters and applies with KVM_SET_CPUID2. */
int cpuid_setup_vcpu(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned int index,
		     unsigned int ncpus, bool smt);

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned int function,
				    unsigned int index);

#endif
