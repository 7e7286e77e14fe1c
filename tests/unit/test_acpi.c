/*
 * ACPI tables: parse what acpi_build() wrote the way a guest would, by
 * following guest-physical pointers from the RSDP, and check the fields
 * Linux relies on at their ACPI 6.3 offsets.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot/acpi.h"
#include "boot/aml.h"
#include "core/layout.h"

#define GPA LAYOUT_ACPI_BASE
#define SIZE LAYOUT_ACPI_SIZE
#define CANARY 0xa5
#define SLACK 64

static uint8_t *mem; /* SIZE + SLACK so overruns hit the canary */

static const struct acpi_mmio_dev mmio[] = {
	{ 0xd0000000, 0x1000, 5 },
	{ 0xd0001000, 0x1000, 6 },
	{ 0xd0002000, 0x200, 23 },
};

static struct acpi_config cfg_for(unsigned int ncpus)
{
	return (struct acpi_config){
		.ncpus = ncpus,
		.ioapic_addr = LAYOUT_IOAPIC,
		.lapic_addr = LAYOUT_LAPIC,
		.sleep_ctl_port = PORT_ACPI_SLEEP_CTL,
		.sleep_sts_port = PORT_ACPI_SLEEP_STS,
		.reset_port = PORT_ACPI_RESET,
		.reset_value = ACPI_RESET_VALUE,
		.s5_slp_typ = ACPI_S5_SLP_TYP,
		.com1_port = PORT_COM1,
		.com1_irq = IRQ_COM1,
		.fw_cfg_port = 0x510,
		.fw_cfg_len = 2,
		.mmio_devs = mmio,
		.n_mmio_devs = sizeof(mmio) / sizeof(mmio[0]),
	};
}

static int setup(void **state)
{
	mem = malloc(SIZE + SLACK);
	assert_non_null(mem);
	memset(mem, CANARY, SIZE + SLACK);
	return 0;
}

static int teardown(void **state)
{
	free(mem);
	return 0;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* A table at gpa: inside the buffer, right signature, valid checksum. */
static const uint8_t *table_at(uint64_t gpa, const char *sig)
{
	assert_true(gpa >= GPA && gpa + 36 <= GPA + SIZE);
	const uint8_t *t = mem + (gpa - GPA);
	uint32_t len = rd32(t + 4);

	assert_memory_equal(t, sig, 4);
	assert_true(len >= 36 && gpa + len <= GPA + SIZE);
	assert_int_equal(acpi_checksum(t, len), 0);
	assert_memory_equal(t + 10, "HEARTH", 6);
	return t;
}

static size_t find(const uint8_t *hay, size_t n, const void *needle, size_t m,
		   size_t from)
{
	for (size_t i = from; i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return i;
	return SIZE_MAX;
}

static size_t count(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	size_t c = 0;

	for (size_t i = find(hay, n, needle, m, 0); i != SIZE_MAX;
	     i = find(hay, n, needle, m, i + 1))
		c++;
	return c;
}

static void check_gas_io8(const uint8_t *g, uint16_t port)
{
	assert_int_equal(g[0], 1); /* SystemIO */
	assert_int_equal(g[1], 8);
	assert_int_equal(g[2], 0);
	assert_int_equal(g[3], 1); /* byte access */
	assert_int_equal(rd64(g + 4), port);
}

static void check_fadt(const uint8_t *f)
{
	uint32_t flags = rd32(f + 112);
	uint16_t boot = rd16(f + 109);

	assert_int_equal(rd32(f + 4), 276);
	assert_int_equal(f[8], 6);
	assert_true(flags & (1u << 20));  /* HW_REDUCED_ACPI */
	assert_true(flags & (1u << 10));  /* RESET_REG_SUP */
	assert_true(boot & (1u << 2));    /* VGA not present */
	assert_true(boot & (1u << 3));    /* MSI not present */
	assert_true(boot & (1u << 1));    /* 8042: Linux probes it (SendCtrlAltDel) */
	assert_false(boot & (1u << 5));   /* CMOS RTC not present */
	/* No SCI, no PM1 blocks, no PM timer. */
	assert_int_equal(rd16(f + 46), 0);
	for (size_t off = 56; off < 88; off += 4)
		assert_int_equal(rd32(f + off), 0);
	for (size_t off = 148; off < 244; off++)
		assert_int_equal(f[off], 0);
	check_gas_io8(f + 116, PORT_ACPI_RESET);
	assert_int_equal(f[128], ACPI_RESET_VALUE);
	check_gas_io8(f + 244, PORT_ACPI_SLEEP_CTL);
	check_gas_io8(f + 256, PORT_ACPI_SLEEP_STS);
	assert_memory_equal(f + 268, "HEARTH", 6);
	/* The legacy DSDT pointer, when present, must agree with X_DSDT. */
	if (rd32(f + 40))
		assert_int_equal(rd32(f + 40), rd64(f + 140));
}

static void check_madt(const uint8_t *m, unsigned int ncpus)
{
	uint32_t len = rd32(m + 4);
	unsigned int nlapic = 0, nioapic = 0, niso = 0, nnmi = 0;

	assert_int_equal(rd32(m + 36), LAYOUT_LAPIC);
	uint32_t off;

	for (off = 44; off < len; off += m[off + 1]) {
		const uint8_t *e = m + off;

		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[3], nlapic); /* APIC IDs 0..n-1 in order */
			assert_int_not_equal(e[2], 0xff);
			assert_true(rd32(e + 4) & 1); /* enabled */
			nlapic++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(rd32(e + 4), LAYOUT_IOAPIC);
			assert_int_equal(rd32(e + 8), 0); /* GSI base */
			nioapic++;
			break;
		case 2:
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0); /* ISA */
			assert_int_equal(e[3], 0); /* IRQ0 */
			assert_int_equal(rd32(e + 4), 2);
			niso++;
			break;
		case 4:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff); /* all processors */
			assert_int_equal(e[5], 1);    /* LINT1 */
			nnmi++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
	}
	assert_int_equal(off, len);
	assert_int_equal(nlapic, ncpus);
	assert_int_equal(nioapic, 1);
	assert_int_equal(niso, 1);
	assert_int_equal(nnmi, 1);
}

