/*
 * VMClock, as Firecracker 1.15 has it: a page the guest maps read-only
 * (Linux's ptp_vmclock, bound through ACPI _HID AMZNC10C), laid out as
 * Linux's include/uapi/linux/vmclock-abi.h says. Hearth gives no time in
 * it (clock_status unknown, no counter); what it gives is its disruption
 * marker and VM generation counter, which a restore bumps, so a restored
 * guest, and every clone of one snapshot, can tell that its clock and its
 * identity may have moved (a clone must reseed, drop its leases...).
 *
 * The page itself is the VM's (a read-only memslot of its own: vmm); the
 * device is given it in dev_env and writes it only when it is made and
 * at a restore, under seq_count as the ABI says: odd while it changes.
 * Record "VMCK" 1: the generation counter and the disruption marker.
 */
#ifndef HEARTH_DEVICES_VMCLOCK_H
#define HEARTH_DEVICES_VMCLOCK_H

#include <stdint.h>

#include "devices/device.h"

#define VMCLOCK_MAGIC 0x4b4c4356u /* "VCLK" */
#define VMCLOCK_COUNTER_INVALID 0xff
#define VMCLOCK_STATUS_UNKNOWN 0
#define VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT (1ull << 8)

/* The ABI's struct vmclock_abi, little-endian, 112 bytes. */
struct vmclock_abi {
	uint32_t magic;
	uint32_t size;
	uint16_t version;
	uint8_t counter_id;
	uint8_t time_type;
	uint32_t seq_count;
	uint64_t disruption_marker;
	uint64_t flags;
	uint8_t pad[2];
	uint8_t clock_status;
	uint8_t leap_second_smearing_hint;
	uint16_t tai_offset_sec;
	uint8_t leap_indicator;
	uint8_t counter_period_shift;
	uint64_t counter_value;
	uint64_t counter_period_frac_sec;
	uint64_t counter_period_esterror_rate_frac_sec;
	uint64_t counter_period_maxerror_rate_frac_sec;
	uint64_t time_sec;
	uint64_t time_frac_sec;
	uint64_t time_esterror_nanosec;
	uint64_t time_maxerror_nanosec;
	uint64_t vm_generation_counter;
};

/* env->vmclock_page (its size res->mmio_size) must be there. */
int vmclock_create(const struct dev_env *env, const struct dev_resources *res,
		   struct component *out, struct err *err);

#endif
