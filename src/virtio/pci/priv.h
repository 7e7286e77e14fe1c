/*
 * virtio-pci's state, shared by pci.c (the function and its registers)
 * and state.c (its save and restore). Nothing else includes this.
 */
#ifndef HEARTH_VIRTIO_PCI_PRIV_H
#define HEARTH_VIRTIO_PCI_PRIV_H

#include <stdint.h>

#include "pci/config.h"
#include "pci/msix.h"
#include "virtio/device.h"
#include "virtio/mmio.h"
#include "virtio/pci.h"
#include "virtio/transport.h"

struct kick {
	struct virtio_pci *t;
	unsigned int q;
	int fd;
};

struct virtio_pci {
	struct virtio_dev *dev;
	struct virtio_host host;
	struct pci_root *root;
	unsigned int slot;
	uint64_t bar_base;               /* where we put BAR 0 (the ioeventfds are there) */
	struct pci_config cfg;           /* under dev->lock, as everything below */
	struct msix msix;
	struct virtio_tstate ts;
	int cfg_cap;                     /* the PCI_CFG capability's offset */
	uint16_t msix_config;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	uint8_t isr;
	uint8_t config_generation;
	struct kick kicks[VIRTIO_MAX_QUEUES];
	unsigned long no_vector;         /* interrupts with nowhere to go */
};

/* The common structure's interrupt bits in the ISR byte (4.1.4.5). */
#define VIRTIO_PCI_ISR_QUEUE 1u
#define VIRTIO_PCI_ISR_CONFIG 2u

/* The PCI_CFG capability's data bytes: the window, not the device's. */
#define VIRTIO_PCI_WINDOW_DATA 16

/* state.c: the component's save and restore (virtio_pci_component). */
int virtio_pci_state_save(void *obj, struct bytes_out *o, struct err *err);
int virtio_pci_state_restore(void *obj, const void *in, size_t len, bool apply,
			     struct err *err);

#endif
