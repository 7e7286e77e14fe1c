/*
 * The q35 LPC bridge, Intel's ICH9 (82801IB) as QEMU's hw/isa/lpc_ich9.c
 * and hw/acpi/ich9.c offer it at 00:1f.0 (vendor 8086, device 2918, an
 * ISA bridge, multi-function as QEMU's). A PCI function (pci/root.h) and
 * the I/O and memory it decodes:
 *
 * Configuration registers the firmware programs:
 *   0x40  PMBASE: the PM block's I/O base (bits 15:7; bit 0 reads 1)
 *   0x44  ACPI_CNTL: ACPI_EN (bit 7) turns the PM block's decoding on;
 *         SCI_IRQ_SEL (bits 2:0) is kept, the SCI being IRQ 9 (0)
 *   0x60  PIRQA-D_ROUT and 0x68 PIRQE-H_ROUT: kept as written (0x80 at
 *         reset); Hearth's PCI functions interrupt by MSI-X only
 *   0xf0  RCBA: the root complex registers' base (bits 31:14), enable
 *         (bit 0)
 * and every other byte of 0x40-0xff a plain register (QEMU's mask).
 *
 * The PM block, 128 ports at PMBASE while ACPI_EN is set (hw/acpi/ich9.c):
 *   +0x00 PM1_STS (write 1 to clear; TMR_STS set as the timer's bit 23
 *         turns over, found when the block is read or written, and its
 *         SCI with it: no timer runs for TMR_EN, which Linux and both
 *         firmwares leave clear), +0x02 PM1_EN, +0x04 PM1_CNT
 *         (SCI_EN; SLP_TYP 0 or 2 with SLP_EN powers off, as QEMU's S5
 *         and S4; other sleep types are logged and ignored),
 *   +0x08 PM_TMR: the ACPI PM timer, 24 bits at 3.579545 MHz, read-only,
 *   +0x20 GPE0_STS (8 bytes, write 1 to clear), +0x28 GPE0_EN,
 *   +0x30 SMI_EN (APMC_EN set at reset, as QEMU without SMM: SeaBIOS
 *         then never tries to enter SMM), +0x34 SMI_STS;
 *   the rest (the TCO block among it) reads 0, writes vanish.
 * The SCI (cfg->sci) is high while a PM1 event (timer, power button,
 * global lock, RTC) or a GPE is both pending and enabled.
 *
 * APM at ports 0xb2 (control) and 0xb3 (status): ACPI_ENABLE (2) sets
 * SCI_EN, ACPI_DISABLE (3) clears it; any other command would be an SMI,
 * and there is no SMM: nothing happens.
 *
 * QEMU's CPU hotplug block (ports 0xcd8-0xce3) is absent: reads give all
 * ones, so OVMF counts the CPUs fw_cfg gives and no hotplug.
 *
 * The root complex registers, 16 KiB at RCBA while enabled: plain
 * registers, but GCS (0x3410) keeps NO_REBOOT (bit 5) set: there is no
 * TCO watchdog to reboot by, and Linux's iTCO_wdt, which would clear
 * it, then leaves the chipset alone.
 *
 * Like the MCH's ECAM window, the PM block and RCBA are claimed where
 * both firmwares program them (cfg's pm_port, rcba_addr) and answer only
 * while the guest's register names that place; any other is logged.
 *
 * Record "LPCS" 1: the command register (u16), bytes 0x40-0xff, PM1_STS,
 * PM1_EN (u16 each), PM1_CNT (u32), GPE0's status and enable bytes
 * (8 + 8), SMI_EN, SMI_STS (u32 each), APM's two bytes, the PM timer's
 * ticks (u64, since it started: it counts on from there) and the tick
 * at which TMR_STS was last cleared (u64), then RCBA's 16 KiB.
 */
#ifndef HEARTH_CHIPSET_LPC_H
#define HEARTH_CHIPSET_LPC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/irq.h"
#include "core/ratelimit.h"
#include "devices/device.h"
#include "pci/root.h"

#define LPC_VENDOR 0x8086
#define LPC_DEVICE 0x2918
#define LPC_REVISION 0x02            /* QEMU's ICH9_A2_LPC_REVISION */
#define LPC_CLASS_ISA_BRIDGE 0x060100u

#define LPC_PMBASE 0x40
#define LPC_PMBASE_MASK 0xff80u
#define LPC_ACPI_CNTL 0x44
#define LPC_ACPI_EN 0x80
#define LPC_PIRQA 0x60
#define LPC_PIRQE 0x68
#define LPC_PIRQ_DISABLED 0x80
#define LPC_RCBA 0xf0
#define LPC_RCBA_MASK 0xffffc000u
#define LPC_RCBA_EN 0x1u

#define LPC_PM_PORTS 0x80
#define LPC_PM1_STS 0x00
#define LPC_PM1_EN 0x02
#define LPC_PM1_CNT 0x04
#define LPC_PM_TMR 0x08
#define LPC_GPE0_STS 0x20
#define LPC_GPE0_EN 0x28
#define LPC_GPE0_LEN 8               /* bytes of status, then of enable */
#define LPC_SMI_EN 0x30
#define LPC_SMI_STS 0x34

#define LPC_PM1_TMR_STS 0x0001
#define LPC_PM1_BM_STS 0x0010
#define LPC_PM1_GBL_STS 0x0020
#define LPC_PM1_PWRBTN_STS 0x0100
#define LPC_PM1_RTC_STS 0x0400
#define LPC_PM1_WAK_STS 0x8000
#define LPC_PM1_CNT_SCI_EN 0x0001
#define LPC_PM1_CNT_SLP_TYP_SHIFT 10
#define LPC_PM1_CNT_SLP_EN 0x2000
#define LPC_SMI_EN_APMC 0x20

#define LPC_PM_TIMER_HZ 3579545ull
#define LPC_PM_TIMER_MASK 0xffffffu

#define LPC_APM_PORTS 2
#define LPC_APM_ACPI_ENABLE 0x02
#define LPC_APM_ACPI_DISABLE 0x03
#define LPC_CPUHP_PORTS 12

#define LPC_RCBA_SIZE 0x4000u
#define LPC_RCBA_GCS 0x3410
#define LPC_GCS_NO_REBOOT 0x20u

#define LPC_TAG "LPCS"
#define LPC_STATE_VERSION 1u

struct lpc;

struct lpc_config {
	uint16_t pm_port;            /* where the PM block is claimed: 128 ports */
	uint16_t apm_port;           /* APM's two ports; 0: none */
	uint16_t cpuhp_port;         /* the absent CPU hotplug block; 0: none */
	uint64_t rcba_addr;          /* where RCBA's 16 KiB are claimed */
	struct irq_line sci;         /* IRQ 9 */
	const struct rl_clock *clock;/* the PM timer's, ns; NULL: CLOCK_MONOTONIC */
};

/*
 * The LPC on env->bus (its ports and window) in its reset state; S5 and
 * S4 go to env->power. *out's obj is the struct lpc. 0, or -errno with err.
 */
int lpc_create(const struct dev_env *env, const struct lpc_config *cfg, struct component *out,
	       struct err *err);

/* Its configuration space, for the root's slot LAYOUT_Q35_LPC_SLOT (opaque: the struct lpc). */
extern const struct pci_function_ops lpc_function_ops;

/* The PM timer's value now (24 bits); for the tests. */
uint32_t lpc_pm_timer(struct lpc *l);

#endif
