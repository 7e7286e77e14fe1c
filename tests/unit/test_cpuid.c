/*
 * The per-vCPU CPUID against fixed host tables, an Intel one and an AMD
 * one, with smt off and on. The expected values are the topology
 * Firecracker's normalize builds, written from its definition: one
 * package; with smt and more than one vCPU two threads per core (vCPUs
 * 2n and 2n+1 share core n), otherwise one.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vcpu/cpuid.h"

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#define HV_BIT (1u << 31)
#define HTT_BIT (1u << 28)
#define TOPOEXT_BIT (1u << 22)

/* What an Intel host might report, before filtering. */
static const struct kvm_cpuid_entry2 intel[] = {
	{ .function = 0, .eax = 0x1f, .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69 },
	/* Family 6; host APIC ID 0x2a, 16 logical; CLFLUSH size 8 in EBX[15:8], brand 0x01. */
	{ .function = 1, .eax = 0x000906ea, .ebx = 0x2a100801, .ecx = 0x7ffafbbf,
	  .edx = 0xbfebfbff },
	/* L1d, L1i, L2 (2 sharers), L3 (16 sharers), then the end. */
	{ .function = 4, .index = 0, .flags = SIG, .eax = 0x1c004121, .ebx = 0x01c0003f,
	  .ecx = 0x3f, .edx = 0 },
	{ .function = 4, .index = 1, .flags = SIG, .eax = 0x1c004122, .ebx = 0x01c0003f,
	  .ecx = 0x3f, .edx = 0 },
	{ .function = 4, .index = 2, .flags = SIG, .eax = 0x1c004143, .ebx = 0x00c0003f,
	  .ecx = 0x3ff, .edx = 0 },
	{ .function = 4, .index = 3, .flags = SIG, .eax = 0x1c03c163, .ebx = 0x03c0003f,
	  .ecx = 0x2fff, .edx = 6 },
	{ .function = 4, .index = 4, .flags = SIG, .eax = 0x00000000, .ebx = 0, .ecx = 0,
	  .edx = 0 },
	{ .function = 7, .index = 0, .flags = SIG, .eax = 0, .ebx = 0x029c6fbf, .ecx = 0x40000000,
	  .edx = 0xbc000400 },
	{ .function = 0xb, .index = 0, .flags = SIG, .eax = 1, .ebx = 2, .ecx = 0x100, .edx = 0x2a },
	{ .function = 0xb, .index = 1, .flags = SIG, .eax = 4, .ebx = 12, .ecx = 0x201,
	  .edx = 0x2a },
	{ .function = 0xb, .index = 2, .flags = SIG, .eax = 0, .ebx = 0, .ecx = 2, .edx = 0x2a },
	{ .function = 0x80000008, .eax = 0x3030, .ebx = 0x100d000, .ecx = 0x0003700f, .edx = 0 },
	{ .function = 0x8000001e, .eax = 0x2a, .ebx = 0x0105, .ecx = 0x0303, .edx = 0 },
	{ .function = 0x40000000, .eax = 0x40000001, .ebx = 0, .ecx = 0, .edx = 0 },
};

/* An AMD host as KVM 6.2+ lists it: leaf 0xb's level 0 only, no TopologyExtensions yet. */
static const struct kvm_cpuid_entry2 amd[] = {
	{ .function = 0, .eax = 0x10, .ebx = 0x68747541, .ecx = 0x444d4163, .edx = 0x69746e65 },
	{ .function = 1, .eax = 0x00a00f11, .ebx = 0x05400800, .ecx = 0x7ed8320b,
	  .edx = 0x178bfbff },
	{ .function = 0xb, .index = 0, .flags = SIG, .eax = 1, .ebx = 2, .ecx = 0x100, .edx = 5 },
	{ .function = 0x80000000, .eax = 0x8000001b, .ebx = 0x68747541, .ecx = 0x444d4163,
	  .edx = 0x69746e65 },
	{ .function = 0x80000001, .eax = 0x00a00f11, .ebx = 0, .ecx = 0x00000003,
	  .edx = 0x2fd3fbff },
	{ .function = 0x80000008, .eax = 0x3030, .ebx = 0x791ef257, .ecx = 0x0001703f, .edx = 0 },
	/* L1d, L2 (2 sharers each), L3 (16 sharers). */
	{ .function = 0x8000001d, .index = 0, .flags = SIG, .eax = 0x00004121, .ebx = 0x01c0003f,
	  .ecx = 0x3f, .edx = 0 },
	{ .function = 0x8000001d, .index = 1, .flags = SIG, .eax = 0x00004143, .ebx = 0x01c0003f,
	  .ecx = 0x3ff, .edx = 2 },
	{ .function = 0x8000001d, .index = 2, .flags = SIG, .eax = 0x0003c163, .ebx = 0x03c0003f,
	  .ecx = 0x7fff, .edx = 1 },
	{ .function = 0x8000001e, .eax = 0x2a, .ebx = 0xab000105, .ecx = 0x12340303, .edx = 0 },
};

