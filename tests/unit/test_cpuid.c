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

/* What a host might report, before filtering. */
static const struct kvm_cpuid_entry2 host[] = {
	{ .function = 0, .eax = 0x1f, .ebx = 0x756e6547, .ecx = 0x6c65746e, .edx = 0x49656e69 },
	/* Family 6; host APIC ID 0x2a, 16 logical; CLFLUSH size 8 in EBX[15:8], brand 0x01. */
	{ .function = 1, .eax = 0x000906ea, .ebx = 0x2a100801, .ecx = 0x7ffafbbf,
	  .edx = 0xbfebfbff },
	{ .function = 4, .index = 0, .flags = SIG, .eax = 0x1c004121, .ebx = 0x01c0003f,
	  .ecx = 0x3f, .edx = 0 },
	{ .function = 4, .index = 1, .flags = SIG, .eax = 0x1c004122, .ebx = 0x01c0003f,
	  .ecx = 0x3f, .edx = 0 },
	{ .function = 4, .index = 2, .flags = SIG, .eax = 0x1c004143, .ebx = 0x00c0003f,
	  .ecx = 0x3ff, .edx = 0 },
	{ .function = 4, .index = 3, .flags = SIG, .eax = 0x00000000, .ebx = 0, .ecx = 0,
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

#define NHOST (sizeof(host) / sizeof(host[0]))

static struct kvm_cpuid2 *table(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + NHOST * sizeof(c->entries[0]));

	assert_non_null(c);
	c->nent = NHOST;
	memcpy(c->entries, host, sizeof(host));
	return c;
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

static void check_one(unsigned int index, unsigned int ncpus)
{
	struct kvm_cpuid2 *c = table();
	struct kvm_cpuid_entry2 *e;
	unsigned int cores4 = ncpus > 64 ? 64 : ncpus;

	cpuid_filter(c, index, ncpus);

	/* Leaf 1: APIC ID, logical count, hypervisor, HTT; the rest kept. */
	e = find(c, 1, 0);
	assert_int_equal(e->ebx >> 24, index);
	assert_int_equal((e->ebx >> 16) & 0xff, ncpus & 0xff);
	assert_int_equal(e->ebx & 0xffff, 0x0801);
	assert_int_equal(e->eax, 0x000906ea);
	assert_true(e->ecx & HV_BIT);
	assert_int_equal(e->ecx & ~HV_BIT, 0x7ffafbbf);
	if (ncpus > 1)
		assert_true(e->edx & HTT_BIT);
	else
		assert_false(e->edx & HTT_BIT);
	assert_int_equal(e->edx & ~HTT_BIT, 0xbfebfbff & ~HTT_BIT);

	/* Leaf 4: cores per package - 1 in EAX[31:26], for real cache levels only. */
	for (unsigned int i = 0; i < 3; i++) {
		e = find(c, 4, i);
		assert_int_equal(e->eax >> 26, cores4 - 1);
		assert_int_equal(e->eax & 0x03ffffff, host[2 + i].eax & 0x03ffffff);
		assert_int_equal(e->ebx, host[2 + i].ebx);
	}
	e = find(c, 4, 3);
	assert_int_equal(e->eax, 0);

	/* Leaf 0xb: x2APIC ID in EDX at every level; SMT then core. */
	for (unsigned int i = 0; i < 3; i++) {
		e = find(c, 0xb, i);
		assert_int_equal(e->index, i);
		assert_int_equal(e->edx, index);
		assert_int_equal(e->ecx & 0xff, i);
	}
	e = find(c, 0xb, 0);
	assert_int_equal(e->eax, 0);
	assert_int_equal(e->ebx, 1);
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

	/* AMD: NC and ApicIdCoreIdSize; bits 17:16 and 11:8 kept. */
	e = find(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, ncpus - 1);
	assert_int_equal((e->ecx >> 12) & 0xf, log2_up(ncpus));
	assert_int_equal(e->ecx & ~0xf0ffu, 0x0003700f & ~0xf0ffu);
	assert_int_equal(e->eax, 0x3030);
	e = find(c, 0x8000001e, 0);
	assert_int_equal(e->eax, index);
	assert_int_equal(e->ebx & 0xff, index);
	assert_int_equal((e->ebx >> 8) & 0xff, 0); /* one thread per core */
	assert_int_equal(e->ecx, 0);

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

	/* Untouched leaves. */
	assert_memory_equal(find(c, 0, 0), &host[0], sizeof(host[0]));
	assert_memory_equal(find(c, 7, 0), &host[6], sizeof(host[6]));
	assert_int_equal(c->nent, NHOST);
	free(c);
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

/* A sparse table (e.g. an AMD host without leaf 0xb) filters safely. */
static void test_sparse_table(void **state)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 2 * sizeof(c->entries[0]));

	(void)state;
	assert_non_null(c);
	c->nent = 2;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 0x80000000, .eax = 0x80000008 };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0xff000000 };
	cpuid_filter(c, 3, 4);
	assert_int_equal(c->entries[0].eax, 0x80000008);
	assert_int_equal(c->entries[1].ebx, 0x03040000);
	assert_int_equal(c->entries[1].ecx, HV_BIT);
	assert_int_equal(c->entries[1].edx, HTT_BIT);
	c->nent = 0;
	cpuid_filter(c, 0, 1);
	free(c);
}

/* Filtering is idempotent: a second pass with another index fully rewrites. */
static void test_refilter(void **state)
{
	struct kvm_cpuid2 *c = table();

	(void)state;
	cpuid_filter(c, 7, 8);
	cpuid_filter(c, 2, 4);
	assert_int_equal(find(c, 1, 0)->ebx >> 24, 2);
	assert_int_equal((find(c, 1, 0)->ebx >> 16) & 0xff, 4);
	assert_int_equal(find(c, 0xb, 1)->edx, 2);
	assert_int_equal(find(c, 0xb, 1)->ebx, 4);
	assert_int_equal(find(c, 4, 0)->eax >> 26, 3);
	assert_int_equal(find(c, 0x80000008, 0)->ecx & 0xff, 3);
	assert_int_equal((find(c, 0x80000008, 0)->ecx >> 12) & 0xf, 2);
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
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_sparse_table),
		cmocka_unit_test(test_refilter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
