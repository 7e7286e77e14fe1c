/*
 * stream: writes "s N" lines to COM1 for ever, as fast as it can, every
 * byte an I/O exit (and each byte's LSR poll another): a pause almost
 * always lands in the middle of one. A VM saved at a pause and restored
 * (snapshot, fork, migration, reset) must go on with the next byte, none
 * said twice or lost (tests/integration/run_pause_exit_test.py).
 */
#include "guest.h"

void guest_main(uint64_t zp)
{
	(void)zp;
	for (uint64_t n = 0;; n++) {
		serial_puts("s ");
		serial_put_dec(n);
		serial_puts("\n");
	}
}
