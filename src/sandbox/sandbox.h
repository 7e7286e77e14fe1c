/*
 * Per-thread seccomp filters: the vCPU, io and api threads each run under
 * their own allowlist (allow.c) once their setup is done. A forbidden
 * syscall traps: one line on stderr naming the thread and the syscall,
 * the API socket removed, then exit code HEARTH_EXIT_SECCOMP (sigsys.c).
 * Never a silent kill.
 */
#ifndef HEARTH_SANDBOX_SANDBOX_H
#define HEARTH_SANDBOX_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/filter.h>

#include "util/err.h"
#include "util/thread_hook.h"

/*
 * Installs the SIGSYS reporter and the thread hook (util/thread_hook.h),
 * so each thread installs its filter when it enters service. Once, before
 * any thread starts. 0, or -errno with one line in err.
 */
int sandbox_init(struct err *err);
/*
 * Makes every thread kind's filter now (else each is made by the first
 * thread of its kind to enter, before its filter goes on): before any
 * thread that is already filtered may start another. Nothing to do without sandbox_init.
 * 0, or -errno with one line in err.
 */
int sandbox_build_all(struct err *err);
/*
 * After sandbox_init, in a process whose pid changed since (the child of
 * --new-pid-ns's fork, pid 1 there): every filter built again, since each
 * names the pid tgkill may reach. Nothing to do without sandbox_init.
 * 0, or -errno with one line in err.
 */
int sandbox_repin(struct err *err);
/*
 * Installs kind's filter on the calling thread only (no TSYNC): the
 * thread hook. Needs sandbox_init first. 0 or -errno.
 */
int sandbox_enter(enum thread_kind kind);
/*
 * The VM's devices are on PCI, so disks may be plugged in while it runs:
 * the io thread's filter, when it goes on, also lets their timers be made
 * and a TAP be attached (allow.c's pci_hotplug_syscalls), never an
 * io_uring (theirs were made with the VM). Before the io thread enters.
 */
void sandbox_allow_pci_hotplug(void);
/*
 * The vCPU threads' filter gains what a passed-through device's accesses
 * need (allow.c's vfio lists), on a VM that has one. Before they enter.
 */
void sandbox_allow_vfio(void);
/*
 * A firmware VM (vmm/vm_fw.h): its vCPUs move a CFI flash's slot, its
 * io thread writes the variable store and sets KVM's PIT for the HPET
 * (allow.c's firmware lists). Before they enter.
 */
void sandbox_allow_firmware(void);
/*
 * A VM with a qcow2 drive: its io thread's filter gains the engine's file
 * I/O (allow.c's qcow2 list: pread64, pwrite64, fdatasync, fallocate on
 * descriptors it has). Before the io thread enters.
 */
void sandbox_allow_qcow2(void);
/*
 * kind's program compiled afresh by libseccomp into prog, with the
 * extensions its thread would have (the caller frees prog->filter), left
 * out of what the threads install: for checks. 0 or -errno.
 */
int sandbox_export(enum thread_kind kind, struct sock_fprog *prog);
/* Each kind's allowlist and its size, for `hearth --seccomp-report`. */
void sandbox_report(FILE *out);

/* The handler (SA_SIGINFO, process-wide). 0 or -errno. */
int sandbox_sigsys_install(void);
/*
 * The calling thread's name for the report line, and whether its filter
 * lets it unlink the API socket itself; taken when its filter goes on.
 */
void sandbox_sigsys_name_thread(const char *name, bool may_unlink);

#endif
