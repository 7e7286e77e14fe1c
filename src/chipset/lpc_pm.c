/*
 * The ICH9's PM block (lpc.h), its APM ports and the ACPI PM timer.
 * Accesses of any width are taken a byte at a time, then the effects
 * (the SCI, a sleep request) follow once, as after QEMU's whole-register
 * write: a byte of PM1_CNT written alone sleeps as a word does.
 */
#include <errno.h>
#include <string.h>

#include "chipset/lpc_priv.h"

#define NSEC_PER_SEC 1000000000ull
#define TMR_BIT23 (1ull << 23)
/* PM1 events that raise the SCI when enabled (QEMU's acpi_update_sci). */
#define PM1_SCI_EVENTS (LPC_PM1_TMR_STS | LPC_PM1_GBL_STS | LPC_PM1_PWRBTN_STS | LPC_PM1_RTC_STS)
#define PM1_STS_BITS (PM1_SCI_EVENTS | LPC_PM1_BM_STS | LPC_PM1_WAK_STS)
#define PM1_EN_BITS PM1_SCI_EVENTS
#define SLP_TYP_S5 0
#define SLP_TYP_S4 2                  /* QEMU's ICH9 s4_val: powers off too */

uint64_t lpc_pm_ticks(const struct lpc *l)
{
	uint64_t now = rl_clock_now(&l->clock);
	uint64_t ns = now > l->tmr_base ? now - l->tmr_base : 0;

	/* 128 bits: ns * 3579545 overflows 64 after some 160 years, never here. */
	return l->tmr_ticks + (uint64_t)((unsigned __int128)ns * LPC_PM_TIMER_HZ / NSEC_PER_SEC);
}

uint32_t lpc_pm_timer(struct lpc *l)
{
	uint32_t v;

	pthread_mutex_lock(&l->lock);
	v = (uint32_t)(lpc_pm_ticks(l) & LPC_PM_TIMER_MASK);
	pthread_mutex_unlock(&l->lock);
	return v;
}

/* TMR_STS: set once bit 23 turned over since it was last cleared. */
static uint16_t pm1_sts_now(const struct lpc *l)
{
	uint16_t sts = l->pm1_sts;

	if ((lpc_pm_ticks(l) / TMR_BIT23) != l->tmr_cleared / TMR_BIT23)
		sts |= LPC_PM1_TMR_STS;
	return sts;
}

void lpc_update_sci(struct lpc *l)
{
	int level = (pm1_sts_now(l) & l->pm1_en & PM1_SCI_EVENTS) != 0;

	for (unsigned int i = 0; !level && i < LPC_GPE0_LEN; i++)
		level = (l->gpe_sts[i] & l->gpe_en[i]) != 0;
	if (level == l->sci_level)
		return;
	l->sci_level = level;
	irq_line_set(&l->cfg.sci, level);
}

void lpc_pm_reset(struct lpc *l)
{
	l->pm1_sts = l->pm1_en = 0;
	l->pm1_cnt = 0;
	memset(l->gpe_sts, 0, sizeof(l->gpe_sts));
	memset(l->gpe_en, 0, sizeof(l->gpe_en));
	/* QEMU without SMM marks SMM set up already, so SeaBIOS never raises an SMI. */
	l->smi_en = LPC_SMI_EN_APMC;
	l->smi_sts = 0;
	l->apm_cnt = l->apm_sts = 0;
	l->tmr_base = rl_clock_now(&l->clock);
	l->tmr_ticks = l->tmr_cleared = 0;
}

static uint8_t pm_read_byte(struct lpc *l, unsigned int off)
{
	unsigned int sh = 8 * (off & 3);

	switch (off & ~3u) {
	case LPC_PM1_STS:
		/* PM1_STS and PM1_EN share the dword: status low, enable high. */
		return (uint8_t)((pm1_sts_now(l) | (uint32_t)l->pm1_en << 16) >> sh);
	case LPC_PM1_CNT:
		return (uint8_t)(l->pm1_cnt >> sh);
	case LPC_PM_TMR:
		return (uint8_t)((lpc_pm_ticks(l) & LPC_PM_TIMER_MASK) >> sh);
	case LPC_SMI_EN:
		return (uint8_t)(l->smi_en >> sh);
	case LPC_SMI_STS:
		return (uint8_t)(l->smi_sts >> sh);
	default:
		break;
	}
	if (off >= LPC_GPE0_STS && off < LPC_GPE0_STS + LPC_GPE0_LEN)
		return l->gpe_sts[off - LPC_GPE0_STS];
	if (off >= LPC_GPE0_EN && off < LPC_GPE0_EN + LPC_GPE0_LEN)
		return l->gpe_en[off - LPC_GPE0_EN];
	return 0;
}

