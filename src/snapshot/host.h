/*
 * The host a snapshot needs: the CPUID leaves its guest saw and the KVM
 * capabilities its restore uses, kept as plain data in the "host"
 * section. A restore compares them with the host it runs on before it
 * touches KVM, so a guest never wakes up on a CPU missing features it
 * already uses.
 */
#ifndef HEARTH_SNAPSHOT_HOST_H
#define HEARTH_SNAPSHOT_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "util/bytes.h"
#include "util/err.h"

#define SNAP_HOST_VERSION 1u
#define SNAP_HOST_MAX_CPUID 256u  /* KVM_MAX_CPUID_ENTRIES */
#define SNAP_HOST_MAX_CAPS 64u

struct snap_cpuid_leaf {
	uint32_t function, index, flags;
	uint32_t eax, ebx, ecx, edx;
};

struct snap_cap {
	uint32_t cap;     /* KVM_CAP_* */
	uint32_t value;   /* what KVM_CHECK_EXTENSION returned; the restore needs at least this */
};

struct snap_host {
	unsigned int ncpuid;
	struct snap_cpuid_leaf cpuid[SNAP_HOST_MAX_CPUID];
	unsigned int ncaps;
	struct snap_cap caps[SNAP_HOST_MAX_CAPS];
};

/* The section's payload, appended to o; -EINVAL for counts over the maxima. */
int snap_host_save(const struct snap_host *h, struct bytes_out *o);
/* 0, -ENODATA, -EPROTO or -EINVAL (counts over the maxima, bytes left over). */
int snap_host_restore(struct snap_host *h, const void *in, size_t len);

/*
 * Can a snapshot that needs `need` run on `have`? The CPU vendor must be
 * the same, every feature bit the guest saw must be there, and every
 * capability at least as large. 0, or -EINVAL with the first missing
 * thing in err ("needs CPUID 0x7.0 ebx bits 0x20, the host lacks them").
 */
int snap_host_check(const struct snap_host *need, const struct snap_host *have, struct err *err);

#endif
