/*
 * What a VM's devices rule out for the operations that copy its state
 * (refusal.c): the one place that knows which device writes guest memory
 * where KVM's dirty log cannot see it.
 */
#ifndef HEARTH_VMM_REFUSAL_H
#define HEARTH_VMM_REFUSAL_H

#include <stddef.h>

#include "vmm/config.h"

/*
 * The first device of cfg whose writes to guest memory the dirty log does
 * not see (the kernel's vhost-vsock, a NIC that may be on vhost-net, a
 * vhost-user drive's backend, virtiofsd), described in buf; NULL: none.
 * A reset of such a VM takes all of RAM back, a Diff snapshot or a
 * migration is refused.
 */
const char *vm_unlogged_writer(const struct vm_config *cfg, char *buf, size_t len);

#endif
