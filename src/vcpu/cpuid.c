#include "vcpu/cpuid.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define KVM_CPUID_SIGNATURE 0x40000000u
#define KVM_CPUID_FEATURES 0x40000001u

#define LEAF1_ECX_TSC_DEADLINE (1u << 24)
#define LEAF1_ECX_HYPERVISOR (1u << 31)
#define LEAF1_EDX_HTT (1u << 28)
#define EXT1_ECX_TOPOEXT (1u << 22)   /* AMD: leaves 0x8000001d and 0x8000001e are valid */

/*
 * KVM's answer is the host's, the same for every VM of the process, and
 * asking costs a CPUID per leaf in the kernel, each an exit when Hearth
 * itself runs in a VM: the first answer is kept (never freed), so a
 * fork's clones, which inherit it from their zygote, do not ask again.
 */
static struct kvm_cpuid2 *supported_table;
static unsigned int supported_cap;
static pthread_mutex_t supported_lock = PTHREAD_MUTEX_INITIALIZER;

static int supported_ask(int kvm_fd)
{
	unsigned int n = 128;

	/* KVM says E2BIG until the buffer is large enough. */
	for (;;) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			supported_table = c;
			supported_cap = n;
			return 0;
		}
		free(c);
		if (errno != E2BIG || n >= 4096)
			return -errno;
		n *= 2;
	}
}

int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c = NULL;
	int ret = 0;

	pthread_mutex_lock(&supported_lock);
	if (!supported_table)
		ret = supported_ask(kvm_fd);
	if (!ret) {
		/* With the room KVM was given: callers may add leaves. */
		c = calloc(1, sizeof(*c) + supported_cap * sizeof(c->entries[0]));
		if (c)
			memcpy(c, supported_table,
			       sizeof(*c) + supported_table->nent * sizeof(c->entries[0]));
		else
			ret = -ENOMEM;
	}
	pthread_mutex_unlock(&supported_lock);
	*out = c;
	return ret;
}

struct kvm_cpuid2 *cpuid_copy(const struct kvm_cpuid2 *src, unsigned int extra)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (src->nent + extra) * sizeof(c->entries[0]));

	if (!c)
		return NULL;
	c->nent = src->nent;
	memcpy(c->entries, src->entries, src->nent * sizeof(c->entries[0]));
	return c;
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

enum cpu_vendor cpuid_vendor(const struct kvm_cpuid2 *c)
{
	for (unsigned int i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		char v[12];

		if (e->function != 0)
			continue;
		memcpy(v, &e->ebx, 4);
		memcpy(v + 4, &e->edx, 4);
		memcpy(v + 8, &e->ecx, 4);
		if (!memcmp(v, "GenuineIntel", 12))
			return CPU_VENDOR_INTEL;
		if (!memcmp(v, "AuthenticAMD", 12))
			return CPU_VENDOR_AMD;
		break;
	}
	return CPU_VENDOR_OTHER;
}

