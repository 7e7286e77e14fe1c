/*
 * virtio-pci's state, shared by pci.c (the function and its registers)
 * and state.c (its save and restore). Nothing else includes this.
 */
#ifndef HEARTH_VIRTIO_PCI_PRIV_H
#define HEARTH_VIRTIO_PCI_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "pci/config.h"
#include "pci/msix.h"
#include "pci/msix_irqfd.h"
#include "virtio/device.h"
#include "virtio/kicks.h"
#include "virtio/mmio.h"
#include "virtio/pci.h"
#include "virtio/transport.h"

struct virtio_pci {
	struct virtio_dev *dev;
	struct virtio_host host;
	struct pci_root *root;
	unsigned int slot;
	uint64_t bar_base;               /* where we put BAR 0 */
	uint64_t kick_base;              /* where BAR 0 is for the ioeventfds (dev->lock) */
	struct pci_config cfg;           /* under dev->lock, as everything below */
	struct msix msix;
	struct virtio_tstate ts;
	int cfg_cap;                     /* the PCI_CFG capability's offset */
	uint16_t msix_config;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	uint8_t isr;
	uint8_t config_generation;
	struct virtio_kicks kicks;
	unsigned long no_vector;         /* interrupts with nowhere to go */
	/* irqfd.c: the MSI-X vectors as irqfds (pci/msix_irqfd.h); none without routes. */
	struct msix_irqfds irqfds;
};
/* First: the component ops both transports share read it there (transport.h). */
_Static_assert(offsetof(struct virtio_pci, dev) == 0, "the device pointer first");

/* The common structure's interrupt bits in the ISR byte (4.1.4.5). */
#define VIRTIO_PCI_ISR_QUEUE 1u
#define VIRTIO_PCI_ISR_CONFIG 2u

/* The PCI_CFG capability's data bytes: the window, not the device's. */
#define VIRTIO_PCI_WINDOW_DATA 16

/*
 * common.c: the common configuration structure, off + len within it
 * (VIRTIO_PCI_CC_SIZE bytes), dev->lock held. A write of the status
 * (VIRTIO_PCI_CC_STATUS) is not its business.
 */
#define VIRTIO_PCI_CC_SIZE 0x38
#define VIRTIO_PCI_CC_STATUS 0x14
void virtio_pci_common_read(struct virtio_pci *t, unsigned int off, uint8_t *data,
			    unsigned int len);
void virtio_pci_common_write(struct virtio_pci *t, unsigned int off, unsigned int len,
			     uint64_t val);

/*
 * irqfd.c. open: the vectors' eventfds and GSIs (nothing without
 * host.routes); close undoes it. changed is msix's hook. deliver sends
 * vector v through its irqfd: 0, or -ENOENT with none (the caller sends
 * it another way). for_queue: the eventfd of queue q's vector, or -1.
 * pending: what waits in the eventfds of masked vectors, a bit each.
 * All but open and close with dev->lock held.
 */
int virtio_pci_irqfd_open(struct virtio_pci *t);
void virtio_pci_irqfd_close(struct virtio_pci *t);
void virtio_pci_irqfd_changed(void *ctx);
int virtio_pci_irqfd_deliver(struct virtio_pci *t, unsigned int v);
int virtio_pci_irqfd_for_queue(struct virtio_pci *t, unsigned int q);
uint64_t virtio_pci_irqfd_pending(struct virtio_pci *t);

/*
 * The queues' ioeventfds follow BAR 0 to where the driver put it, once
 * memory decoding is on there (a hot-added function's BAR is wherever
 * the guest assigns it). dev->lock held.
 */
void virtio_pci_follow_bar(struct virtio_pci *t);

/* state.c: the component's save and restore (virtio_pci_component). */
int virtio_pci_state_save(void *obj, struct bytes_out *o, struct err *err);
int virtio_pci_state_restore(void *obj, const void *in, size_t len, bool apply,
			     struct err *err);

#endif
