/*
 * hello: the smallest boot. Prints a known line, reports what the zero
 * page says about the command line and RAM, powers off.
 */
#include "guest.h"

void guest_main(uint64_t zp)
{
	serial_puts("Hello from the Hearth test guest!\n");

	uint64_t cmdline = mem32(zp + BP_CMD_LINE_PTR) |
			   (uint64_t)mem32(zp + BP_EXT_CMD_LINE_PTR) << 32;
	report_hex("cmdline_ptr", cmdline);
	if (cmdline) {
		/* Copy at most 255 bytes: a bad pointer must not run away. */
		char buf[256];
		unsigned int i;
		for (i = 0; i < sizeof(buf) - 1; i++) {
			buf[i] = (char)mem8(cmdline + i);
			if (!buf[i])
				break;
		}
		buf[i] = 0;
		report_str("cmdline", buf);
	}

	unsigned int n = mem8(zp + BP_E820_ENTRIES);
	report_dec("e820_entries", n);
	GUEST_ASSERT(n > 0 && n <= BP_E820_MAX);
	uint64_t ram = 0, end = 0;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t e = zp + BP_E820_TABLE + 20ull * i;
		uint64_t addr = mem64(e), size = mem64(e + 8);
		uint32_t type = mem32(e + 16);
		if (type == 1) {
			ram += size;
			/* Entries must be sorted and must not overlap. */
			GUEST_ASSERT(addr >= end);
			end = addr + size;
		}
	}
	report_dec("e820_ram_kib", ram >> 10);
	report_done();
}
