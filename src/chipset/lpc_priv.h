/*
 * What the LPC's parts share (lpc.c: its configuration space, RCBA and
 * its making; lpc_pm.c: the PM block, APM and the PM timer; lpc_state.c:
 * the record).
 */
#ifndef HEARTH_CHIPSET_LPC_PRIV_H
#define HEARTH_CHIPSET_LPC_PRIV_H

#include <pthread.h>

#include "chipset/lpc.h"
#include "util/log.h"

struct lpc {
	/* vCPUs reach the registers, ports and window concurrently. */
	pthread_mutex_t lock;
	struct lpc_config cfg;
	struct rl_clock clock;
	struct power_sink power;
	/* PM1, GPE0, SMI and APM registers. */
	uint16_t pm1_sts, pm1_en;
	uint32_t pm1_cnt;
	uint8_t gpe_sts[LPC_GPE0_LEN], gpe_en[LPC_GPE0_LEN];
	uint32_t smi_en, smi_sts;
	uint8_t apm_cnt, apm_sts;
	/*
	 * The PM timer: ticks = tmr_ticks + (clock - tmr_base) at 3.579545
	 * MHz, never wrapped here (the guest sees its low 24 bits);
	 * tmr_cleared is the tick at which TMR_STS was last cleared.
	 */
	uint64_t tmr_base, tmr_ticks, tmr_cleared;
	int sci_level;                /* what cfg.sci was last driven to; -1: never */
	struct ratelimit rl;
	uint8_t rcba[LPC_RCBA_SIZE];
	/* Last: 12 KiB, mostly never written (util/trim.h). */
	struct pci_config pci;
};

/* The PM block's and APM's ports (lpc_pm.c). */
extern const struct bus_region_ops lpc_pm_ops;
extern const struct bus_region_ops lpc_apm_ops;

/* The timer's unwrapped ticks now; l->lock held. */
uint64_t lpc_pm_ticks(const struct lpc *l);
/* Drives the SCI to what the PM1 and GPE0 registers say; l->lock held. */
void lpc_update_sci(struct lpc *l);
/* The PM registers at reset (QEMU's pm_reset); l->lock held. */
void lpc_pm_reset(struct lpc *l);
/* The configuration registers' write masks, as lpc.h gives them. */
void lpc_masks(struct lpc *l);

/* The component's save and restore (lpc_state.c). */
int lpc_save(void *obj, struct bytes_out *o, struct err *err);
int lpc_restore(void *obj, const void *in, size_t len, bool apply, struct err *err);

#endif
