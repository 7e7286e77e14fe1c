/*
 * MSI-X (PCI Local Bus 3.0 §6.8.2): a function's vector table and
 * pending bits, kept in one of its BARs, and the capability in its
 * configuration space that enables and masks them. The owner delivers a
 * message through deliver (Hearth: an irqfd on the vector's MSI route, or
 * KVM_SIGNAL_MSI), never while the vector or the whole function is
 * masked: a message then stays pending, and goes out when the mask comes
 * off. changed, when set, hears of every write that may have changed a
 * vector's message or masks (and of a restore), before pending messages
 * go out: an owner that hands a vector to someone who signals it without
 * asking (vhost's call fd) follows msix_vector_live there. The owner
 * serialises every call.
 */
#ifndef HEARTH_PCI_MSIX_H
#define HEARTH_PCI_MSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "pci/config.h"
#include "util/bytes.h"

#define MSIX_MAX_VECTORS 64u
#define MSIX_ENTRY_SIZE 16u
#define MSIX_NO_VECTOR 0xffffu   /* what virtio calls VIRTIO_MSI_NO_VECTOR */

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;   /* ctrl bit 0: masked */
};

struct msix {
	unsigned int nvec;
	int cap;                         /* its capability's offset in cfg */
	struct pci_config *cfg;
	struct msix_entry table[MSIX_MAX_VECTORS];
	uint64_t pending;                /* bit per vector */
	/* Sends vector v's message: 0, or -errno (counted, the message lost). */
	int (*deliver)(void *ctx, unsigned int v, uint64_t addr, uint32_t data);
	void (*changed)(void *ctx);
	void *ctx;
	unsigned long delivered, lost;
};

/*
 * Sets m up for nvec vectors (1 to 64), its table at table_off and its
 * pending bits at pba_off of BAR bar, and adds the capability to cfg.
 * Every vector starts masked, MSI-X disabled. 0, -EINVAL or -ENOSPC.
 */
int msix_init(struct msix *m, struct pci_config *cfg, unsigned int nvec, unsigned int bar,
	      uint32_t table_off, uint32_t pba_off,
	      int (*deliver)(void *ctx, unsigned int v, uint64_t addr, uint32_t data),
	      void *ctx);

/* The table's and the pending bits' sizes in bytes. */
uint32_t msix_table_size(const struct msix *m);
uint32_t msix_pba_size(const struct msix *m);

/*
 * The guest's accesses to the table and the pending bits, at an offset
 * inside each (the owner decoded the BAR); 4 or 8 bytes, aligned, as the
 * specification allows. Anything else reads all ones and writes nothing.
 */
void msix_table_read(struct msix *m, uint64_t off, uint8_t *data, unsigned int len);
void msix_table_write(struct msix *m, uint64_t off, const uint8_t *data, unsigned int len);
void msix_pba_read(struct msix *m, uint64_t off, uint8_t *data, unsigned int len);

/* After a configuration write touched the capability: delivers what was unmasked. */
void msix_config_written(struct msix *m);

/* Whether MSI-X is on (enabled in the capability). */
bool msix_enabled(const struct msix *m);

/*
 * Whether vector v would be delivered now (MSI-X on, neither it nor the
 * function masked), and its message.
 */
bool msix_vector_live(const struct msix *m, unsigned int v, uint64_t *addr, uint32_t *data);

/*
 * Signals vector v: delivered now, or pending while masked. Returns
 * false when v is no vector of the table, or MSI-X is off (the owner
 * may have another way, or none).
 */
bool msix_notify(struct msix *m, unsigned int v);

/*
 * The table and the pending bits as one record's fields (the capability
 * is in the configuration space, saved with it). restore with apply
 * false checks; with apply true takes them up and delivers what is
 * pending and unmasked. 0, -ENODATA or -EINVAL.
 */
void msix_save(const struct msix *m, struct bytes_out *o);
int msix_restore(struct msix *m, struct bytes_in *in, bool apply);

#endif
