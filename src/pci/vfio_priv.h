/*
 * A passed-through function's insides (pci/vfio.h), shared by its bus
 * side (vfio.c: accesses, interrupts, plug and reset) and its building
 * (vfio_build.c: the configuration space from the device).
 */
#ifndef HEARTH_PCI_VFIO_PRIV_H
#define HEARTH_PCI_VFIO_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci/config.h"
#include "pci/msix.h"
#include "pci/msix_irqfd.h"
#include "pci/vfio.h"

#define PAGE 4096ull
#define CAP_MSIX_CTRL 2
#define CAP_MSIX_TABLE 4
#define CAP_MSIX_PBA 8
#define PCI_CAP_ID_EXP 0x10
#define EXP_CAP_LEN 0x3c           /* a version 2 capability's registers */
#define EXP_FLAGS 2                /* version 2, a root complex integrated endpoint */
#define EXP_DEVCAP 4
#define EXP_DEVCTL 8
#define EXP_DEVCAP_FLR (1u << 28)
#define EXP_DEVCTL_FLR (1u << 15)  /* Initiate Function Level Reset: reads 0 */

struct vfio_bar {
	enum pci_bar_kind kind;
	uint64_t size;
	uint8_t *map;              /* the device's mapping of it; NULL: every access traps */
	uint64_t trap_lo, trap_hi; /* [lo, hi): its MSI-X pages, which trap; lo == hi: none */
	uint64_t mapped_at;        /* where its KVM slots are now; 0: none */
};

struct vfio_pci {
	pthread_mutex_t lock;      /* everything below, as the vCPUs reach it */
	struct vfio_handles h;
	struct vfio_env env;
	struct pci_root *root;
	unsigned int slot;
	bool attached;
	struct pci_config cfg;
	struct vfio_bar bar[PCI_NUM_BARS];
	struct msix msix;
	struct msix_irqfds irqfds;
	unsigned int msix_bar;
	uint64_t table_off, pba_off;
	bool irqs_on;              /* VFIO signals our eventfds */
	unsigned int exp_cap;      /* its PCI Express capability (FLR); 0: none */
	bool reset_queued;         /* an FLR's reset asked of the io thread, not run yet */
	/* Counters: BAR accesses that trapped to the fd, MSI-X's, failures, resets. */
	unsigned long trapped, msix_accesses, failures, resets;
};

/* [off, off+len) inside [start, start+size). */
static inline bool vfio_in_range(uint64_t off, unsigned int len, uint64_t start, uint32_t size)
{
	return off >= start && off - start < size && len <= size - (off - start);
}

/* The device's own configuration space (its fd's config region). */
uint32_t vfio_phys_cfg(struct vfio_pci *f, unsigned int off, unsigned int len);
/* Builds f->cfg and the BARs from the device, placed in sp. 0 or -errno with err. */
int vfio_build_config(struct vfio_pci *f, struct vfio_bar_space *sp, struct err *err);
/* MSI-X's hooks (msix_init's). */
int vfio_deliver(void *ctx, unsigned int v, uint64_t addr, uint32_t data);
void vfio_msix_changed(void *ctx);

#endif
