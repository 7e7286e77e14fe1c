/* Initial register state for the boot entry and the crash dump. */
#ifndef HEARTH_VCPU_REGS_H
#define HEARTH_VCPU_REGS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/cpu_entry.h"
#include "mem/guest_mem.h"

/*
 * Writes the boot GDT at base and, with paging, the identity page tables
 * (first 4 GiB, 2 MiB pages) above it: LAYOUT_TABLES_SIZE bytes in all,
 * LAYOUT_TABLES_GDT_SIZE without.
 */
int regs_setup_tables(struct guest_mem *gm, uint64_t base, bool paging);

/*
 * The BSP's state at entry: 64-bit long mode, 32-bit flat mode (PVH,
 * Multiboot), or real mode (--flat) with every segment at e->real_seg.
 */
int regs_setup_boot(int vcpu_fd, const struct cpu_entry *e);

/* FPU/SSE defaults a reset CPU has. */
int regs_setup_fpu(int vcpu_fd);

/* LINT0 ExtINT, LINT1 NMI, as firmware leaves the local APIC. */
int regs_setup_lapic(int vcpu_fd);

/* Prints registers and the code bytes at RIP to stderr. */
void regs_dump(int vcpu_fd, unsigned int index, const struct guest_mem *gm);

#endif
