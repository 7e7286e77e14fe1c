/*
 * The tiny library shared by Hearth's test guests: port and MMIO access
 * at exact widths, COM1 output, power control and the report protocol.
 *
 * Report protocol (read by run_guest_test.py from Hearth's stdout):
 *   GUEST <key>=<value>     one fact; hex values as 0x..., decimal as digits
 *   GUEST FAIL <where> ...  an assertion failed; the guest then powers off
 *   GUEST done              guest_main finished its checks
 * Everything else on the console is free text.
 *
 * Guests must stay plain integer code: on PVM ring-0 code is emulated
 * instruction by instruction, and no IDT is installed, so any fault is a
 * triple fault.
 */
#ifndef HEARTH_TEST_GUEST_H
#define HEARTH_TEST_GUEST_H

#include <stddef.h>
#include <stdint.h>

/* Platform (keep in sync with src/boot/layout.h). */
#define COM1 0x3f8
#define UART_THR 0
#define UART_RBR 0
#define UART_LSR 5
#define UART_SCR 7
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20
#define PORT_ACPI_SLEEP_CTL 0x600
#define ACPI_SLEEP_S5 ((5 << 2) | 0x20)
#define PORT_I8042_CMD 0x64
#define I8042_RESET 0xfe
#define PORT_RTC_INDEX 0x70
#define PORT_RTC_DATA 0x71

/* Nothing is registered at these. */
#define UNCLAIMED_PORT 0x530 /* 0x510 is fw_cfg */
#define UNCLAIMED_MMIO 0xd8000000ull

/* boot_params ("zero page") offsets. */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

/* MMIO: one mov of exactly the given width, never split or merged. */
static inline uint8_t mmio_read8(uint64_t addr)
{
	uint8_t v;
	__asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(addr) : "memory");
	return v;
}

static inline uint16_t mmio_read16(uint64_t addr)
{
	uint16_t v;
	__asm__ volatile("movw (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

static inline uint32_t mmio_read32(uint64_t addr)
{
	uint32_t v;
	__asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

static inline uint64_t mmio_read64(uint64_t addr)
{
	uint64_t v;
	__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

static inline void mmio_write8(uint64_t addr, uint8_t v)
{
	__asm__ volatile("movb %0, (%1)" : : "q"(v), "r"(addr) : "memory");
}

static inline void mmio_write16(uint64_t addr, uint16_t v)
{
	__asm__ volatile("movw %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}

static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	__asm__ volatile("movl %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}

static inline void mmio_write64(uint64_t addr, uint64_t v)
{
	__asm__ volatile("movq %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}

/* Little-endian loads from ordinary (possibly unaligned) guest RAM. */
static inline uint8_t mem8(uint64_t addr)
{
	return *(volatile const uint8_t *)addr;
}

uint16_t mem16(uint64_t addr);
uint32_t mem32(uint64_t addr);
uint64_t mem64(uint64_t addr);

/* Serial console. */
void serial_putc(char c);
void serial_puts(const char *s);
void serial_put_hex(uint64_t v);
void serial_put_dec(uint64_t v);
int serial_rx_ready(void);
uint8_t serial_getc(void); /* blocks (polls LSR) */

/* Report lines. */
void report_hex(const char *key, uint64_t v);
void report_dec(const char *key, uint64_t v);
void report_str(const char *key, const char *s);
void report_done(void);

__attribute__((noreturn)) void guest_fail(const char *file, int line, const char *what,
					  uint64_t a, uint64_t b);

#define GUEST_ASSERT(cond)                                                     \
	do {                                                                   \
		if (!(cond))                                                   \
			guest_fail(__FILE__, __LINE__, #cond, 0, 0);           \
	} while (0)

#define GUEST_ASSERT_EQ(a, b)                                                  \
	do {                                                                   \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);               \
		if (a_ != b_)                                                  \
			guest_fail(__FILE__, __LINE__, #a " == " #b, a_, b_);  \
	} while (0)

/* Power. Neither returns: if Hearth ignores the request we halt forever. */
__attribute__((noreturn)) void guest_poweroff(void);
__attribute__((noreturn)) void guest_reboot(void);
__attribute__((noreturn)) void guest_halt_forever(void);

/* Compilers may emit calls to these even in freestanding code. */
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* Each guest provides this; zero_page is boot_params' guest-physical address. */
/*
 * Interrupts, for the guests that take them (tick, pcienum): an
 * interrupt gate at vector v running isr (an assembly stub ending in
 * iretq), and the table loaded. Nothing else is in it.
 */
#ifdef __x86_64__
void guest_idt_gate(unsigned int v, void (*isr)(void));
void guest_idt_load(void);
#endif

void guest_main(uint64_t zero_page);

#endif
