/*
 * mbtest: a Multiboot v1 kernel, as x86 test kernels are. Checks EAX and
 * EBX, reports the information structure (memory, memory map, command
 * line, module, loader name), reads fw_cfg, wakes the APs with INIT/SIPI
 * and has each report in, then ends through the debug-exit port with
 * MBTEST_EXIT_VALUE (hearth's status is then (0x21 << 1) | 1 = 67), or,
 * with "reset=92" on its command line, resets through port 0x92.
 */
#include "mb.h"

#define MBTEST_EXIT_VALUE 0x21
#define MMAP_MAX_ENTRIES 64
#define AP_WAIT_BUDGET 200000000u

extern const char ap_trampoline[], ap_trampoline_end[];
static volatile uint32_t ap_mask, ap_count;

void ap_main(uint32_t id);
void mb_main(uint32_t magic, uint32_t info);

void ap_main(uint32_t id)
{
	__atomic_fetch_or(&ap_mask, 1u << id, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&ap_count, 1, __ATOMIC_SEQ_CST);
}

static void check_info(uint32_t info)
{
	uint32_t flags = mem32(info);

	report_hex("mbi_flags", flags);
	/* mem, cmdline, mods, mmap, loader name */
	GUEST_ASSERT_EQ(flags & 0x24d, 0x24d);
	report_dec("mem_lower", mem32(info + 4));
	report_dec("mem_upper", mem32(info + 8));
	report_str("cmdline", str_at(mem32(info + 16)));
	report_str("loader", str_at(mem32(info + 64)));

	uint32_t p = mem32(info + 48), end = p + mem32(info + 44);
	uint64_t ram = 0;
	unsigned int n = 0;
	while (p < end && n < MMAP_MAX_ENTRIES) {
		uint32_t size = mem32(p);
		GUEST_ASSERT_EQ(size, 20);
		if (mem32(p + 20) == 1)
			ram += mem64(p + 12);
		p += size + 4;
		n++;
	}
	report_dec("mmap_entries", n);
	report_dec("mmap_ram_kib", ram >> 10);

	uint32_t mods = mem32(info + 20), mod = mem32(info + 24);
	report_dec("mods", mods);
	if (mods) {
		uint32_t start = mem32(mod), mend = mem32(mod + 4);
		report_dec("mod_size", mend - start);
		report_hex("mod_page_aligned", (start & 0xfff) == 0);
		report_hex("mod_word", mem32(start));
		report_str("mod_string", str_at(mem32(mod + 8)));
	}
}

/* 1 if word is one of the space-separated words of s. */
static int has_word(const char *s, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = s; *p;) {
		size_t len = 0;
		while (p[len] && p[len] != ' ')
			len++;
		if (len == n && !memcmp(p, word, n))
			return 1;
		p += len;
		while (*p == ' ')
			p++;
	}
	return 0;
}

static void wait_icr(void)
{
	for (unsigned int i = 0; i < 1000000 && (rd32(LAPIC_BASE + LAPIC_ICR_LO) & (1u << 12)); i++)
		__asm__ volatile("pause");
}

/* INIT, then SIPI twice, to all but ourselves, as an MP BIOS does. */
static void start_aps(void)
{
	uint8_t *dst = (uint8_t *)(uintptr_t)MB_TRAMPOLINE;

	for (const char *s = ap_trampoline; s < ap_trampoline_end; s++)
		*dst++ = (uint8_t)*s;
	wr32(LAPIC_BASE + LAPIC_SVR, 0x1ff);
	wr32(LAPIC_BASE + LAPIC_ICR_HI, 0);
	wr32(LAPIC_BASE + LAPIC_ICR_LO, 0x000c4500); /* all-but-self, INIT, assert */
	wait_icr();
	for (int i = 0; i < 2; i++) {
		wr32(LAPIC_BASE + LAPIC_ICR_LO, 0x000c4600 | (MB_TRAMPOLINE >> 12));
		wait_icr();
	}
}

void mb_main(uint32_t magic, uint32_t info)
{
	report_hex("eax", magic);
	report_hex("ebx", info);
	GUEST_ASSERT_EQ(magic, MB_BOOT_MAGIC);
	check_info(info);

	char sig[5];
	uint32_t s = (uint32_t)fw_cfg_read(0x00, 4);
	for (int i = 0; i < 4; i++)
		sig[i] = (char)(s >> (8 * i));
	sig[4] = 0;
	report_str("fw_sig", sig);
	uint32_t ncpus = (uint32_t)fw_cfg_read(0x05, 2);
	report_dec("fw_cpus", ncpus);
	report_dec("fw_ram_mib", fw_cfg_read(0x03, 8) >> 20);
	report_hex("fw_unknown", fw_cfg_read(0x1234, 8));
	GUEST_ASSERT(ncpus >= 1 && ncpus <= 8);

	report_dec("bsp_apic_id", rd32(LAPIC_BASE + LAPIC_ID) >> 24);
	if (ncpus > 1) {
		start_aps();
		for (uint32_t i = 0; i < AP_WAIT_BUDGET && ap_count < ncpus - 1; i++)
			__asm__ volatile("pause");
	}
	report_dec("aps", ap_count);
	report_hex("ap_mask", ap_mask);
	report_done();
	if (has_word(str_at(mem32(info + 16)), "reset=92")) {
		serial_puts("GUEST resetting\n");
		outb(0x92, inb(0x92) | 1);
		guest_halt_forever();
	}
	outb(DEBUG_EXIT_PORT, MBTEST_EXIT_VALUE);
}
