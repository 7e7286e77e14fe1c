/*
 * The LPC bridge's configuration space, its root complex registers and
 * its making (lpc.h). The PM block is lpc_pm.c's, the record lpc_state.c's.
 */
#include "chipset/lpc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chipset/lpc_priv.h"
#include "chipset/mch.h"

#define HEADER_MULTIFUNCTION 0x80
#define PMBASE_DEFAULT 0x1u          /* I/O space indicator, hardwired */

static uint32_t lpc_cfg_read(void *opaque, unsigned int off, unsigned int len)
{
	struct lpc *l = opaque;
	uint32_t v;

	pthread_mutex_lock(&l->lock);
	v = pci_config_read(&l->pci, off, len);
	pthread_mutex_unlock(&l->lock);
	return v;
}

static void lpc_cfg_write(void *opaque, unsigned int off, uint32_t v, unsigned int len)
{
	struct lpc *l = opaque;

	pthread_mutex_lock(&l->lock);
	pci_config_write(&l->pci, off, v, len);
	pthread_mutex_unlock(&l->lock);
}

static int lpc_bar_claim(void *opaque, uint64_t addr, unsigned int len, uint64_t *off)
{
	return -1;
}

static void lpc_bar_read(void *opaque, int bar, uint64_t off, uint8_t *data, unsigned int len)
{
}

static void lpc_bar_write(void *opaque, int bar, uint64_t off, const uint8_t *data,
			  unsigned int len)
{
}

const struct pci_function_ops lpc_function_ops = {
	.cfg_read = lpc_cfg_read,
	.cfg_write = lpc_cfg_write,
	.bar_claim = lpc_bar_claim,
	.bar_read = lpc_bar_read,
	.bar_write = lpc_bar_write,
};

/* RCBA decodes while enabled at the claimed address; l->lock held. */
static bool rcba_decodes(struct lpc *l)
{
	uint32_t v = pci_config_read(&l->pci, LPC_RCBA, 4);

	if (!(v & LPC_RCBA_EN))
		return false;
	if ((v & LPC_RCBA_MASK) == l->cfg.rcba_addr)
		return true;
	log_ratelimited(&l->rl, LOG_WARN, "lpc: RCBA programmed at 0x%x: Hearth decodes it only "
			"at 0x%llx (docs/firmware.md)", v & LPC_RCBA_MASK,
			(unsigned long long)l->cfg.rcba_addr);
	return false;
}

static void rcba_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct lpc *l = opaque;
	bool on;

	pthread_mutex_lock(&l->lock);
	on = rcba_decodes(l);
	for (unsigned int i = 0; i < len; i++)
		data[i] = on && offset + i < LPC_RCBA_SIZE ? l->rcba[offset + i] : 0xff;
	pthread_mutex_unlock(&l->lock);
}

static void rcba_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct lpc *l = opaque;

	pthread_mutex_lock(&l->lock);
	if (rcba_decodes(l))
		for (unsigned int i = 0; i < len && offset + i < LPC_RCBA_SIZE; i++)
			l->rcba[offset + i] = data[i];
	/* No watchdog to reboot by: NO_REBOOT stays (lpc.h). */
	l->rcba[LPC_RCBA_GCS] |= LPC_GCS_NO_REBOOT;
	pthread_mutex_unlock(&l->lock);
}

static const struct bus_region_ops rcba_ops = {
	.read = rcba_read,
	.write = rcba_write,
};

/* QEMU's unassigned ports: the CPU hotplug block OVMF probes for, absent. */
static void absent_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	memset(data, 0xff, len);
}

static void absent_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
}

static const struct bus_region_ops absent_ops = {
	.read = absent_read,
	.write = absent_write,
};

