/* Initial register state for the boot entry and the crash dump. */
#ifndef HEARTH_VCPU_REGS_H
#define HEARTH_VCPU_REGS_H

#include <stdint.h>

#include "core/cpu_entry.h"
#include "mem/guest_mem.h"

/* Writes the GDT and identity page tables (first 4 GiB) into guest RAM. */
int regs_setup_tables(struct guest_mem *gm);

/* The BSP's state at entry: 64-bit long mode, or 32-bit flat mode (PVH, Multiboot). */
int regs_setup_boot(int vcpu_fd, const struct cpu_entry *e);

/* FPU/SSE defaults a reset CPU has. */
int regs_setup_fpu(int vcpu_fd);

/* LINT0 ExtINT, LINT1 NMI, as firmware leaves the local APIC. */
int regs_setup_lapic(int vcpu_fd);

/* Prints registers and the code bytes at RIP to stderr. */
void regs_dump(int vcpu_fd, unsigned int index, const struct guest_mem *gm);

#endif
