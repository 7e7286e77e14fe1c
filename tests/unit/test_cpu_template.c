/*
 * CPU templates over fixed host tables: each static template's bits as
 * its specification states them (written from the template definitions,
 * not read back from the code), the vendor and model rules, custom
 * templates from JSON (good and hostile bodies) and back.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vcpu/cpu_template.h"
#include "vcpu/cpuid.h"
#include "fcjson/config_json_cpu.h"

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

static struct err err;

/* A host with every bit of the leaves the templates touch set. */
static struct kvm_cpuid2 *host_table(bool amd)
{
	static const uint32_t fns[][2] = {
		{ 0, 0 }, { 1, 0 }, { 7, 0 }, { 0xd, 0 }, { 0xd, 1 }, { 0x80000001, 0 },
		{ 0x80000008, 0 },
	};
	struct kvm_cpuid2 src = { .nent = 0 }, *c = cpuid_copy(&src, 8);

	assert_non_null(c);
	for (unsigned int i = 0; i < 7; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

		*e = (struct kvm_cpuid_entry2){ .function = fns[i][0], .index = fns[i][1],
						.eax = ~0u, .ebx = ~0u, .ecx = ~0u, .edx = ~0u };
		if (fns[i][0] == 7 || fns[i][0] == 0xd)
			e->flags = SIG;
	}
	c->entries[0].eax = 0x10;
	memcpy(&c->entries[0].ebx, amd ? "Auth" : "Genu", 4);
	memcpy(&c->entries[0].edx, amd ? "enti" : "ineI", 4);
	memcpy(&c->entries[0].ecx, amd ? "cAMD" : "ntel", 4);
	return c;
}

static struct kvm_cpuid_entry2 *leaf(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, fn, idx);

	assert_non_null(e);
	return e;
}

static struct kvm_cpuid2 *applied(enum cpu_template_id id, bool amd)
{
	struct kvm_cpuid2 *c = host_table(amd);

	assert_int_equal(cpu_template_apply_cpuid(c, cpu_template_static(id), &err), 0);
	return c;
}

#define BIT(n) (1u << (n))

/* What T2, T2S, T2CL and T2A share: a Haswell signature and the Intel-only features gone. */
static void check_t2_common(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = leaf(c, 1, 0);

	/* Family 6, model 0x3f, stepping 2; bits 31:28 and 15:14 are the host's. */
	assert_int_equal(e->eax & 0x0fff3fff, 0x000306f2);
	assert_int_equal(e->eax & ~0x0fff3fffu, ~0x0fff3fffu);
	/* ECX: DTES64 2, MONITOR 3, VMX 5, SMX 6, EIST 7, TM2 8, PDCM 15, DCA 18 off; SSE3 0 kept. */
	assert_int_equal(e->ecx & (BIT(2) | BIT(3) | BIT(5) | BIT(6) | BIT(7) | BIT(8) | BIT(15) |
				   BIT(18)), 0);
	assert_true(e->ecx & BIT(0));
	/* EDX: MCE 7 and MTRR 12 forced on; PSN 18, DS 21, ACPI 22, SS 27, TM 29, PBE 31 off. */
	assert_true(e->edx & BIT(7));
	assert_true(e->edx & BIT(12));
	assert_int_equal(e->edx & (BIT(18) | BIT(21) | BIT(22) | BIT(27) | BIT(29) | BIT(31)), 0);
	e = leaf(c, 7, 0);
	/* EBX: ERMS 9 on; HLE 4, RTM 11, MPX 14, AVX512F 16, RDSEED 18, ADX 19, SHA 29 off. */
	assert_true(e->ebx & BIT(9));
	assert_int_equal(e->ebx & (BIT(4) | BIT(11) | BIT(14) | BIT(16) | BIT(18) | BIT(19) |
				   BIT(29)), 0);
	/* BMI1 3, AVX2 5, BMI2 8 kept (C3 drops them, T2 does not). */
	assert_int_equal(e->ebx & (BIT(3) | BIT(5) | BIT(8)), BIT(3) | BIT(5) | BIT(8));
	/* ECX: UMIP 2, PKU 3, VAES 9, LA57 16, RDPID 22 off. */
	assert_int_equal(e->ecx & (BIT(2) | BIT(3) | BIT(9) | BIT(16) | BIT(22)), 0);
	/* EDX: FSRM 4 off. */
	assert_int_equal(e->edx & BIT(4), 0);
	/* XSAVE: MPX, AVX-512, PKRU states off; x87, SSE, AVX kept; XSAVEC, XSAVES off. */
	assert_int_equal(leaf(c, 0xd, 0)->eax & 0x2f8, 0);
	assert_int_equal(leaf(c, 0xd, 0)->eax & 0x7, 0x7);
	assert_int_equal(leaf(c, 0xd, 1)->eax & 0xe, 0);
	assert_true(leaf(c, 0xd, 1)->eax & BIT(0));
	/* 1-GByte pages off. */
	assert_int_equal(leaf(c, 0x80000001, 0)->edx & BIT(26), 0);
	/* Flags as the template gives them: leaf 7 and 0xd significant-index, leaf 1 not. */
	assert_int_equal(leaf(c, 7, 0)->flags, SIG);
	assert_int_equal(leaf(c, 1, 0)->flags, 0);
}

