/*
 * halt: announce, then halt with interrupts off forever. Only the host
 * can end this (SIGTERM, SIGINT, Ctrl-A x); Hearth must exit 3.
 */
#include "guest.h"

void guest_main(uint64_t zp)
{
	(void)zp;
	serial_puts("GUEST halting\n");
	guest_halt_forever();
}
