/*
 * The VM: built from a vm_config, its devices in a registry, its vCPUs in
 * their run states. The event loop is the process's: the VM only adds its
 * fds to it, so a control plane can serve before any VM exists.
 */
#ifndef HEARTH_VMM_VM_H
#define HEARTH_VMM_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "boot/acpi.h"
#include "boot/loader.h"
#include "core/bus.h"
#include "core/eventloop.h"
#include "core/irq.h"
#include "core/kvm.h"
#include "core/layout.h"
#include "mem/guest_mem.h"
#include "util/err.h"
#include "vcpu/vcpu.h"
#include "vmm/config.h"
#include "vmm/registry.h"

#define VM_MAX_VIRTIO LAYOUT_VIRTIO_MAX

struct serial;
struct vmgenid;
struct spare_ring;
struct vm_pci_rings;

enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_POWEROFF,
	VM_STOP_REBOOT,
	VM_STOP_FAILURE,   /* a vCPU hit an error exit */
	VM_STOP_HOST,      /* Ctrl-A x, SIGINT, SIGTERM, the API */
	VM_STOP_DEBUG_EXIT, /* the guest wrote to --debug-exit's port */
	VM_STOP_HALTED,    /* the only vCPU halted with nothing to wake it (--flat) */
};

/*
 * A snapshot's memory file: guest RAM is mapped from it instead of
 * loading a kernel. Or (fd -1) the Uffd backend: RAM is mapped anonymous
 * and attach runs as soon as it is, before anything touches it, to hand
 * it to the process that serves its pages (snapshot/uffd.h).
 */
struct vm_mem_file {
	int fd;                                   /* read-only; the caller's; -1: attach */
	unsigned int nregions;
	uint64_t offset[GUEST_MEM_MAX_REGIONS];   /* where region i's data starts */
	bool hp;                                  /* it holds the memory hotplug region too */
	uint64_t hp_offset;                       /* where that region's data starts */
	int (*attach)(void *ctx, struct guest_mem *gm, struct err *err);   /* 0 or -errno */
	void *attach_ctx;
};

/* A pmem device's window (vm_pmem.c): its file mapped shared, a memslot of its own. */
struct vm_pmem_map {
	int fd;                     /* the backing file; -1: none */
	/*
	 * The file again, holding its lock (as a disk's, virtio/blk/image.c):
	 * closed when the window goes, whatever still holds fd (an io_uring's
	 * flush lets go of it later); -1: none.
	 */
	int lock_fd;
	uint8_t *hva;               /* size bytes: the file, then anonymous to the 2 MiB line */
	uint64_t gpa, size, file_len;
	bool read_only;
	uint32_t kslot;             /* its KVM memory slot */
	char id[VM_ID_MAX + 1];     /* the device's */
	/* A device plugged in after start: its flush ring, made at start (vm_pci_hotplug.h). */
	struct spare_ring *ring;
};

/* The steps of a VM's making whose times --exit-stats reports. */
enum vm_mark {
	VM_MARK_CREATE,     /* vm_create begins */
	VM_MARK_LOADED,     /* guest RAM mapped, the kernel in it */
	VM_MARK_MEMSLOTS,   /* KVM's VM made, RAM registered with it */
	VM_MARK_BUILT,      /* devices and vCPUs made: vm_create returns */
	VM_MARK_START,      /* vm_start: the vCPU threads go */
	VM_MARKS
};

