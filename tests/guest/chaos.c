/*
 * chaos: a fixed number of random operations from a seeded PRNG against
 * every device Hearth gave us (issue 9 section 5). Hearth must survive all
 * of it: no sanitizer report, no hang, no crash, a console that stays
 * well-formed. The run is a pure function of the seed (up to the timing
 * of Hearth's I/O thread), so a failure is replayed with the same seed.
 *
 * Command line (hearth run --cmdline "..."): "seed=S" (decimal or 0x hex;
 * default CHAOS_DEFAULT_SEED), "ops=N" (default CHAOS_DEFAULT_OPS; 0 runs
 * for ever, for the SIGTERM test), "devs=N" (how many virtio-mmio devices
 * the harness gave Hearth; a different count found is a failure), "ap=1"
 * (start the second vCPU, chaos_ap.S, to race the first; needs --cpus 2),
 * "pci=N" (a PCI VM with N virtio-pci functions: chaos_pci.c's operations
 * and port chaos instead of the virtio-mmio ones).
 *
 * Console: "chaos: seed S ops N" first, "chaos: op N" every PROGRESS ops,
 * "chaos: seed S done" at the end, plus GUEST report lines (guest.h). On a
 * problem the guest itself sees it prints "chaos: FAIL seed S ..." first.
 *
 * What the random writes must not do, and why:
 *  - End the run early. The reset and power-off registers are masked: no
 *    SLP_EN at the ACPI sleep control port 0x600, never the value 1 at the
 *    ACPI reset port 0x602, no RST_CPU bit at 0xcf9, no i8042 pulse command
 *    with the reset bit clear (0xf0-0xfe even) and never its "write output
 *    port" command 0xd1 (whose data byte could clear the reset line), and
 *    never the fast-reset bit (bit 0) of port 0x92.
 *  - Garble the console. A random write that would reach the UART's
 *    THR/DLL (0x3f8) becomes a read of the same width; the other UART
 *    registers get random writes (loopback, DLAB, FIFO control, ...), and
 *    uart_restore() puts LCR, IER, MCR and FCR back before every line we
 *    print, so each of our lines reaches the console whole.
 *  - Corrupt the guest itself. Hearth writes guest RAM for device-writable
 *    buffers and used rings, so every address we hand a device that lies
 *    in RAM lies in the scratch area (rings and buffers) or straddles the
 *    end of RAM; the rest point outside RAM (the MMIO hole, above 4 GiB,
 *    the top of the address space). Our code, stack and page tables are
 *    never a buffer. Indirect tables point into scratch, whose bytes are
 *    ours or a device's random output.
 * We never enable interrupts: devices may raise all they like.
 */
#include "chaos.h"

#define CHAOS_DEFAULT_SEED 0x5eed0001ull
#define CHAOS_DEFAULT_OPS 1500
#define PROGRESS 250

#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4

/* The second vCPU (ap=1): chaos_ap.S brings it to chaos_ap_main(). */
#define CHAOS_AP_TRAMPOLINE 0x10000ull
#define CHAOS_AP_STACK 16384
#define LAPIC_SVR 0xfee000f0ull
#define LAPIC_ICR_LO 0xfee00300ull
#define LAPIC_ICR_HI 0xfee00310ull

extern const char chaos_ap_tramp[], chaos_ap_tramp_end[];
extern char chaos_ap_stack_top[];
void chaos_ap_main(void);

struct vdev devs[MAX_DEVS];
unsigned int ndevs;
uint64_t seed, ram_end;
static uint64_t rng_state, ap_rng_state;
static volatile uint32_t ap_running, ap_wild;

/*
 * splitmix64: tiny, full-period, and good enough to drive chaos. Each
 * vCPU has its own state, told apart by the stack we run on (there is no
 * per-CPU storage in a guest this small).
 */
