#include "vcpu/cpuid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define KVM_CPUID_SIGNATURE 0x40000000u
#define KVM_CPUID_FEATURES 0x40000001u

#define LEAF1_ECX_HYPERVISOR (1u << 31)
#define LEAF1_EDX_HTT (1u << 28)

int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out)
{
	unsigned int n = 128;

	/* KVM says E2BIG until the buffer is large enough. */
	for (;;) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG || n >= 4096)
			return -errno;
		n *= 2;
	}
}

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned int function,
				    unsigned int index)
{
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != function)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
			continue;
		return e;
	}
	return NULL;
}

static unsigned int order_base_2(unsigned int n)
{
	unsigned int bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

/* Intel's extended topology: level 0 SMT (1 thread), level 1 core. */
static void cpuid_topology_leaf(struct kvm_cpuid2 *c, unsigned int leaf, unsigned int apic_id,
				unsigned int ncpus)
{
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != leaf)
			continue;
		e->edx = apic_id;
		switch (e->index) {
		case 0:
			e->eax = 0;
			e->ebx = 1;
			e->ecx = (1u << 8) | 0;
			break;
		case 1:
			e->eax = order_base_2(ncpus);
			e->ebx = ncpus;
			e->ecx = (2u << 8) | 1;
			break;
		default:
			e->eax = 0;
			e->ebx = 0;
			e->ecx = e->index;
			break;
		}
	}
}

void cpuid_filter(struct kvm_cpuid2 *c, unsigned int index, unsigned int ncpus)
{
	unsigned int apic_id = index;
	struct kvm_cpuid_entry2 *e;

	e = cpuid_find(c, 1, 0);
	if (e) {
		e->ebx = (e->ebx & 0x0000ffffu) | (apic_id << 24) | ((ncpus & 0xff) << 16);
		e->ecx |= LEAF1_ECX_HYPERVISOR;
		if (ncpus > 1)
			e->edx |= LEAF1_EDX_HTT;
		else
			e->edx &= ~LEAF1_EDX_HTT;
	}
	/*
	 * Deterministic cache parameters: cores per package - 1 in EAX[31:26].
	 * The field is 6 bits; saturate rather than wrap past 64 vCPUs.
	 */
	for (unsigned int i = 0; i < c->nent; i++) {
		unsigned int cores = ncpus > 64 ? 64 : ncpus;

		e = &c->entries[i];
		if (e->function == 4 && (e->eax & 0x1f))
			e->eax = (e->eax & 0x03ffffffu) | ((cores - 1) << 26);
	}
	cpuid_topology_leaf(c, 0xb, apic_id, ncpus);
	cpuid_topology_leaf(c, 0x1f, apic_id, ncpus);

	/* AMD: NC and ApicIdCoreIdSize, then per-core IDs. */
	e = cpuid_find(c, 0x80000008, 0);
	if (e)
		e->ecx = (e->ecx & ~0xf0ffu) | (order_base_2(ncpus) << 12) | ((ncpus - 1) & 0xff);
	e = cpuid_find(c, 0x8000001e, 0);
	if (e) {
		e->eax = apic_id;
		e->ebx = apic_id & 0xff; /* core id; one thread per core */
		e->ecx = 0;
	}

	/* kvm-clock and the other paravirt features are found through here. */
	e = cpuid_find(c, KVM_CPUID_SIGNATURE, 0);
	if (e) {
		e->eax = KVM_CPUID_FEATURES;
		memcpy(&e->ebx, "KVMK", 4);
		memcpy(&e->ecx, "VMKV", 4);
		memcpy(&e->edx, "M\0\0\0", 4);
	}
}

int cpuid_setup_vcpu(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned int index,
		     unsigned int ncpus)
{
	size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	int ret = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, sz);
	cpuid_filter(c, index, ncpus);
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	return ret;
}
