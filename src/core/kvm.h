/* /dev/kvm: the system fd, its API version and the capabilities we rely on. */
#ifndef HEARTH_CORE_KVM_H
#define HEARTH_CORE_KVM_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

struct kvm {
	int fd;
	int run_size;      /* mmap size of struct kvm_run */
	int max_vcpus;
	bool pvm;          /* backed by the kvm_pvm nested paravirtual hypervisor */
};

/* Opens and checks: 0, or -errno with one line naming the problem in err. */
int kvm_open(struct kvm *kvm, const char *path, struct err *err);
void kvm_close(struct kvm *kvm);
int kvm_check_extension(int fd, long cap);

#endif
