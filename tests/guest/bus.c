/*
 * bus: unclaimed port and MMIO accesses read all-ones at every width and
 * writes vanish; the RTC answers with sane BCD; the UART scratch register
 * round-trips. Then a loop of unclaimed accesses Hearth must rate-limit
 * in its log, not stop on.
 */
#include "guest.h"

#define FLOOD 10000

static uint8_t rtc_read(uint8_t reg)
{
	outb(PORT_RTC_INDEX, reg); /* bit 7 clear: NMIs stay enabled */
	return inb(PORT_RTC_DATA);
}

static int bcd_ok(uint8_t v, uint8_t max)
{
	return (v & 0xf) <= 9 && (v >> 4) <= 9 && ((v >> 4) * 10 + (v & 0xf)) <= max;
}

void guest_main(uint64_t zp)
{
	(void)zp;

	/* Unclaimed port: all-ones at 1, 2, 4 bytes. */
	GUEST_ASSERT_EQ(inb(UNCLAIMED_PORT), 0xff);
	GUEST_ASSERT_EQ(inw(UNCLAIMED_PORT), 0xffff);
	GUEST_ASSERT_EQ(inl(UNCLAIMED_PORT), 0xffffffff);
	outb(UNCLAIMED_PORT, 0x12);
	outw(UNCLAIMED_PORT, 0x1234);
	outl(UNCLAIMED_PORT, 0x12345678);
	GUEST_ASSERT_EQ(inb(UNCLAIMED_PORT), 0xff);
	report_str("pio_unclaimed", "ok");

	/* Unclaimed MMIO in the 3-4 GiB hole: all-ones at 1, 2, 4, 8 bytes. */
	GUEST_ASSERT_EQ(mmio_read8(UNCLAIMED_MMIO), 0xff);
	GUEST_ASSERT_EQ(mmio_read16(UNCLAIMED_MMIO + 2), 0xffff);
	GUEST_ASSERT_EQ(mmio_read32(UNCLAIMED_MMIO + 4), 0xffffffff);
	GUEST_ASSERT_EQ(mmio_read64(UNCLAIMED_MMIO + 8), 0xffffffffffffffffull);
	mmio_write8(UNCLAIMED_MMIO, 0x12);
	mmio_write16(UNCLAIMED_MMIO + 2, 0x1234);
	mmio_write32(UNCLAIMED_MMIO + 4, 0x12345678);
	mmio_write64(UNCLAIMED_MMIO + 8, 0x123456789abcdef0ull);
	GUEST_ASSERT_EQ(mmio_read64(UNCLAIMED_MMIO + 8), 0xffffffffffffffffull);
	report_str("mmio_unclaimed", "ok");

	/* RTC seconds: BCD unless status register B says binary (DM, bit 2). */
	uint8_t regb = rtc_read(0x0b);
	uint8_t sec = rtc_read(0x00);
	uint8_t min = rtc_read(0x02);
	report_hex("rtc_regb", regb);
	report_hex("rtc_sec", sec);
	if (regb & 0x04) {
		GUEST_ASSERT(sec <= 59);
		GUEST_ASSERT(min <= 59);
	} else {
		GUEST_ASSERT(bcd_ok(sec, 59));
		GUEST_ASSERT(bcd_ok(min, 59));
	}
	report_str("rtc", "ok");

	/* 16550 scratch register. */
	outb(COM1 + UART_SCR, 0x5a);
	GUEST_ASSERT_EQ(inb(COM1 + UART_SCR), 0x5a);
	outb(COM1 + UART_SCR, 0xa5);
	GUEST_ASSERT_EQ(inb(COM1 + UART_SCR), 0xa5);
	report_str("uart_scratch", "ok");

	/* A flood Hearth must survive and keep its log small over. */
	uint64_t bad = 0;
	for (unsigned int i = 0; i < FLOOD; i++) {
		if (inb(UNCLAIMED_PORT) != 0xff)
			bad++;
		if (mmio_read32(UNCLAIMED_MMIO) != 0xffffffff)
			bad++;
	}
	GUEST_ASSERT_EQ(bad, 0);
	report_dec("flood", FLOOD);
	report_done();
}
