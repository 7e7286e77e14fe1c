/*
 * tick: a guest that sleeps between its lines, for clone benchmarks
 * (bench/clones.py): what a restored clone costs is then the restore's,
 * not the CPU a busy guest burns. At boot it writes touch=MiB of RAM from
 * 16 MiB up (a pattern of its page numbers), then takes the PIT's IRQ 0
 * at 20 Hz through the PIC (its own IDT entry, vector 0x20) and on each
 * tick writes "tick N line L" and rewrites the first dirty=MiB of that RAM with
 * the same pattern, then halts until the next. Written again after a
 * restore, those pages become each clone's own copies, identical in every
 * clone: what KSM (--mem-merge) can fold back into one. With every=K it
 * does so on every Kth tick only: a thousand clones each writing 20
 * lines a second to their serial ports would keep two host cores busy
 * with the guests, not the restores.
 * Command line: "touch=MiB dirty=MiB every=K" (defaults 32, 4 and 1).
 *
 * N is the tick counter and L the line's own number from 1. They differ
 * when two PIT ticks reach the guest in one wake (the second pending in
 * the PIC while the first's handler runs, as happens when its vCPU waits
 * on a loaded host): N then skips, L never does. A test that asks
 * whether any output was lost or said twice (a migration's switch-over,
 * a restore) counts L; one that asks how far time went counts N.
 */
#include "guest.h"

#define AREA_BASE (16ull << 20)
#define PIT_HZ 1193182u
#define TICK_HZ 20u

volatile uint64_t ticks;

void tick_isr(void);
__asm__(".globl tick_isr\n"
	"tick_isr:\n"
	"  push %rax\n"
	"  lock incq ticks(%rip)\n"
	"  movb $0x20, %al\n"
	"  outb %al, $0x20\n"        /* the PIC's end of interrupt */
	"  pop %rax\n"
	"  iretq\n");

static uint64_t cmdline_mib(uint64_t zp, const char *key, uint64_t dflt)
{
	uint64_t ptr = mem32(zp + BP_CMD_LINE_PTR) | (uint64_t)mem32(zp + BP_EXT_CMD_LINE_PTR) << 32;
	size_t klen = 0;

	while (key[klen])
		klen++;
	for (uint64_t i = 0; ptr && mem8(ptr + i); i++) {
		if ((i == 0 || mem8(ptr + i - 1) == ' ') && mem8(ptr + i + klen) == '=') {
			size_t k = 0;
			uint64_t v = 0;

			while (k < klen && mem8(ptr + i + k) == (uint8_t)key[k])
				k++;
			if (k < klen)
				continue;
			for (uint64_t j = i + klen + 1; mem8(ptr + j) >= '0' && mem8(ptr + j) <= '9'; j++)
				v = v * 10 + (mem8(ptr + j) - '0');
			return v;
		}
	}
	return dflt;
}

static void area_write(uint64_t mib)
{
	for (uint64_t a = AREA_BASE; a < AREA_BASE + (mib << 20); a += 4096)
		for (unsigned int w = 0; w < 4096; w += 512)
			*(volatile uint64_t *)(a + w) = (a >> 12) * 2654435761u + w;
}

static void idt_install(void)
{
	guest_idt_gate(0x20, tick_isr);
	guest_idt_load();
}

static void pic_pit_start(void)
{
	uint16_t div = PIT_HZ / TICK_HZ;

	outb(0x20, 0x11); outb(0xa0, 0x11);   /* ICW1: edge, cascade, ICW4 */
	outb(0x21, 0x20); outb(0xa1, 0x28);   /* vectors 0x20 and 0x28 */
	outb(0x21, 0x04); outb(0xa1, 0x02);   /* the slave on IRQ 2 */
	outb(0x21, 0x01); outb(0xa1, 0x01);   /* 8086 mode */
	outb(0x21, 0xfe); outb(0xa1, 0xff);   /* IRQ 0 only */
	outb(0x43, 0x34);                     /* channel 0, rate generator */
	outb(0x40, (uint8_t)div);
	outb(0x40, (uint8_t)(div >> 8));
}

void guest_main(uint64_t zp)
{
	uint64_t touch = cmdline_mib(zp, "touch", 32), dirty = cmdline_mib(zp, "dirty", 4);
	uint64_t every = cmdline_mib(zp, "every", 1), seen = 0, line = 0;

	if (!every)
		every = 1;

	if (dirty > touch)
		dirty = touch;
	area_write(touch);
	serial_puts("tick ready touch=");
	serial_put_dec(touch);
	serial_puts(" dirty=");
	serial_put_dec(dirty);
	serial_puts("\n");
	idt_install();
	pic_pit_start();
	for (;;) {
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		if (ticks == seen || ticks % every)
			continue;
		seen = ticks;
		area_write(dirty);
		serial_puts("tick ");
		serial_put_dec(seen);
		serial_puts(" line ");
		serial_put_dec(++line);
		serial_puts("\n");
	}
}
