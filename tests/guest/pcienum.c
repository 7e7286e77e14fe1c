/*
 * pcienum: a driver's first contact with the PCI root (run with --pci and
 * virtio-rng), no firmware in between:
 * - the host bridge through ports 0xcf8/0xcfc, every slot of bus 0
 *   through ECAM (absent ones all ones), one register read both ways;
 * - the rng's function: its ids, BAR 0 sized (all ones reads the size
 *   back) and put back, the capability list walked (virtio's common,
 *   notify, ISR, device configuration and MSI-X);
 * - virtio-pci brought up by hand (status, VERSION_1, one queue with
 *   vector 1), the LAPIC on, the vector's table entry pointed at it;
 *   a buffer posted and kicked: the device fills it and the interrupt
 *   comes through MSI-X (an IDT gate counts it);
 * - the vector masked: the next buffer completes without an interrupt,
 *   the pending bit shows it, and unmasking delivers it.
 * Reports: host, rng_slot, absent, bar0_size, caps, msix_irqs,
 * masked_irqs, pending, unmasked_irqs, filled.
 */
#include "guest.h"

#define ECAM 0xe0000000ull
#define LAPIC 0xfee00000ull
#define VEC 0x41
#define RING 0x800000ull        /* descriptors, then avail, then used */
#define BUF 0x810000ull
#define QSIZE 8u
#define WAIT 2000000u

volatile uint64_t msix_irqs;

void msix_isr(void);
void spurious_isr(void);
__asm__(".globl msix_isr\n"
	"msix_isr:\n"
	"  push %rax\n"
	"  lock incq msix_irqs(%rip)\n"
	"  movl $0xfee000b0, %eax\n"    /* the LAPIC's end of interrupt */
	"  movl $0, (%rax)\n"
	"  pop %rax\n"
	"  iretq\n"
	".globl spurious_isr\n"
	"spurious_isr:\n"
	"  iretq\n");

static void idt_install(void)
{
	guest_idt_gate(VEC, msix_isr);
	guest_idt_gate(0xff, spurious_isr);
	guest_idt_load();
}

static uint64_t ecam(unsigned int dev, unsigned int reg)
{
	return ECAM + ((uint64_t)dev << 15) + reg;
}

static uint32_t conf1_read(unsigned int dev, unsigned int reg)
{
	outl(0xcf8, 0x80000000u | dev << 11 | (reg & 0xfc));
	return inl(0xcfc);
}

static uint16_t ring_word(uint64_t a)
{
	return *(volatile uint16_t *)a;
}

static void wait_used(uint64_t used, uint16_t idx)
{
	for (unsigned int i = 0; i < WAIT && ring_word(used + 2) != idx; i++)
		__asm__ volatile("pause");
	GUEST_ASSERT_EQ(ring_word(used + 2), idx);
}

static void wait_irqs(uint64_t want)
{
	for (unsigned int i = 0; i < WAIT && msix_irqs < want; i++)
		__asm__ volatile("sti; pause; cli");
}

static void post(uint64_t desc, uint64_t avail, uint16_t idx)
{
	*(volatile uint64_t *)desc = BUF + idx * 64u;
	*(volatile uint32_t *)(desc + 8) = 64;
	*(volatile uint16_t *)(desc + 12) = 2;               /* VIRTQ_DESC_F_WRITE */
	*(volatile uint16_t *)(avail + 4 + 2 * (idx % QSIZE)) = 0;
	*(volatile uint16_t *)(avail + 2) = (uint16_t)(idx + 1);
}

