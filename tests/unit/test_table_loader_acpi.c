/*
 * The ACPI files (src/firmware/acpi_files.c, acpi_files_image.c): a
 * hand-made set of tables gives byte-exact blobs and script, checked
 * against an expectation worked out by hand; the script run as SeaBIOS
 * runs it (romfile_loader.c) places the tables with valid checksums and
 * pointers; and the tables boot/acpi.c builds go through the image walk
 * and come out whole.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "boot/acpi.h"
#include "core/layout.h"
#include "firmware/acpi_files.h"
#include "firmware/table_loader.h"

static void put(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (uint8_t)(v + p[i]);
	return v;
}

/* A table of len bytes, its signature and length set, the rest a pattern. */
static uint8_t *table(const char *sig, uint32_t len)
{
	uint8_t *t = malloc(len);

	for (uint32_t i = 0; i < len; i++)
		t[i] = (uint8_t)(0x40 + i % 32);
	memcpy(t, sig, 4);
	put(t + 4, len, 4);
	return t;
}

/* SeaBIOS's romfile_loader, with the files placed at fixed addresses. */
struct placed {
	const char *name;
	uint8_t *mem;
	uint32_t len;
	uint64_t addr;
};

static void run_loader(const uint8_t *cmds, size_t len, struct placed *f, unsigned int nf)
{
	for (size_t o = 0; o < len; o += TL_CMD_SIZE) {
		const uint8_t *c = cmds + o;
		struct placed *a = NULL, *b = NULL;

		for (unsigned int i = 0; i < nf; i++) {
			if (!strncmp((const char *)c + 4, f[i].name, TL_NAME_MAX))
				a = &f[i];
			if (!strncmp((const char *)c + 60, f[i].name, TL_NAME_MAX))
				b = &f[i];
		}
		assert_non_null(a);
		switch (get(c, 4)) {
		case TL_CMD_ALLOCATE:
			assert_int_equal(a->addr % get(c + 60, 4), 0);
			break;
		case TL_CMD_ADD_POINTER: {
			uint32_t off = (uint32_t)get(c + 116, 4);
			unsigned int size = c[120];

			assert_non_null(b);
			assert_true(off + size <= a->len);
			put(a->mem + off, get(a->mem + off, size) + b->addr, size);
			break;
		}
		case TL_CMD_ADD_CHECKSUM: {
			uint32_t at = (uint32_t)get(c + 60, 4), start = (uint32_t)get(c + 64, 4);

			a->mem[at] = (uint8_t)(a->mem[at] - sum(a->mem + start, get(c + 68, 4)));
			break;
		}
		default:
			fail();
		}
	}
}

/* Where a placed pointer leads: the bytes there, which must be a table's start. */
static const uint8_t *follow(const struct placed *tables, uint64_t addr, const char *sig)
{
	assert_true(addr >= tables->addr && addr < tables->addr + tables->len);
	assert_memory_equal(tables->mem + (addr - tables->addr), sig, 4);
	return tables->mem + (addr - tables->addr);
}

static void want_cmd(uint8_t *c, uint32_t type, const char *n1, const char *n2, uint32_t a,
		     uint32_t b, uint32_t d)
{
	memset(c, 0, TL_CMD_SIZE);
	put(c, type, 4);
	memcpy(c + 4, n1, strlen(n1));
	if (type == TL_CMD_ALLOCATE) {
		put(c + 60, a, 4);
		c[64] = (uint8_t)b;
	} else if (type == TL_CMD_ADD_POINTER) {
		memcpy(c + 60, n2, strlen(n2));
		put(c + 116, a, 4);
		c[120] = (uint8_t)b;
	} else {
		put(c + 60, a, 4);
		put(c + 64, b, 4);
		put(c + 68, d, 4);
	}
}

#define R ACPI_FILES_RSDP
#define T ACPI_FILES_TABLES