static void test_t2(void **state)
{
	struct kvm_cpuid2 *c = applied(CPU_TEMPLATE_T2, false);

	(void)state;
	check_t2_common(c);
	/* PREFETCHW 8 and MONITORX 29 off; LZCNT 5 and SSE4A 6 kept. */
	assert_int_equal(leaf(c, 0x80000001, 0)->ecx, ~(BIT(8) | BIT(29)));
	assert_int_equal(leaf(c, 0x80000008, 0)->ebx, ~BIT(9));
	free(c);
	/* T2S has T2's CPUID, and ARCH_CAPABILITIES whole. */
	c = applied(CPU_TEMPLATE_T2S, false);
	check_t2_common(c);
	assert_int_equal(leaf(c, 0x80000001, 0)->ecx, ~(BIT(8) | BIT(29)));
	free(c);
}

static void test_c3(void **state)
{
	struct kvm_cpuid2 *c = applied(CPU_TEMPLATE_C3, false);
	struct kvm_cpuid_entry2 *e = leaf(c, 1, 0);

	(void)state;
	/* Family 6, model 0x3e, stepping 4. */
	assert_int_equal(e->eax & 0x0fff3fff, 0x000306e4);
	/* FMA 12 and MOVBE 22 off, SMX 6 and EIST 7 kept (T2 is the other way). */
	assert_int_equal(e->ecx & (BIT(12) | BIT(22)), 0);
	assert_int_equal(e->ecx & (BIT(6) | BIT(7)), BIT(6) | BIT(7));
	/* EDX bit 30 is the host's under C3. */
	assert_true(e->edx & BIT(30));
	e = leaf(c, 7, 0);
	/* BMI1, AVX2, BMI2, INVPCID off; ERMS kept (not forced: the host's). */
	assert_int_equal(e->ebx & (BIT(3) | BIT(5) | BIT(8) | BIT(10)), 0);
	assert_true(e->ebx & BIT(9));
	/* LZCNT 5 and PREFETCHW 8 off; no 0x80000008 change. */
	assert_int_equal(leaf(c, 0x80000001, 0)->ecx, ~(BIT(5) | BIT(8)));
	assert_int_equal(leaf(c, 0x80000008, 0)->ebx, ~0u);
	free(c);
}