static void pm_write_byte(struct lpc *l, unsigned int off, uint8_t v)
{
	unsigned int sh = 8 * (off & 3);

	switch (off) {
	case LPC_PM1_STS:
	case LPC_PM1_STS + 1: {
		uint16_t clear = (uint16_t)(v << (8 * (off & 1))) & PM1_STS_BITS;

		if (clear & LPC_PM1_TMR_STS)
			l->tmr_cleared = lpc_pm_ticks(l);
		l->pm1_sts &= (uint16_t)~clear;
		return;
	}
	case LPC_PM1_EN:
	case LPC_PM1_EN + 1:
		sh = 8 * (off & 1);
		l->pm1_en = (uint16_t)(((l->pm1_en & ~(0xffu << sh)) | (uint32_t)v << sh) &
				       PM1_EN_BITS);
		return;
	case LPC_SMI_EN:
	case LPC_SMI_EN + 1:
	case LPC_SMI_EN + 2:
	case LPC_SMI_EN + 3:
		l->smi_en = (l->smi_en & ~(0xffu << sh)) | (uint32_t)v << sh;
		return;
	default:
		break;
	}
	if (off >= LPC_PM1_CNT && off < LPC_PM1_CNT + 4)
		l->pm1_cnt = (l->pm1_cnt & ~(0xffu << sh)) | (uint32_t)v << sh;
	else if (off >= LPC_GPE0_STS && off < LPC_GPE0_STS + LPC_GPE0_LEN)
		l->gpe_sts[off - LPC_GPE0_STS] &= (uint8_t)~v;
	else if (off >= LPC_GPE0_EN && off < LPC_GPE0_EN + LPC_GPE0_LEN)
		l->gpe_en[off - LPC_GPE0_EN] = v;
}

/* SLP_EN: QEMU's acpi_pm1_cnt_write. The bit itself is never kept. */
static void pm_sleep(struct lpc *l)
{
	unsigned int typ = (l->pm1_cnt >> LPC_PM1_CNT_SLP_TYP_SHIFT) & 7;

	if (!(l->pm1_cnt & LPC_PM1_CNT_SLP_EN))
		return;
	l->pm1_cnt &= ~(uint32_t)LPC_PM1_CNT_SLP_EN;
	if (typ == SLP_TYP_S5 || typ == SLP_TYP_S4) {
		log_debug("lpc: S%u requested", typ == SLP_TYP_S5 ? 5 : 4);
		power_sink_raise(&l->power, POWER_OFF);
		return;
	}
	log_ratelimited(&l->rl, LOG_WARN, "lpc: sleep type %u is not supported, ignored", typ);
}

/* The PM block decodes while ACPI_EN is on and PMBASE names the claimed ports; l->lock held. */
static bool pm_decodes(struct lpc *l)
{
	uint32_t base = pci_config_read(&l->pci, LPC_PMBASE, 4) & LPC_PMBASE_MASK;

	if (!(l->pci.data[LPC_ACPI_CNTL] & LPC_ACPI_EN))
		return false;
	if (base == l->cfg.pm_port)
		return true;
	log_ratelimited(&l->rl, LOG_WARN, "lpc: the PM block programmed at port 0x%x: Hearth "
			"decodes it only at 0x%x (docs/firmware.md)", base, l->cfg.pm_port);
	return false;
}

static void pm_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct lpc *l = opaque;
	bool on;

	pthread_mutex_lock(&l->lock);
	on = pm_decodes(l);
	for (unsigned int i = 0; i < len; i++)
		data[i] = on ? pm_read_byte(l, (unsigned int)offset + i) : 0xff;
	/* A read may find TMR_STS newly set: the SCI follows what the guest was shown. */
	if (on)
		lpc_update_sci(l);
	pthread_mutex_unlock(&l->lock);
}

static void pm_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct lpc *l = opaque;

	pthread_mutex_lock(&l->lock);
	if (pm_decodes(l)) {
		for (unsigned int i = 0; i < len; i++)
			pm_write_byte(l, (unsigned int)offset + i, data[i]);
		lpc_update_sci(l);
		pm_sleep(l);
	}
	pthread_mutex_unlock(&l->lock);
}

const struct bus_region_ops lpc_pm_ops = {
	.read = pm_read,
	.write = pm_write,
};

static void apm_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct lpc *l = opaque;

	pthread_mutex_lock(&l->lock);
	for (unsigned int i = 0; i < len; i++)
		data[i] = offset + i == 0 ? l->apm_cnt : offset + i == 1 ? l->apm_sts : 0xff;
	pthread_mutex_unlock(&l->lock);
}

/* QEMU's ich9_apm_ctrl_changed, without the SMI: there is no SMM to enter. */
static void apm_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct lpc *l = opaque;

	pthread_mutex_lock(&l->lock);
	for (unsigned int i = 0; i < len; i++) {
		if (offset + i == 1) {
			l->apm_sts = data[i];
			continue;
		}
		if (offset + i != 0)
			continue;
		l->apm_cnt = data[i];
		if (data[i] == LPC_APM_ACPI_ENABLE)
			l->pm1_cnt |= LPC_PM1_CNT_SCI_EN;
		else if (data[i] == LPC_APM_ACPI_DISABLE)
			l->pm1_cnt &= ~(uint32_t)LPC_PM1_CNT_SCI_EN;
		else if (l->smi_en & LPC_SMI_EN_APMC)
			log_debug("lpc: APM command 0x%02x: no SMM to raise an SMI in", data[i]);
	}
	pthread_mutex_unlock(&l->lock);
}

const struct bus_region_ops lpc_apm_ops = {
	.read = apm_read,
	.write = apm_write,
};
