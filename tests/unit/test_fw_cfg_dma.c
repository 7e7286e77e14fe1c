/*
 * fw_cfg's DMA interface (src/devices/fw_cfg_dma.c) through the bus, as
 * SeaBIOS and OVMF drive it: an FWCfgDmaAccess in guest RAM, its address
 * written high half then low to port 0x514, the control word read back.
 * Every item by DMA, the directory, skips, reads past the end, writes,
 * and guest addresses that are not RAM.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/bus.h"
#include "core/layout.h"
#include "dev_rig.h"
#include "devices/fw_cfg.h"
#include "state_check.h"

#define RAM (1u << 20)
#define ACC 0x1000u          /* the access structure */
#define BUF 0x2000u          /* where the data goes */
#define DMA_PORT (PORT_FW_CFG + FW_CFG_DMA_OFF)

struct fix {
	struct bus bus;
	struct guest_mem gm;
	uint8_t *ram;
	struct component dev;
	struct fw_cfg *d;
};

static struct dev_env machine(struct fix *f)
{
	return (struct dev_env){ .bus = &f->bus, .mem = &f->gm, .ncpus = 3,
				 .ram_size = 256ull << 20, .max_ram = 0x140000000ull };
}

static void fix_make(struct fix *f)
{
	struct dev_env env;

	memset(f, 0, sizeof(*f));
	f->ram = calloc(1, RAM);
	assert_non_null(f->ram);
	f->gm.regions[0] = (struct guest_region){ 0, RAM, f->ram };
	f->gm.nregions = 1;
	f->gm.ram_bytes = RAM;
	f->gm.slots_fd = -1;
	bus_init(&f->bus);
	env = machine(f);
	f->d = dev_rig_make(fw_cfg_create, &env, PORT_FW_CFG, FW_CFG_PORTS_DMA, -1, &f->dev);
}

static int setup(void **state)
{
	static struct fix f;

	fix_make(&f);
	*state = &f;
	return 0;
}

static void fix_free(struct fix *f)
{
	bus_destroy(&f->bus);
	dev_rig_free(&f->dev);
	free(f->ram);
}

static int teardown(void **state)
{
	fix_free(*state);
	return 0;
}