uint64_t rnd(void)
{
	char here;
	uint64_t *st = (uint64_t)&here < (uint64_t)chaos_ap_stack_top &&
			       (uint64_t)&here >= (uint64_t)chaos_ap_stack_top - CHAOS_AP_STACK
		       ? &ap_rng_state : &rng_state;
	uint64_t z = (*st += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

int chance(unsigned int percent)
{
	return below(100) < percent;
}

static void uart_restore(void)
{
	outb(COM1 + UART_LCR, 0x03); /* 8N1, DLAB off */
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_MCR, 0x03); /* DTR, RTS; no loopback */
	outb(COM1 + UART_FCR, 0x07);
}

static void say(const char *s)
{
	uart_restore();
	serial_puts(s);
}

void chaos_fail(const char *what, uint64_t a, uint64_t b)
{
	say("chaos: FAIL seed ");
	serial_put_dec(seed);
	serial_puts(" ");
	serial_puts(what);
	serial_putc('\n');
	guest_fail(__FILE__, __LINE__, what, a, b);
}

/* ------------------------------------------------------ command line */

static int parse_num(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int base = 10, n = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++, n++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned int)(*s - 'A' + 10);
		else
			break;
		v = v * (uint64_t)base + d;
	}
	*out = v;
	return n > 0 && (*s == 0 || *s == ' ');
}

/* Finds "key=" at a word start in cmdline; returns 1 with *out set. */
static int cmdline_num(const char *cmdline, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);

	for (const char *p = cmdline; *p; p++) {
		if ((p == cmdline || p[-1] == ' ') && !memcmp(p, key, klen) && p[klen] == '=')
			return parse_num(p + klen + 1, out);
	}
	return 0;
}

static void read_cmdline(uint64_t zp, char *buf, unsigned int size)
{
	uint64_t ptr = mem32(zp + BP_CMD_LINE_PTR) | (uint64_t)mem32(zp + BP_EXT_CMD_LINE_PTR) << 32;
	unsigned int i = 0;

	if (ptr)
		for (; i < size - 1 && (buf[i] = (char)mem8(ptr + i)); i++)
			;
	buf[i] = 0;
}

static uint64_t find_ram_end(uint64_t zp)
{
	unsigned int n = mem8(zp + BP_E820_ENTRIES);
	uint64_t end = 0;

	for (unsigned int i = 0; i < n && i < BP_E820_MAX; i++) {
		uint64_t e = zp + BP_E820_TABLE + 20ull * i;

		if (mem32(e + 16) == 1 && mem64(e) + mem64(e + 8) > end)
			end = mem64(e) + mem64(e + 8);
	}
	return end;
}

/* ------------------------------------------------------------ probing */

static void probe(void)
{
	for (unsigned int s = 0; s < VIRTIO_SLOTS; s++) {
		uint64_t base = VIRTIO_BASE + s * VIRTIO_STRIDE;
		uint32_t magic = mmio_read32(base + R_MAGIC);

		if (magic == 0xffffffffu)
			continue; /* an empty slot: the bus answers all-ones */
		if (magic != MMIO_MAGIC || ndevs == MAX_DEVS)
			chaos_fail("bad virtio-mmio magic or too many devices", base, magic);
		struct vdev *d = &devs[ndevs++];

		d->base = base;
		d->id = reg_read(d, R_DEVICE_ID);
		if (reg_read(d, R_VERSION) != 2)
			chaos_fail("virtio-mmio version is not 2", base, reg_read(d, R_VERSION));
		reg_write(d, R_STATUS, 0);
		for (d->nq = 0; d->nq < MAX_QUEUES; d->nq++) {
			reg_write(d, R_QUEUE_SEL, d->nq);
			uint32_t max = reg_read(d, R_QUEUE_NUM_MAX);

			if (!max)
				break;
			if (!d->qmax)
				d->qmax = max;
		}
		reg_write(d, R_DEV_FEAT_SEL, 0);
		d->offered = reg_read(d, R_DEV_FEAT);
		reg_write(d, R_DEV_FEAT_SEL, 1);
		d->offered |= (uint64_t)reg_read(d, R_DEV_FEAT) << 32;
		if (!d->nq || !(d->offered & F_VERSION_1))
			chaos_fail("device without queues or VERSION_1", base, d->offered);
	}
}

