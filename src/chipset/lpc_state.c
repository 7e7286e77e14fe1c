/*
 * The LPC's record (lpc.h). The PM timer is saved as the ticks it has
 * counted, and counts on from there once restored, whatever the host's
 * clock read meanwhile: the guest sees no jump. A record with a value no
 * guest write leaves (reserved bits set, NO_REBOOT clear, SLP_EN held)
 * is refused before anything changes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chipset/lpc_priv.h"

#define REGS_LEN (PCI_CFG_STD_SIZE - PCI_CFG_CAP_START)
#define PM1_STS_BITS 0x8531u
#define PM1_EN_BITS 0x0521u

struct lpc_rec {
	uint16_t cmd;
	uint8_t regs[REGS_LEN];
	uint16_t pm1_sts, pm1_en;
	uint32_t pm1_cnt;
	uint8_t gpe_sts[LPC_GPE0_LEN], gpe_en[LPC_GPE0_LEN];
	uint32_t smi_en, smi_sts;
	uint8_t apm_cnt, apm_sts;
	uint64_t ticks, cleared;
	uint8_t rcba[LPC_RCBA_SIZE];
};

int lpc_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct lpc *l = obj;

	pthread_mutex_lock(&l->lock);
	bytes_put_tag(o, LPC_TAG, LPC_STATE_VERSION);
	bytes_put_u16(o, (uint16_t)pci_config_read(&l->pci, PCI_CFG_COMMAND, 2));
	bytes_put(o, l->pci.data + PCI_CFG_CAP_START, REGS_LEN);
	bytes_put_u16(o, l->pm1_sts);
	bytes_put_u16(o, l->pm1_en);
	bytes_put_u32(o, l->pm1_cnt);
	bytes_put(o, l->gpe_sts, LPC_GPE0_LEN);
	bytes_put(o, l->gpe_en, LPC_GPE0_LEN);
	bytes_put_u32(o, l->smi_en);
	bytes_put_u32(o, l->smi_sts);
	bytes_put_u8(o, l->apm_cnt);
	bytes_put_u8(o, l->apm_sts);
	bytes_put_u64(o, lpc_pm_ticks(l));
	bytes_put_u64(o, l->tmr_cleared);
	bytes_put(o, l->rcba, LPC_RCBA_SIZE);
	pthread_mutex_unlock(&l->lock);
	return 0;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int lpc_check(const struct lpc *l, const struct lpc_rec *r)
{
	uint16_t cmd_mask = (uint16_t)(l->pci.wmask[PCI_CFG_COMMAND] |
				       l->pci.wmask[PCI_CFG_COMMAND + 1] << 8);
	uint32_t pmbase = get32(r->regs + LPC_PMBASE - PCI_CFG_CAP_START);
	uint32_t rcba = get32(r->regs + LPC_RCBA - PCI_CFG_CAP_START);

	if (r->cmd & ~cmd_mask)
		return -EINVAL;
	if ((pmbase & ~LPC_PMBASE_MASK) != 0x1u || (rcba & ~(LPC_RCBA_MASK | LPC_RCBA_EN)))
		return -EINVAL;
	if ((r->pm1_sts & ~PM1_STS_BITS) || (r->pm1_en & ~PM1_EN_BITS))
		return -EINVAL;
	if (r->pm1_cnt & LPC_PM1_CNT_SLP_EN)
		return -EINVAL;
	/* TMR_STS was cleared at a tick the timer had reached. */
	if (r->cleared > r->ticks)
		return -EINVAL;
	if (!(r->rcba[LPC_RCBA_GCS] & LPC_GCS_NO_REBOOT))
		return -EINVAL;
	return 0;
}

static int lpc_parse(const void *in, size_t len, struct lpc_rec *r)
{
	struct bytes_in b = bytes_in_init(in, len);
	int ret = bytes_get_tag(&b, LPC_TAG, LPC_STATE_VERSION);

	if (ret)
		return ret;
	r->cmd = bytes_get_u16(&b);
	bytes_get(&b, r->regs, REGS_LEN);
	r->pm1_sts = bytes_get_u16(&b);
	r->pm1_en = bytes_get_u16(&b);
	r->pm1_cnt = bytes_get_u32(&b);
	bytes_get(&b, r->gpe_sts, LPC_GPE0_LEN);
	bytes_get(&b, r->gpe_en, LPC_GPE0_LEN);
	r->smi_en = bytes_get_u32(&b);
	r->smi_sts = bytes_get_u32(&b);
	r->apm_cnt = bytes_get_u8(&b);
	r->apm_sts = bytes_get_u8(&b);
	r->ticks = bytes_get_u64(&b);
	r->cleared = bytes_get_u64(&b);
	bytes_get(&b, r->rcba, LPC_RCBA_SIZE);
	return bytes_in_finish(&b);
}

static void lpc_apply(struct lpc *l, const struct lpc_rec *r)
{
	lpc_masks(l);
	pci_config_set(&l->pci, PCI_CFG_COMMAND, r->cmd, 2);
	memcpy(l->pci.data + PCI_CFG_CAP_START, r->regs, REGS_LEN);
	l->pm1_sts = r->pm1_sts;
	l->pm1_en = r->pm1_en;
	l->pm1_cnt = r->pm1_cnt;
	memcpy(l->gpe_sts, r->gpe_sts, LPC_GPE0_LEN);
	memcpy(l->gpe_en, r->gpe_en, LPC_GPE0_LEN);
	l->smi_en = r->smi_en;
	l->smi_sts = r->smi_sts;
	l->apm_cnt = r->apm_cnt;
	l->apm_sts = r->apm_sts;
	l->tmr_base = rl_clock_now(&l->clock);
	l->tmr_ticks = r->ticks;
	l->tmr_cleared = r->cleared;
	memcpy(l->rcba, r->rcba, LPC_RCBA_SIZE);
	/* The SCI as the registers have it, driven again even if it seems unchanged. */
	l->sci_level = -1;
	lpc_update_sci(l);
}

int lpc_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct lpc *l = obj;
	struct lpc_rec *r = malloc(sizeof(*r));
	int ret;

	if (!r)
		return err_set(err, false, -ENOMEM, "out of memory");
	ret = lpc_parse(in, len, r);
	pthread_mutex_lock(&l->lock);
	if (!ret)
		ret = lpc_check(l, r);
	if (!ret && apply)
		lpc_apply(l, r);
	pthread_mutex_unlock(&l->lock);
	free(r);
	return ret;
}
