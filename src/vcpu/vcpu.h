/* One thread per vCPU running the KVM_RUN loop. */
#ifndef HEARTH_VCPU_VCPU_H
#define HEARTH_VCPU_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
};

/* KVM_CREATE_VCPU, CPUID, MSRs, FPU, LAPIC; the BSP also gets boot registers. */
struct vcpu *vcpu_create(struct vm *vm, unsigned int index);
void vcpu_destroy(struct vcpu *vcpu);

/* Installs the kick signal handler; once per process. */
int vcpu_signals_init(void);
int vcpu_start(struct vcpu *vcpu);
/* Makes KVM_RUN return now or on its next entry. */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);

#endif