/* ----------------------------------------------------- register chaos */

static uint64_t chaos_value(void)
{
	switch (below(4)) {
	case 0:
		return 0;
	case 1:
		return ~0ull;
	case 2:
		return below(512);
	default:
		return rnd();
	}
}

static void mmio_access(uint64_t addr, unsigned int width, int write, uint64_t v)
{
	switch (width) {
	case 1:
		if (write)
			mmio_write8(addr, (uint8_t)v);
		else
			(void)mmio_read8(addr);
		break;
	case 2:
		if (write)
			mmio_write16(addr, (uint16_t)v);
		else
			(void)mmio_read16(addr);
		break;
	case 4:
		if (write)
			mmio_write32(addr, (uint32_t)v);
		else
			(void)mmio_read32(addr);
		break;
	default:
		if (write)
			mmio_write64(addr, v);
		else
			(void)mmio_read64(addr);
		break;
	}
}

/* Any register of any window (empty slots too), any width, any value. */
static void op_mmio(void)
{
	uint64_t base = chance(90) && ndevs ? devs[below(ndevs)].base
					    : VIRTIO_BASE + below(VIRTIO_SLOTS) * VIRTIO_STRIDE;
	uint64_t off = chance(70) ? below(0x100) : chance(80) ? 0x100 + below(0x100) : below(0x1000);
	unsigned int width = 1u << below(4);

	if (chance(60))
		off &= ~(uint64_t)(width - 1);
	if (off + width > VIRTIO_STRIDE)
		off = VIRTIO_STRIDE - width;
	mmio_access(base + off, width, chance(50), chaos_value());
}

/* A random register read: the same race, without changing any state. */
static void op_mmio_read(void)
{
	uint64_t base = devs[below(ndevs)].base;
	unsigned int width = 1u << below(4);

	mmio_access(base + (below(0x200) & ~(uint64_t)(width - 1)), width, 0, 0);
}

/* Hearth's own legacy ports; KVM's in-kernel PIC and PIT are not ours to test. */
static const struct {
	uint16_t base, len;
} ports[] = {
	{ 0x3f8, 8 }, { 0x60, 5 }, { 0x70, 2 }, { 0x600, 3 }, { 0x92, 1 }, { 0xcf8, 8 },
	{ 0x80, 1 }, { 0x00, 0x20 }, { 0xc0, 0x20 }, { 0x1f0, 8 }, { 0x2f8, 8 }, { 0x3c0, 0x20 },
	{ 0x510, 4 }, /* 0x4d0 (ELCR) is KVM's in-kernel PIC's */
};

/* The byte that reaches port p, made harmless (see the comment at the top). */
static uint8_t port_mask(uint16_t p, uint8_t b)
{
	if (p == 0x64 && (b & 0xf0) == 0xf0)
		return b | 0x01; /* a pulse that leaves the reset line alone */
	if (p == 0x64 && b == 0xd1)
		return 0xd0;
	if (p == 0x600)
		return b & (uint8_t)~0x20; /* never SLP_EN */
	if (p == 0x602 && b == 0x01)
		return 0x00;
	if (p == 0xcf9)
		return b & (uint8_t)~0x04; /* never RST_CPU */
	if (p == 0x92)
		return b & (uint8_t)~0x01; /* never the fast reset */
	return b;
}

