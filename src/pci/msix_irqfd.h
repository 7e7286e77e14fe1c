/*
 * A function's MSI-X vectors as irqfds: each vector has an eventfd and
 * a GSI whose MSI route (core/irq.h) carries the vector's message, and
 * the irqfd joining them is assigned only while the vector is live
 * (msix_vector_live). So a write while the vector or the function is
 * masked, or MSI-X is off, stays counted in the eventfd, and KVM
 * delivers it the moment the irqfd is assigned again: the pending bit,
 * kept by the eventfd. Whoever holds a vector's eventfd may signal it
 * with no thread of Hearth's in between: a vhost backend (virtio-pci's
 * call fds), or the kernel's VFIO for a device passed through.
 * The owner serialises every call, as it does msix's.
 */
#ifndef HEARTH_PCI_MSIX_IRQFD_H
#define HEARTH_PCI_MSIX_IRQFD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/irq.h"
#include "pci/msix.h"

struct msix_irqfds {
	int vm_fd;
	struct irq_routes *routes;
	unsigned int n;               /* vectors with an eventfd */
	struct msix_irqfd {
		int fd;               /* -1: none */
		uint32_t gsi;
		bool assigned;
	} v[MSIX_MAX_VECTORS];
};

/*
 * An eventfd and a GSI for each of n vectors (at most MSIX_MAX_VECTORS).
 * With no routes or no VM (routes NULL or vm_fd < 0) there are none, and
 * deliver answers -ENOENT. 0, or -errno with nothing left open.
 */
int msix_irqfds_open(struct msix_irqfds *s, int vm_fd, struct irq_routes *routes,
		     unsigned int n);
/* Deassigns, gives the GSIs back and closes the eventfds; again is harmless. */
void msix_irqfds_close(struct msix_irqfds *s);

/*
 * Each vector's irqfd follows its liveness in m, its route its message
 * (msix's changed hook calls this); failures are logged under name,
 * rate-limited.
 */
void msix_irqfds_sync(struct msix_irqfds *s, const struct msix *m, const char *name);

/*
 * Sends live vector v through its eventfd: 0, or -ENOENT when it has
 * none or its route failed (the caller sends the message another way).
 */
int msix_irqfds_deliver(struct msix_irqfds *s, const struct msix *m, unsigned int v);

/* Vector v's eventfd, or -1. */
int msix_irqfds_fd(const struct msix_irqfds *s, unsigned int v);

/* What waits in the eventfds of vectors not live now, a bit per vector. */
uint64_t msix_irqfds_pending(const struct msix_irqfds *s);

#endif
