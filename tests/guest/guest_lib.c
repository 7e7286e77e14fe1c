/* Shared code for the test guests; see guest.h. */
#include "guest.h"

uint16_t mem16(uint64_t addr)
{
	return (uint16_t)(mem8(addr) | (uint16_t)mem8(addr + 1) << 8);
}

uint32_t mem32(uint64_t addr)
{
	return (uint32_t)mem16(addr) | (uint32_t)mem16(addr + 2) << 16;
}

uint64_t mem64(uint64_t addr)
{
	return (uint64_t)mem32(addr) | (uint64_t)mem32(addr + 4) << 32;
}

void serial_putc(char c)
{
	/* Bounded wait: a broken LSR must not hang the guest silently. */
	for (unsigned int i = 0; i < 100000; i++)
		if (inb(COM1 + UART_LSR) & UART_LSR_THRE)
			break;
	outb(COM1 + UART_THR, (uint8_t)c);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

void serial_put_hex(uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char buf[19];
	int i = 18;

	buf[i] = 0;
	do {
		buf[--i] = digits[v & 0xf];
		v >>= 4;
	} while (v);
	buf[--i] = 'x';
	buf[--i] = '0';
	serial_puts(&buf[i]);
}

void serial_put_dec(uint64_t v)
{
	char buf[21];
	int i = 20;

	buf[i] = 0;
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	serial_puts(&buf[i]);
}

int serial_rx_ready(void)
{
	return inb(COM1 + UART_LSR) & UART_LSR_DR;
}

uint8_t serial_getc(void)
{
	while (!serial_rx_ready())
		;
	return inb(COM1 + UART_RBR);
}

static void report_key(const char *key)
{
	serial_puts("GUEST ");
	serial_puts(key);
	serial_putc('=');
}

void report_hex(const char *key, uint64_t v)
{
	report_key(key);
	serial_put_hex(v);
	serial_putc('\n');
}

void report_dec(const char *key, uint64_t v)
{
	report_key(key);
	serial_put_dec(v);
	serial_putc('\n');
}

void report_str(const char *key, const char *s)
{
	report_key(key);
	serial_puts(s);
	serial_putc('\n');
}

void report_done(void)
{
	serial_puts("GUEST done\n");
}

void guest_fail(const char *file, int line, const char *what, uint64_t a, uint64_t b)
{
	serial_puts("GUEST FAIL ");
	serial_puts(file);
	serial_putc(':');
	serial_put_dec((uint64_t)line);
	serial_puts(": ");
	serial_puts(what);
	serial_puts(" (");
	serial_put_hex(a);
	serial_puts(", ");
	serial_put_hex(b);
	serial_puts(")\n");
	guest_poweroff();
}

void guest_halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

void guest_poweroff(void)
{
	outb(PORT_ACPI_SLEEP_CTL, ACPI_SLEEP_S5);
	guest_halt_forever();
}

void guest_reboot(void)
{
	outb(PORT_I8042_CMD, I8042_RESET);
	guest_halt_forever();
}

void *memset(void *s, int c, size_t n)
{
	volatile uint8_t *p = s;
	while (n--)
		*p++ = (uint8_t)c;
	return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
	volatile uint8_t *dp = d;
	const uint8_t *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

#ifdef __x86_64__
/* Long mode's 16-byte gates (the Multiboot guests are 32-bit and take no interrupts). */
struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t ist, attr;
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));

void guest_idt_gate(unsigned int v, void (*isr)(void))
{
	uint64_t a = (uint64_t)isr;
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	idt[v & 0xff] = (struct idt_gate){ (uint16_t)a, cs, 0, 0x8e, (uint16_t)(a >> 16),
					   (uint32_t)(a >> 32), 0 };
}

void guest_idt_load(void)
{
	struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idtr = {
		sizeof(idt) - 1, (uint64_t)idt };

	__asm__ volatile("lidt %0" : : "m"(idtr));
}
#endif
