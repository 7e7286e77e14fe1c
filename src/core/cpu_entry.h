/*
 * How the boot CPU enters the guest: the mode it starts in and the
 * registers the boot protocol sets. boot/ fills it for the kernel it
 * loaded (loader_entry), vcpu/ puts it into the BSP (regs_setup_boot):
 * it sits below both, so neither includes the other.
 */
#ifndef HEARTH_CORE_CPU_ENTRY_H
#define HEARTH_CORE_CPU_ENTRY_H

#include <stdint.h>

enum cpu_entry_mode {
	CPU_ENTRY_LONG64,   /* 64-bit long mode, paging on over the boot identity tables */
	CPU_ENTRY_FLAT32,   /* 32-bit protected mode, flat segments, paging off (PVH, Multiboot) */
};

struct cpu_entry {
	enum cpu_entry_mode mode;
	uint64_t rip, rsp;
	uint64_t rax, rbx, rsi;   /* the protocol's magic and parameter pointers; 0: unused */
};

#endif
