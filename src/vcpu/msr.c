#include "vcpu/msr.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "util/log.h"

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_IA32_TSC 0x10

#define MISC_ENABLE_FAST_STRING 1ull
/* MTRRs enabled, default type write-back: all RAM cacheable. */
#define MTRR_DEF_TYPE_E_WB ((1ull << 11) | 6ull)

static const struct {
	uint32_t index;
	uint64_t value;
} boot_msrs[] = {
	{ MSR_IA32_SYSENTER_CS, 0 },
	{ MSR_IA32_SYSENTER_ESP, 0 },
	{ MSR_IA32_SYSENTER_EIP, 0 },
	{ MSR_STAR, 0 },
	{ MSR_LSTAR, 0 },
	{ MSR_CSTAR, 0 },
	{ MSR_SYSCALL_MASK, 0 },
	{ MSR_KERNEL_GS_BASE, 0 },
	{ MSR_IA32_TSC, 0 },
	{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
	{ MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_E_WB },
};

#define N_BOOT_MSRS (sizeof(boot_msrs) / sizeof(boot_msrs[0]))

int msr_setup_boot(int vcpu_fd)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + N_BOOT_MSRS * sizeof(m->entries[0]));
	int n, ret = 0;

	if (!m)
		return -ENOMEM;
	m->nmsrs = N_BOOT_MSRS;
	for (size_t i = 0; i < N_BOOT_MSRS; i++) {
		m->entries[i].index = boot_msrs[i].index;
		m->entries[i].data = boot_msrs[i].value;
	}
	/* KVM_SET_MSRS stops at the first MSR it refuses and returns the count. */
	n = ioctl(vcpu_fd, KVM_SET_MSRS, m);
	if (n < 0) {
		ret = -errno;
	} else if ((size_t)n != N_BOOT_MSRS) {
		log_err("KVM refused boot MSR 0x%x", boot_msrs[n].index);
		ret = -EINVAL;
	}
	free(m);
	return ret;
}