void guest_main(uint64_t zp)
{
	uint64_t bar, common = 0, notify = 0, table = 0, pba = 0, sz;
	uint32_t mult = 0, bar0;
	unsigned int slot = 0, absent = 0, caps = 0, msix = 0;
	uint64_t desc = RING, avail = RING + 16 * QSIZE, used = RING + 0x1000;
	uint8_t st;

	(void)zp;
	outb(0x21, 0xff);                                   /* the PICs masked */
	outb(0xa1, 0xff);
	/* The host bridge, by both mechanisms. */
	GUEST_ASSERT_EQ(conf1_read(0, 0), 0x0d578086);
	GUEST_ASSERT_EQ(mmio_read32(ecam(0, 0)), 0x0d578086);
	GUEST_ASSERT_EQ(mmio_read32(ecam(0, 8)) >> 8, 0x060000);
	report_str("host", "ok");
	for (unsigned int d = 1; d < 32; d++) {
		uint32_t id = mmio_read32(ecam(d, 0));

		if (id == 0xffffffffu)
			absent++;
		else if (id == 0x10441af4u)
			slot = d;
	}
	GUEST_ASSERT(slot != 0);
	GUEST_ASSERT_EQ(conf1_read(slot, 0), 0x10441af4u);
	GUEST_ASSERT_EQ(conf1_read(slot, 0x2c), mmio_read32(ecam(slot, 0x2c)));
	report_dec("rng_slot", slot);
	report_dec("absent", absent);
	/* BAR 0: sized, then put back where firmware would have it. */
	bar0 = mmio_read32(ecam(slot, 0x10));
	mmio_write32(ecam(slot, 0x10), 0xffffffffu);
	sz = ~(uint64_t)(mmio_read32(ecam(slot, 0x10)) & ~0xfu) + 1;
	sz &= 0xffffffffu;
	mmio_write32(ecam(slot, 0x10), bar0);
	GUEST_ASSERT_EQ(mmio_read32(ecam(slot, 0x10)), bar0);
	report_hex("bar0_size", sz);
	bar = bar0 & ~0xfu;
	GUEST_ASSERT(bar >= 0xe8000000ull && bar + sz <= 0xfc000000ull);
	/* The capability list. */
	for (unsigned int c = mmio_read8(ecam(slot, 0x34)), n = 0; c && n < 48; n++) {
		uint8_t id = mmio_read8(ecam(slot, c));

		if (id == 0x09) {
			uint8_t type = mmio_read8(ecam(slot, c + 3));
			uint64_t at = bar + mmio_read32(ecam(slot, c + 8));

			GUEST_ASSERT_EQ(mmio_read8(ecam(slot, c + 4)), 0);
			if (type == 1)
				common = at;
			if (type == 2) {
				notify = at;
				mult = mmio_read32(ecam(slot, c + 16));
			}
			caps |= 1u << type;
		} else if (id == 0x11) {
			msix = c;
			table = bar + (mmio_read32(ecam(slot, c + 4)) & ~7u);
			pba = bar + (mmio_read32(ecam(slot, c + 8)) & ~7u);
			caps |= 1u << 7;
		}
		c = mmio_read8(ecam(slot, c + 1));
	}
	report_hex("caps", caps);
	GUEST_ASSERT(common && notify && msix);
	/* Memory decoding and bus mastering on; MSI-X on, the function masked while set up. */
	mmio_write16(ecam(slot, 4), 0x6);
	mmio_write16(ecam(slot, msix + 2), 0xc000);
	/* The LAPIC, and vector 1's entry pointing at it. */
	idt_install();
	mmio_write32(LAPIC + 0x80, 0);                        /* TPR */
	mmio_write32(LAPIC + 0xf0, 0x1ff);                    /* enabled, spurious 0xff */
	mmio_write32(table + 16, 0xfee00000u | (mmio_read32(LAPIC + 0x20) >> 24) << 12);
	mmio_write32(table + 20, 0);
	mmio_write32(table + 24, VEC);
	mmio_write32(table + 28, 0);                          /* unmasked */
	mmio_write16(ecam(slot, msix + 2), 0x8000);           /* enabled, function unmasked */
	/* virtio: reset, ACKNOWLEDGE | DRIVER, VERSION_1, FEATURES_OK. */
	mmio_write8(common + 0x14, 0);
	mmio_write8(common + 0x14, 3);
	mmio_write32(common + 0x00, 1);
	GUEST_ASSERT(mmio_read32(common + 0x04) & 1);
	mmio_write32(common + 0x08, 1);
	mmio_write32(common + 0x0c, 1);
	mmio_write8(common + 0x14, 3 | 8);
	st = mmio_read8(common + 0x14);
	GUEST_ASSERT_EQ(st & 8, 8);
	/* Queue 0: 8 entries, vector 1. */
	for (uint64_t a = RING; a < RING + 0x2000; a += 8)
		*(volatile uint64_t *)a = 0;
	mmio_write16(common + 0x16, 0);
	mmio_write16(common + 0x18, QSIZE);
	mmio_write16(common + 0x1a, 1);
	GUEST_ASSERT_EQ(mmio_read16(common + 0x1a), 1);
	mmio_write32(common + 0x20, (uint32_t)desc);
	mmio_write32(common + 0x24, 0);
	mmio_write32(common + 0x28, (uint32_t)avail);
	mmio_write32(common + 0x2c, 0);
	mmio_write32(common + 0x30, (uint32_t)used);
	mmio_write32(common + 0x34, 0);
	mmio_write16(common + 0x1c, 1);
	mmio_write8(common + 0x14, 3 | 8 | 4);
	/* A buffer, kicked: filled, and one interrupt through vector 1. */
	post(desc, avail, 0);
	mmio_write16(notify + mult * mmio_read16(common + 0x1e), 0);
	wait_used(used, 1);
	wait_irqs(1);
	report_dec("msix_irqs", msix_irqs);
	report_dec("filled", *(volatile uint32_t *)(used + 8));
	/* Masked: the next completes without one, and its pending bit is set. */
	mmio_write32(table + 28, 1);
	post(desc, avail, 1);
	mmio_write16(notify + mult * mmio_read16(common + 0x1e), 0);
	wait_used(used, 2);
	wait_irqs(2);
	report_dec("masked_irqs", msix_irqs);
	report_hex("pending", mmio_read32(pba));
	/* Unmasked: the pending one goes out. */
	mmio_write32(table + 28, 0);
	wait_irqs(2);
	report_dec("unmasked_irqs", msix_irqs);
	report_done();
	guest_poweroff();
}
