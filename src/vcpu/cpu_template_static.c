/*
 * The static CPU templates' tables. Each row is one register of one leaf:
 * the bits the template decides (filter) and what it makes them (value);
 * the comment names those bits. They express the specification of
 * Firecracker's static templates (AWS C3 and T2 instances, T2S for
 * Skylake/Cascade Lake migration, T2CL and T2A for parity between Cascade
 * Lake and Milan); the bit values are facts of that specification, the
 * table is Hearth's own.
 */
#include "vcpu/cpu_template.h"

#include <stddef.h>

#define A CPU_REG_EAX
#define B CPU_REG_EBX
#define C CPU_REG_ECX
#define D CPU_REG_EDX
#define SIG 1u   /* KVM_CPUID_FLAG_SIGNIFCANT_INDEX */
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Leaf 1 EAX: family 6, model 0x3f (Haswell) stepping 2; the processor type cleared. */
#define T2_SIGNATURE { A, 0x0fff3fffu, 0x000306f2u }
/* Leaf 1 EDX: PSN, DS, ACPI, SS, TM, IA-64, PBE off; MCE and MTRR on. */
#define T2_LEAF1_EDX { D, 0xe8641080u, 0x00001080u }
/*
 * Leaf 1 ECX: DTES64, MONITOR, DS-CPL, VMX, SMX, EIST, TM2, CNXT-ID, SDBG,
 * xTPR, PDCM, DCA off.
 */
#define T2_LEAF1_ECX { C, 0x0004cdfcu, 0 }
/*
 * Leaf 7 EBX: ERMS on; SGX, HLE, RTM, RDT-M, MPX, RDT-A, the AVX-512
 * family, RDSEED, ADX, PCOMMIT, CLFLUSHOPT, CLWB, PT, SHA off.
 */
#define T2_LEAF7_EBX { B, 0xffefda14u, 0x00000200u }
/*
 * Leaf 7 ECX: AVX512_VBMI, UMIP, PKU, OSPKE, AVX512_VBMI2, GFNI, VAES,
 * VPCLMULQDQ, AVX512_VNNI, AVX512_BITALG, AVX512_VPOPCNTDQ, LA57, RDPID,
 * SGX_LC off.
 */
#define T2_LEAF7_ECX { C, 0x40415f5eu, 0 }
/* Leaf 7 EDX: AVX512_4VNNIW, AVX512_4FMAPS, FSRM, AVX512_VP2INTERSECT off. */
#define T2_LEAF7_EDX { D, 0x0000011cu, 0 }
/* Leaf 0xd.0 EAX: the MPX, AVX-512 and PKRU state components off. */
#define XSAVE_STATES { A, 0x000002f8u, 0 }
/* Leaf 0xd.1 EAX: XSAVEC, XGETBV with ECX=1, XSAVES off. */
#define XSAVE_EXT { A, 0x0000000eu, 0 }
/* 0x80000001 EDX: 1-GByte pages off. */
#define NO_1G_PAGES { D, 0x04000000u, 0 }
/* 0x80000008 EBX: WBNOINVD off. */
#define NO_WBNOINVD { B, 0x00000200u, 0 }

static const struct cpu_leaf_mod c3_cpuid[] = {
	{ 0x1, 0, 0, 3, {
		/* Family 6, model 0x3e (Ivy Bridge) stepping 4. */
		{ A, 0x0fff3fffu, 0x000306e4u },
		/* DTES64, MONITOR, DS-CPL, VMX, TM2, CNXT-ID, SDBG, FMA, xTPR, PDCM, MOVBE off. */
		{ C, 0x0040dd3cu, 0 },
		/* PSN, DS, ACPI, SS, TM, PBE off; MCE and MTRR on. */
		{ D, 0xa8641080u, 0x00001080u } } },
	{ 0x7, 0, SIG, 3, {
		/*
		 * SGX, BMI1, HLE, AVX2, BMI2, INVPCID, RTM, RDT-M, MPX, RDT-A,
		 * the AVX-512 family, RDSEED, ADX, CLFLUSHOPT, CLWB, PT, SHA off.
		 */
		{ B, 0xffafdd3cu, 0 },
		/* AVX512_VBMI, UMIP, PKU, OSPKE, AVX512_VNNI, AVX512_VPOPCNTDQ, LA57, RDPID, SGX_LC off. */
		{ C, 0x4041481eu, 0 },
		/* AVX512_4VNNIW, AVX512_4FMAPS off. */
		{ D, 0x0000000cu, 0 } } },
	{ 0xd, 0, SIG, 1, { XSAVE_STATES } },
	{ 0xd, 1, SIG, 1, { XSAVE_EXT } },
	/* LZCNT, PREFETCHW off; 1-GByte pages off. */
	{ 0x80000001, 0, 0, 2, { { C, 0x00000120u, 0 }, NO_1G_PAGES } },
};

static const struct cpu_leaf_mod t2_cpuid[] = {
	{ 0x1, 0, 0, 3, { T2_SIGNATURE, T2_LEAF1_ECX, T2_LEAF1_EDX } },
	{ 0x7, 0, SIG, 3, { T2_LEAF7_EBX, T2_LEAF7_ECX, T2_LEAF7_EDX } },
	{ 0xd, 0, SIG, 1, { XSAVE_STATES } },
	{ 0xd, 1, SIG, 1, { XSAVE_EXT } },
	/* PREFETCHW, MONITORX off; 1-GByte pages off. */
	{ 0x80000001, 0, 0, 2, { { C, 0x20000100u, 0 }, NO_1G_PAGES } },
	{ 0x80000008, 0, 0, 1, { NO_WBNOINVD } },
};

