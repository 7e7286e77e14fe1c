/*
 * The VM's CPUs as the machine model asks: KVM's supported CPUID with the
 * CPU template applied (static or custom, checked against this host as
 * Firecracker checks it at InstanceStart), the template's KVM
 * capabilities, and per vCPU the template's MSRs.
 */
#ifndef HEARTH_VMM_VM_CPU_H
#define HEARTH_VMM_VM_CPU_H

#include "util/err.h"
#include "vcpu/cpu_template.h"
#include "vcpu/vcpu.h"
#include "vmm/config.h"
#include "vmm/vm.h"

/* The template the model asks for (custom or static); NULL for none. */
const struct cpu_template *vm_cpu_template(const struct vm_config *cfg);

/* Fills vm->cpuid: KVM's table, the template applied. 0 or -errno with err. */
int vm_cpu_prepare(struct vm *vm, const struct vm_config *cfg, struct err *err);
/* The template's MSRs on a new vCPU. */
int vm_cpu_vcpu(struct vcpu *v, const struct vm_config *cfg, struct err *err);

#endif