#define NINTEL (sizeof(intel) / sizeof(intel[0]))
#define NAMD (sizeof(amd) / sizeof(amd[0]))

static struct kvm_cpuid2 *table_of(const struct kvm_cpuid_entry2 *e, unsigned int n)
{
	struct kvm_cpuid2 src = { .nent = 0 }, *c;

	c = cpuid_copy(&src, n + CPUID_FILTER_SPARE);
	assert_non_null(c);
	c->nent = n;
	memcpy(c->entries, e, n * sizeof(*e));
	return c;
}

static struct kvm_cpuid2 *table(void)
{
	return table_of(intel, NINTEL);
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, unsigned int fn, unsigned int idx)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, fn, idx);

	assert_non_null(e);
	return e;
}

static unsigned int log2_up(unsigned int n)
{
	unsigned int b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

static void check_one_smt(unsigned int index, unsigned int ncpus, bool smt)
{
	struct kvm_cpuid2 *c = table();
	struct kvm_cpuid_entry2 *e;
	unsigned int tpc = smt && ncpus > 1 ? 2 : 1;
	unsigned int cores = ncpus / tpc, cores4 = cores > 64 ? 64 : cores;
	unsigned int pow2 = 1u << log2_up(ncpus);

	cpuid_filter(c, index, ncpus, smt);

	/* Leaf 1: APIC ID, addressable IDs (a power of two), hypervisor, HTT; the rest kept. */
	e = find(c, 1, 0);
	assert_int_equal(e->ebx >> 24, index);
	assert_int_equal((e->ebx >> 16) & 0xff, pow2 > 0xff ? 0xff : pow2);
	assert_int_equal(e->ebx & 0xffff, 0x0801);
	assert_int_equal(e->eax, 0x000906ea);
	assert_true(e->ecx & HV_BIT);
	assert_int_equal(e->ecx & ~HV_BIT, 0x7ffafbbf);
	if (ncpus > 1)
		assert_true(e->edx & HTT_BIT);
	else
		assert_false(e->edx & HTT_BIT);
	assert_int_equal(e->edx & ~HTT_BIT, 0xbfebfbff & ~HTT_BIT);

	/*
	 * Leaf 4: L1 and L2 shared by a core's threads, L3 by all
	 * (EAX[25:14] sharers - 1), cores - 1 in EAX[31:26].
	 */
	for (unsigned int i = 0; i < 4; i++) {
		unsigned int sharers = i == 3 ? ncpus : tpc;

		e = find(c, 4, i);
		assert_int_equal(e->eax >> 26, cores4 - 1);
		assert_int_equal((e->eax >> 14) & 0xfff, sharers - 1);
		assert_int_equal(e->eax & 0x3fff, intel[2 + i].eax & 0x3fff);
		assert_int_equal(e->ebx, intel[2 + i].ebx);
	}
	e = find(c, 4, 4);
	assert_int_equal(e->eax, 0);

	/* Leaf 0xb: x2APIC ID in EDX at every level; SMT then core. */
	for (unsigned int i = 0; i < 3; i++) {
		e = find(c, 0xb, i);
		assert_int_equal(e->index, i);
		assert_int_equal(e->edx, index);
		assert_int_equal(e->ecx & 0xff, i);
	}
	e = find(c, 0xb, 0);
	assert_int_equal(e->eax, tpc == 2 ? 1 : 0);
	assert_int_equal(e->ebx, tpc);
	assert_int_equal((e->ecx >> 8) & 0xff, 1);
	e = find(c, 0xb, 1);
	assert_int_equal(e->eax, log2_up(ncpus));
	assert_true((1u << e->eax) >= ncpus);
	assert_true(e->eax == 0 || (1u << (e->eax - 1)) < ncpus);
	assert_int_equal(e->ebx, ncpus);
	assert_int_equal((e->ecx >> 8) & 0xff, 2);
	e = find(c, 0xb, 2);
	assert_int_equal(e->eax, 0);
	assert_int_equal(e->ebx, 0);
	assert_int_equal((e->ecx >> 8) & 0xff, 0); /* invalid level ends the list */

	/* AMD's leaves are an Intel host's own: left as they were. */
	assert_memory_equal(find(c, 0x80000008, 0), &intel[11], sizeof(intel[11]));
	assert_memory_equal(find(c, 0x8000001e, 0), &intel[12], sizeof(intel[12]));

	/* KVM paravirt signature. */
	e = find(c, 0x40000000, 0);
	assert_int_equal(e->eax, 0x40000001);
	{
		char sig[12];
		memcpy(sig, &e->ebx, 4);
		memcpy(sig + 4, &e->ecx, 4);
		memcpy(sig + 8, &e->edx, 4);
		assert_memory_equal(sig, "KVMKVMKVM\0\0\0", 12);
	}

	/* Untouched leaves, and nothing added (0xb's core level was there). */
	assert_memory_equal(find(c, 0, 0), &intel[0], sizeof(intel[0]));
	assert_memory_equal(find(c, 7, 0), &intel[7], sizeof(intel[7]));
	assert_int_equal(c->nent, NINTEL);
	assert_int_equal(cpuid_vendor(c), CPU_VENDOR_INTEL);
	free(c);
}

static void check_one(unsigned int index, unsigned int ncpus)
{
	check_one_smt(index, ncpus, false);
}

static void test_one_cpu(void **state)
{
	(void)state;
	check_one(0, 1);
}

static void test_two_cpus(void **state)
{
	(void)state;
	check_one(0, 2);
	check_one(1, 2);
}

static void test_four_cpus(void **state)
{
	(void)state;
	for (unsigned int i = 0; i < 4; i++)
		check_one(i, 4);
}

static void test_odd_counts(void **state)
{
	(void)state;
	check_one(2, 3);
	check_one(4, 5);
	check_one(63, 64);
}

/* More than the 6-bit leaf-4 field holds: saturates rather than wraps. */
static void test_many_cpus(void **state)
{
	(void)state;
	check_one(64, 65);
	check_one(100, 128);
	check_one(0, 255);
	check_one(128, 255);
	check_one(254, 255);
}

/* smt on: 1 vCPU stays one thread; 2 and 4 are cores of two threads each. */
static void test_smt_intel(void **state)
{
	struct kvm_cpuid2 *c;

	(void)state;
	check_one_smt(0, 1, true);
	for (unsigned int n = 2; n <= 4; n += 2)
		for (unsigned int i = 0; i < n; i++)
			check_one_smt(i, n, true);
	for (unsigned int i = 0; i < 8; i += 7)
		check_one_smt(i, 8, true);

	/* The numbers themselves, for two vCPUs: one core, two threads. */
	c = table();
	cpuid_filter(c, 1, 2, true);
	assert_int_equal(find(c, 0xb, 0)->eax, 1);           /* one bit of thread ID */
	assert_int_equal(find(c, 0xb, 0)->ebx, 2);           /* two threads per core */
	assert_int_equal(find(c, 0xb, 1)->ebx, 2);           /* two in the package */
	assert_int_equal(find(c, 4, 0)->eax, 0x00004121 | (1u << 14)); /* L1d: 2 sharers, 1 core */
	assert_int_equal(find(c, 4, 3)->eax, 0x00004163 | (1u << 14)); /* L3: 2 sharers */
	assert_int_equal(find(c, 1, 0)->ebx, 0x01020801);
	free(c);
	/* Four vCPUs: two cores. */
	c = table();
	cpuid_filter(c, 3, 4, true);
	assert_int_equal(find(c, 4, 0)->eax, 0x04004121 | (1u << 14));
	assert_int_equal(find(c, 4, 3)->eax, 0x04004163 | (3u << 14));
	assert_int_equal(find(c, 0xb, 0)->ebx, 2);
	assert_int_equal(find(c, 0xb, 1)->eax, 2);
	assert_int_equal(find(c, 0xb, 1)->ebx, 4);
	free(c);
}

static void check_amd(unsigned int index, unsigned int ncpus, bool smt)
{
	struct kvm_cpuid2 *c = table_of(amd, NAMD);
	struct kvm_cpuid_entry2 *e;
	unsigned int tpc = smt && ncpus > 1 ? 2 : 1;

	assert_int_equal(cpuid_vendor(c), CPU_VENDOR_AMD);
	cpuid_filter(c, index, ncpus, smt);

	/* Leaf 0xb's core level is added (KVM no longer lists it). */
	assert_int_equal(c->nent, NAMD + 1);
	e = find(c, 0xb, 1);
	assert_int_equal(e->flags & SIG, SIG);
	assert_int_equal(e->ebx, ncpus);
	assert_int_equal(e->ecx, 0x201);
	assert_int_equal(e->edx, index);
	e = find(c, 0xb, 0);
	assert_int_equal(e->ebx, tpc);
	assert_int_equal(e->eax, tpc - 1);

	/* NC = threads - 1, ApicIdCoreIdSize, the rest kept. */
	e = find(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, ncpus - 1);
	assert_int_equal((e->ecx >> 12) & 0xf, log2_up(ncpus));
	assert_int_equal(e->ecx & ~0xf0ffu, 0x0001703f & ~0xf0ffu);
	/* Cache sharers: L1, L2 per core, L3 all. */
	assert_int_equal((find(c, 0x8000001d, 0)->eax >> 14) & 0xfff, tpc - 1);
	assert_int_equal((find(c, 0x8000001d, 1)->eax >> 14) & 0xfff, tpc - 1);
	assert_int_equal((find(c, 0x8000001d, 2)->eax >> 14) & 0xfff, ncpus - 1);
	assert_int_equal(find(c, 0x8000001d, 2)->eax & 0x3fff, 0x0163);
	/* Extended APIC ID, core ID, threads per core - 1; one node; the rest kept. */
	e = find(c, 0x8000001e, 0);
	assert_int_equal(e->eax, index);
	assert_int_equal(e->ebx & 0xff, index / tpc);
	assert_int_equal((e->ebx >> 8) & 0xff, tpc - 1);
	assert_int_equal(e->ebx >> 16, 0xab00);
	assert_int_equal(e->ecx & 0x7ff, 0);
	assert_int_equal(e->ecx & ~0x7ffu, 0x12340303 & ~0x7ffu);
	/* TopologyExtensions on and the extended range reaching 0x8000001f, so a guest reads them. */
	assert_int_equal(find(c, 0x80000001, 0)->ecx, 0x00000003 | TOPOEXT_BIT);
	assert_int_equal(find(c, 0x80000000, 0)->eax, 0x8000001f);
	free(c);
}

static void test_amd(void **state)
{
	(void)state;
	check_amd(0, 1, false);
	check_amd(0, 1, true);
	for (unsigned int n = 2; n <= 4; n += 2)
		for (unsigned int i = 0; i < n; i++) {
			check_amd(i, n, false);
			check_amd(i, n, true);
		}
	check_amd(1, 2, false);
}

/* An AMD table without 0x8000001e gets one; a wide extended range is not lowered. */
static void test_amd_adds_8000001e(void **state)
{
	struct kvm_cpuid2 *c = table_of(amd, NAMD - 1);

	(void)state;
	find(c, 0x80000000, 0)->eax = 0x80000021;
	cpuid_filter(c, 3, 4, true);
	assert_int_equal(c->nent, NAMD + 1);
	assert_int_equal(find(c, 0x8000001e, 0)->eax, 3);
	assert_int_equal(find(c, 0x8000001e, 0)->ebx, 0x0101);
	assert_int_equal(find(c, 0x80000000, 0)->eax, 0x80000021);
	free(c);
}

static void test_find(void **state)
{
	struct kvm_cpuid2 *c = table();

	(void)state;
	/* Significant index: exact match. */
	assert_int_equal(find(c, 0xb, 1)->eax, 4);
	assert_int_equal(find(c, 0xb, 2)->ecx, 2);
	assert_null(cpuid_find(c, 0xb, 3));
	assert_null(cpuid_find(c, 4, 9));
	/* Index not significant: any index finds the leaf. */
	assert_int_equal(cpuid_find(c, 1, 5)->eax, 0x000906ea);
	assert_null(cpuid_find(c, 0x12345678, 0));
	free(c);
}

/* A sparse table (no leaf 0, no 0xb) filters safely and adds nothing. */
static void test_sparse_table(void **state)
{
	static const struct kvm_cpuid_entry2 two[] = {
		{ .function = 0x80000000, .eax = 0x80000008 },
		{ .function = 1, .ebx = 0xff000000 },
	};
	struct kvm_cpuid2 *c = table_of(two, 2);

	(void)state;
	cpuid_filter(c, 3, 4, false);
	assert_int_equal(c->nent, 2);
	assert_int_equal(c->entries[0].eax, 0x80000008);
	assert_int_equal(c->entries[1].ebx, 0x03040000);
	assert_int_equal(c->entries[1].ecx, HV_BIT | (1u << 24)); /* and the TSC-deadline timer */
	assert_int_equal(c->entries[1].edx, HTT_BIT);
	assert_int_equal(cpuid_vendor(c), CPU_VENDOR_OTHER);
	c->nent = 0;
	cpuid_filter(c, 0, 1, true);
	assert_int_equal(c->nent, 0);
	free(c);
}

/* Filtering is idempotent: a second pass with another index fully rewrites. */
static void test_refilter(void **state)
{
	struct kvm_cpuid2 *c = table();

	(void)state;
	cpuid_filter(c, 7, 8, true);
	cpuid_filter(c, 2, 4, false);
	assert_int_equal(find(c, 1, 0)->ebx >> 24, 2);
	assert_int_equal((find(c, 1, 0)->ebx >> 16) & 0xff, 4);
	assert_int_equal(find(c, 0xb, 1)->edx, 2);
	assert_int_equal(find(c, 0xb, 1)->ebx, 4);
	assert_int_equal(find(c, 0xb, 0)->ebx, 1);
	assert_int_equal(find(c, 4, 0)->eax >> 26, 3);
	assert_int_equal((find(c, 4, 0)->eax >> 14) & 0xfff, 0);
	free(c);
}

/* KVM does not report the TSC-deadline timer, which its LAPIC emulates: the filter adds it. */
static void test_tsc_deadline(void **state)
{
	struct kvm_cpuid2 *c = table();
	struct kvm_cpuid_entry2 *e = find(c, 1, 0);
	uint32_t ecx = e->ecx & ~(1u << 24);

	(void)state;
	e->ecx = ecx;
	cpuid_filter(c, 0, 2, false);
	e = find(c, 1, 0);
	assert_true(e->ecx & (1u << 24));
	assert_int_equal(e->ecx, ecx | (1u << 24) | HV_BIT);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_cpu),
		cmocka_unit_test(test_two_cpus),
		cmocka_unit_test(test_four_cpus),
		cmocka_unit_test(test_odd_counts),
		cmocka_unit_test(test_many_cpus),
		cmocka_unit_test(test_smt_intel),
		cmocka_unit_test(test_amd),
		cmocka_unit_test(test_amd_adds_8000001e),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_sparse_table),
		cmocka_unit_test(test_refilter),
		cmocka_unit_test(test_tsc_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