struct vm {
	struct kvm kvm;
	const struct vm_mem_file *mem_file;       /* during vm_create_from only */
	int fd;
	struct guest_mem mem;
	struct bus bus;
	struct eventloop *loop;     /* the process's; not owned */
	struct registry registry;   /* every component: its devices, vCPUs, KVM state */
	struct serial *serial;      /* COM1, also in the registry; the console's */
	int serial_out_fd;          /* COM1's output file (serial_out_path); -1: stdout */
	int debugcon_fd;            /* --debugcon's out= file; -1: stdout */
	bool flat;                  /* a --flat VM: no in-kernel irqchip, PIT or ACPI */
	bool vmclock;               /* it has VMClock (not --flat) */
	bool vmgenid;               /* it has VMGenID (not --flat) */
	bool pci;                   /* its virtio devices are on PCI, with MSI-X */
	bool firmware;              /* it boots through firmware on q35 (vm_fw.h); else a kernel */
	struct vm_fw *fw;           /* the firmware's images, chipset and files; NULL: none */
	bool has_routes;            /* routes is set up (the VM has an irqchip) */
	bool exit_stats;            /* --exit-stats: vm_finish reports (vm_stats_report) */
	uint64_t t_mark[VM_MARKS];  /* CLOCK_BOOTTIME of each step of its making (vm_stats.c) */
	uint8_t *vmclock_page;      /* its page, a read-only memslot (vm_vmclock.c); NULL: none */
	uint8_t *vmgenid_page;      /* VMGenID's, likewise (vm_vmgenid.c); NULL: none */
	struct vmgenid *vmgenid_dev; /* the device, also in the registry; NULL: none */
	struct vm_pmem_map pmem[VM_MAX_PMEM];   /* the pmem windows (vm_pmem.c) */
	uint64_t mmio64_base, mmio64_size;      /* the PCI 64-bit window (vm_vfio.c); 0: none */
	/* The rings devices plugged in after start will use, made with the VM (vm_pci_rings.c). */
	struct vm_pci_rings *pci_rings;
	unsigned int npmem;
	struct vcpu_env vcpu_env;
	struct vcpu **vcpus;
	unsigned int ncpus;
	unsigned int started;       /* vCPU threads running */
	struct kvm_cpuid2 *cpuid;
	struct cpu_entry entry;     /* the BSP's, from the loader (vcpu_env.entry) */
	int stop_reason;            /* enum vm_stop_reason, set once atomically */
	int stop_efd;               /* eventfd: the loop learns that the VM stopped */
	char stop_detail[64];
	void (*on_stop)(void *ctx); /* on the loop's thread, once */
	void *on_stop_ctx;
	bool stop_reported;
	int debug_exit_seen;        /* the first debug-exit write wins (atomic) */
	uint32_t debug_exit_value;
	/* virtio-mmio slots, laid out before ACPI is built (vm_devices_layout). */
	struct acpi_mmio_dev mmio_devs[VM_MAX_VIRTIO];
	unsigned int n_mmio_devs;
	/* Last, 16 KiB of slots mostly unused: the fields above share their pages (util/trim.h). */
	struct irq_routes routes;   /* MSI routes: virtio-pci's irqfds */
};

/*
 * Builds the VM described by cfg with its fds on loop: guest RAM, the
 * kernel, ACPI, KVM, devices and vCPUs (not started). Returns 0, or
 * -errno with err filled and everything undone; vm_destroy is then a no-op.
 */
int vm_create(struct vm *vm, const struct vm_config *cfg, struct eventloop *loop,
	      struct err *err);

/*
 * vm_create for a restore: RAM is mf's regions mapped MAP_PRIVATE, and
 * no kernel, ACPI or boot tables are written (the snapshot's state is
 * then loaded into the VM before vm_start). mf NULL: vm_create.
 */
int vm_create_from(struct vm *vm, const struct vm_config *cfg, const struct vm_mem_file *mf,
		   struct eventloop *loop, struct err *err);
/*
 * Before vm_start, on the loop's thread: the vCPUs will start parked and
 * the devices are paused, as after vm_pause; vm_resume lets them go.
 */
void vm_start_paused(struct vm *vm);
/* vm_resume on the loop's own thread (before vm_start: the vCPUs start running). */
void vm_resume_here(struct vm *vm);

/*
 * Starts the vCPUs. on_stop runs once on the loop's thread after the guest
 * or the host stopped the VM (the owner then calls vm_finish).
 */
int vm_start(struct vm *vm, void (*on_stop)(void *ctx), void *ctx);
/*
 * Parks every vCPU (waits until they are out of KVM_RUN), then pauses the
 * devices: nothing new is taken from the rings, in-flight I/O completes.
 * 0, -ETIMEDOUT (a vCPU did not park) or -EBUSY (a disk's I/O did not
 * complete within its bound); the caller then resumes. Never on a vCPU thread; the loop must be running or
 * this must be its thread. vm_resume undoes it, devices first.
 */
int vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
/* Ctrl-Alt-Del on the guest's PS/2 keyboard (the i8042); 0 or -errno. */
int vm_send_ctrl_alt_del(struct vm *vm);

/*
 * --exit-stats, at the end (vm_finish, the vCPUs joined): to out, the
 * boot's phases as CLOCK_BOOTTIME marks (the clock of /proc/uptime, so a
 * caller that noted its exec there can split the time) and Hearth's own
 * exits by device (port or MMIO region, reads and writes), most first.
 * KVM's in-kernel exits (PIT, PIC, IOAPIC, page faults) are not Hearth's
 * to count: KVM's own statistics have them.
 */