static const struct cpu_leaf_mod t2cl_cpuid[] = {
	{ 0x1, 0, 0, 3, { T2_SIGNATURE, T2_LEAF1_ECX, T2_LEAF1_EDX } },
	{ 0x7, 0, SIG, 3, { T2_LEAF7_EBX, T2_LEAF7_ECX, T2_LEAF7_EDX } },
	{ 0xd, 0, SIG, 1, { XSAVE_STATES } },
	{ 0xd, 1, SIG, 1, { XSAVE_EXT } },
	/*
	 * ECX: SSE4A, MisAlignSse, PREFETCHW, MONITORX off; EDX: MmxExt, MMX,
	 * FXSR, FFXSR, 1-GByte pages off (the bits T2A's AMD host must drop too).
	 */
	{ 0x80000001, 0, 0, 2, { { C, 0x200001c0u, 0 }, { D, 0x07c00000u, 0 } } },
	{ 0x80000008, 0, 0, 1, { NO_WBNOINVD } },
};

static const struct cpu_leaf_mod t2a_cpuid[] = {
	{ 0x1, 0, 0, 3, { T2_SIGNATURE, T2_LEAF1_ECX, T2_LEAF1_EDX } },
	{ 0x7, 0, SIG, 3, { T2_LEAF7_EBX, T2_LEAF7_ECX, T2_LEAF7_EDX } },
	{ 0xd, 0, SIG, 1, { XSAVE_STATES } },
	{ 0xd, 1, SIG, 1, { XSAVE_EXT } },
	/*
	 * ECX: SVM, SSE4A, MisAlignSse, 3DNowPrefetch, MONITORX off; EDX:
	 * MmxExt, FFXSR, 1-GByte pages off.
	 */
	{ 0x80000001, 0, 0, 2, { { C, 0x200001c4u, 0 }, { D, 0x06400000u, 0 } } },
	/*
	 * EBX: CLZERO and WBNOINVD off; RstrFpErrPtrs, IbrsPreferred,
	 * IbrsSameMode and EferLmsleUnsupported on.
	 */
	{ 0x80000008, 0, 0, 1, { { B, 0x001c0205u, 0x001c0004u } } },
};

#define MSR_IA32_ARCH_CAPABILITIES 0x10au

/*
 * T2S: IA32_ARCH_CAPABILITIES whole, as the most vulnerable host of a
 * Skylake/Cascade Lake pool shows it: RSBA, SKIP_L1DFL_VMENTRY,
 * IF_PSCHANGE_MC_NO, MISC_PACKAGE_CTLS, ENERGY_FILTERING_CTL, RRSBA and
 * GDS_NO set, every other bit clear.
 */
static const struct cpu_msr_mod t2s_msrs[] = {
	{ MSR_IA32_ARCH_CAPABILITIES, ~0ull, 0x04080c4cull },
};

/*
 * T2CL: the mitigation bits KVM passes through are kept (RDCL_NO,
 * IBRS_ALL, RSBA, SKIP_L1DFL_VMENTRY, SSB_NO, MDS_NO, IF_PSCHANGE_MC_NO,
 * TSX_CTRL, TAA_NO, SBDR_SSDP_NO, FBSDP_NO, PSDP_NO, FB_CLEAR, RRSBA,
 * PBRSB_NO, GDS_NO, RFDS_NO, RFDS_CLEAR); the rest (MCU_CONTROL,
 * MISC_PACKAGE_CTLS, ENERGY_FILTERING_CTL, DOITM, FB_CLEAR_CTRL, BHI_NO,
 * XAPIC_DISABLE_STATUS, OVERCLOCKING_STATUS, GDS_CTRL, the reserved bits)
 * clear.
 */
static const struct cpu_msr_mod t2cl_msrs[] = {
	{ MSR_IA32_ARCH_CAPABILITIES, 0xffffffffe2f51e00ull, 0 },
};

static const struct cpu_template statics[CPU_TEMPLATE_COUNT] = {
	[CPU_TEMPLATE_C3] = { c3_cpuid, N(c3_cpuid), NULL, 0, NULL, 0 },
	[CPU_TEMPLATE_T2] = { t2_cpuid, N(t2_cpuid), NULL, 0, NULL, 0 },
	/* T2S's CPUID is T2's. */
	[CPU_TEMPLATE_T2S] = { t2_cpuid, N(t2_cpuid), t2s_msrs, N(t2s_msrs), NULL, 0 },
	[CPU_TEMPLATE_T2CL] = { t2cl_cpuid, N(t2cl_cpuid), t2cl_msrs, N(t2cl_msrs), NULL, 0 },
	[CPU_TEMPLATE_T2A] = { t2a_cpuid, N(t2a_cpuid), NULL, 0, NULL, 0 },
};

const struct cpu_template *cpu_template_static(enum cpu_template_id id)
{
	if (id <= CPU_TEMPLATE_NONE || id >= CPU_TEMPLATE_COUNT)
		return NULL;
	return &statics[id];
}