static void check_dsdt(const uint8_t *d)
{
	uint32_t len = rd32(d + 4);
	size_t i;

	assert_int_equal(d[8], 2); /* 64-bit integers */

	/* Name(\_S5, Package(4) { 5, 5, ... }) */
	static const uint8_t s5[] = { 0x08, 0x5c, '_', 'S', '5', '_', 0x12 };
	i = find(d, len, s5, sizeof(s5), 36);
	assert_int_not_equal(i, SIZE_MAX);
	const uint8_t *pkg = d + i + sizeof(s5);
	assert_true(pkg[0] < 0x40); /* 1-byte PkgLength */
	assert_true(pkg[1] >= 2);   /* NumElements */
	assert_int_equal(pkg[2], 0x0a);
	assert_int_equal(pkg[3], ACPI_S5_SLP_TYP);

	static const uint8_t com1_hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c,
					    0x41, 0xd0, 0x05, 0x01 };
	assert_int_equal(count(d, len, com1_hid, sizeof(com1_hid)), 1);
	static const uint8_t com1_io[] = { 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03 };
	assert_int_equal(count(d, len, com1_io, sizeof(com1_io)), 1);
	static const uint8_t rtc_hid[] = { 0x0c, 0x41, 0xd0, 0x0b, 0x00 };
	assert_int_equal(count(d, len, rtc_hid, sizeof(rtc_hid)), 1);
	/* The PS/2 keyboard: PNP0303 at 0x60 and 0x64, IRQ 1. */
	static const uint8_t kbd_hid[] = { 0x0c, 0x41, 0xd0, 0x03, 0x03 };
	assert_int_equal(count(d, len, kbd_hid, sizeof(kbd_hid)), 1);
	static const uint8_t kbd_crs[] = { 0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01,
					   0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01,
					   0x22, 0x02, 0x00 };
	assert_int_equal(count(d, len, kbd_crs, sizeof(kbd_crs)), 1);

	/* fw_cfg as QEMU describes it, so Linux's qemu_fw_cfg driver binds: ports 0x510-0x511. */
	assert_int_equal(count(d, len, "QEMU0002", 9), 1);
	static const uint8_t fw_cfg_io[] = { 0x47, 0x01, 0x10, 0x05, 0x10, 0x05, 0x01, 0x02 };
	assert_int_equal(count(d, len, fw_cfg_io, sizeof(fw_cfg_io)), 1);

	assert_int_equal(count(d, len, "LNRO0005", 9), sizeof(mmio) / sizeof(mmio[0]));
	for (size_t k = 0; k < sizeof(mmio) / sizeof(mmio[0]); k++) {
		uint8_t desc[21] = { 0x86, 0x09, 0x00, 0x01 };

		for (int j = 0; j < 4; j++) {
			desc[4 + j] = (uint8_t)(mmio[k].base >> (8 * j));
			desc[8 + j] = (uint8_t)(mmio[k].size >> (8 * j));
			desc[17 + j] = (uint8_t)(mmio[k].gsi >> (8 * j));
		}
		/* Extended Interrupt: consumer, edge, active high, exclusive. */
		memcpy(desc + 12, (const uint8_t[]){ 0x89, 0x06, 0x00, 0x03, 0x01 }, 5);
		assert_int_equal(count(d, len, desc, sizeof(desc)), 1);
	}
}