void lpc_masks(struct lpc *l)
{
	for (unsigned int i = PCI_CFG_CAP_START; i < PCI_CFG_STD_SIZE; i++)
		l->pci.wmask[i] = 0xff;
	for (unsigned int i = 0; i < 4; i++) {
		l->pci.wmask[LPC_PMBASE + i] = (uint8_t)(LPC_PMBASE_MASK >> (8 * i));
		l->pci.wmask[LPC_RCBA + i] = (uint8_t)((LPC_RCBA_MASK | LPC_RCBA_EN) >> (8 * i));
	}
}

static void lpc_destroy(void *obj)
{
	struct lpc *l = obj;

	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static const struct component_ops lpc_component = {
	.save = lpc_save,
	.restore = lpc_restore,
	.destroy = lpc_destroy,
};

/* The function and its registers at QEMU's reset. */
static void lpc_reset(struct lpc *l)
{
	pci_config_init(&l->pci, &(struct pci_ids){ .vendor = LPC_VENDOR, .device = LPC_DEVICE,
		.class_code = LPC_CLASS_ISA_BRIDGE, .revision = LPC_REVISION,
		.subsys_vendor = Q35_SUBSYS_VENDOR, .subsys_id = Q35_SUBSYS_ID }, true);
	l->pci.data[PCI_CFG_HEADER_TYPE] = HEADER_MULTIFUNCTION;
	lpc_masks(l);
	pci_config_set(&l->pci, LPC_PMBASE, PMBASE_DEFAULT, 4);
	for (unsigned int i = 0; i < 4; i++) {
		l->pci.data[LPC_PIRQA + i] = LPC_PIRQ_DISABLED;
		l->pci.data[LPC_PIRQE + i] = LPC_PIRQ_DISABLED;
	}
	memset(l->rcba, 0, sizeof(l->rcba));
	l->rcba[LPC_RCBA_GCS] = LPC_GCS_NO_REBOOT;
	lpc_pm_reset(l);
}

/* The ports and window besides the PM block's, which lpc_create claims first. */
static int lpc_claim_rest(const struct dev_env *env, struct lpc *l, struct err *err)
{
	int ret = 0;

	if (l->cfg.apm_port)
		ret = dev_claim(env, BUS_PIO, l->cfg.apm_port, LPC_APM_PORTS, &lpc_apm_ops, l,
				"ich9-apm", err);
	if (!ret && l->cfg.cpuhp_port)
		ret = dev_claim(env, BUS_PIO, l->cfg.cpuhp_port, LPC_CPUHP_PORTS, &absent_ops, l,
				"cpu-hotplug", err);
	if (!ret)
		ret = dev_claim(env, BUS_MMIO, l->cfg.rcba_addr, LPC_RCBA_SIZE, &rcba_ops, l,
				"ich9-rcba", err);
	return ret;
}

int lpc_create(const struct dev_env *env, const struct lpc_config *cfg, struct component *out,
	       struct err *err)
{
	struct lpc *l;
	int ret;

	if (!cfg || cfg->pm_port & (LPC_PM_PORTS - 1) || cfg->rcba_addr & ~(uint64_t)LPC_RCBA_MASK)
		return err_set(err, false, -EINVAL, "lpc: a bad PM block or RCBA address");
	l = calloc(1, sizeof(*l));
	if (!l)
		return err_set(err, false, -ENOMEM, "out of memory");
	pthread_mutex_init(&l->lock, NULL);
	l->cfg = *cfg;
	l->clock = cfg->clock ? *cfg->clock : (struct rl_clock){ NULL, NULL };
	l->power = env->power;
	l->sci_level = -1;
	l->rl = (struct ratelimit)RATELIMIT_INIT(5);
	lpc_reset(l);
	ret = dev_claim(env, BUS_PIO, cfg->pm_port, LPC_PM_PORTS, &lpc_pm_ops, l, "ich9-pm", err);
	if (ret) {
		lpc_destroy(l);
		return ret;
	}
	/* From here on the bus holds l, and cannot let go of it: a failure leaves it there. */
	ret = lpc_claim_rest(env, l, err);
	if (ret)
		return ret;
	*out = (struct component){ &lpc_component, l };
	return 0;
}
