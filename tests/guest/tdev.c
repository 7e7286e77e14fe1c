/*
 * tdev: a Multiboot guest for --test-devices (pc-testdev). Without the
 * flag it finds nothing at port 0xe0 and says so; with it, it checks the
 * latch, the MMIO window and the flush port, then toggles ISA IRQ 5
 * through port 0x2005 and counts the interrupts the IOAPIC delivers.
 */
#include "mb.h"

#define TEST_IRQ 5
#define TEST_VECTOR 0x45
#define WAIT_BUDGET 50000000u
#define IDT_ENTRIES 256

void mb_main(uint32_t magic, uint32_t info);
void ap_main(uint32_t id);
void irq_stub(void);
void other_stub(void);

volatile uint32_t irq_count, other_count;
static uint64_t idt[IDT_ENTRIES];
static volatile uint32_t flush_page[1024] __attribute__((aligned(4096)));

/* The handler counts and acknowledges; anything else is counted as unexpected. */
__asm__(".globl irq_stub, other_stub\n"
	"irq_stub:\n"
	"	lock incl irq_count\n"
	"	movl $0, 0xfee000b0\n"
	"	iret\n"
	"other_stub:\n"
	"	lock incl other_count\n"
	"	iret\n");

/* No AP is started here; mb_start.S needs the symbol. */
void ap_main(uint32_t id)
{
	(void)id;
}

static uint64_t gate(void (*fn)(void))
{
	uint32_t off = (uint32_t)(uintptr_t)fn;

	return (uint64_t)((off & 0xffff) | (0x08u << 16)) |
	       ((uint64_t)((off & 0xffff0000u) | 0x8e00u) << 32);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	wr32(IOAPIC_BASE, reg);
	wr32(IOAPIC_BASE + 0x10, v);
}

static uint32_t wait_irqs(uint32_t want, uint32_t budget)
{
	for (uint32_t i = 0; i < budget && irq_count < want; i++)
		__asm__ volatile("pause");
	return irq_count;
}

static void check_irq(void)
{
	struct __attribute__((packed)) { uint16_t limit; uint32_t base; } idtr = {
		sizeof(idt) - 1, (uint32_t)(uintptr_t)idt };

	for (int i = 0; i < IDT_ENTRIES; i++)
		idt[i] = gate(other_stub);
	idt[TEST_VECTOR] = gate(irq_stub);
	__asm__ volatile("lidt %0" : : "m"(idtr));
	outb(0x21, 0xff); /* the 8259s stay out of it */
	outb(0xa1, 0xff);
	wr32(LAPIC_BASE + LAPIC_SVR, 0x1ff);
	wr32(LAPIC_BASE + LAPIC_LVT0, 1u << 16);
	/* Edge, active high, fixed, to APIC 0. */
	ioapic_write(0x10 + 2 * TEST_IRQ + 1, 0);
	ioapic_write(0x10 + 2 * TEST_IRQ, TEST_VECTOR);
	__asm__ volatile("sti");
	/* A short look: nothing may arrive before the line is raised. */
	report_dec("irq_before", wait_irqs(1, WAIT_BUDGET / 50));
	outb(0x2000 + TEST_IRQ, 1);
	report_dec("irq_raised", wait_irqs(1, WAIT_BUDGET));
	outb(0x2000 + TEST_IRQ, 0);
	outb(0x2000 + TEST_IRQ, 1);
	report_dec("irq_again", wait_irqs(2, WAIT_BUDGET));
	outb(0x2000 + TEST_IRQ, 0);
	__asm__ volatile("cli");
	report_dec("irq_unexpected", other_count);
}

void mb_main(uint32_t magic, uint32_t info)
{
	(void)info;
	GUEST_ASSERT_EQ(magic, MB_BOOT_MAGIC);
	outl(0xe0, 0x12345678);
	uint32_t v = inl(0xe0);
	if (v == 0xffffffffu) {
		report_str("testdev", "absent");
		report_done();
		return;
	}
	report_str("testdev", "present");
	report_hex("latch", v);
	outb(0xe1, 0xab);
	report_hex("latch_byte", inl(0xe0));

	wr32(0xff000100u, 0xdeadbeef);
	wr32(0xff00fffcu, 0x01020304);
	report_hex("iomem", rd32(0xff000100u));
	report_hex("iomem_end", rd32(0xff00fffcu));

	flush_page[0] = 0x5a5a5a5a;
	outl(0xe4, (uint32_t)(uintptr_t)flush_page);
	report_hex("flushed", flush_page[0]);

	check_irq();
	report_done();
}
