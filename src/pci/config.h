/*
 * One PCI function's configuration space (PCI Local Bus 3.0 chapter 6,
 * PCI Express 4.0 §7.5): 4 KiB of registers with, beside them, which
 * bits the guest may write and which a written 1 clears. BAR sizing
 * falls out of the masks: a BAR's address bits below its size are not
 * writable, so writing all ones reads back the size. Every access is
 * bounded here, whatever offset and width the guest chose.
 */
#ifndef HEARTH_PCI_CONFIG_H
#define HEARTH_PCI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCI_CFG_SIZE 4096u        /* PCIe's extended space */
#define PCI_CFG_STD_SIZE 256u     /* what 0xcf8/0xcfc reaches */
#define PCI_NUM_BARS 6u

/* Header registers (type 0). */
#define PCI_CFG_VENDOR_ID 0x00
#define PCI_CFG_DEVICE_ID 0x02
#define PCI_CFG_COMMAND 0x04
#define PCI_CFG_STATUS 0x06
#define PCI_CFG_REVISION 0x08
#define PCI_CFG_CLASS_PROG 0x09   /* programming interface, subclass, class */
#define PCI_CFG_HEADER_TYPE 0x0e
#define PCI_CFG_BAR0 0x10
#define PCI_CFG_SUBSYS_VENDOR 0x2c
#define PCI_CFG_SUBSYS_ID 0x2e
#define PCI_CFG_CAP_PTR 0x34
#define PCI_CFG_INT_LINE 0x3c
#define PCI_CFG_INT_PIN 0x3d
#define PCI_CFG_CAP_START 0x40    /* capabilities live in [0x40, 0x100) */

#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400

#define PCI_CAP_ID_EXP 0x10       /* PCI Express */
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09

enum pci_bar_kind {
	PCI_BAR_NONE = 0,
	PCI_BAR_IO,
	PCI_BAR_MEM32,
	PCI_BAR_MEM64,            /* takes the BAR after it too */
};

struct pci_bar {
	enum pci_bar_kind kind;
	bool prefetch;
	uint64_t size;            /* a power of two */
};

struct pci_config {
	struct pci_bar bar[PCI_NUM_BARS];
	uint8_t cap_next;             /* where the next capability goes; 0: full */
	uint8_t cap_last;             /* the last capability's offset; 0: none yet */
	/* Last, 12 KiB whose extended part is mostly never written (util/trim.h). */
	uint8_t data[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];  /* bits the guest may set or clear */
	uint8_t w1c[PCI_CFG_SIZE];    /* bits a written 1 clears (status errors) */
};

struct pci_ids {
	uint16_t vendor, device;
	uint32_t class_code;          /* class << 16 | subclass << 8 | prog-if */
	uint8_t revision;
	uint16_t subsys_vendor, subsys_id;
};

/*
 * A type-0 header with these ids, no BARs and no capabilities. The
 * command register's I/O, memory, bus-master and INTx-disable bits are
 * writable only where `writable_command`; a host bridge keeps none.
 */
void pci_config_init(struct pci_config *c, const struct pci_ids *ids, bool writable_command);

/*
 * BAR idx of kind and size (a power of two: at least 16 bytes for
 * memory, 4 for I/O; at most 2 GiB for 32-bit memory, 64 KiB for I/O;
 * 64-bit memory takes idx + 1 as well). 0, or -EINVAL for a bad index,
 * size or kind, -EEXIST when the slot is taken.
 */
int pci_config_add_bar(struct pci_config *c, unsigned int idx, enum pci_bar_kind kind,
		       uint64_t size, bool prefetch);

/*
 * The address BAR idx holds, as the guest programmed it (the upper half
 * too for 64-bit memory); 0 for an empty slot or the upper half of one.
 */
uint64_t pci_config_bar_addr(const struct pci_config *c, unsigned int idx);

/*
 * Appends a capability of len bytes (at least 2: the id and the next
 * pointer, which this fills) to the list, dword-aligned in [0x40, 0x100).
 * Its body is read-only until the caller opens bits with
 * pci_config_set_wmask. Returns its offset, or -ENOSPC.
 */
int pci_config_add_cap(struct pci_config *c, uint8_t id, unsigned int len);

/* Opens (or closes) the guest's write access to bits of [off, off+len). */
void pci_config_set_wmask(struct pci_config *c, unsigned int off, const uint8_t *mask,
			  unsigned int len);

/* Stores v (len 1, 2 or 4 bytes, little-endian) as the device, ignoring the masks. */
void pci_config_set(struct pci_config *c, unsigned int off, uint32_t v, unsigned int len);

/*
 * The guest's accesses: any offset and width up to 4 bytes. A read past
 * the space (or of width 0 or over 4) is all ones; such a write does
 * nothing. Writes take only the writable bits and clear the w1c ones.
 */
uint32_t pci_config_read(const struct pci_config *c, unsigned int off, unsigned int len);
void pci_config_write(struct pci_config *c, unsigned int off, uint32_t v, unsigned int len);

#endif
