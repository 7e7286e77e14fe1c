/*
 * smp: walk RSDP -> XSDT -> MADT, verifying signatures and checksums, and
 * report the local APICs; then wait for one byte of host input on COM1,
 * echo it and power off. Only the BSP runs: the APs stay in wait-for-SIPI.
 */
#include "guest.h"

static uint8_t checksum(uint64_t addr, uint64_t len)
{
	uint8_t sum = 0;
	for (uint64_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + mem8(addr + i));
	return sum;
}

static int sig_is(uint64_t addr, const char *sig, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		if (mem8(addr + i) != (uint8_t)sig[i])
			return 0;
	return 1;
}

static uint64_t find_madt(uint64_t rsdp)
{
	GUEST_ASSERT(sig_is(rsdp, "RSD PTR ", 8));
	GUEST_ASSERT_EQ(checksum(rsdp, 20), 0);
	uint8_t rev = mem8(rsdp + 15);
	GUEST_ASSERT(rev >= 2);
	GUEST_ASSERT_EQ(checksum(rsdp, mem32(rsdp + 20)), 0);

	uint64_t xsdt = mem64(rsdp + 24);
	report_hex("xsdt", xsdt);
	GUEST_ASSERT(sig_is(xsdt, "XSDT", 4));
	uint32_t xlen = mem32(xsdt + 4);
	GUEST_ASSERT(xlen >= 36 && xlen < 0x10000);
	GUEST_ASSERT_EQ(checksum(xsdt, xlen), 0);

	for (uint64_t off = 36; off + 8 <= xlen; off += 8) {
		uint64_t t = mem64(xsdt + off);
		if (sig_is(t, "APIC", 4))
			return t;
	}
	return 0;
}

void guest_main(uint64_t zp)
{
	uint64_t rsdp = mem64(zp + BP_ACPI_RSDP_ADDR);
	report_hex("rsdp", rsdp);
	GUEST_ASSERT(rsdp != 0);

	uint64_t madt = find_madt(rsdp);
	report_hex("madt", madt);
	GUEST_ASSERT(madt != 0);
	uint32_t len = mem32(madt + 4);
	GUEST_ASSERT(len >= 44 && len < 0x10000);
	GUEST_ASSERT_EQ(checksum(madt, len), 0);

	unsigned int lapics = 0, enabled = 0, ioapics = 0;
	uint64_t ids = 0; /* bitmap of APIC IDs 0..63 */
	for (uint64_t off = 44; off + 2 <= len;) {
		uint8_t type = mem8(madt + off), elen = mem8(madt + off + 1);
		GUEST_ASSERT(elen >= 2 && off + elen <= len);
		if (type == 0) {
			GUEST_ASSERT_EQ(elen, 8);
			uint8_t id = mem8(madt + off + 3);
			lapics++;
			if (mem32(madt + off + 4) & 1)
				enabled++;
			if (id < 64)
				ids |= 1ull << id;
		} else if (type == 1) {
			ioapics++;
		}
		off += elen;
	}
	report_dec("lapics", lapics);
	report_dec("lapics_enabled", enabled);
	report_hex("apic_ids", ids);
	report_dec("ioapics", ioapics);

	serial_puts("GUEST waiting\n");
	uint8_t c = serial_getc();
	report_hex("got", c);
	report_done();
}