static void test_hand_made_set(void **state)
{
	uint8_t *rsdp = calloc(1, 36), *xsdt = table("XSDT", 52), *facp = table("FACP", 276),
		*facs = table("FACS", 64), *dsdt = table("DSDT", 40), *apic = table("APIC", 44);
	const struct acpi_files_table t[] = { { rsdp, 36 }, { xsdt, 52 }, { facp, 276 },
					      { facs, 64 }, { dsdt, 40 }, { apic, 44 } };
	const struct acpi_files_ptr p[] = {
		{ 0, 24, 8, 1 }, { 1, 36, 8, 2 }, { 1, 44, 8, 5 }, { 2, 36, 4, 3 },
		{ 2, 40, 4, 4 }, { 2, 132, 8, 3 }, { 2, 140, 8, 4 },
	};
	uint8_t want[15][TL_CMD_SIZE];
	struct acpi_files f;
	struct err err = ERR_INIT;

	(void)state;
	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, "HEARTH", 6);
	rsdp[15] = 2;
	put(rsdp + 20, 36, 4);
	assert_int_equal(acpi_files_build(t, 6, p, 7, &f, &err), 0);

	/* The layout: XSDT 0, FACP 56, FACS 384 (64-aligned), DSDT 448, APIC 488. */
	assert_int_equal(f.tables_len, 532);
	assert_int_equal(f.rsdp_len, 36);
	assert_memory_equal(f.tables + 56, "FACP", 4);
	assert_memory_equal(f.tables + 384, "FACS", 4);
	assert_memory_equal(f.tables + 448, "DSDT", 4);
	assert_memory_equal(f.tables + 488, "APIC", 4);
	assert_int_equal(get(f.tables + 52, 4), 0);          /* padding is zeros */
	/* Each pointer holds its target's offset; each checksum byte is 0. */
	assert_int_equal(get(f.rsdp + 24, 8), 0);
	assert_int_equal(get(f.tables + 36, 8), 56);
	assert_int_equal(get(f.tables + 44, 8), 488);
	assert_int_equal(get(f.tables + 56 + 36, 4), 384);
	assert_int_equal(get(f.tables + 56 + 40, 4), 448);
	assert_int_equal(get(f.tables + 56 + 132, 8), 384);
	assert_int_equal(get(f.tables + 56 + 140, 8), 448);
	assert_int_equal(f.rsdp[8] | f.rsdp[32] | f.tables[9] | f.tables[65] | f.tables[457] |
			 f.tables[497], 0);
	assert_int_equal(f.tables[384 + 9], 0x40 + 9);        /* the FACS has no checksum */
	assert_memory_equal(f.tables + 448 + 10, dsdt + 10, 30);

	want_cmd(want[0], TL_CMD_ALLOCATE, R, NULL, 16, TL_ZONE_FSEG, 0);
	want_cmd(want[1], TL_CMD_ALLOCATE, T, NULL, 64, TL_ZONE_HIGH, 0);
	want_cmd(want[2], TL_CMD_ADD_POINTER, R, T, 24, 8, 0);
	want_cmd(want[3], TL_CMD_ADD_POINTER, T, T, 36, 8, 0);
	want_cmd(want[4], TL_CMD_ADD_POINTER, T, T, 44, 8, 0);
	want_cmd(want[5], TL_CMD_ADD_POINTER, T, T, 92, 4, 0);
	want_cmd(want[6], TL_CMD_ADD_POINTER, T, T, 96, 4, 0);
	want_cmd(want[7], TL_CMD_ADD_POINTER, T, T, 188, 8, 0);
	want_cmd(want[8], TL_CMD_ADD_POINTER, T, T, 196, 8, 0);
	want_cmd(want[9], TL_CMD_ADD_CHECKSUM, T, NULL, 9, 0, 52);
	want_cmd(want[10], TL_CMD_ADD_CHECKSUM, T, NULL, 65, 56, 276);
	want_cmd(want[11], TL_CMD_ADD_CHECKSUM, T, NULL, 457, 448, 40);
	want_cmd(want[12], TL_CMD_ADD_CHECKSUM, T, NULL, 497, 488, 44);
	want_cmd(want[13], TL_CMD_ADD_CHECKSUM, R, NULL, 8, 0, 20);
	want_cmd(want[14], TL_CMD_ADD_CHECKSUM, R, NULL, 32, 0, 36);
	assert_int_equal(f.loader_len, sizeof(want));
	assert_memory_equal(f.loader, want, sizeof(want));

	/* Loaded as SeaBIOS loads it: every table where the pointers say, every sum 0. */
	{
		struct placed pl[] = { { R, f.rsdp, 36, 0xf5a40 }, { T, f.tables, 532, 0x7ffe0000 } };
		const uint8_t *x, *fa;

		run_loader(f.loader, f.loader_len, pl, 2);
		assert_int_equal(sum(f.rsdp, 20), 0);
		assert_int_equal(sum(f.rsdp, 36), 0);
		x = follow(&pl[1], get(f.rsdp + 24, 8), "XSDT");
		assert_int_equal(sum(x, 52), 0);
		fa = follow(&pl[1], get(x + 36, 8), "FACP");
		assert_int_equal(sum(fa, 276), 0);
		assert_int_equal(sum(follow(&pl[1], get(x + 44, 8), "APIC"), 44), 0);
		assert_int_equal(sum(follow(&pl[1], get(fa + 140, 8), "DSDT"), 40), 0);
		assert_int_equal(get(fa + 40, 4), 0x7ffe0000 + 448);
		assert_int_equal(get(fa + 36, 4), 0x7ffe0000 + 384);
		assert_int_equal(get(fa + 132, 8), 0x7ffe0000 + 384);
	}
	acpi_files_release(&f);
	free(rsdp), free(xsdt), free(facp), free(facs), free(dsdt), free(apic);
}

