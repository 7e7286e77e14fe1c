/*
 * CPU templates, Firecracker's: modifiers of the CPUID a guest sees and
 * of some MSRs, each a filter (the bits the template decides) and their
 * values, applied as (host & ~filter) | value before the per-vCPU
 * topology (cpuid.h). The static ones (C3, T2, T2S, T2CL for Intel
 * hosts, T2A for AMD) are tables here, written from the specification
 * Firecracker's static_cpu_templates express; a custom one comes from
 * PUT /cpu-config (vmm/config_json_cpu.c). The CPUID part is pure and
 * unit tested; the MSR part runs on a vCPU's fd.
 */
#ifndef HEARTH_VCPU_CPU_TEMPLATE_H
#define HEARTH_VCPU_CPU_TEMPLATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"
#include "vcpu/cpuid.h"

/* A custom template's bounds (a hostile body is refused past them). */
#define CPU_TEMPLATE_MAX_LEAVES 128
#define CPU_TEMPLATE_MAX_REG_MODS 8
#define CPU_TEMPLATE_MAX_MSRS 64
#define CPU_TEMPLATE_MAX_CAPS 64

/* Firecracker's "CPU vendor mismatched ..." and its pair, word for word. */
#define CPU_TEMPLATE_VENDOR_MISMATCH "CPU vendor mismatched between actual CPU and CPU template."
#define CPU_TEMPLATE_BAD_MODEL "The current CPU model is not permitted to apply the CPU template."

enum cpu_template_id {
	CPU_TEMPLATE_NONE,
	CPU_TEMPLATE_C3,
	CPU_TEMPLATE_T2,
	CPU_TEMPLATE_T2S,
	CPU_TEMPLATE_T2CL,
	CPU_TEMPLATE_T2A,
	CPU_TEMPLATE_COUNT
};

enum cpu_reg { CPU_REG_EAX, CPU_REG_EBX, CPU_REG_ECX, CPU_REG_EDX };

struct cpu_reg_mod {
	enum cpu_reg reg;
	uint32_t filter, value;
};

struct cpu_leaf_mod {
	uint32_t leaf, subleaf;
	uint32_t flags;           /* KVM's entry flags, set as given (1: significant index) */
	unsigned int nmods;
	struct cpu_reg_mod mods[CPU_TEMPLATE_MAX_REG_MODS];
};

struct cpu_msr_mod {
	uint32_t addr;
	uint64_t filter, value;
};

/* kvm_capabilities: "N" adds N to the capabilities checked, "!N" takes it out. */
struct cpu_kvm_cap {
	uint32_t cap;
	bool remove;
};

struct cpu_template {
	const struct cpu_leaf_mod *cpuid;
	unsigned int ncpuid;
	const struct cpu_msr_mod *msrs;
	unsigned int nmsrs;
	const struct cpu_kvm_cap *caps;
	unsigned int ncaps;
};

/* A custom template and its storage, one allocation (free() it). */
struct cpu_template_custom {
	struct cpu_template t;
	struct cpu_leaf_mod cpuid[CPU_TEMPLATE_MAX_LEAVES];
	struct cpu_msr_mod msrs[CPU_TEMPLATE_MAX_MSRS];
	struct cpu_kvm_cap caps[CPU_TEMPLATE_MAX_CAPS];
};

/* "None", "C3", "T2", "T2S", "T2CL", "T2A". */
const char *cpu_template_name(enum cpu_template_id id);
/* By Firecracker's name, exactly; -EINVAL for any other. */
int cpu_template_parse(const char *name, enum cpu_template_id *out);
/* The static template's table; NULL for CPU_TEMPLATE_NONE. */
const struct cpu_template *cpu_template_static(enum cpu_template_id id);

/*
 * Whether a host whose CPUID leaves 0 and 1 say vendor and
 * family/model/stepping fms (leaf 1 EAX) may take the static template:
 * its vendor, and T2CL at least Cascade Lake, as Firecracker requires.
 * 0, or -EINVAL with Firecracker's words in err.
 */
int cpu_template_check_host(enum cpu_template_id id, enum cpu_vendor vendor, uint32_t fms,
			    struct err *err);
/* cpu_template_check_host against this CPU's own CPUID instruction. */
int cpu_template_check_this_host(enum cpu_template_id id, struct err *err);

/*
 * Applies t's CPUID modifiers to a table: each names a leaf and subleaf
 * the table must have (Firecracker's "Template changes a CPUID entry not
 * supported by KVM: ..." otherwise, and c as it was). Pure.
 */
int cpu_template_apply_cpuid(struct kvm_cpuid2 *c, const struct cpu_template *t,
			     struct err *err);
/* An MSR's value under a modifier. */
uint64_t cpu_template_msr_value(const struct cpu_msr_mod *m, uint64_t old);
/*
 * Reads each MSR t modifies from the vCPU (KVM's initial value), applies
 * the modifier and writes it back. An MSR KVM cannot read is
 * Firecracker's "Template changes an MSR entry not supported by KVM",
 * one it refuses to take names the value.
 */
int cpu_template_apply_msrs(int vcpu_fd, const struct cpu_template *t, struct err *err);

#endif