static void test_t2cl_t2a(void **state)
{
	struct kvm_cpuid2 *c = applied(CPU_TEMPLATE_T2CL, false);

	(void)state;
	check_t2_common(c);
	/* SSE4A 6, MisAlignSse 7, PREFETCHW 8, MONITORX 29 off; MmxExt..1G pages (22-26) off. */
	assert_int_equal(leaf(c, 0x80000001, 0)->ecx, ~(BIT(6) | BIT(7) | BIT(8) | BIT(29)));
	assert_int_equal(leaf(c, 0x80000001, 0)->edx, ~0x07c00000u);
	free(c);

	c = applied(CPU_TEMPLATE_T2A, true);
	check_t2_common(c);
	/* SVM 2 off too; MMX 23 and FXSR 24 kept on AMD. */
	assert_int_equal(leaf(c, 0x80000001, 0)->ecx,
			 ~(BIT(2) | BIT(6) | BIT(7) | BIT(8) | BIT(29)));
	assert_int_equal(leaf(c, 0x80000001, 0)->edx, ~(BIT(22) | BIT(25) | BIT(26)));
	/* CLZERO 0, WBNOINVD 9 off; RstrFpErrPtrs 2, IbrsPreferred 18, IbrsSameMode 19, 20 on. */
	assert_int_equal(leaf(c, 0x80000008, 0)->ebx, ~(BIT(0) | BIT(9)));
	free(c);
	/* On a host with those bits clear, T2A sets exactly its four. */
	c = host_table(true);
	leaf(c, 0x80000008, 0)->ebx = 0;
	assert_int_equal(cpu_template_apply_cpuid(c, cpu_template_static(CPU_TEMPLATE_T2A), &err),
			 0);
	assert_int_equal(leaf(c, 0x80000008, 0)->ebx, BIT(2) | BIT(18) | BIT(19) | BIT(20));
	free(c);
}

static void test_msrs(void **state)
{
	const struct cpu_template *t;

	(void)state;
	assert_int_equal(cpu_template_static(CPU_TEMPLATE_T2)->nmsrs, 0);
	assert_int_equal(cpu_template_static(CPU_TEMPLATE_C3)->nmsrs, 0);
	assert_int_equal(cpu_template_static(CPU_TEMPLATE_T2A)->nmsrs, 0);
	assert_null(cpu_template_static(CPU_TEMPLATE_NONE));
	/*
	 * T2S: IA32_ARCH_CAPABILITIES (0x10a) is RSBA 2, SKIP_L1DFL_VMENTRY 3,
	 * IF_PSCHANGE_MC_NO 6, MISC_PACKAGE_CTLS 10, ENERGY_FILTERING_CTL 11,
	 * RRSBA 19, GDS_NO 26, whatever the host had.
	 */
	t = cpu_template_static(CPU_TEMPLATE_T2S);
	assert_int_equal(t->nmsrs, 1);
	assert_int_equal(t->msrs[0].addr, 0x10a);
	assert_int_equal(cpu_template_msr_value(&t->msrs[0], ~0ull),
			 (1ull << 2) | (1ull << 3) | (1ull << 6) | (1ull << 10) | (1ull << 11) |
			 (1ull << 19) | (1ull << 26));
	assert_int_equal(cpu_template_msr_value(&t->msrs[0], 0),
			 cpu_template_msr_value(&t->msrs[0], ~0ull));
	/*
	 * T2CL keeps the mitigation bits KVM passes through (RDCL_NO 0 ..
	 * TAA_NO 8, SBDR_SSDP_NO 13, FBSDP_NO 14, PSDP_NO 15, FB_CLEAR 17,
	 * RRSBA 19, PBRSB_NO 24, GDS_NO 26, RFDS_NO 27, RFDS_CLEAR 28) and
	 * clears the rest (MCU_CONTROL 9 .. DOITM 12, FB_CLEAR_CTRL 18,
	 * BHI_NO 20, 21, 23, GDS_CTRL 25, 29 and up).
	 */
	t = cpu_template_static(CPU_TEMPLATE_T2CL);
	assert_int_equal(t->msrs[0].addr, 0x10a);
	assert_int_equal(cpu_template_msr_value(&t->msrs[0], ~0ull),
			 0x1ffull | (1ull << 13) | (1ull << 14) | (1ull << 15) | (1ull << 17) |
			 (1ull << 19) | (1ull << 24) | (1ull << 26) | (1ull << 27) | (1ull << 28));
}

