/*
 * virtio-pci, modern (VIRTIO 1.2 §4.1): the second transport a virtio
 * device can be attached to, a function on the PCI root complex
 * (pci/root.h). The device is created first and destroyed last, as on
 * virtio-mmio (virtio/device.h's lifecycle).
 *
 * The function: Red Hat's virtio ids (1af4:1040 + the device id,
 * revision 1), one 32 KiB memory BAR placed where firmware would put
 * it, holding the common configuration, the ISR byte, the device's
 * configuration, one notification address per queue (an ioeventfd
 * each, so a kick never stops the vCPU) and MSI-X's table and pending
 * bits: a vector per queue and one for configuration changes, each an
 * irqfd on an MSI route of its own (pci/irqfd.c), written by the I/O
 * thread or, as a queue's call fd, by a vhost backend itself; where no
 * route can be made, the message goes out with KVM_SIGNAL_MSI. The capability
 * list has the five virtio capabilities (common, notify, ISR, device,
 * and the PCI configuration access window) and MSI-X. No INTx: a driver
 * that will not use MSI-X gets no interrupts (Linux's virtio_pci uses it).
 */
#ifndef HEARTH_VIRTIO_PCI_H
#define HEARTH_VIRTIO_PCI_H

#include "core/component.h"
#include "pci/root.h"
#include "virtio/device.h"
#include "virtio/mmio.h"

#define VIRTIO_PCI_BAR_SIZE 0x8000u

struct virtio_pci;

/*
 * Attaches dev at slot of root: its configuration space, its BAR at
 * pci_root_bar_base(slot), its kicks and hooks. host->vm_fd < 0: no
 * ioeventfds and no messages sent (unit tests). 0 or -errno; on failure
 * dev is left as it was, detached.
 */
int virtio_pci_create(struct virtio_dev *dev, const struct virtio_host *host,
		      struct pci_root *root, unsigned int slot, struct virtio_pci **out);
/* As virtio_mmio_destroy: detaches, the device stays for its own destroy. */
void virtio_pci_destroy(struct virtio_pci *t);

/*
 * The attached device as one component, obj the struct virtio_pci, as
 * virtio_mmio_component. Its record ("VPCI" 1, pci/state.c): the
 * configuration space (what the guest cannot write must match this
 * build's), MSI-X's table and pending bits, the common structure's
 * state, the queues, the device's own record nested.
 */
extern const struct component_ops virtio_pci_component;
struct virtio_dev *virtio_pci_device(struct virtio_pci *t);
/* Its device number on the root. */
unsigned int virtio_pci_slot(const struct virtio_pci *t);
/* Whether a driver has the device (its status is not 0: not reset). */
bool virtio_pci_driven(struct virtio_pci *t);

#endif
