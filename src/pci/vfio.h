/*
 * A host PCI device passed through to the guest with VFIO (the kernel's
 * Documentation/driver-api/vfio.rst): the device is bound to vfio-pci on
 * the host, its IOMMU group's container maps all guest RAM for its DMA
 * (VFIO_IOMMU_MAP_DMA, iova = guest-physical), and it appears on the PCI
 * root as a function of its own.
 *
 * What the guest sees of it:
 * - its configuration space as Hearth builds it: the device's ids,
 *   class and revision; its memory BARs with their sizes and kinds,
 *   placed where firmware would put them, below 4 GiB or, a 64-bit one
 *   too large for that, in the 64-bit window (an I/O BAR is not offered);
 *   MSI-X with the device's own table and pending-bit locations, and,
 *   when VFIO can reset the device, a PCI Express capability (a root
 *   complex integrated endpoint) offering function-level reset: the
 *   guest's Initiate FLR resets the device (VFIO_DEVICE_RESET, on the io
 *   thread) and its emulated state; no INTx and no MSI (a driver must
 *   use MSI-X: a virtual function has nothing else). The command
 *   register's memory and bus-master bits go through to the device.
 * - its BARs: the parts VFIO lets us mmap are KVM memory slots at the
 *   BAR's guest address while memory decoding is on, so the guest's
 *   accesses reach the device with no exit; the pages holding the MSI-X
 *   table and pending bits (and a BAR VFIO will not map) trap, and
 *   whatever there is not MSI-X is read and written through the device
 *   fd. The slots follow the BAR wherever the guest moves it.
 * - MSI-X emulated in Hearth (pci/msix.c); each vector is an irqfd on an
 *   MSI route (pci/msix_irqfd.h) whose eventfd VFIO signals
 *   (VFIO_DEVICE_SET_IRQS) when MSI-X is on: the device's interrupts
 *   reach the guest with no thread of Hearth's in between.
 *
 * Snapshots are refused: the device's state is in the device.
 */
#ifndef HEARTH_PCI_VFIO_H
#define HEARTH_PCI_VFIO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/component.h"
#include "core/irq.h"
#include "mem/guest_mem.h"
#include "pci/root.h"
#include "util/err.h"

#define VFIO_REGIONS 8u            /* BAR 0-5, ROM, config: VFIO_PCI_*_REGION_INDEX */
#define VFIO_REGION_CONFIG 7u
#define VFIO_KVM_SLOTS_PER_DEVICE 12u   /* each BAR: below and above its MSI-X pages */

/* Where one region of the device is in its fd, and what VFIO allows on it. */
struct vfio_region {
	uint64_t size;             /* 0: none */
	uint64_t offset;           /* in the device fd */
	bool mmap;                 /* VFIO_REGION_INFO_FLAG_MMAP */
};

#define VFIO_NAME_MAX 32

/* The device as VFIO gave it (vfio_host.c), or as a test makes it. */
struct vfio_handles {
	int container, group, device;   /* -1: not open (a test's device is any file) */
	char name[VFIO_NAME_MAX];       /* its PCI address: 0000:00:04.0 */
	struct vfio_region region[VFIO_REGIONS];
	bool dma_mapped;
	bool resettable;                /* VFIO_DEVICE_FLAGS_RESET: FLR and the like */
};

/*
 * Opens the device at sysfs_path (/sys/bus/pci/devices/DDDD:BB:DD.F, or
 * a link to it): its IOMMU group, a container with the Type1 IOMMU, the
 * device fd and its regions; resets it where it can be. Every failure
 * names the device and what is wrong (not bound to vfio-pci, another
 * device of the group not bound, no /dev/vfio, ...), err->usage set where
 * the user's setup is at fault. 0 or -errno, nothing left open.
 */
int vfio_host_open(const char *sysfs_path, struct vfio_handles *h, struct err *err);
/*
 * vfio_host_open's first checks, which open nothing (PUT
 * /device-passthrough's too): sysfs_path is a PCI device of this host
 * ("no PCI device 0000:00:1f.0 on this host (PATH)") bound to vfio-pci
 * (else its driver is named, and what to do). Its name (0000:00:04.0)
 * into name; real (PATH_MAX bytes, or NULL) gets the resolved path.
 * 0 or -errno with err.
 */
int vfio_host_check(const char *sysfs_path, char name[VFIO_NAME_MAX], char *real,
		    struct err *err);
/* Maps every region of mem for the device's DMA (pinning it). 0 or -errno with err. */
int vfio_host_dma_map(struct vfio_handles *h, const struct guest_mem *mem, struct err *err);
/* Closes what vfio_host_open opened (the container's mappings go with it). */
void vfio_host_close(struct vfio_handles *h);

/* What a passed-through function needs of the VM; vm_fd < 0: no KVM (tests). */
struct vfio_env {
	int vm_fd;
	struct irq_routes *routes;      /* NULL: no irqfds, no interrupts */
	uint32_t kvm_slot_base;         /* VFIO_KVM_SLOTS_PER_DEVICE slots from here are its */
	struct eventloop *loop;         /* where a reset runs (the io thread's); NULL: in place */
};

struct vfio_pci;

/*
 * Where BARs go: the free part of the 32-bit window [next32, end32) and
 * of the 64-bit one [next64, end64) (end64 0: none). A BAR goes below
 * 4 GiB where it fits, a 64-bit one that does not above; each placement
 * advances next.
 */
struct vfio_bar_space {
	uint64_t next32, end32, next64, end64;
};

/*
 * Attaches the device h holds (taken over: closed on failure too) at
 * slot of root, its BARs placed in space. 0 or -errno with err.
 */
int vfio_pci_create(struct vfio_handles *h, const struct vfio_env *env, struct pci_root *root,
		    unsigned int slot, struct vfio_bar_space *space, struct vfio_pci **out,
		    struct err *err);
void vfio_pci_destroy(struct vfio_pci *f);

/* The function as a component (obj the struct vfio_pci): its save refuses. */
extern const struct component_ops vfio_pci_component;
unsigned int vfio_pci_slot(const struct vfio_pci *f);
/* Its PCI address on the host (0000:01:10.0). */
const char *vfio_pci_name(const struct vfio_pci *f);

/*
 * Hotplug (vmm/vm_pci_hotplug.c). Whether the guest drives the function
 * (memory decoding or bus mastering on), and whether it is on the bus.
 */
bool vfio_pci_driven(struct vfio_pci *f);
bool vfio_pci_attached(const struct vfio_pci *f);
/*
 * Takes the function off the bus (never on the io thread or a vCPU: see
 * pci_root_detach), then on env->loop turns its interrupts off, takes
 * its BARs' slots away and resets the device: it stays open, its DMA
 * mapped, ready to be plugged back. 0 or -errno with err.
 */
int vfio_pci_unplug(struct vfio_pci *f, struct err *err);
/* Puts an unplugged function back on the bus at slot, as reset left it. 0 or -errno with err. */
int vfio_pci_replug(struct vfio_pci *f, unsigned int slot, struct err *err);

#endif
