/*
 * virtio-pci's MSI-X vectors as irqfds (priv.h, pci/msix_irqfd.h): a
 * vector per queue and one for configuration changes. A queue's vector
 * eventfd is what a vhost backend gets as its call fd (call_fd), so its
 * interrupts reach the guest with no thread of Hearth's in between.
 */
#include "util/log.h"
#include "virtio/pci/priv.h"

int virtio_pci_irqfd_open(struct virtio_pci *t)
{
	return msix_irqfds_open(&t->irqfds, t->host.vm_fd, t->host.routes, t->msix.nvec);
}

void virtio_pci_irqfd_close(struct virtio_pci *t)
{
	msix_irqfds_close(&t->irqfds);
}

void virtio_pci_irqfd_changed(void *ctx)
{
	struct virtio_pci *t = ctx;

	msix_irqfds_sync(&t->irqfds, &t->msix, t->dev->name);
}

int virtio_pci_irqfd_deliver(struct virtio_pci *t, unsigned int v)
{
	return msix_irqfds_deliver(&t->irqfds, &t->msix, v);
}

int virtio_pci_irqfd_for_queue(struct virtio_pci *t, unsigned int q)
{
	uint16_t v = q < VIRTIO_MAX_QUEUES ? t->queue_vector[q] : MSIX_NO_VECTOR;

	if (v == MSIX_NO_VECTOR || v >= t->msix.nvec)
		return -1;
	return msix_irqfds_fd(&t->irqfds, v);
}

uint64_t virtio_pci_irqfd_pending(struct virtio_pci *t)
{
	return msix_irqfds_pending(&t->irqfds);
}