void vm_stats_report(struct vm *vm, FILE *out);
uint64_t vm_stats_now_ns(void);
/* Stops and joins the vCPUs; returns the process exit code for the stop reason. */
int vm_finish(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Any thread: the first reason wins; vCPUs are stopped and the loop told. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, const char *detail);

static inline int vm_stopping(const struct vm *vm)
{
	return __atomic_load_n(&vm->stop_reason, __ATOMIC_ACQUIRE) != VM_RUNNING;
}

/*
 * vm_vfio.c: the passed-through devices of cfg->vfio on the PCI root,
 * after the virtio ones (vm_devices_create calls it). 0 or -errno with err.
 */
int vm_vfio_create(struct vm *vm, const struct vm_config *cfg, struct err *err);
/*
 * Where the PCI 64-bit window goes, on a VM with a passed-through device
 * (none otherwise): past RAM and 4 GiB (core/layout.h), RAM laid out.
 */
void vm_vfio_layout(struct vm *vm, const struct vm_config *cfg);
/* vm_acpi.c: what the ACPI tables describe of vm (a firmware VM's q35 too). */
void vm_acpi_config(const struct vm *vm, struct acpi_config *cfg);
/* The host's physical address bits, which the guest's CPUID reports too; 0: unknown. */
unsigned int vm_host_phys_bits(void);

/*
 * A page of the host's made the guest's at gpa, memslot slot, read-only
 * to it where KVM can (vm_vmclock.c): *out is set as soon as it is
 * mapped, so unmap undoes a failure too. 0 or -errno with err, which
 * what begins.
 */
int vm_page_slot_map(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size,
		     const char *what, uint8_t **out, struct err *err);
void vm_page_slot_unmap(uint8_t **page, uint64_t size);
/*
 * VMClock's page (vm_vmclock.c): mapped and made a read-only memslot at
 * LAYOUT_VMCLOCK when vm->vmclock; nothing otherwise. 0 or -errno with err.
 */
int vm_vmclock_map(struct vm *vm, struct err *err);
/*
 * VMGenID's page (vm_vmgenid.c), likewise at LAYOUT_VMGENID when
 * vm->vmgenid. notify raises the notification a restore left owed, once
 * the vCPUs run again (vm_resume, and a restore that resumes at start);
 * nothing when none is owed. Any thread.
 */
int vm_vmgenid_map(struct vm *vm, struct err *err);
void vm_vmgenid_unmap(struct vm *vm);
void vm_vmgenid_notify(struct vm *vm);
/*
 * The pmem devices' windows (vm_pmem.c): each file opened (read only or
 * read-write), mapped MAP_SHARED and rounded up to 2 MiB, and made a
 * memslot above RAM and the 32-bit hole, in the order of cfg->pmem, so
 * the same config gives the same addresses (a restore relies on it).
 * Not RAM: e820 and the memory file never see them. 0 or -errno with
 * err in Firecracker's words.
 */
int vm_pmem_map(struct vm *vm, const struct vm_config *cfg, struct err *err);
void vm_pmem_unmap(struct vm *vm);
/* Where the windows start for guest RAM laid out as gm: the first 2 MiB line past RAM and 4 GiB. */
uint64_t vm_pmem_base(const struct guest_mem *gm);
/*
 * A pmem device plugged into the running VM (PCI hotplug), in two steps:
 * prepare, on the api thread, opens and maps cfg->pmem[i]'s file into
 * *m, its window past every other one and a free memory slot chosen;
 * commit, on the io thread, makes the slot and the window vm->pmem[i]
 * (i == vm->npmem: the model appended it). release undoes a prepare that
 * was not committed. remove, on the io thread once the device is gone,
 * takes the window of device id away (its slot, mapping and file), the
 * later ones moving down as the model's list does. in_layout: whether
 * every window is where a boot (a restore) of the same model puts it.
 */
int vm_pmem_prepare(struct vm *vm, const struct vm_config *cfg, unsigned int i,
		    struct vm_pmem_map *m, struct err *err);
int vm_pmem_commit(struct vm *vm, unsigned int i, struct vm_pmem_map *m, struct err *err);
void vm_pmem_release(struct vm_pmem_map *m);
void vm_pmem_remove(struct vm *vm, const char *id);
bool vm_pmem_in_layout(const struct vm *vm);
void vm_vmclock_unmap(struct vm *vm);

#endif