static unsigned int order_base_2(unsigned int n)
{
	unsigned int bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

/* The table's room is CPUID_FILTER_SPARE past what it came with; callers stay inside it. */
static struct kvm_cpuid_entry2 *cpuid_add(struct kvm_cpuid2 *c, unsigned int *spare,
					  unsigned int function, unsigned int index, uint32_t flags)
{
	struct kvm_cpuid_entry2 *e;

	if (!*spare)
		return NULL;
	(*spare)--;
	e = &c->entries[c->nent++];
	*e = (struct kvm_cpuid_entry2){ .function = function, .index = index, .flags = flags };
	return e;
}

struct topo {
	unsigned int index, ncpus;
	unsigned int bits;        /* APIC ID bits of the thread within its core: 0 or 1 */
	unsigned int per_core;    /* threads per core: 1 or 2 */
	unsigned int cores;
};

/*
 * Intel's extended topology (0xb, and 0x1f which Firecracker makes its
 * copy): level 0 the threads of a core, level 1 the cores of the one
 * package; the levels past them say "invalid". KVM since 6.2 lists only
 * level 0, so level 1 is added when the leaf is there at all.
 */
static void cpuid_topology_leaf(struct kvm_cpuid2 *c, unsigned int *spare, unsigned int leaf,
				const struct topo *t)
{
	if (cpuid_find(c, leaf, 0) && !cpuid_find(c, leaf, 1))
		cpuid_add(c, spare, leaf, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != leaf)
			continue;
		e->flags |= KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e->edx = t->index;
		switch (e->index) {
		case 0:
			e->eax = t->bits;
			e->ebx = t->per_core;
			e->ecx = (1u << 8) | 0;
			break;
		case 1:
			/* Shift to the package ID: every vCPU's APIC ID fits below it. */
			e->eax = order_base_2(t->ncpus);
			e->ebx = t->ncpus;
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

/*
 * Cache descriptors, Intel's leaf 4 and AMD's 0x8000001d alike: L1 and L2
 * are shared by the threads of a core, L3 by every vCPU (EAX[25:14], the
 * sharers - 1). Leaf 4 also says cores per package - 1 in EAX[31:26], a
 * 6-bit field that saturates rather than wraps past 64 cores.
 */
static void cpuid_cache_leaf(struct kvm_cpuid2 *c, unsigned int leaf, const struct topo *t)
{
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		unsigned int level = (e->eax >> 5) & 7, sharing;

		if (e->function != leaf || !(e->eax & 0x1f))
			continue;
		if (level == 1 || level == 2 || level == 3) {
			sharing = level == 3 ? t->ncpus : t->per_core;
			e->eax = (e->eax & ~(0xfffu << 14)) | ((sharing - 1) << 14);
		}
		if (leaf == 4) {
			unsigned int cores = t->cores > 64 ? 64 : t->cores;

			e->eax = (e->eax & 0x03ffffffu) | ((cores - 1) << 26);
		}
	}
}

/*
 * AMD's own topology leaves, as Firecracker's AMD normalize sets them:
 * the package's thread count and APIC ID width, TopologyExtensions so a
 * guest reads 0x8000001e, and there the extended APIC ID, the core (a
 * "compute unit") and its thread count, one node.
 */
static void cpuid_amd(struct kvm_cpuid2 *c, unsigned int *spare, const struct topo *t)
{
	struct kvm_cpuid_entry2 *e;

	e = cpuid_find(c, 0x80000008, 0);
	if (e)
		e->ecx = (e->ecx & ~0xf0ffu) | (order_base_2(t->ncpus) << 12) |
			 ((t->ncpus - 1) & 0xff);
	cpuid_cache_leaf(c, 0x8000001d, t);
	e = cpuid_find(c, 0x8000001e, 0);
	if (!e)
		e = cpuid_add(c, spare, 0x8000001e, 0, 0);
	if (!e)
		return;
	e->eax = t->index;
	e->ebx = (e->ebx & ~0xffffu) | ((t->per_core - 1) << 8) | ((t->index / t->per_core) & 0xff);
	e->ecx &= ~0x7ffu;
	e = cpuid_find(c, 0x80000001, 0);
	if (e)
		e->ecx |= EXT1_ECX_TOPOEXT;
	e = cpuid_find(c, 0x80000000, 0);
	if (e && e->eax < 0x8000001f)
		e->eax = 0x8000001f;
}

void cpuid_filter(struct kvm_cpuid2 *c, unsigned int index, unsigned int ncpus, bool smt)
{
	unsigned int spare = CPUID_FILTER_SPARE;
	struct kvm_cpuid_entry2 *e;
	struct topo t = { .index = index, .ncpus = ncpus ? ncpus : 1 };
	unsigned int per_package;

	t.bits = smt && t.ncpus > 1 ? 1 : 0;
	t.per_core = 1u << t.bits;
	t.cores = (t.ncpus + t.per_core - 1) / t.per_core;

	e = cpuid_find(c, 1, 0);
	if (e) {
		/*
		 * Addressable logical IDs in the package: the power of two at or
		 * above the count (0xff stands for 256, past 128 vCPUs).
		 */
		per_package = 1u << order_base_2(t.ncpus);
		if (per_package > 0xff)
			per_package = 0xff;
		e->ebx = (e->ebx & 0x0000ffffu) | (index << 24) | (per_package << 16);
		/*
		 * The in-kernel LAPIC emulates the TSC-deadline timer mode, but
		 * KVM_GET_SUPPORTED_CPUID leaves the bit to userspace (as QEMU
		 * and Firecracker set it). Without it Linux calibrates its LAPIC
		 * timer at boot and runs it one-shot; with it, on Intel hosts,
		 * KVM can arm the guest's timer on the VMX preemption timer
		 * rather than a host hrtimer.
		 */
		e->ecx |= LEAF1_ECX_HYPERVISOR | LEAF1_ECX_TSC_DEADLINE;
		if (t.ncpus > 1)
			e->edx |= LEAF1_EDX_HTT;
		else
			e->edx &= ~LEAF1_EDX_HTT;
	}
	cpuid_cache_leaf(c, 4, &t);
	cpuid_topology_leaf(c, &spare, 0xb, &t);
	cpuid_topology_leaf(c, &spare, 0x1f, &t);
	if (cpuid_vendor(c) == CPU_VENDOR_AMD)
		cpuid_amd(c, &spare, &t);

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
		     unsigned int ncpus, bool smt)
{
	struct kvm_cpuid2 *c = cpuid_copy(supported, CPUID_FILTER_SPARE);
	int ret = 0;

	if (!c)
		return -ENOMEM;
	cpuid_filter(c, index, ncpus, smt);
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	return ret;
}
