/*
 * What a VM's devices rule out for the operations that copy its state
 * (refusal.c): the one place that knows which device's state cannot leave
 * this process, and which device writes guest memory where KVM's dirty
 * log cannot see it.
 */
#ifndef HEARTH_VMM_REFUSAL_H
#define HEARTH_VMM_REFUSAL_H

#include <stddef.h>

#include "vmm/config.h"

/* The operations that copy a VM's state out of this process. */
enum vm_op { VM_OP_SNAPSHOT, VM_OP_MIGRATE, VM_OP_FORK };

/*
 * Why cfg's VM cannot take op, in buf ("fork: this VM cannot be forked:
 * virtio-fs 'share': ..."), the first such device by the table's order;
 * NULL: it can. One table row a device kind, naming the operations it
 * rules out: every operation asks here before it pauses or touches a
 * file, so each refuses up front and in the same words.
 */
const char *vm_refusal(const struct vm_config *cfg, enum vm_op op, char *buf, size_t len);

/*
 * The first device of cfg whose writes to guest memory the dirty log does
 * not see (the kernel's vhost-vsock, a NIC that may be on vhost-net, a
 * vhost-user drive's backend, virtiofsd), described in buf; NULL: none.
 * A reset of such a VM takes all of RAM back, a Diff snapshot or a
 * migration is refused.
 */
const char *vm_unlogged_writer(const struct vm_config *cfg, char *buf, size_t len);

#endif
