/*
 * emufail: popcnt with an MMIO memory operand. Native KVM must emulate
 * the access (MMIO) and its emulator has no popcnt; PVM's emulator has
 * none either. Either way KVM reports an emulation failure and Hearth
 * must exit 1 and dump the registers and the code bytes at RIP.
 */
#include "guest.h"

extern const char emufail_insn[];

void guest_main(uint64_t zp)
{
	uint64_t out;

	(void)zp;
	report_hex("rip", (uint64_t)emufail_insn);
	serial_puts("GUEST executing\n");
	__asm__ volatile(".globl emufail_insn\n"
			 "emufail_insn:\n\t"
			 "popcnt (%1), %0"
			 : "=a"(out)
			 : "d"(UNCLAIMED_MMIO)
			 : "memory", "cc");
	/* Not reached when Hearth does its job. */
	guest_fail(__FILE__, __LINE__, "popcnt on MMIO was not an emulation failure", out, 0);
}