static void check_tables(unsigned int ncpus)
{
	struct acpi_config cfg = cfg_for(ncpus);
	uint64_t rsdp = 0;

	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), 0);
	assert_int_equal(rsdp, GPA);
	assert_int_equal(mem[SIZE], CANARY);

	assert_memory_equal(mem, "RSD PTR ", 8);
	assert_int_equal(acpi_checksum(mem, 20), 0);
	assert_int_equal(mem[15], 2);
	assert_int_equal(rd32(mem + 20), 36);
	assert_int_equal(acpi_checksum(mem, 36), 0);

	const uint8_t *xsdt = table_at(rd64(mem + 24), "XSDT");
	assert_int_equal(rd32(xsdt + 4), 36 + 2 * 8);
	const uint8_t *fadt = table_at(rd64(xsdt + 36), "FACP");
	const uint8_t *madt = table_at(rd64(xsdt + 44), "APIC");
	check_fadt(fadt);
	check_madt(madt, ncpus);
	check_dsdt(table_at(rd64(fadt + 140), "DSDT"));
}

static void test_1cpu(void **state)
{
	check_tables(1);
}

static void test_4cpus(void **state)
{
	check_tables(4);
}

static void test_255cpus(void **state)
{
	check_tables(255);
}

static size_t table_end(uint64_t gpa)
{
	return (size_t)(gpa - GPA) + rd32(mem + (gpa - GPA) + 4);
}

/* One past the last byte of the last table of a successful build. */
static size_t used_bytes(const struct acpi_config *cfg)
{
	uint64_t rsdp, xsdt, fadt;
	size_t end = 36;

	assert_int_equal(acpi_build(mem, GPA, SIZE, cfg, &rsdp), 0);
	xsdt = rd64(mem + 24);
	fadt = rd64(mem + (xsdt - GPA) + 36);
	const uint64_t tables[] = { xsdt, fadt, rd64(mem + (xsdt - GPA) + 44),
				    rd64(mem + (fadt - GPA) + 140) };
	for (size_t i = 0; i < 4; i++)
		if (table_end(tables[i]) > end)
			end = table_end(tables[i]);
	return end;
}

static void test_enospc(void **state)
{
	struct acpi_config cfg = cfg_for(4);
	size_t need = used_bytes(&cfg);
	uint64_t rsdp;

	assert_true(need > 400);
	for (size_t size = 0; size < need; size++) {
		memset(mem, CANARY, SIZE + SLACK);
		assert_int_equal(acpi_build(mem, GPA, size, &cfg, &rsdp), -ENOSPC);
		for (size_t i = size; i < SIZE + SLACK; i++)
			if (mem[i] != CANARY)
				fail_msg("size %zu: byte %zu written", size, i);
	}
	memset(mem, CANARY, SIZE + SLACK);
	assert_int_equal(acpi_build(mem, GPA, need, &cfg, &rsdp), 0);
	assert_int_equal(mem[need], CANARY);
}

