/*
 * The q35 MCH (chipset/mch.h) as the firmware programs it: its identity
 * and QEMU's subsystem, PCIEXBAR moving the ECAM window's decoding (only
 * enabled at the claimed base, in each of its three sizes), PAM kept,
 * SMRAM's D_LCK locking, OVMF's extended-TSEG probe; and its record: a
 * round trip, every truncation refused, the callback told the restored
 * window.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chipset/mch.h"
#include "pci/config.h"
#include "state_check.h"

#define ECAM 0xb0000000ull
#define MIB (1ull << 20)

struct rig {
	struct component c;
	uint64_t told;        /* the last length the callback heard */
	unsigned int calls;
};

static void on_ecam(void *ctx, uint64_t len)
{
	struct rig *r = ctx;

	r->told = len;
	r->calls++;
}

static struct rig *make(void)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct err err = ERR_INIT;
	struct mch_config cfg = { .ecam_base = ECAM, .ecam_size = 256 * MIB, .ecam = on_ecam,
				  .ctx = r };

	assert_non_null(r);
	assert_int_equal(mch_create(&cfg, &r->c, &err), 0);
	return r;
}

static void unmake(struct rig *r)
{
	r->c.ops->destroy(r->c.obj);
	free(r);
}

static uint32_t rd(struct rig *r, unsigned int off, unsigned int len)
{
	return mch_function_ops.cfg_read(r->c.obj, off, len);
}

static void wr(struct rig *r, unsigned int off, uint32_t v, unsigned int len)
{
	mch_function_ops.cfg_write(r->c.obj, off, v, len);
}

static void test_identity(void **state)
{
	struct rig *r = make();

	(void)state;
	assert_int_equal(rd(r, PCI_CFG_VENDOR_ID, 2), MCH_VENDOR);
	assert_int_equal(rd(r, PCI_CFG_VENDOR_ID + 2, 2), MCH_DEVICE);
	/* SeaBIOS believes it runs on QEMU only with this subsystem. */
	assert_int_equal(rd(r, 0x2c, 2), Q35_SUBSYS_VENDOR);
	assert_int_equal(rd(r, 0x2e, 2), Q35_SUBSYS_ID);
	assert_int_equal(rd(r, MCH_SMRAM, 1), MCH_SMRAM_DEFAULT);
	assert_int_equal(rd(r, MCH_ESMRAMC, 1), MCH_ESMRAMC_DEFAULT);
	assert_int_equal(mch_ecam_len(r->c.obj), 0);
	unmake(r);
}

static void test_pciexbar(void **state)
{
	struct rig *r = make();

	(void)state;
	/* The firmware's order: the base (disabled), then the enable bit. */
	wr(r, MCH_PCIEXBAR + 4, 0, 4);
	wr(r, MCH_PCIEXBAR, (uint32_t)ECAM, 4);
	assert_int_equal(mch_ecam_len(r->c.obj), 0);
	wr(r, MCH_PCIEXBAR, (uint32_t)ECAM | MCH_PCIEXBAR_EN, 4);
	assert_int_equal(mch_ecam_len(r->c.obj), 256 * MIB);
	assert_int_equal(r->told, 256 * MIB);
	/* 128 and 64 MiB (bits 2:1 = 1, 2). */
	wr(r, MCH_PCIEXBAR, (uint32_t)ECAM | 1u << MCH_PCIEXBAR_LEN_SHIFT | MCH_PCIEXBAR_EN, 4);
	assert_int_equal(r->told, 128 * MIB);
	wr(r, MCH_PCIEXBAR, (uint32_t)ECAM | 2u << MCH_PCIEXBAR_LEN_SHIFT | MCH_PCIEXBAR_EN, 4);
	assert_int_equal(r->told, 64 * MIB);
	/* Elsewhere than the claimed base: nothing decodes. */
	wr(r, MCH_PCIEXBAR, 0xe0000000u | MCH_PCIEXBAR_EN, 4);
	assert_int_equal(mch_ecam_len(r->c.obj), 0);
	assert_int_equal(r->told, 0);
	/* Disabled again at the base: nothing either. */
	wr(r, MCH_PCIEXBAR, (uint32_t)ECAM, 4);
	assert_int_equal(mch_ecam_len(r->c.obj), 0);
	unmake(r);
}