static void op_pio(void)
{
	unsigned int i = (unsigned int)below(sizeof(ports) / sizeof(ports[0]));
	uint16_t port = (uint16_t)(ports[i].base + below(ports[i].len));
	unsigned int width = chance(60) ? 1 : chance(50) ? 2 : 4;
	int write = chance(50);
	uint32_t v = (uint32_t)chaos_value();

	if (port + width > 0x3f8 && port <= 0x3f8)
		write = 0; /* would reach THR: a stray byte on the console */
	for (unsigned int k = 0; k < width; k++) {
		uint8_t b = port_mask((uint16_t)(port + k), (uint8_t)(v >> (8 * k)));

		v = (v & ~(0xffu << (8 * k))) | (uint32_t)b << (8 * k);
	}
	if (width == 1)
		write ? outb(port, (uint8_t)v) : (void)inb(port);
	else if (width == 2)
		write ? outw(port, (uint16_t)v) : (void)inw(port);
	else
		write ? outl(port, v) : (void)inl(port);
}

static void op_irq(struct vdev *d)
{
	reg_write(d, R_INT_ACK, chance(80) ? reg_read(d, R_INT_STATUS) : (uint32_t)rnd());
}

static void one_op(void)
{
	struct vdev *d = &devs[below(ndevs)];
	unsigned int r = (unsigned int)below(100);

	/*
	 * A device the chaos left failed is mostly set up again first, or
	 * little would reach its request paths.
	 */
	if (r >= 48 && r < 94 && chance(70) &&
	    (reg_read(d, R_STATUS) & (S_NEEDS_RESET | S_DRIVER_OK)) != S_DRIVER_OK)
		op_setup((unsigned int)(d - devs));
	if (r < 25)
		op_mmio();
	else if (r < 40)
		op_pio();
	else if (r < 48)
		op_setup((unsigned int)(d - devs));
	else if (r < 70)
		op_requests(d);
	else if (r < 82)
		op_garbage_ring(d);
	else if (r < 94)
		op_rewrite_in_use(d);
	else
		op_irq(d);
}

/*
 * The second vCPU: register chaos on the same devices at the same time as
 * the first one's setups and rings, so Hearth's vCPU threads race each
 * other and the I/O thread. Every other PROGRESS block of the first
 * vCPU's operations it only reads registers, or its resets would leave
 * the devices little time to complete anything. Never port I/O: the
 * console is the first vCPU's, and a DLAB or loopback bit set between its
 * restore and its bytes would garble a line.
 */
/* The second vCPU's setups' ring bookkeeping (op_setup_into), never the first one's. */
static struct vq ap_q[MAX_QUEUES];

void chaos_ap_main(void)
{
	ap_running = 1;
	for (;;) {
		struct vdev *d = &devs[below(ndevs)];
		unsigned int r = (unsigned int)below(100);

		if (!ap_wild)
			op_mmio_read();
		else if (r < 60)
			op_mmio();
		else if (r < 70)
			op_irq(d);
		else if (r < 80) /* reset under the other vCPU's feet */
			reg_write(d, R_STATUS, chance(50) ? 0 : (uint32_t)chaos_value());
		else if (r < 95)
			reg_write(d, R_QUEUE_NOTIFY, (uint32_t)below(d->nq + 1));
		else
			op_setup_into((unsigned int)(d - devs), ap_q);
	}
}

static void ap_start(void)
{
	const char *src = chaos_ap_tramp;

	for (uint64_t i = 0; src + i < chaos_ap_tramp_end; i++)
		*(volatile char *)(CHAOS_AP_TRAMPOLINE + i) = src[i];
	mmio_write32(LAPIC_SVR, 0x1ff); /* APIC on, spurious vector 0xff */
	mmio_write32(LAPIC_ICR_HI, 1u << 24); /* APIC ID 1 */
	mmio_write32(LAPIC_ICR_LO, 0x4500); /* INIT, assert */
	for (unsigned int i = 0; i < 3 && !ap_running; i++) {
		mmio_write32(LAPIC_ICR_HI, 1u << 24);
		mmio_write32(LAPIC_ICR_LO, 0x4600 | (CHAOS_AP_TRAMPOLINE >> 12)); /* SIPI */
		/* A bounded wait, counted in port reads (each one an exit), not time. */
		for (unsigned int k = 0; k < 20000 && !ap_running; k++)
			(void)inb(0x80);
	}
	if (!ap_running)
		chaos_fail("the second vCPU did not start", 0, 0);
}

