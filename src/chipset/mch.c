/*
 * The MCH's configuration space (mch.h): QEMU's registers and masks,
 * PCIEXBAR decoded into the window the root answers on, SMRAM's lock.
 */
#include "chipset/mch.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "util/log.h"

#define PCIEXBAR_BASE_256 0x0000000ff0000000ull   /* bits 35:28 */
#define PCIEXBAR_BASE_128 0x0000000ff8000000ull   /* and 27 */
#define PCIEXBAR_BASE_64 0x0000000ffc000000ull    /* and 26 */
#define MIB (1ull << 20)

struct mch {
	pthread_mutex_t lock;         /* vCPUs write the registers concurrently */
	struct mch_config cfg;
	uint64_t ecam_len;            /* what cfg->ecam last heard */
	struct ratelimit rl;
	/* Last: 12 KiB, mostly never written (util/trim.h). */
	struct pci_config pci;
};

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* The bytes PCIEXBAR makes decode at cfg's base; m->lock held. */
static uint64_t pciexbar_decode(struct mch *m, bool log)
{
	uint64_t v = get64(m->pci.data + MCH_PCIEXBAR), base, len;

	if (!(v & MCH_PCIEXBAR_EN))
		return 0;
	switch ((v >> MCH_PCIEXBAR_LEN_SHIFT) & 3) {
	case 0:
		len = 256 * MIB;
		base = v & PCIEXBAR_BASE_256;
		break;
	case 1:
		len = 128 * MIB;
		base = v & PCIEXBAR_BASE_128;
		break;
	case 2:
		len = 64 * MIB;
		base = v & PCIEXBAR_BASE_64;
		break;
	default:
		/* Reserved: QEMU logs it and leaves the window as it was; nothing decodes here. */
		if (log)
			log_ratelimited(&m->rl, LOG_WARN, "mch: PCIEXBAR 0x%llx: a reserved length",
					(unsigned long long)v);
		return 0;
	}
	if (base != m->cfg.ecam_base) {
		if (log)
			log_ratelimited(&m->rl, LOG_WARN, "mch: the ECAM window programmed at 0x%llx: "
					"Hearth decodes it only at 0x%llx (docs/firmware.md)",
					(unsigned long long)base, (unsigned long long)m->cfg.ecam_base);
		return 0;
	}
	return len < m->cfg.ecam_size ? len : m->cfg.ecam_size;
}

static void ecam_update(struct mch *m, bool log)
{
	uint64_t len = pciexbar_decode(m, log);

	if (len == m->ecam_len)
		return;
	m->ecam_len = len;
	if (m->cfg.ecam)
		m->cfg.ecam(m->cfg.ctx, len);
}

/* SMRAM's D_LCK: D_OPEN goes, and only D_CLS stays writable (ESMRAMC none). */
static void smram_lock(struct mch *m)
{
	if (!(m->pci.data[MCH_SMRAM] & MCH_SMRAM_D_LCK))
		return;
	m->pci.data[MCH_SMRAM] &= (uint8_t)~MCH_SMRAM_D_OPEN;
	m->pci.wmask[MCH_SMRAM] = MCH_SMRAM_D_CLS;
	m->pci.wmask[MCH_ESMRAMC] = 0;
}

static bool overlaps(unsigned int off, unsigned int len, unsigned int reg, unsigned int size)
{
	return off < reg + size && reg < off + len;
}

static uint32_t mch_cfg_read(void *opaque, unsigned int off, unsigned int len)
{
	struct mch *m = opaque;
	uint32_t v;

	pthread_mutex_lock(&m->lock);
	v = pci_config_read(&m->pci, off, len);
	pthread_mutex_unlock(&m->lock);
	return v;
}

static void mch_cfg_write(void *opaque, unsigned int off, uint32_t v, unsigned int len)
{
	struct mch *m = opaque;

	pthread_mutex_lock(&m->lock);
	pci_config_write(&m->pci, off, v, len);
	if (overlaps(off, len, MCH_SMRAM, 2))
		smram_lock(m);
	if (overlaps(off, len, MCH_PCIEXBAR, 8))
		ecam_update(m, true);
	pthread_mutex_unlock(&m->lock);
}

static int mch_bar_claim(void *opaque, uint64_t addr, unsigned int len, uint64_t *off)
{
	return -1;
}

static void mch_bar_read(void *opaque, int bar, uint64_t off, uint8_t *data, unsigned int len)
{
}

static void mch_bar_write(void *opaque, int bar, uint64_t off, const uint8_t *data,
			  unsigned int len)
{
}

const struct pci_function_ops mch_function_ops = {
	.cfg_read = mch_cfg_read,
	.cfg_write = mch_cfg_write,
	.bar_claim = mch_bar_claim,
	.bar_read = mch_bar_read,
	.bar_write = mch_bar_write,
};

uint64_t mch_ecam_len(struct mch *m)
{
	uint64_t len;

	pthread_mutex_lock(&m->lock);
	len = m->ecam_len;
	pthread_mutex_unlock(&m->lock);
	return len;
}

