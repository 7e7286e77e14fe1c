/*
 * For the 32-bit Multiboot test guests (mb_start.S): flat addresses,
 * the local APIC and IOAPIC registers, fw_cfg and the debug-exit port.
 * guest.h's report protocol and serial functions work here too.
 */
#ifndef HEARTH_TEST_MB_H
#define HEARTH_TEST_MB_H

#include <stdint.h>

#include "guest.h"

#define MB_BOOT_MAGIC 0x2badb002u
#define MB_TRAMPOLINE 0x8000u

#define LAPIC_BASE 0xfee00000u
#define LAPIC_ID 0x020
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT0 0x350
#define IOAPIC_BASE 0xfec00000u

#define FW_CFG_SEL 0x510
#define FW_CFG_DATA 0x511
#define DEBUG_EXIT_PORT 0xf4

static inline uint32_t rd32(uint32_t addr)
{
	return *(volatile uint32_t *)(uintptr_t)addr;
}

static inline void wr32(uint32_t addr, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)addr = v;
}

static inline const char *str_at(uint32_t addr)
{
	return (const char *)(uintptr_t)addr;
}

static inline uint64_t fw_cfg_read(uint16_t key, unsigned int len)
{
	uint64_t v = 0;

	outw(FW_CFG_SEL, key);
	for (unsigned int i = 0; i < len; i++)
		v |= (uint64_t)inb(FW_CFG_DATA) << (8 * i);
	return v;
}

#endif