static void test_refusals(void **state)
{
	uint8_t *rsdp = calloc(1, 36), *xsdt = table("XSDT", 44), *bad = table("SSDT", 40);
	struct acpi_files_table t[] = { { rsdp, 20 }, { xsdt, 44 }, { bad, 40 } };
	struct acpi_files_ptr p = { 0, 16, 4, 1 };
	struct acpi_files f;
	struct err err = ERR_INIT;

	(void)state;
	memcpy(rsdp, "RSD PTR ", 8);
	assert_int_equal(acpi_files_build(t, 2, &p, 1, &f, &err), 0);   /* revision 0: 20 bytes */
	assert_int_equal(f.loader_len, 5 * TL_CMD_SIZE);                /* no extended checksum */
	acpi_files_release(&f);
	/* No RSDP, or two. */
	assert_int_equal(acpi_files_build(t + 1, 2, NULL, 0, &f, &err), -EINVAL);
	t[2] = t[0];
	assert_int_equal(acpi_files_build(t, 3, NULL, 0, &f, &err), -EINVAL);
	/* A header that is not the table's length. */
	t[2] = (struct acpi_files_table){ bad, 39 };
	assert_int_equal(acpi_files_build(t, 3, NULL, 0, &f, &err), -EINVAL);
	t[2] = (struct acpi_files_table){ bad, 40 };
	/* Pointers: to nowhere, to the RSDP, of size 2, past the table. */
	p = (struct acpi_files_ptr){ 0, 16, 4, 3 };
	assert_int_equal(acpi_files_build(t, 3, &p, 1, &f, &err), -EINVAL);
	p = (struct acpi_files_ptr){ 1, 36, 4, 0 };
	assert_int_equal(acpi_files_build(t, 3, &p, 1, &f, &err), -EINVAL);
	p = (struct acpi_files_ptr){ 1, 36, 2, 2 };
	assert_int_equal(acpi_files_build(t, 3, &p, 1, &f, &err), -EINVAL);
	p = (struct acpi_files_ptr){ 1, 41, 4, 2 };
	assert_int_equal(acpi_files_build(t, 3, &p, 1, &f, &err), -EINVAL);
	p = (struct acpi_files_ptr){ 1, 0xfffffffe, 4, 2 };
	assert_int_equal(acpi_files_build(t, 3, &p, 1, &f, &err), -EINVAL);
	assert_null(f.loader);
	/* A revision-2 RSDP whose length field lies. */
	rsdp[15] = 2;
	put(rsdp + 20, 36, 4);
	assert_int_equal(acpi_files_build(t, 3, NULL, 0, &f, &err), -EINVAL);
	free(rsdp), free(xsdt), free(bad);
}

/*
 * boot/acpi.c's tables, built for one address, through the walk: the
 * same tables come out (their bytes but the pointers and checksums),
 * and loaded elsewhere they link up and sum to 0.
 */