static void test_einval(void **state)
{
	struct acpi_config cfg = cfg_for(1);
	uint64_t rsdp;

	cfg.ncpus = 0;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	cfg.ncpus = 256;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	cfg = cfg_for(1);
	assert_int_equal(acpi_build(NULL, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	assert_int_equal(acpi_build(mem, GPA, SIZE, NULL, &rsdp), -EINVAL);
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, NULL), -EINVAL);
	assert_int_equal(acpi_build(mem, GPA + 8, SIZE, &cfg, &rsdp), -EINVAL);
	cfg.mmio_devs = NULL;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	cfg = cfg_for(1);
	cfg.s5_slp_typ = 8;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	cfg = cfg_for(1);
	cfg.com1_irq = 16;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	for (size_t i = 0; i < SIZE + SLACK; i++)
		if (mem[i] != CANARY)
			fail_msg("byte %zu written on a rejected config", i);

	/* No virtio devices is a valid configuration. */
	cfg = cfg_for(1);
	cfg.mmio_devs = NULL;
	cfg.n_mmio_devs = 0;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), 0);
}

/*
 * VMClock in the DSDT, as Linux's ptp_vmclock finds it: _HID AMZNC10C and
 * a QWord memory descriptor (read-only, cacheable, fixed) over its page.
 */
static void test_vmclock(void **state)
{
	struct acpi_config cfg = cfg_for(1);
	static const uint8_t qword_head[] = { 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x02 };
	const uint8_t *hid, *q;
	uint64_t rsdp;

	(void)state;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), 0);
	assert_null(memmem(mem, SIZE, "AMZNC10C", 8));
	cfg.vmclock_addr = LAYOUT_VMCLOCK;
	cfg.vmclock_size = LAYOUT_VMCLOCK_SIZE;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), 0);
	hid = memmem(mem, SIZE, "AMZNC10C", 8);
	assert_non_null(hid);
	assert_non_null(memmem(mem, SIZE, "VMCLOCK", 7));
	q = memmem(hid, SIZE - (size_t)(hid - mem), qword_head, sizeof(qword_head));
	assert_non_null(q);
	/* granularity 0, then minimum, maximum, translation 0, length. */
	assert_true(rd64(q + 6) == 0);
	assert_true(rd64(q + 14) == LAYOUT_VMCLOCK);
	assert_true(rd64(q + 22) == LAYOUT_VMCLOCK + LAYOUT_VMCLOCK_SIZE - 1);
	assert_true(rd64(q + 30) == 0);
	assert_true(rd64(q + 38) == LAYOUT_VMCLOCK_SIZE);
	/* A page that wraps past 2^64 is refused. */
	cfg.vmclock_addr = ~0ull - 0x10;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
}

/*
 * With a PCI root: the XSDT's third table is the MCFG over ECAM, the DSDT
 * has the host bridge (PNP0A08, compatible PNP0A03) with its windows, and
 * a motherboard resource (PNP0C02) reserves ECAM, as Linux wants it.
 */
