/*
 * One vCPU's saved state, as KVM hands it out, and its record in a
 * snapshot's vCPU section. The KVM structs are x86-64 uapi and go in as
 * they are; each is framed with a tag and its length, so a kernel whose
 * struct differs in size is refused, not misread. Getting and setting
 * them through KVM is the lab's to test; this is the part that is not.
 *
 * Record: tag "VCPU", version; then, in this order, each as a 4-byte tag,
 * a u32 length and the bytes: REGS, SREG, XSAV (the XSAVE area,
 * 4 KiB or, with KVM_CAP_XSAVE2, larger), XCRS, DBRG, EVNT, MPST, LAPC,
 * and MSRS (u32 count, then index and value pairs).
 */
#ifndef HEARTH_VCPU_VCPU_STATE_H
#define HEARTH_VCPU_VCPU_STATE_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "util/bytes.h"

#define VCPU_STATE_VERSION 1u
#define VCPU_XSAVE_MAX (64u << 10)
#define VCPU_STATE_MAX_MSRS 4096u

struct vcpu_snap {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs debugregs;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_lapic_state lapic;
	uint32_t xsave_len;          /* sizeof(struct kvm_xsave) or KVM_CAP_XSAVE2's size */
	uint8_t *xsave;              /* xsave_len bytes, a struct kvm_xsave */
	uint32_t nmsrs;
	struct kvm_msr_entry *msrs;  /* nmsrs, in msr_list_build's order */
};

/* Frees xsave and msrs (vcpu_state_restore allocates them). */
void vcpu_state_release(struct vcpu_snap *s);

/* The record, appended to o: 0, or -EINVAL for a snap no KVM hands out (sizes, counts). */
int vcpu_state_save(const struct vcpu_snap *s, struct bytes_out *o);
/*
 * Fills s (released first by the caller, or zeroed) from a record: 0,
 * -ENODATA, -EPROTO, -EINVAL (a part missing, out of order or of the
 * wrong size, counts over the maxima) or -ENOMEM. On failure s holds
 * nothing to free.
 */
int vcpu_state_restore(struct vcpu_snap *s, const void *in, size_t len);

#endif
