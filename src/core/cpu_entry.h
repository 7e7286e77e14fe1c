/*
 * How the boot CPU enters the guest: the mode it starts in and the
 * registers the boot protocol sets. boot/ fills it for the kernel it
 * loaded (loader_entry, flat_entry), vcpu/ puts it into the BSP
 * (regs_setup_boot): it sits below both, so neither includes the other.
 */
#ifndef HEARTH_CORE_CPU_ENTRY_H
#define HEARTH_CORE_CPU_ENTRY_H

#include <stdint.h>

enum cpu_entry_mode {
	CPU_ENTRY_LONG64,   /* 64-bit long mode, paging on over the boot identity tables */
	CPU_ENTRY_FLAT32,   /* 32-bit protected mode, flat segments, paging off (PVH, Multiboot) */
	CPU_ENTRY_REAL16,   /* real mode, as after reset but at real_seg:rip (--flat mode=real) */
	/*
	 * The architectural reset state KVM gives a new vCPU, left as it is:
	 * CS 0xf000 with base 0xffff0000, RIP 0xfff0, so the first fetch is
	 * the firmware's reset vector at 0xfffffff0 (--firmware).
	 */
	CPU_ENTRY_RESET,
};

struct cpu_entry {
	enum cpu_entry_mode mode;
	uint64_t rip, rsp;
	uint64_t rax, rbx, rsi;   /* the protocol's magic and parameter pointers; 0: unused */
	/*
	 * FLAT32 and LONG64: the guest-physical address of the boot GDT, the
	 * page tables (LONG64) following it (regs_setup_tables); 0 means
	 * core/layout.h's LAYOUT_GDT.
	 */
	uint64_t tables;
	uint16_t real_seg;        /* REAL16: CS, DS, ES, FS, GS and SS (base real_seg << 4) */
};

#endif