/* Firecracker's vendor rule, and T2CL's Cascade Lake floor. */
static void test_host_rules(void **state)
{
	/* Cascade Lake: family 6, model 0x55, stepping 7; Skylake-SP stepping 4. */
	const uint32_t clx = 0x00050657, skx = 0x00050654, icx = 0x000606a6, milan = 0x00a00f11;

	(void)state;
	for (int id = CPU_TEMPLATE_C3; id <= CPU_TEMPLATE_T2CL; id++) {
		assert_int_equal(cpu_template_check_host(id, CPU_VENDOR_AMD, milan, &err), -EINVAL);
		assert_string_equal(err.msg, "CPU vendor mismatched between actual CPU and CPU "
				    "template.");
		assert_int_equal(cpu_template_check_host(id, CPU_VENDOR_INTEL, icx, &err), 0);
	}
	assert_int_equal(cpu_template_check_host(CPU_TEMPLATE_T2A, CPU_VENDOR_INTEL, clx, &err),
			 -EINVAL);
	assert_string_equal(err.msg, CPU_TEMPLATE_VENDOR_MISMATCH);
	assert_int_equal(cpu_template_check_host(CPU_TEMPLATE_T2A, CPU_VENDOR_OTHER, 0, &err),
			 -EINVAL);
	assert_int_equal(cpu_template_check_host(CPU_TEMPLATE_T2A, CPU_VENDOR_AMD, milan, &err), 0);
	assert_int_equal(cpu_template_check_host(CPU_TEMPLATE_T2CL, CPU_VENDOR_INTEL, clx, &err), 0);
	assert_int_equal(cpu_template_check_host(CPU_TEMPLATE_T2CL, CPU_VENDOR_INTEL, skx, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "The current CPU model is not permitted to apply the CPU "
			    "template.");
	assert_int_equal(cpu_template_check_host(CPU_TEMPLATE_T2S, CPU_VENDOR_INTEL, skx, &err), 0);
	assert_int_equal(cpu_template_check_host(CPU_TEMPLATE_NONE, CPU_VENDOR_OTHER, 0, &err), 0);
}

static void test_names(void **state)
{
	enum cpu_template_id id;

	(void)state;
	assert_int_equal(cpu_template_parse("T2CL", &id), 0);
	assert_int_equal(id, CPU_TEMPLATE_T2CL);
	assert_int_equal(cpu_template_parse("None", &id), 0);
	assert_int_equal(id, CPU_TEMPLATE_NONE);
	assert_int_equal(cpu_template_parse("t2", &id), -EINVAL);
	assert_int_equal(cpu_template_parse("", &id), -EINVAL);
	assert_string_equal(cpu_template_name(CPU_TEMPLATE_T2A), "T2A");
}

static struct cpu_template_custom *parse(const char *text, int want)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	struct cpu_template_custom *t = NULL;

	assert_non_null(o);
	memset(&err, 0, sizeof(err));
	assert_int_equal(config_json_cpu_parse(o, &t, &err), want);
	json_decref(o);
	if (want)
		assert_null(t);
	return t;
}

static void expect_err(const char *needle)
{
	if (!strstr(err.msg, needle))
		fail_msg("'%s' not in '%s'", needle, err.msg);
}