static void put_be(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The guest's outl: its value's bytes little-endian on the bus, the value cpu_to_be32(x). */
static void outl_be(struct fix *f, uint16_t port, uint32_t x)
{
	uint8_t b[4];

	put_be(b, x, 4);
	assert_int_equal(bus_access(&f->bus, BUS_PIO, port, b, 4, true), 0);
}

/* One transfer: the access at acc, started; returns the control word written back. */
static uint32_t dma_at(struct fix *f, uint64_t acc, uint32_t control, uint32_t len, uint64_t addr)
{
	if (acc + 16 <= RAM) {
		put_be(f->ram + acc, control, 4);
		put_be(f->ram + acc + 4, len, 4);
		put_be(f->ram + acc + 8, addr, 8);
	}
	outl_be(f, DMA_PORT, (uint32_t)(acc >> 32));
	outl_be(f, DMA_PORT + 4, (uint32_t)acc);
	return acc + 4 <= RAM ? (uint32_t)get_be(f->ram + acc, 4) : 0xdead;
}

static uint32_t dma(struct fix *f, uint32_t control, uint32_t len, uint64_t addr)
{
	return dma_at(f, ACC, control, len, addr);
}

#define SEL(key) (FW_CFG_DMA_CTL_SELECT | (uint32_t)(key) << 16)

static uint64_t le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void test_signature_and_id(void **state)
{
	struct fix *f = *state;
	uint8_t b[8];

	assert_int_equal(bus_access(&f->bus, BUS_PIO, DMA_PORT, b, 4, false), 0);
	assert_memory_equal(b, "QEMU", 4);
	assert_int_equal(bus_access(&f->bus, BUS_PIO, DMA_PORT + 4, b, 4, false), 0);
	assert_memory_equal(b, " CFG", 4);
	/* The two ports between the data byte and DMA are nobody's, as in QEMU. */
	assert_int_equal(bus_access(&f->bus, BUS_PIO, PORT_FW_CFG + 2, b, 1, false), -ENOENT);
	assert_int_equal(dma(f, SEL(FW_CFG_ID) | FW_CFG_DMA_CTL_READ, 4, BUF), 0);
	assert_int_equal(le(f->ram + BUF, 4), FW_CFG_VERSION | FW_CFG_VERSION_DMA);
}

static void test_every_legacy_item(void **state)
{
	struct fix *f = *state;
	const struct { uint16_t key; unsigned int len; uint64_t v; } items[] = {
		{ FW_CFG_SIGNATURE, 4, 0x554d4551 }, { FW_CFG_ID, 4, 3 },
		{ FW_CFG_RAM_SIZE, 8, 256ull << 20 }, { FW_CFG_NB_CPUS, 2, 3 },
		{ FW_CFG_MAX_CPUS, 2, 3 }, { FW_CFG_MAX_RAM, 8, 0x140000000ull },
	};

	for (unsigned int i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		memset(f->ram + BUF, 0xee, 32);
		/* Twice the length: the item, then zeros past its end. */
		assert_int_equal(dma(f, SEL(items[i].key) | FW_CFG_DMA_CTL_READ, 2 * items[i].len,
				     BUF), 0);
		assert_int_equal(le(f->ram + BUF, items[i].len), items[i].v);
		assert_int_equal(le(f->ram + BUF + items[i].len, items[i].len), 0);
		assert_int_equal(f->ram[BUF + 2 * items[i].len], 0xee);
	}
}

static void test_files_directory_and_reads(void **state)
{
	struct fix *f = *state;
	struct err err = ERR_INIT;
	uint8_t big[300];
	uint16_t key;

	for (unsigned int i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(fw_cfg_add_file(f->d, "etc/one", "abc", 3, 0, &key, &err), 0);
	assert_int_equal(key, FW_CFG_FILE_FIRST);
	assert_int_equal(fw_cfg_add_file(f->d, "etc/big", big, sizeof(big), 0, &key, &err), 0);
	assert_int_equal(key, FW_CFG_FILE_FIRST + 1);

	/* The directory: the count, then each entry, all big-endian. */
	assert_int_equal(dma(f, SEL(FW_CFG_FILE_DIR) | FW_CFG_DMA_CTL_READ, 4, BUF), 0);
	assert_int_equal(get_be(f->ram + BUF, 4), 2);
	assert_int_equal(dma(f, FW_CFG_DMA_CTL_READ, 2 * FW_CFG_DIR_ENTRY, BUF), 0);
	assert_int_equal(get_be(f->ram + BUF, 4), 3);
	assert_int_equal(get_be(f->ram + BUF + 4, 2), FW_CFG_FILE_FIRST);
	assert_int_equal(get_be(f->ram + BUF + 6, 2), 0);
	assert_string_equal((char *)f->ram + BUF + 8, "etc/one");
	assert_int_equal(get_be(f->ram + BUF + 64, 4), sizeof(big));
	assert_int_equal(get_be(f->ram + BUF + 68, 2), FW_CFG_FILE_FIRST + 1);
	assert_string_equal((char *)f->ram + BUF + 72, "etc/big");

	/* A file in two reads, a skip between them: the offset carries on. */
	assert_int_equal(dma(f, SEL(FW_CFG_FILE_FIRST + 1) | FW_CFG_DMA_CTL_READ, 100, BUF), 0);
	assert_memory_equal(f->ram + BUF, big, 100);
	assert_int_equal(dma(f, FW_CFG_DMA_CTL_SKIP, 50, 0xffffffffffffull), 0);
	assert_int_equal(dma(f, FW_CFG_DMA_CTL_READ, 150, BUF), 0);
	assert_memory_equal(f->ram + BUF, big + 150, 150);
	/* Skipping past the end is no error; reading there gives zeros. */
	assert_int_equal(dma(f, FW_CFG_DMA_CTL_SKIP, 1000, 0), 0);
	memset(f->ram + BUF, 0xee, 8);
	assert_int_equal(dma(f, FW_CFG_DMA_CTL_READ, 8, BUF), 0);
	assert_int_equal(le(f->ram + BUF, 8), 0);

	/* The port interface reads the same bytes. */
	{
		uint8_t b[2] = { FW_CFG_FILE_FIRST, 0 }, c;

		assert_int_equal(bus_access(&f->bus, BUS_PIO, PORT_FW_CFG, b, 2, true), 0);
		for (unsigned int i = 0; i < 3; i++) {
			assert_int_equal(bus_access(&f->bus, BUS_PIO, PORT_FW_CFG + 1, &c, 1, false), 0);
			assert_int_equal(c, "abc"[i]);
		}
	}
	/* No operation bit: nothing moves, and no error. */
	f->ram[BUF] = 0x55;
	assert_int_equal(dma(f, SEL(FW_CFG_FILE_FIRST), 3, BUF), 0);
	assert_int_equal(f->ram[BUF], 0x55);
}

static void test_bad_addresses(void **state)
{
	struct fix *f = *state;
	uint8_t before[16];

	/* The data outside RAM, or straddling its end: the error bit, nothing written. */
	assert_int_equal(dma(f, SEL(FW_CFG_RAM_SIZE) | FW_CFG_DMA_CTL_READ, 8, RAM),
			 FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(f, SEL(FW_CFG_RAM_SIZE) | FW_CFG_DMA_CTL_READ, 8, RAM - 4),
			 FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(le(f->ram + RAM - 4, 4), 0);
	assert_int_equal(dma(f, SEL(FW_CFG_RAM_SIZE) | FW_CFG_DMA_CTL_READ, 8,
			     0xfffffffffffffffcull), FW_CFG_DMA_CTL_ERROR);
	/* The zeros past the end, outside RAM. */
	assert_int_equal(dma(f, SEL(FW_CFG_NB_CPUS) | FW_CFG_DMA_CTL_READ, 16, RAM - 8),
			 FW_CFG_DMA_CTL_ERROR);
	/* Longer than any transfer may be. */
	assert_int_equal(dma(f, SEL(0x4242) | FW_CFG_DMA_CTL_READ, FW_CFG_DMA_LEN_MAX + 1, 0),
			 FW_CFG_DMA_CTL_ERROR);
	/* The access itself outside RAM: no answer anywhere, and nothing else happens. */
	memcpy(before, f->ram, sizeof(before));
	assert_int_equal(dma_at(f, RAM, 0, 0, 0), 0xdead);
	/* Straddling RAM's end: unreadable, but its control word takes the error, as QEMU's. */
	assert_int_equal(dma_at(f, RAM - 8, 0, 0, 0), FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma_at(f, 0x123456789000ull, 0, 0, 0), 0xdead);
	assert_memory_equal(f->ram, before, sizeof(before));
	/* A write to an item that is not writable. */
	assert_int_equal(dma(f, SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_WRITE, 4, BUF),
			 FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(f, SEL(FW_CFG_SIGNATURE) | FW_CFG_DMA_CTL_READ, 4, BUF), 0);
	assert_memory_equal(f->ram + BUF, "QEMU", 4);
}

static void test_writable_file(void **state)
{
	struct fix *f = *state;
	struct err err = ERR_INIT;
	uint8_t got[8];
	size_t len;

	assert_int_equal(fw_cfg_add_file(f->d, "etc/ro", "12345678", 8, 0, NULL, &err), 0);
	assert_int_equal(fw_cfg_add_file(f->d, "etc/rw", "........", 8, FW_CFG_FILE_WRITABLE,
					 NULL, &err), 0);
	memcpy(f->ram + BUF, "abcdefgh", 8);
	assert_int_equal(dma(f, SEL(FW_CFG_FILE_FIRST) | FW_CFG_DMA_CTL_WRITE, 8, BUF),
			 FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(fw_cfg_file_get(f->d, "etc/ro", got, sizeof(got), &len), 0);
	assert_memory_equal(got, "12345678", 8);
	/* A write at an offset, after a skip. */
	assert_int_equal(dma(f, SEL(FW_CFG_FILE_FIRST + 1) | FW_CFG_DMA_CTL_SKIP, 2, 0), 0);
	assert_int_equal(dma(f, FW_CFG_DMA_CTL_WRITE, 4, BUF), 0);
	assert_int_equal(fw_cfg_file_get(f->d, "etc/rw", got, sizeof(got), &len), 0);
	assert_int_equal(len, 8);
	assert_memory_equal(got, "..abcd..", 8);
	/* Past the file's end: refused whole. */
	assert_int_equal(dma(f, FW_CFG_DMA_CTL_WRITE, 4, BUF), FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(fw_cfg_file_get(f->d, "etc/rw", got, sizeof(got), &len), 0);
	assert_memory_equal(got, "..abcd..", 8);
	assert_int_equal(fw_cfg_file_get(f->d, "etc/none", got, sizeof(got), &len), -ENOENT);
}

static void test_odd_register_accesses(void **state)
{
	struct fix *f = *state;
	uint8_t b[8];

	put_be(f->ram + ACC, SEL(FW_CFG_NB_CPUS) | FW_CFG_DMA_CTL_READ, 4);
	put_be(f->ram + ACC + 4, 2, 4);
	put_be(f->ram + ACC + 8, BUF, 8);
	/* Byte and word writes, and a half at 2: no transfer. */
	b[0] = 0x10;
	assert_int_equal(bus_access(&f->bus, BUS_PIO, DMA_PORT + 7, b, 1, true), 0);
	assert_int_equal(bus_access(&f->bus, BUS_PIO, DMA_PORT + 6, b, 2, true), 0);
	assert_int_equal(bus_access(&f->bus, BUS_PIO, DMA_PORT + 2, b, 4, true), 0);
	assert_int_equal(get_be(f->ram + ACC, 4), SEL(FW_CFG_NB_CPUS) | FW_CFG_DMA_CTL_READ);
	/* All 64 bits at once, big-endian. */
	put_be(b, ACC, 8);
	assert_int_equal(bus_access(&f->bus, BUS_PIO, DMA_PORT, b, 8, true), 0);
	assert_int_equal(get_be(f->ram + ACC, 4), 0);
	assert_int_equal(le(f->ram + BUF, 2), 3);
	/* A low half alone: the high one is clear after every transfer. */
	put_be(f->ram + ACC, SEL(FW_CFG_MAX_CPUS) | FW_CFG_DMA_CTL_READ, 4);
	f->ram[BUF] = 0;
	outl_be(f, DMA_PORT + 4, ACC);
	assert_int_equal(get_be(f->ram + ACC, 4), 0);
	assert_int_equal(f->ram[BUF], 3);
}

/*
 * A snapshot with the high half latched: version 2, which a fresh device
 * takes and goes on from (the low half starts the transfer the saved
 * device would have made); its refusals change nothing.
 */
static void test_state_dma_latch(void **state)
{
	struct fix *f = *state, g;
	uint8_t *buf, *again;
	size_t len, n2;

	outl_be(f, DMA_PORT, 0);
	put_be(f->ram + ACC, SEL(FW_CFG_NB_CPUS) | FW_CFG_DMA_CTL_READ, 4);
	put_be(f->ram + ACC + 4, 2, 4);
	put_be(f->ram + ACC + 8, BUF, 8);
	outl_be(f, DMA_PORT, 1);                       /* high half 1: outside RAM */
	buf = state_save(&f->dev, &len);
	assert_int_equal(buf[4], FW_CFG_STATE_VERSION_2);
	fix_make(&g);
	state_check_refusals(&g.dev, buf, len);
	assert_int_equal(state_restore(&g.dev, buf, len), 0);
	again = state_save(&g.dev, &n2);
	assert_int_equal(n2, len);
	assert_memory_equal(again, buf, len);
	memcpy(g.ram + ACC, f->ram + ACC, 16);
	outl_be(&g, DMA_PORT + 4, ACC);                /* 0x1_0000_1000: not RAM */
	assert_int_equal(get_be(g.ram + ACC, 4), SEL(FW_CFG_NB_CPUS) | FW_CFG_DMA_CTL_READ);
	outl_be(&g, DMA_PORT + 4, ACC);                /* the latch is clear again */
	assert_int_equal(get_be(g.ram + ACC, 4), 0);
	free(again);
	free(buf);
	fix_free(&g);
}

/* Writable files' contents travel in the record; another device's files are refused. */
static void test_state_writable(void **state)
{
	struct fix *f = *state, g;
	struct err err = ERR_INIT;
	uint8_t *buf, got[4];
	size_t len, n;

	assert_int_equal(fw_cfg_add_file(f->d, "etc/rw", "....", 4, FW_CFG_FILE_WRITABLE, NULL,
					 &err), 0);
	memcpy(f->ram + BUF, "wxyz", 4);
	assert_int_equal(dma(f, SEL(FW_CFG_FILE_FIRST) | FW_CFG_DMA_CTL_WRITE, 4, BUF), 0);
	buf = state_save(&f->dev, &len);
	assert_int_equal(buf[4], FW_CFG_STATE_VERSION_2);

	fix_make(&g);                                  /* no file: refused */
	assert_int_equal(state_restore(&g.dev, buf, len), -EINVAL);
	assert_int_equal(fw_cfg_add_file(g.d, "etc/rw", "....", 4, FW_CFG_FILE_WRITABLE, NULL,
					 &err), 0);
	state_check_refusals(&g.dev, buf, len);
	assert_int_equal(state_restore(&g.dev, buf, len), 0);
	assert_int_equal(fw_cfg_file_get(g.d, "etc/rw", got, sizeof(got), &n), 0);
	assert_memory_equal(got, "wxyz", 4);
	fix_free(&g);

	fix_make(&g);                                  /* another size: refused */
	assert_int_equal(fw_cfg_add_file(g.d, "etc/rw", "...", 3, FW_CFG_FILE_WRITABLE, NULL,
					 &err), 0);
	assert_int_equal(state_check(&g.dev, buf, len), -EINVAL);
	fix_free(&g);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_signature_and_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_legacy_item, setup, teardown),
		cmocka_unit_test_setup_teardown(test_files_directory_and_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writable_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_register_accesses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_dma_latch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_writable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