static void test_pci(void **state)
{
	struct acpi_config cfg = cfg_for(2);
	static const uint8_t dword_win[] = { 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01 };
	static const uint8_t bus_win[] = { 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00 };
	uint8_t eisa[5] = { 0x0c }, mres[12] = { 0x86, 0x09, 0x00, 0x00 };
	const uint8_t *xsdt, *mcfg, *dsdt, *q;
	uint32_t id;
	uint64_t rsdp;

	(void)state;
	cfg.pci = (struct acpi_pci){ .ecam = LAYOUT_PCI_ECAM, .mmio32_base = LAYOUT_PCI_MMIO32,
				     .mmio32_end = LAYOUT_PCI_MMIO32_END };
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), 0);
	xsdt = table_at(rd64(mem + 24), "XSDT");
	assert_int_equal(rd32(xsdt + 4), 36 + 3 * 8);
	mcfg = table_at(rd64(xsdt + 52), "MCFG");
	assert_int_equal(rd32(mcfg + 4), 36 + 8 + 16);
	assert_true(rd64(mcfg + 44) == LAYOUT_PCI_ECAM);
	assert_int_equal(rd16(mcfg + 52), 0);  /* segment */
	assert_int_equal(mcfg[54], 0);         /* buses 0 to 0 */
	assert_int_equal(mcfg[55], 0);
	dsdt = table_at(rd64(table_at(rd64(xsdt + 36), "FACP") + 140), "DSDT");
	size_t n = rd32(dsdt + 4);
	assert_int_not_equal(find(dsdt, n, "PCI0", 4, 0), SIZE_MAX);
	assert_int_equal(aml_eisaid_value("PNP0A08", &id), 0);
	memcpy(eisa + 1, &id, 4);
	assert_int_equal(count(dsdt, n, eisa, 5), 1);
	assert_int_equal(aml_eisaid_value("PNP0A03", &id), 0);
	memcpy(eisa + 1, &id, 4);
	assert_int_equal(count(dsdt, n, eisa, 5), 1);
	assert_int_equal(aml_eisaid_value("PNP0C02", &id), 0);
	memcpy(eisa + 1, &id, 4);
	assert_int_equal(count(dsdt, n, eisa, 5), 1);
	/* Bus 0-0; the 32-bit window: granularity 0, minimum, maximum, translation 0, length. */
	q = dsdt + find(dsdt, n, bus_win, sizeof(bus_win), 0);
	assert_int_equal(rd16(q + 8), 0);
	assert_int_equal(rd16(q + 10), 0);
	q = dsdt + find(dsdt, n, dword_win, sizeof(dword_win), 0);
	assert_int_equal(rd32(q + 10), LAYOUT_PCI_MMIO32);
	assert_int_equal(rd32(q + 14), LAYOUT_PCI_MMIO32_END - 1);
	assert_int_equal(rd32(q + 22), LAYOUT_PCI_MMIO32_END - LAYOUT_PCI_MMIO32);
	/* ECAM reserved: Memory32Fixed, read-only, its base and 1 MiB. */
	memcpy(mres + 4, (uint32_t[]){ (uint32_t)LAYOUT_PCI_ECAM }, 4);
	memcpy(mres + 8, (uint32_t[]){ 1u << 20 }, 4);
	assert_int_equal(count(dsdt, n, mres, sizeof(mres)), 1);

	/* No 64-bit window unless asked; then a QWord one, producer, fixed bounds. */
	static const uint8_t qword_win[] = { 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x01 };
	assert_int_equal(find(dsdt, n, qword_win, sizeof(qword_win), 0), SIZE_MAX);
	cfg.pci.mmio64_base = 16ull << 30;
	cfg.pci.mmio64_end = 80ull << 30;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), 0);
	dsdt = table_at(rd64(table_at(rd64(xsdt + 36), "FACP") + 140), "DSDT");
	n = rd32(dsdt + 4);
	q = dsdt + find(dsdt, n, qword_win, sizeof(qword_win), 0);
	assert_true(q != dsdt + SIZE_MAX);
	assert_true(rd64(q + 14) == 16ull << 30);
	assert_true(rd64(q + 22) == (80ull << 30) - 1);
	assert_true(rd64(q + 38) == 64ull << 30);
	cfg.pci.mmio64_base = 1ull << 20;    /* below 4 GiB */
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	cfg.pci.mmio64_base = 80ull << 30;   /* empty */
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	cfg.pci.mmio64_base = cfg.pci.mmio64_end = 0;

	/* Windows and ECAM that cannot be described are refused. */
	cfg.pci.ecam = LAYOUT_PCI_ECAM + 0x1000;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	cfg.pci.ecam = LAYOUT_PCI_ECAM;
	cfg.pci.bus_end = 256;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	cfg.pci.bus_end = 255;  /* 256 MiB of ECAM run into the 32-bit window */
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	cfg.pci.bus_end = 0;
	cfg.pci.mmio32_end = cfg.pci.mmio32_base;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	cfg.pci.mmio32_end = 0x100000001ull;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	cfg.pci.mmio32_end = LAYOUT_PCI_MMIO32_END;
	cfg.pci.ecam = 0xf0000000ull;        /* inside the window */
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	cfg.pci.ecam = 0xf0000000ull - (1ull << 32);  /* wraps */
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), -EINVAL);
	/* Without a root: two tables, no PCI0. */
	cfg = cfg_for(2);
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), 0);
	assert_int_equal(rd32(table_at(rd64(mem + 24), "XSDT") + 4), 36 + 2 * 8);
}

