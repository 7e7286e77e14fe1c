/*
 * The q35 host bridge, Intel's 82G33 MCH as QEMU's hw/pci-host/q35.c
 * offers it at 00:00.0 (vendor 8086, device 29c0, QEMU's subsystem
 * 1af4:1100, which SeaBIOS checks before it believes it runs on QEMU).
 * A PCI function (pci/root.h's ops) that the root complex takes as its
 * slot 0. What the firmware programs in it:
 *
 *   0x50  the extended TSEG size (16 bits): a plain register, so OVMF's
 *         probe (write 0xffff, read it back) finds no extended TSEG
 *   0x60  PCIEXBAR (64 bits): the ECAM window's base, size (bits 2:1:
 *         256, 128 or 64 MiB) and enable (bit 0). cfg->ecam hears every
 *         change: the window decodes only while enabled at cfg's base
 *         (Hearth's bus is fixed once the VM runs: chipset/q35.h); any
 *         other base is logged and decodes nothing
 *   0x90  PAM0 to PAM6: kept as written, for the guest to read back.
 *         0xc0000-0xfffff is RAM whatever they say (docs/firmware.md)
 *   0x9c  SMBASE: a plain byte (no SMRAM at SMBASE)
 *   0x9d  SMRAM: D_OPEN, D_CLS, D_LCK and G_SMRAME writable, C_BASE_SEG
 *         fixed at 010b; D_LCK locks it (D_OPEN cleared, only D_CLS
 *         writable after) as QEMU's does. There is no SMRAM: closed or
 *         open, 0xa0000-0xbffff is RAM and no CPU enters SMM
 *   0x9e  ESMRAMC: H_SMRAME, TSEG_SZ and T_EN writable until D_LCK
 *
 * Every other byte of 0x40-0xff is a plain register (QEMU's default
 * write mask); the command register is writable as on any function.
 *
 * Record "MCHS" 1: the command register (u16) and bytes 0x40-0xff.
 */
#ifndef HEARTH_CHIPSET_MCH_H
#define HEARTH_CHIPSET_MCH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/component.h"
#include "pci/root.h"

#define MCH_VENDOR 0x8086
#define MCH_DEVICE 0x29c0
#define MCH_EXT_TSEG_MB 0x50
#define MCH_PCIEXBAR 0x60
#define MCH_PCIEXBAR_EN 0x1ull
#define MCH_PCIEXBAR_LEN_SHIFT 1
#define MCH_PAM0 0x90
#define MCH_PAM_COUNT 7
#define MCH_SMBASE 0x9c
#define MCH_SMRAM 0x9d
#define MCH_ESMRAMC 0x9e
#define MCH_SMRAM_D_OPEN 0x40
#define MCH_SMRAM_D_CLS 0x20
#define MCH_SMRAM_D_LCK 0x10
#define MCH_SMRAM_G_SMRAME 0x08
#define MCH_SMRAM_DEFAULT 0x02       /* C_BASE_SEG, hardwired */
#define MCH_ESMRAMC_DEFAULT 0x38     /* SM_CACHE, SM_L1, SM_L2 */
#define MCH_ESMRAMC_WMASK 0x87       /* H_SMRAME, TSEG_SZ, T_EN */

#define MCH_TAG "MCHS"
#define MCH_STATE_VERSION 1u

/* The Red Hat / QEMU subsystem every q35 function carries. */
#define Q35_SUBSYS_VENDOR 0x1af4
#define Q35_SUBSYS_ID 0x1100

struct mch;

struct mch_config {
	uint64_t ecam_base;          /* where the window is claimed */
	uint64_t ecam_size;          /* its most: 256 MiB */
	/*
	 * The window's decoding changed: bytes from ecam_base that decode
	 * (0: none). Called with the MCH's lock held, on the vCPU that
	 * wrote PCIEXBAR (or a restore's thread); it must not call back in.
	 */
	void (*ecam)(void *ctx, uint64_t len);
	void *ctx;
};

/* The MCH in its reset state; *out's obj is the struct mch. 0, or -errno with err. */
int mch_create(const struct mch_config *cfg, struct component *out, struct err *err);

/* Its configuration space, for the root's slot 0 (opaque: the struct mch). */
extern const struct pci_function_ops mch_function_ops;

/* What PCIEXBAR says now: the bytes of the window that decode (0: none). */
uint64_t mch_ecam_len(struct mch *m);

#endif
