#include "vcpu/cpu_template.h"

#include <cpuid.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static const char *const names[CPU_TEMPLATE_COUNT] = {
	[CPU_TEMPLATE_NONE] = "None", [CPU_TEMPLATE_C3] = "C3", [CPU_TEMPLATE_T2] = "T2",
	[CPU_TEMPLATE_T2S] = "T2S", [CPU_TEMPLATE_T2CL] = "T2CL", [CPU_TEMPLATE_T2A] = "T2A",
};

const char *cpu_template_name(enum cpu_template_id id)
{
	return id < CPU_TEMPLATE_COUNT ? names[id] : "None";
}

int cpu_template_parse(const char *name, enum cpu_template_id *out)
{
	for (int i = 0; i < CPU_TEMPLATE_COUNT; i++)
		if (name && !strcmp(name, names[i])) {
			*out = (enum cpu_template_id)i;
			return 0;
		}
	return -EINVAL;
}

/* Family, model and stepping as Firecracker's CpuModel compares them (display family and model). */
static bool at_least_cascade_lake(uint32_t fms)
{
	uint32_t family = (fms >> 8) & 0xf, model = (fms >> 4) & 0xf, stepping = fms & 0xf;

	if (family == 0xf)
		family += (fms >> 20) & 0xff;
	if (family == 0x6 || family >= 0xf)
		model |= ((fms >> 16) & 0xf) << 4;
	if (family != 0x6)
		return family > 0x6;
	return model > 0x55 || (model == 0x55 && stepping >= 7);
}

int cpu_template_check_host(enum cpu_template_id id, enum cpu_vendor vendor, uint32_t fms,
			    struct err *err)
{
	enum cpu_vendor want = id == CPU_TEMPLATE_T2A ? CPU_VENDOR_AMD : CPU_VENDOR_INTEL;

	if (id == CPU_TEMPLATE_NONE)
		return 0;
	if (vendor != want)
		return err_set(err, true, -EINVAL, CPU_TEMPLATE_VENDOR_MISMATCH);
	if (id == CPU_TEMPLATE_T2CL && !at_least_cascade_lake(fms))
		return err_set(err, true, -EINVAL, CPU_TEMPLATE_BAD_MODEL);
	return 0;
}

int cpu_template_check_this_host(enum cpu_template_id id, struct err *err)
{
	unsigned int a = 0, b = 0, c = 0, d = 0;
	enum cpu_vendor vendor = CPU_VENDOR_OTHER;
	char v[12];

	__cpuid(0, a, b, c, d);
	memcpy(v, &b, 4);
	memcpy(v + 4, &d, 4);
	memcpy(v + 8, &c, 4);
	if (!memcmp(v, "GenuineIntel", 12))
		vendor = CPU_VENDOR_INTEL;
	else if (!memcmp(v, "AuthenticAMD", 12))
		vendor = CPU_VENDOR_AMD;
	__cpuid(1, a, b, c, d);
	return cpu_template_check_host(id, vendor, a, err);
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, enum cpu_reg r)
{
	switch (r) {
	case CPU_REG_EAX:
		return &e->eax;
	case CPU_REG_EBX:
		return &e->ebx;
	case CPU_REG_ECX:
		return &e->ecx;
	case CPU_REG_EDX:
		break;
	}
	return &e->edx;
}

/* Firecracker's key: the leaf and subleaf, whatever the entry's flags say. */
static struct kvm_cpuid_entry2 *find_exact(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t subleaf)
{
	for (unsigned int i = 0; i < c->nent; i++)
		if (c->entries[i].function == leaf && c->entries[i].index == subleaf)
			return &c->entries[i];
	return NULL;
}

int cpu_template_apply_cpuid(struct kvm_cpuid2 *c, const struct cpu_template *t,
			     struct err *err)
{
	/* Every leaf is there first, so a refused template changes nothing. */
	for (unsigned int i = 0; i < t->ncpuid; i++)
		if (!find_exact(c, t->cpuid[i].leaf, t->cpuid[i].subleaf))
			return err_set(err, true, -EINVAL, "Template changes a CPUID entry not "
				       "supported by KVM: Leaf: 0x%" PRIx32 ", Subleaf: 0x%" PRIx32,
				       t->cpuid[i].leaf, t->cpuid[i].subleaf);
	for (unsigned int i = 0; i < t->ncpuid; i++) {
		const struct cpu_leaf_mod *m = &t->cpuid[i];
		struct kvm_cpuid_entry2 *e = find_exact(c, m->leaf, m->subleaf);

		e->flags = m->flags;
		for (unsigned int j = 0; j < m->nmods && j < CPU_TEMPLATE_MAX_REG_MODS; j++) {
			uint32_t *r = reg_of(e, m->mods[j].reg);

			*r = (*r & ~m->mods[j].filter) | (m->mods[j].value & m->mods[j].filter);
		}
	}
	return 0;
}

uint64_t cpu_template_msr_value(const struct cpu_msr_mod *m, uint64_t old)
{
	return (old & ~m->filter) | (m->value & m->filter);
}

int cpu_template_apply_msrs(int vcpu_fd, const struct cpu_template *t, struct err *err)
{
	/* One entry after the header; a flexible array may not sit inside a struct (clang). */
	struct kvm_msrs *m = calloc(1, sizeof(*m) + sizeof(m->entries[0]));
	int ret = 0;

	if (!m)
		return err_set(err, false, -ENOMEM, "CPU template: out of memory");
	for (unsigned int i = 0; !ret && i < t->nmsrs; i++) {
		const struct cpu_msr_mod *mod = &t->msrs[i];

		memset(m, 0, sizeof(*m) + sizeof(m->entries[0]));
		m->nmsrs = 1;
		m->entries[0].index = mod->addr;
		if (ioctl(vcpu_fd, KVM_GET_MSRS, m) != 1) {
			ret = err_set(err, true, -EINVAL, "Template changes an MSR entry not "
				      "supported by KVM: Register Address: 0x%" PRIx32, mod->addr);
			break;
		}
		m->entries[0].data = cpu_template_msr_value(mod, m->entries[0].data);
		if (ioctl(vcpu_fd, KVM_SET_MSRS, m) != 1)
			ret = err_set(err, true, -EINVAL, "KVM refused MSR 0x%" PRIx32 " = 0x%"
				      PRIx64 " of the CPU template", mod->addr,
				      (uint64_t)m->entries[0].data);
	}
	free(m);
	return ret;
}