static void check_console(void)
{
	/* After restoring it, the UART must be a UART again: scratch round-trips. */
	uart_restore();
	outb(COM1 + UART_SCR, 0x5a);
	if (inb(COM1 + UART_SCR) != 0x5a)
		chaos_fail("UART scratch register does not round-trip", 0x5a, inb(COM1 + UART_SCR));
}

/* The PCI VM's run: its functions' configuration spaces and BARs, and the ports. */
static void run_pci(uint64_t ops, uint64_t want)
{
	unsigned int n = pci_probe();

	if (n != want)
		chaos_fail("virtio-pci function count", n, want);
	for (uint64_t i = 0; !ops || i < ops; i++) {
		if (i % PROGRESS == 0) {
			check_console();
			say("chaos: op ");
			serial_put_dec(i);
			serial_putc('\n');
		}
		if (chance(80))
			pci_one_op();
		else
			op_pio();
	}
	pci_finish();
	check_console();
	report_dec("pci_funcs", n);
	report_dec("pci_cfg_ops", pci_cfg_ops);
	report_dec("pci_bar_ops", pci_bar_ops);
	report_dec("pci_hotplug_ops", pci_hp_ops);
	say("chaos: seed ");
	serial_put_dec(seed);
	serial_puts(" done\n");
	report_done();
}

void guest_main(uint64_t zp)
{
	char cmdline[256];
	uint64_t ops = CHAOS_DEFAULT_OPS, want_devs = 0, ap = 0, want_pci = 0;

	read_cmdline(zp, cmdline, sizeof(cmdline));
	seed = CHAOS_DEFAULT_SEED;
	cmdline_num(cmdline, "seed", &seed);
	cmdline_num(cmdline, "ops", &ops);
	cmdline_num(cmdline, "devs", &want_devs);
	cmdline_num(cmdline, "ap", &ap);
	cmdline_num(cmdline, "pci", &want_pci);
	rng_state = seed;
	ap_rng_state = ~seed;
	ram_end = find_ram_end(zp);
	say("chaos: seed ");
	serial_put_dec(seed);
	serial_puts(" ops ");
	serial_put_dec(ops);
	serial_putc('\n');
	if (ram_end < SCRATCH_END)
		chaos_fail("too little RAM for the scratch area", ram_end, SCRATCH_END);

	if (want_pci) {
		run_pci(ops, want_pci);
		return;
	}
	probe();
	if (!ndevs || (want_devs && ndevs != want_devs))
		chaos_fail("virtio-mmio device count", ndevs, want_devs);
	for (unsigned int i = 0; i < ndevs; i++)
		op_setup(i);
	if (ap)
		ap_start();
	report_dec("ap", ap_running);

	for (uint64_t n = 0; !ops || n < ops; n++) {
		if (n % PROGRESS == 0) {
			ap_wild = (uint32_t)(n / PROGRESS) & 1;
			check_console();
			say("chaos: op ");
			serial_put_dec(n);
			serial_putc('\n');
		}
		one_op();
	}

	/* Leave every device reset, then report what was exercised. */
	ap_wild = 0;
	for (unsigned int i = 0; i < ndevs; i++)
		reg_write(&devs[i], R_STATUS, 0);
	check_console();
	uint64_t ids = 0;

	for (unsigned int i = 0; i < ndevs; i++) {
		char key[] = "live_0", moves[] = "used_0";

		ids |= 1ull << (devs[i].id & 63);
		key[5] = moves[5] = (char)('0' + i);
		report_dec(key, devs[i].lives);
		report_dec(moves, devs[i].used_moves);
	}
	report_hex("device_ids", ids);
	say("chaos: seed ");
	serial_put_dec(seed);
	serial_puts(" done\n");
	report_done();
}
