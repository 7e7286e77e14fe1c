#include "vmm/vm_cpu.h"

#include <errno.h>
#include <string.h>

#include "core/kvm.h"
#include "vcpu/cpuid.h"

const struct cpu_template *vm_cpu_template(const struct vm_config *cfg)
{
	if (cfg->cpu_config)
		return &cfg->cpu_config->t;
	return cpu_template_static(cfg->machine.cpu_template);
}

/*
 * Firecracker checks the capabilities a custom template adds on top of
 * its own; Hearth checks its own set where it uses them, so a removal
 * ("!N") changes nothing and an addition must be there.
 */
static int vm_cpu_check_caps(struct vm *vm, const struct cpu_template *t, struct err *err)
{
	for (unsigned int i = 0; i < t->ncaps; i++)
		if (!t->caps[i].remove && kvm_check_extension(vm->kvm.fd, t->caps[i].cap) <= 0)
			return err_set(err, true, -EINVAL, "Missing KVM capabilities: %u",
				       t->caps[i].cap);
	return 0;
}

int vm_cpu_prepare(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	const struct cpu_template *t = vm_cpu_template(cfg);
	struct kvm_cpuid2 *c = NULL;
	int ret;

	ret = cpuid_get_supported(vm->kvm.fd, &c);
	if (ret)
		return err_set(err, false, ret, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
	vm->cpuid = c;
	if (!t)
		return 0;
	/* The host as KVM shows it: its vendor, family and model pass through. */
	if (!cfg->cpu_config) {
		struct kvm_cpuid_entry2 *l1 = cpuid_find(c, 1, 0);

		ret = cpu_template_check_host(cfg->machine.cpu_template, cpuid_vendor(c),
					      l1 ? l1->eax : 0, err);
		if (ret)
			return err_prefix(err, ret, "Failed to get CPU template: ");
	}
	ret = vm_cpu_check_caps(vm, t, err);
	if (!ret)
		ret = cpu_template_apply_cpuid(c, t, err);
	return ret;
}

int vm_cpu_vcpu(struct vcpu *v, const struct vm_config *cfg, struct err *err)
{
	const struct cpu_template *t = vm_cpu_template(cfg);

	return t ? cpu_template_apply_msrs(v->fd, t, err) : 0;
}
