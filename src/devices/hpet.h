/*
 * The HPET (IA-PC HPET specification 1.0a) as QEMU's q35 machine offers
 * it (hw/timer/hpet.c): one block of three timers, a 64-bit main counter
 * at 100 MHz (10 ns a tick), LegacyReplacement routing, no FSB (MSI)
 * delivery. Built the one way devices/device.h gives:
 *
 *   res->mmio_base  where its 1 KiB of registers sit (0xfed00000 on a PC,
 *                   the address the ACPI HPET table names);
 *   res->gsi        unused: a timer raises the line it is routed to.
 *
 * Lines, as IOAPIC inputs through env->irq's setter: LegacyReplacement
 * sends timer 0 to ISA IRQ 0 (GSI 0, which a PC routes to IOAPIC pin 2,
 * core/irq.h) and timer 1 to IRQ 8; otherwise a timer drives the pin its
 * Tn_INT_ROUTE names, among those its route capability offers (pin 2 is
 * driven as GSI 0, the only GSI routed there). A level-triggered timer
 * holds its line until the guest clears its status bit.
 *
 * Threads: registers are read and written on vCPU threads, which only
 * compute, drive lines and wake the loop (an eventfd write). Timers fire
 * on env->loop's thread, from one timerfd armed for the earliest
 * comparator. With no loop (unit tests, fuzzing) nothing fires by itself:
 * the owner calls hpet_service() after its clock moved.
 *
 * Record "HPET" 1: the registers, the main counter's value and each
 * comparator's deadline relative to the save, so a restored HPET counts
 * on from where it was saved and fires as it would have.
 */
#ifndef HEARTH_DEVICES_HPET_H
#define HEARTH_DEVICES_HPET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/layout.h"      /* HPET_MMIO_BASE: where a PC has it */
#include "core/ratelimit.h"
#include "devices/device.h"

#define HPET_MMIO_SIZE 0x400u
#define HPET_TIMERS 3u
#define HPET_STATE_VERSION 1u
/*
 * Tn_INT_ROUTE_CAP, QEMU's for q35: IOAPIC pins 2 and 8 (the legacy
 * lines) and 16 to 23. A VM whose pins 16-23 belong to other devices
 * (Hearth's virtio-mmio lines) offers HPET_ROUTES_LEGACY instead.
 */
#define HPET_ROUTES_Q35 0x00ff0104u
#define HPET_ROUTES_LEGACY 0x00000104u
/*
 * The shortest time between two expirations of a periodic timer on the
 * host: a guest asking for a 10 ns period gets its interrupts coalesced
 * to at most one per 100 us per timer, never a spinning I/O thread.
 */
#define HPET_MIN_PERIOD_NS 100000ull

struct hpet;

struct hpet_config {
	uint32_t routes;                /* Tn_INT_ROUTE_CAP: IOAPIC pins 0-23; 0: HPET_ROUTES_Q35 */
	const struct rl_clock *clock;   /* monotonic ns; NULL: CLOCK_MONOTONIC */
	/*
	 * LegacyReplacement turned on or off (and once after a restore, with
	 * the restored state): the PIT's and RTC's own interrupts should stop
	 * while it is on, as QEMU's HPET gates them (KVM's in-kernel PIT:
	 * KVM_PIT_FLAGS_HPET_LEGACY). Called on the loop's thread (in
	 * hpet_service without a loop), outside the device's lock. NULL: nobody.
	 */
	void (*legacy)(void *ctx, bool on);
	void *legacy_ctx;
};

/* The constructor of devices/device.h's shape: q35's routes, CLOCK_MONOTONIC, no legacy hook. */
int hpet_create(const struct dev_env *env, const struct dev_resources *res,
		struct component *out, struct err *err);
/* The same with cfg's choices (cfg NULL: hpet_create's). 0, or -errno with err filled. */
int hpet_create_with(const struct dev_env *env, const struct dev_resources *res,
		     const struct hpet_config *cfg, struct component *out, struct err *err);

/*
 * What the loop's timerfd does: fires every comparator due by now, once
 * each (a periodic one catches up in one step), and arms the next. For
 * an HPET without a loop; harmless with one, on the loop's thread.
 */
void hpet_service(struct hpet *dev);

#endif