/* The write masks of mch.h: QEMU's default (every byte of 0x40-0xff), SMRAM's and ESMRAMC's. */
static void mch_masks(struct mch *m)
{
	for (unsigned int i = PCI_CFG_CAP_START; i < PCI_CFG_STD_SIZE; i++)
		m->pci.wmask[i] = 0xff;
	m->pci.wmask[MCH_SMRAM] = MCH_SMRAM_D_OPEN | MCH_SMRAM_D_CLS | MCH_SMRAM_D_LCK |
				  MCH_SMRAM_G_SMRAME;
	m->pci.wmask[MCH_ESMRAMC] = MCH_ESMRAMC_WMASK;
}

static int mch_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct mch *m = obj;

	pthread_mutex_lock(&m->lock);
	bytes_put_tag(o, MCH_TAG, MCH_STATE_VERSION);
	bytes_put_u16(o, (uint16_t)pci_config_read(&m->pci, PCI_CFG_COMMAND, 2));
	bytes_put(o, m->pci.data + PCI_CFG_CAP_START, PCI_CFG_STD_SIZE - PCI_CFG_CAP_START);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* Values no write leaves: refused before anything changes. */
static int mch_check(const struct mch *m, uint16_t cmd, const uint8_t *regs)
{
	uint8_t smram = regs[MCH_SMRAM - PCI_CFG_CAP_START];
	uint8_t esmramc = regs[MCH_ESMRAMC - PCI_CFG_CAP_START];
	uint16_t cmd_mask = (uint16_t)(m->pci.wmask[PCI_CFG_COMMAND] |
				       m->pci.wmask[PCI_CFG_COMMAND + 1] << 8);

	if (cmd & ~cmd_mask)
		return -EINVAL;
	if ((smram & 0x87) != MCH_SMRAM_DEFAULT)
		return -EINVAL;
	/* A locked SMRAM has D_OPEN clear: the lock cleared it. */
	if ((smram & MCH_SMRAM_D_LCK) && (smram & MCH_SMRAM_D_OPEN))
		return -EINVAL;
	if ((esmramc & (uint8_t)~MCH_ESMRAMC_WMASK) != MCH_ESMRAMC_DEFAULT)
		return -EINVAL;
	return 0;
}

static int mch_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct mch *m = obj;
	struct bytes_in r = bytes_in_init(in, len);
	uint8_t regs[PCI_CFG_STD_SIZE - PCI_CFG_CAP_START];
	uint16_t cmd;
	int ret = bytes_get_tag(&r, MCH_TAG, MCH_STATE_VERSION);

	if (ret)
		return ret;
	cmd = bytes_get_u16(&r);
	bytes_get(&r, regs, sizeof(regs));
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	ret = mch_check(m, cmd, regs);
	if (!ret && apply) {
		mch_masks(m);
		pci_config_set(&m->pci, PCI_CFG_COMMAND, cmd, 2);
		for (unsigned int i = 0; i < sizeof(regs); i++)
			m->pci.data[PCI_CFG_CAP_START + i] = regs[i];
		smram_lock(m);
		ecam_update(m, false);
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static void mch_destroy(void *obj)
{
	struct mch *m = obj;

	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static const struct component_ops mch_component = {
	.save = mch_save,
	.restore = mch_restore,
	.destroy = mch_destroy,
};

int mch_create(const struct mch_config *cfg, struct component *out, struct err *err)
{
	struct mch *m;

	if (!cfg || !cfg->ecam_size || cfg->ecam_size > 256 * MIB ||
	    cfg->ecam_base & (cfg->ecam_size - 1))
		return err_set(err, false, -EINVAL, "mch: a bad ECAM window");
	m = calloc(1, sizeof(*m));
	if (!m)
		return err_set(err, false, -ENOMEM, "out of memory");
	pthread_mutex_init(&m->lock, NULL);
	m->cfg = *cfg;
	m->rl = (struct ratelimit)RATELIMIT_INIT(5);
	pci_config_init(&m->pci, &(struct pci_ids){ .vendor = MCH_VENDOR, .device = MCH_DEVICE,
		.class_code = PCI_CLASS_HOST_BRIDGE, .subsys_vendor = Q35_SUBSYS_VENDOR,
		.subsys_id = Q35_SUBSYS_ID }, true);
	mch_masks(m);
	/* QEMU's reset: PCIEXBAR at its default base, disabled; SMRAM and ESMRAMC their defaults. */
	pci_config_set(&m->pci, MCH_PCIEXBAR, (uint32_t)cfg->ecam_base, 4);
	pci_config_set(&m->pci, MCH_PCIEXBAR + 4, (uint32_t)(cfg->ecam_base >> 32), 4);
	m->pci.data[MCH_SMRAM] = MCH_SMRAM_DEFAULT;
	m->pci.data[MCH_ESMRAMC] = MCH_ESMRAMC_DEFAULT;
	*out = (struct component){ &mch_component, m };
	return 0;
}