static void test_custom_good(void **state)
{
	struct cpu_template_custom *t;
	struct kvm_cpuid2 *c;
	json_t *j;
	char *s;

	(void)state;
	t = parse("{\"kvm_capabilities\": [\"171\", \"!172\"],"
		  " \"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0,"
		  "   \"modifiers\": [{\"register\": \"ecx\", \"bitmap\": \"0bx00100xxx1xxxxxxxxxxxxxxxxxxxxx1\"},"
		  "                   {\"register\": \"eax\", \"bitmap\": \"0b1_0xx\"}]},"
		  "  {\"leaf\": \"0b111\", \"subleaf\": \"0x0\", \"flags\": 1, \"modifiers\": []}],"
		  " \"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b1x0\"}]}", 0);
	assert_int_equal(t->t.ncaps, 2);
	assert_int_equal(t->caps[0].cap, 171);
	assert_false(t->caps[0].remove);
	assert_true(t->caps[1].remove);
	assert_int_equal(t->t.ncpuid, 2);
	assert_int_equal(t->cpuid[0].leaf, 1);
	assert_int_equal(t->cpuid[1].leaf, 7);
	assert_int_equal(t->cpuid[1].flags, 1);
	assert_int_equal(t->cpuid[0].nmods, 2);
	assert_int_equal(t->cpuid[0].mods[0].reg, CPU_REG_ECX);
	/* x00100xxx1 then 22 x and a 1: bits 30..0 as written from the right. */
	assert_int_equal(t->cpuid[0].mods[0].filter, 0x7c400001u);
	assert_int_equal(t->cpuid[0].mods[0].value, 0x10400001u);
	assert_int_equal(t->cpuid[0].mods[1].filter, 0xcu);
	assert_int_equal(t->cpuid[0].mods[1].value, 0x8u);
	assert_int_equal(t->t.nmsrs, 1);
	assert_int_equal(t->msrs[0].addr, 0x10a);
	assert_int_equal(t->msrs[0].filter, 0x5);
	assert_int_equal(t->msrs[0].value, 0x4);

	/* Applied to a host table: leaf 1 ECX and EAX as the bitmaps say. */
	c = host_table(false);
	assert_int_equal(cpu_template_apply_cpuid(c, &t->t, &err), 0);
	assert_int_equal(leaf(c, 1, 0)->ecx, (~0x7c400001u) | 0x10400001u);
	assert_int_equal(leaf(c, 1, 0)->eax, ~0x4u);
	free(c);

	/* Dumped as Firecracker serializes it, and read back the same. */
	j = config_json_cpu_dump(&t->t);
	assert_non_null(j);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(s, "\"leaf\":\"0x1\""));
	assert_non_null(strstr(s, "\"bitmap\":\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxx10xx\""));
	assert_non_null(strstr(s, "\"addr\":\"0x10a\""));
	assert_non_null(strstr(s, "\"kvm_capabilities\":[\"171\",\"!172\"]"));
	{
		struct cpu_template_custom *back = parse(s, 0);

		assert_memory_equal(back->cpuid, t->cpuid, sizeof(t->cpuid));
		assert_memory_equal(back->msrs, t->msrs, sizeof(t->msrs));
		assert_memory_equal(back->caps, t->caps, sizeof(t->caps));
		free(back);
	}
	free(s);
	json_decref(j);
	free(t);
	/* Everything optional at the top: {} is the empty template. */
	t = parse("{}", 0);
	assert_int_equal(t->t.ncpuid + t->t.nmsrs + t->t.ncaps, 0);
	free(t);
}

/* A modifier for a leaf the host's KVM does not list: Firecracker's words, nothing changed. */
static void test_custom_missing_leaf(void **state)
{
	struct cpu_template_custom *t = parse("{\"cpuid_modifiers\": ["
		"{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": "
		"[{\"register\": \"eax\", \"bitmap\": \"0b0\"}]},"
		"{\"leaf\": \"0x12345\", \"subleaf\": \"0x3\", \"flags\": 0, \"modifiers\": []}]}", 0);
	struct kvm_cpuid2 *c = host_table(false);

	(void)state;
	assert_int_equal(cpu_template_apply_cpuid(c, &t->t, &err), -EINVAL);
	assert_string_equal(err.msg, "Template changes a CPUID entry not supported by KVM: Leaf: "
			    "0x12345, Subleaf: 0x3");
	assert_int_equal(leaf(c, 1, 0)->eax, ~0u);
	free(c);
	free(t);
}

