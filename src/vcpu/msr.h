#ifndef HEARTH_VCPU_MSR_H
#define HEARTH_VCPU_MSR_H

/* MSRs as firmware leaves them at handoff. Returns 0 or -errno. */
int msr_setup_boot(int vcpu_fd);

#endif