static void test_from_acpi_build(void **state)
{
	static const struct acpi_mmio_dev mmio[] = { { 0xd0000000, 0x1000, 5 } };
	const struct acpi_config cfg = {
		.ncpus = 4, .ioapic_addr = LAYOUT_IOAPIC, .lapic_addr = LAYOUT_LAPIC,
		.sleep_ctl_port = PORT_ACPI_SLEEP_CTL, .sleep_sts_port = PORT_ACPI_SLEEP_STS,
		.reset_port = PORT_ACPI_RESET, .reset_value = ACPI_RESET_VALUE,
		.s5_slp_typ = ACPI_S5_SLP_TYP, .com1_port = PORT_COM1, .com1_irq = IRQ_COM1,
		.fw_cfg_port = PORT_FW_CFG, .fw_cfg_len = 12, .mmio_devs = mmio, .n_mmio_devs = 1,
		.pci = { .ecam = LAYOUT_PCI_ECAM, .bus_end = 0, .mmio32_base = LAYOUT_PCI_MMIO32,
			 .mmio32_end = LAYOUT_PCI_MMIO32_END },
	};
	uint8_t *img = calloc(1, LAYOUT_ACPI_SIZE), *tables;
	uint64_t rsdp_gpa;
	struct acpi_files f;
	struct err err = ERR_INIT;
	const uint8_t *x, *fa, *d;
	uint32_t tl;

	(void)state;
	assert_int_equal(acpi_build(img, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE, &cfg, &rsdp_gpa), 0);
	assert_int_equal(acpi_files_from_image(img, LAYOUT_ACPI_SIZE, LAYOUT_ACPI_BASE, rsdp_gpa,
					       &f, &err), 0);
	assert_int_equal(f.rsdp_len, 36);
	assert_int_equal(get(f.rsdp + 16, 4), 0);             /* no RSDT: no pointer there */
	/* XSDT, FACP, APIC, MCFG, DSDT: four pointers from the XSDT and RSDP, two from the FADT. */
	assert_int_equal(f.loader_len, (2 + 6 + 5 + 2) * TL_CMD_SIZE);
	tables = malloc(f.tables_len);
	memcpy(tables, f.tables, f.tables_len);
	tl = (uint32_t)f.tables_len;
	{
		struct placed pl[] = { { R, f.rsdp, 36, 0xf0000 }, { T, f.tables, tl, 0x3ffd0000 } };

		run_loader(f.loader, f.loader_len, pl, 2);
		assert_int_equal(sum(f.rsdp, 20), 0);
		assert_int_equal(sum(f.rsdp, 36), 0);
		x = follow(&pl[1], get(f.rsdp + 24, 8), "XSDT");
		assert_int_equal(get(x + 4, 4), 36 + 3 * 8);
		assert_int_equal(sum(x, get(x + 4, 4)), 0);
		fa = follow(&pl[1], get(x + 36, 8), "FACP");
		assert_int_equal(sum(fa, get(fa + 4, 4)), 0);
		assert_int_equal(sum(follow(&pl[1], get(x + 44, 8), "APIC"), 44 + 4 * 8 + 28), 0);
		assert_int_equal(sum(follow(&pl[1], get(x + 52, 8), "MCFG"), 60), 0);
		d = follow(&pl[1], get(fa + 140, 8), "DSDT");
		assert_int_equal(get(fa + 40, 4), get(fa + 140, 8));
		assert_int_equal(sum(d, get(d + 4, 4)), 0);
		/* The DSDT's AML is acpi_build's, byte for byte. */
		{
			uint64_t orig = get(img + (get(img + (get(img + 24, 8) - LAYOUT_ACPI_BASE) + 36,
							   8) - LAYOUT_ACPI_BASE) + 140, 8);

			assert_memory_equal(d + 36, img + (orig - LAYOUT_ACPI_BASE) + 36,
					    get(d + 4, 4) - 36);
		}
	}
	free(tables);
	acpi_files_release(&f);

	/* A pointer out of the image, or into a table's middle, is refused. */
	put(img + 24, LAYOUT_ACPI_BASE + LAYOUT_ACPI_SIZE, 8);
	assert_int_equal(acpi_files_from_image(img, LAYOUT_ACPI_SIZE, LAYOUT_ACPI_BASE, rsdp_gpa,
					       &f, &err), -EINVAL);
	assert_int_equal(acpi_files_from_image(img, LAYOUT_ACPI_SIZE, LAYOUT_ACPI_BASE,
					       rsdp_gpa + 16, &f, &err), -EINVAL);
	assert_int_equal(acpi_files_from_image(img, 20, LAYOUT_ACPI_BASE, rsdp_gpa, &f, &err),
			 -EINVAL);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hand_made_set),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_from_acpi_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