static void test_custom_hostile(void **state)
{
	char *big;
	size_t n, off;

	(void)state;
	parse("{\"cpuid_modifier\": []}", -EINVAL);
	expect_err("cpu-config: unknown field `cpuid_modifier`, expected one of "
		   "`kvm_capabilities`, `cpuid_modifiers`, `msr_modifiers`");
	parse("{\"cpuid_modifiers\": {}}", -EINVAL);
	expect_err("invalid type: map, expected a sequence");
	parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0,"
	      " \"modifiers\": [{\"register\": \"ekx\", \"bitmap\": \"0b1\"}]}]}", -EINVAL);
	expect_err("cpuid_modifiers[0].modifiers[0].register 'ekx': Invalid CPUID register. Must "
		   "be one of [eax, ebx, ecx, edx]");
	/* 33 bits for a 32-bit register. */
	parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0,"
	      " \"modifiers\": [{\"register\": \"eax\", \"bitmap\": "
	      "\"0b100000000000000000000000000000000\"}]}]}", -EINVAL);
	expect_err("has more than 32 bits");
	/* 32 bits and underscores: fine. */
	free(parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0,"
		   " \"modifiers\": [{\"register\": \"eax\", \"bitmap\": "
		   "\"0b1000_0000_0000_0000_0000_0000_0000_000x\"}]}]}", 0));
	parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0,"
	      " \"modifiers\": [{\"register\": \"eax\", \"bitmap\": \"0b10y\"}]}]}", -EINVAL);
	expect_err("is not a bitmap");
	parse("{\"cpuid_modifiers\": [{\"leaf\": \"1\", \"subleaf\": \"0x0\", \"flags\": 0,"
	      " \"modifiers\": []}]}", -EINVAL);
	expect_err("No supported number system prefix found");
	parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x100000000\", \"subleaf\": \"0x0\","
	      " \"flags\": 0, \"modifiers\": []}]}", -EINVAL);
	expect_err("does not fit in 32 bits");
	parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x\", \"subleaf\": \"0x0\", \"flags\": 0,"
	      " \"modifiers\": []}]}", -EINVAL);
	expect_err("is not a number");
	parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0}]}",
	      -EINVAL);
	expect_err("missing field `modifiers`");
	parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": -1,"
	      " \"modifiers\": []}]}", -EINVAL);
	expect_err("invalid value: integer `-1`, expected u32");
	parse("{\"cpuid_modifiers\": [7]}", -EINVAL);
	expect_err("cpuid_modifiers[0]: want a JSON object");
	parse("{\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b1\", \"extra\": 1}]}",
	      -EINVAL);
	expect_err("msr_modifiers[0]: cpu-config: unknown field `extra`, expected `addr` or `bitmap`");
	/* 65 bits for an MSR. */
	parse("{\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b1"
	      "0000000000000000000000000000000000000000000000000000000000000000\"}]}", -EINVAL);
	expect_err("has more than 64 bits");
	parse("{\"kvm_capabilities\": [\"12a\"]}", -EINVAL);
	expect_err("kvm_capabilities[0] '12a' is not a kvm capability");
	parse("{\"kvm_capabilities\": [\"!\"]}", -EINVAL);
	expect_err("is not a kvm capability");
	parse("{\"kvm_capabilities\": [\"99999999999\"]}", -EINVAL);
	parse("{\"kvm_capabilities\": [3]}", -EINVAL);
	expect_err("kvm_capabilities[0] must be a string");

	/* Too many entries: bounded, refused before anything is parsed. */
	n = 64 + 40 * (CPU_TEMPLATE_MAX_LEAVES + 1);
	big = malloc(n);
	assert_non_null(big);
	off = (size_t)snprintf(big, n, "{\"cpuid_modifiers\": [");
	for (int i = 0; i <= CPU_TEMPLATE_MAX_LEAVES; i++)
		off += (size_t)snprintf(big + off, n - off, "%s{\"leaf\": \"0x%x\"}", i ? "," : "", i);
	snprintf(big + off, n - off, "]}");
	parse(big, -EINVAL);
	expect_err("cpuid_modifiers has 129 entries, at most 128");
	free(big);
	parse("{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0,"
	      " \"modifiers\": [{}, {}, {}, {}, {}, {}, {}, {}, {}]}]}", -EINVAL);
	expect_err("modifiers has 9 entries, at most 8");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_t2),
		cmocka_unit_test(test_c3),
		cmocka_unit_test(test_t2cl_t2a),
		cmocka_unit_test(test_msrs),
		cmocka_unit_test(test_host_rules),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_custom_good),
		cmocka_unit_test(test_custom_missing_leaf),
		cmocka_unit_test(test_custom_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