static void test_pam_and_tseg_probe(void **state)
{
	struct rig *r = make();

	(void)state;
	for (unsigned int i = 0; i < MCH_PAM_COUNT; i++) {
		wr(r, MCH_PAM0 + i, 0x30 + i, 1);
		assert_int_equal(rd(r, MCH_PAM0 + i, 1), 0x30 + i);
	}
	/* OVMF's probe: 0xffff written, read back as written means no extended TSEG. */
	wr(r, MCH_EXT_TSEG_MB, 0xffff, 2);
	assert_int_equal(rd(r, MCH_EXT_TSEG_MB, 2), 0xffff);
	unmake(r);
}

static void test_smram_lock(void **state)
{
	struct rig *r = make();

	(void)state;
	wr(r, MCH_SMRAM, MCH_SMRAM_D_OPEN | MCH_SMRAM_G_SMRAME, 1);
	assert_int_equal(rd(r, MCH_SMRAM, 1),
			 MCH_SMRAM_D_OPEN | MCH_SMRAM_G_SMRAME | MCH_SMRAM_DEFAULT);
	wr(r, MCH_ESMRAMC, 0xff, 1);
	assert_int_equal(rd(r, MCH_ESMRAMC, 1), MCH_ESMRAMC_DEFAULT | MCH_ESMRAMC_WMASK);
	/* D_LCK: D_OPEN goes, only D_CLS stays writable, ESMRAMC freezes. */
	wr(r, MCH_SMRAM, MCH_SMRAM_D_LCK | MCH_SMRAM_G_SMRAME, 1);
	assert_true(rd(r, MCH_SMRAM, 1) & MCH_SMRAM_D_LCK);
	assert_false(rd(r, MCH_SMRAM, 1) & MCH_SMRAM_D_OPEN);
	wr(r, MCH_SMRAM, MCH_SMRAM_D_OPEN, 1);
	assert_false(rd(r, MCH_SMRAM, 1) & MCH_SMRAM_D_OPEN);
	assert_true(rd(r, MCH_SMRAM, 1) & MCH_SMRAM_D_LCK);
	wr(r, MCH_SMRAM, MCH_SMRAM_D_LCK | MCH_SMRAM_D_CLS | MCH_SMRAM_G_SMRAME, 1);
	assert_true(rd(r, MCH_SMRAM, 1) & MCH_SMRAM_D_CLS);
	wr(r, MCH_ESMRAMC, 0, 1);
	assert_int_equal(rd(r, MCH_ESMRAMC, 1), MCH_ESMRAMC_DEFAULT | MCH_ESMRAMC_WMASK);
	unmake(r);
}

static void test_round_trip(void **state)
{
	struct rig *a = make(), *b = make();
	uint8_t *saved, *again;
	size_t len, len2;

	(void)state;
	wr(a, MCH_PCIEXBAR, (uint32_t)ECAM | MCH_PCIEXBAR_EN, 4);
	wr(a, MCH_PAM0 + 3, 0x33, 1);
	wr(a, MCH_SMRAM, MCH_SMRAM_D_LCK | MCH_SMRAM_G_SMRAME, 1);
	wr(a, PCI_CFG_COMMAND, 0x6, 2);
	saved = state_save(&a->c, &len);
	state_check_refusals(&b->c, saved, len);
	b->calls = 0;
	assert_int_equal(state_restore(&b->c, saved, len), 0);
	/* The window the record says, told to the bus; the same record again. */
	assert_int_equal(mch_ecam_len(b->c.obj), 256 * MIB);
	assert_true(b->calls >= 1);
	assert_int_equal(b->told, 256 * MIB);
	assert_int_equal(rd(b, MCH_PAM0 + 3, 1), 0x33);
	assert_true(rd(b, MCH_SMRAM, 1) & MCH_SMRAM_D_LCK);
	/* Locked after the restore too: D_OPEN cannot come back. */
	wr(b, MCH_SMRAM, MCH_SMRAM_D_OPEN, 1);
	assert_false(rd(b, MCH_SMRAM, 1) & MCH_SMRAM_D_OPEN);
	again = state_save(&b->c, &len2);
	assert_int_equal(len2, len);
	assert_memory_equal(again, saved, len);
	free(again);
	free(saved);
	unmake(a);
	unmake(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_pciexbar),
		cmocka_unit_test(test_pam_and_tseg_probe),
		cmocka_unit_test(test_smram_lock),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
