/*
 * The allowlist of each thread kind (allow.c): what the code on that thread
 * calls once it serves, and nothing more. Anything else traps (sigsys.c).
 */
#ifndef HEARTH_SANDBOX_ALLOW_H
#define HEARTH_SANDBOX_ALLOW_H

#include <stdbool.h>

#include "util/thread_hook.h"

/* An ioctl request allowed on a thread, with its name for the report. */
struct sandbox_ioctl {
	unsigned long req;
	const char *name;
};

/* Syscalls allowed only with some arguments (a flag each in sandbox_list.args). */
enum sandbox_arg_rule {
	SB_PRCTL_GET_NAME = 1u << 0,  /* prctl(PR_GET_NAME): a log file line names its thread */
	SB_MAP_NO_EXEC = 1u << 1,     /* mmap, mprotect without PROT_EXEC: malloc, no new code */
	SB_OPEN_EXISTING = 1u << 2,   /* openat without O_CREAT, O_TRUNC, O_TMPFILE */
	SB_TGKILL_SELF = 1u << 3,     /* tgkill to Hearth's own threads only (see sandbox.c) */
};

struct sandbox_list {
	const char *kind;               /* "vcpu", "io", "api" */
	const int *syscalls;            /* allowed with any arguments */
	unsigned int nsyscalls;
	const struct sandbox_ioctl *ioctls;  /* ioctl: only these requests */
	unsigned int nioctls;
	unsigned int args;              /* enum sandbox_arg_rule flags */
};

const struct sandbox_list *sandbox_list_get(enum thread_kind kind);
/*
 * A sanitizer build's runtime makes syscalls of its own on every thread
 * (alternate signal stacks, the leak check at exit); they are added to
 * every list there, and only there. *n is 0 in a normal build.
 */
const int *sandbox_list_sanitizer(unsigned int *n);
/* What the io thread's list gains with sandbox_allow_pci_hotplug (sandbox.h). */
const int *sandbox_list_pci_hotplug(unsigned int *n);
const struct sandbox_ioctl *sandbox_list_pci_hotplug_ioctls(unsigned int *n);
/* What the vCPU threads' list gains with sandbox_allow_vfio (sandbox.h). */
const int *sandbox_list_vfio(unsigned int *n);
const struct sandbox_ioctl *sandbox_list_vfio_ioctls(unsigned int *n);
/* The io thread's on such a VM: a device quiesced, reset, unplugged (allow.c). */
const struct sandbox_ioctl *sandbox_list_vfio_io_ioctls(unsigned int *n);
/*
 * What a firmware VM's threads gain with sandbox_allow_firmware: the io
 * thread's syscalls, and kind's (THREAD_VCPU or THREAD_IO) ioctls.
 */
const int *sandbox_list_firmware_io(unsigned int *n);
const struct sandbox_ioctl *sandbox_list_firmware_ioctls(enum thread_kind kind, unsigned int *n);
/* What the io thread gains with sandbox_allow_qcow2: the qcow2 engine's file I/O. */
const int *sandbox_list_qcow2_io(unsigned int *n);
/*
 * The zygote's deny list (zygote.h): what no clone needs on its way to
 * its own seal or after it, less what a sanitizer build's runtime needs
 * (ptrace, for LeakSanitizer's check at a clone's exit).
 */
const int *sandbox_list_zygote_denied(unsigned int *n);
/* Whether l lets nr through with any arguments. */
bool sandbox_list_has(const struct sandbox_list *l, int nr);
/* The syscalls a list lets through: ioctl and each argument-checked one count once. */
unsigned int sandbox_list_size(const struct sandbox_list *l);

#endif
