/* One thread per vCPU running the KVM_RUN loop. */
#ifndef HEARTH_VCPU_VCPU_H
#define HEARTH_VCPU_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/component.h"
#include "core/cpu_entry.h"
#include "mem/guest_mem.h"
#include "vcpu/runstate.h"

/* Why a vCPU ends the guest; the VM turns it into a stop reason. */
enum vcpu_event {
	VCPU_EVENT_POWEROFF,
	VCPU_EVENT_REBOOT,
	VCPU_EVENT_FAILURE,
	VCPU_EVENT_HALTED,      /* hlt with nothing that could wake it (no in-kernel irqchip) */
};

/*
 * What a vCPU needs from the machine, and nothing more: it neither sees
 * nor reaches the VM that owns it.
 */
struct vcpu_env {
	int kvm_fd;                       /* the system's: the MSR list a snapshot saves */
	int vm_fd;
	size_t run_size;                  /* KVM_GET_VCPU_MMAP_SIZE */
	struct bus *bus;                  /* port and MMIO exits */
	const struct guest_mem *mem;      /* code bytes in the crash dump */
	const struct kvm_cpuid2 *cpuid;   /* KVM_GET_SUPPORTED_CPUID */
	unsigned int ncpus;
	bool smt;                         /* two threads per core (cpuid.h) */
	const struct cpu_entry *entry;    /* the BSP's entry state */
	/*
	 * KVM's in-kernel irqchip (LAPIC) is there. Without it (a --flat VM)
	 * there is no LAPIC to set up, nothing ever injects an interrupt, and
	 * a hlt exits to userspace: it ends the guest (VCPU_EVENT_HALTED).
	 */
	bool irqchip;
	/* Any vCPU thread: the guest powered off, reset, failed or halted for good. */
	void (*on_event)(void *ctx, enum vcpu_event ev, const char *detail);
	void *ctx;
};

/* KVM_RUN exits by kind, for metrics. */
enum vcpu_exit_kind {
	VCPU_EXIT_IO_IN,
	VCPU_EXIT_IO_OUT,
	VCPU_EXIT_MMIO_READ,
	VCPU_EXIT_MMIO_WRITE,
	VCPU_EXIT_HLT,
	VCPU_EXIT_INTR,            /* a signal or an interrupt window: back in at once */
	VCPU_EXIT_SYSTEM_EVENT,
	VCPU_EXIT_SHUTDOWN,        /* a triple fault */
	VCPU_EXIT_FAIL_ENTRY,
	VCPU_EXIT_INTERNAL_ERROR,
	VCPU_EXIT_OTHER,           /* an exit reason Hearth does not handle */
	VCPU_EXIT_RUN_FAILED,      /* KVM_RUN itself failed */
	VCPU_EXIT_KINDS,
};

#define VCPU_RECENT 16

struct vcpu {
	const struct vcpu_env *env;
	unsigned int index;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool started;
	struct vcpu_runstate rs;
	/* Written by the vCPU's thread only, read by any (relaxed atomics). */
	uint64_t exits[VCPU_EXIT_KINDS];
	/*
	 * Its last VCPU_RECENT exits, oldest overwritten, for the report of a
	 * triple fault or any exit Hearth cannot go on from (vcpu_log_recent):
	 * on SVM the registers at KVM_EXIT_SHUTDOWN are already the reset
	 * state, so these are what is left of the way there. Each is two
	 * words: the exit reason, direction and size; the port or address and
	 * the data written. Same rule: this thread writes, any reads.
	 */
	uint64_t recent[VCPU_RECENT][2];
	uint64_t nrecent;
	/* CLOCK_BOOTTIME (ns) of its first KVM_RUN, 0 before it: the boot's phases (--exit-stats). */
	uint64_t first_run_ns;
};

/* KVM_CREATE_VCPU, CPUID, MSRs, FPU, LAPIC; the BSP also gets boot registers. */
struct vcpu *vcpu_create(const struct vcpu_env *env, unsigned int index);
void vcpu_destroy(struct vcpu *vcpu);

/*
 * Logs v's last exits, oldest first, one line each (rate-limited with the
 * other failure lines): callable from any thread.
 */
void vcpu_log_recent(const struct vcpu *v);

/* Installs the kick signal handler; once per process. */
int vcpu_signals_init(void);
/* Starts the thread, running (or paused, if a pause was requested first). */
int vcpu_start(struct vcpu *vcpu);
/* Makes KVM_RUN return now or on its next entry. */
void vcpu_kick(struct vcpu *vcpu);

/*
 * Out of KVM_RUN and parked: waits up to timeout_ms (< 0: no limit) for the
 * thread to acknowledge. Returns the state reached (VCPU_PAUSED, or
 * VCPU_STOPPED if it stopped meanwhile; anything else is a timeout).
 */
enum vcpu_state vcpu_pause(struct vcpu *vcpu, int timeout_ms);
/* How long the component's pause waits for a vCPU to leave KVM_RUN. */
#define VCPU_PAUSE_TIMEOUT_MS 5000
void vcpu_resume(struct vcpu *vcpu);
/* Final: the thread leaves its loop at the next exit. */
void vcpu_stop(struct vcpu *vcpu);
enum vcpu_state vcpu_state(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);

/* "exit_io_in", "exit_mmio_write" ...: the metric's name. */
const char *vcpu_exit_name(enum vcpu_exit_kind k);
/* Exits of kind k so far; any thread. */
uint64_t vcpu_exit_count(const struct vcpu *vcpu, enum vcpu_exit_kind k);

/*
 * A vCPU as a component (core/component.h; vcpu_component.c), obj the
 * struct vcpu. pause parks it (VCPU_PAUSE_TIMEOUT_MS, then -ETIMEDOUT),
 * resume lets it run; save reads its state out of KVM (vcpu_kvm_state.h)
 * into its record (vcpu_state.h), which restore checks and loads back;
 * counters are its exits by kind; destroy is vcpu_destroy. Pause and save
 * run on the caller's thread, never the vCPU's own, with the vCPU parked
 * for save and restore.
 */
extern const struct component_ops vcpu_component;

#endif