/*
 * With PCI hotplug: the register block as fields of PCI0, a device per
 * slot 1-31 with _ADR, _SUN and _EJ0, PCNT, the ports reserved in the
 * motherboard resource, and the GED whose edge-triggered GSI runs PCNT.
 * Without it, none of that.
 */
static void test_pci_hotplug(void **state)
{
	struct acpi_config cfg = cfg_for(2);
	/* IO (Decode16, 0xAE00, 0xAE00, 1, 12) */
	static const uint8_t io[] = { 0x47, 0x01, 0x00, 0xae, 0x00, 0xae, 0x01, 0x0c };
	/* Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 23 } */
	static const uint8_t irq[] = { 0x89, 0x06, 0x00, 0x03, 0x01, 23, 0, 0, 0 };
	/* Name (_ADR, 0x001F0000): device 31 */
	static const uint8_t adr31[] = { 0x08, '_', 'A', 'D', 'R', 0x0c, 0x00, 0x00, 0x1f, 0x00 };
	const uint8_t *xsdt, *dsdt;
	uint64_t rsdp;
	char name[5];
	size_t n;

	(void)state;
	cfg.n_mmio_devs = 0;     /* a PCI VM's virtio devices are functions */
	cfg.pci = (struct acpi_pci){ .ecam = LAYOUT_PCI_ECAM, .mmio32_base = LAYOUT_PCI_MMIO32,
				     .mmio32_end = LAYOUT_PCI_MMIO32_END, .msi = true,
				     .hotplug_port = PORT_PCI_HOTPLUG,
				     .hotplug_gsi = LAYOUT_PCI_HOTPLUG_GSI };
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), 0);
	xsdt = table_at(rd64(mem + 24), "XSDT");
	dsdt = table_at(rd64(table_at(rd64(xsdt + 36), "FACP") + 140), "DSDT");
	n = rd32(dsdt + 4);
	for (unsigned int slot = 1; slot < 32; slot++) {
		snprintf(name, sizeof(name), "S%02X", slot);
		assert_int_equal(count(dsdt, n, name, 3), 1 + 2);  /* its Device, two Notifys */
	}
	assert_int_equal(count(dsdt, n, "_EJ0", 4), 31);
	assert_int_equal(count(dsdt, n, "_SUN", 4), 31);
	assert_int_equal(count(dsdt, n, adr31, sizeof(adr31)), 1);
	assert_int_equal(count(dsdt, n, "PCNT", 4), 2);          /* defined, called by _EVT */
	assert_int_equal(count(dsdt, n, "GED0", 4), 1);
	assert_int_equal(count(dsdt, n, "ACPI0013", 8), 1);
	assert_int_equal(count(dsdt, n, "_EVT", 4), 1);
	assert_int_equal(count(dsdt, n, io, sizeof(io)), 1);
	assert_int_equal(count(dsdt, n, irq, sizeof(irq)), 1);
	assert_int_equal(count(dsdt, n, "PCHP", 4), 2);          /* the region, its fields */

	cfg.pci.hotplug_port = 0;
	assert_int_equal(acpi_build(mem, GPA, SIZE, &cfg, &rsdp), 0);
	xsdt = table_at(rd64(mem + 24), "XSDT");
	dsdt = table_at(rd64(table_at(rd64(xsdt + 36), "FACP") + 140), "DSDT");
	n = rd32(dsdt + 4);
	assert_int_equal(count(dsdt, n, "GED0", 4), 0);
	assert_int_equal(count(dsdt, n, "_EJ0", 4), 0);
	assert_int_equal(count(dsdt, n, io, sizeof(io)), 0);
}

static void test_checksum(void **state)
{
	static const uint8_t d[] = { 0x01, 0x02, 0xff, 0x10 };

	assert_int_equal(acpi_checksum(d, 0), 0);
	assert_int_equal(acpi_checksum(d, sizeof(d)), 0x12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_1cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_4cpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_255cpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_einval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmclock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_hotplug, setup, teardown),
		cmocka_unit_test(test_checksum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
