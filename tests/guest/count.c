/*
 * count: counts for ever, for snapshot tests (run_snapshot_uffd_test.py):
 * prints "count N sum S" about every few hundred milliseconds, S the sum
 * of a 256 KiB table the guest filled at boot (one word per 4 KiB page, so
 * every line reads 64 pages of RAM). A restored guest goes on from the
 * N it stopped at, with the same S: its RAM came back whole.
 */
#include "guest.h"

#define TABLE_WORDS (1u << 15)            /* 256 KiB of uint64_t */
#define STRIDE 512u                        /* one word per 4 KiB page */

static uint64_t table[TABLE_WORDS];

void guest_main(uint64_t zp)
{
	(void)zp;
	for (uint32_t i = 0; i < TABLE_WORDS; i++)
		table[i] = (uint64_t)i * 2654435761u;
	for (uint64_t n = 0;; n++) {
		uint64_t sum = 0;

		for (uint32_t i = 0; i < TABLE_WORDS; i += STRIDE)
			sum += table[i];
		serial_puts("count ");
		serial_put_dec(n);
		serial_puts(" sum ");
		serial_put_dec(sum);
		serial_puts("\n");
		for (volatile uint32_t d = 0; d < 20000; d++)
			;
	}
}
