/*
 * The machine model: everything a VM is built from, in Firecracker's
 * shape (boot source, machine config, drives, network interfaces, vsock,
 * entropy, logger, metrics). The command line, the config file and the
 * API all fill it through these setters, so all three validate the same
 * way and report the same messages; each front end only prefixes where
 * the value came from ("--cpus '0': ...", "PUT /machine-config: ...").
 */
#ifndef HEARTH_VMM_CONFIG_H
#define HEARTH_VMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/flat.h"
#include "core/ratelimit.h"
#include "mmds/mmds.h"
#include "util/err.h"
#include "vcpu/cpu_template.h"
#include "virtio/blk.h"
#include "virtio/net.h"

#define VM_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1"
#define VM_DEFAULT_VCPUS 1
#define VM_DEFAULT_MEM_MIB 256      /* hearth run's */
#define VM_FC_DEFAULT_MEM_MIB 128   /* Firecracker's, for hearth serve and firecracker */
#define VM_MAX_VCPUS 255          /* xAPIC IDs in the MADT are 8-bit, 0xff is broadcast */
#define VM_MIN_MEM_MIB 16
#define VM_MAX_MEM_MIB (1024ull * 1024) /* 1 TiB */
/*
 * As many drives, or NICs, as there are PCI slots (VM_PCI_SLOTS_MAX, one
 * a device), Firecracker's --enable-pci budget: a root drive and 30 NICs.
 * The real budget is the transport's, shared in any mix by drives, NICs,
 * pmem, entropy, vsock, the balloon and memory hotplug, and checked at
 * InstanceStart (vm_devices_layout): 31 PCI slots, or on virtio-mmio one
 * interrupt line each (vmm/vm.h VM_MAX_VIRTIO, 19; Firecracker's 17).
 */
#define VM_PCI_SLOTS_MAX 31       /* the root's 32 devices, the host bridge one */
#define VM_MAX_DRIVES VM_PCI_SLOTS_MAX
#define VM_MAX_NETS VM_PCI_SLOTS_MAX
#define VM_ID_MAX 64              /* device ids: letters, digits, '_' and '-' */
#define VM_PARTUUID_MAX 64        /* a root drive's partuuid, on the kernel command line */

struct vm_boot_source {
	char *kernel_image_path;
	char *initrd_path;        /* NULL: none */
	char *boot_args;          /* NULL: VM_DEFAULT_CMDLINE */
};

/* Firecracker's huge_pages: what backs guest RAM. */
enum vm_huge_pages {
	VM_HUGE_PAGES_NONE,       /* "None": 4 KiB pages */
	VM_HUGE_PAGES_2M,         /* "2M": 2 MiB hugetlbfs pages, reserved when RAM is mapped */
	VM_HUGE_PAGES_THP,        /* "Transparent": madvise(MADV_HUGEPAGE), Firecracker's main branch */
};

struct vm_machine {
	unsigned int vcpu_count;
	uint64_t mem_size_mib;
	bool smt;                 /* two threads per core; vcpu_count then 1 or even */
	bool track_dirty_pages;
	enum cpu_template_id cpu_template;   /* a static template; NONE with a custom one */
	enum vm_huge_pages huge_pages;       /* 2M: mem_size_mib is even */
};

/* Firecracker's io_engine, as given: Hearth's disks run on io_uring either way (docs/api.md). */
enum vm_io_engine { VM_IO_ENGINE_SYNC, VM_IO_ENGINE_ASYNC };

struct vm_drive {
	char id[VM_ID_MAX + 1];
	/* One of the two: the image, or a vhost-user backend's socket (virtio/vublk.h). */
	char *path_on_host;
	char *socket;
	bool is_read_only;
	bool is_root_device;
	/*
	 * The disk's cache mode: Firecracker's cache_type "Unsafe" is
	 * BLK_CACHE_UNSAFE and "Writeback" BLK_CACHE_WRITEBACK; hearth run's
	 * cache=none|writeback are NONE and WRITEBACK (both "Writeback" in
	 * GET /vm/config: their flushes are honoured).
	 */
	enum blk_cache cache_type;
	enum vm_io_engine io_engine;   /* zero: Firecracker's default, Sync */
	/* Firecracker's partuuid: a root drive's root=PARTUUID=; empty: none. */
	char partuuid[VM_PARTUUID_MAX + 1];
	/* The guest-visible serial (GET_ID); empty: none. */
	char serial[21];
	/* Hearth's: request queues of an image's disk (num_queues, --disk queues=); 0 is one. */
	unsigned int queues;
	struct rl_config rate_limiter;
	/*
	 * Hearth's: the format, and a qcow2 image's chain as the request names
	 * it, the top's backing file first (heap strings: vm_drive_set_chain),
	 * or backing_from_header (virtio/blk/chain.h). A restore, fork or
	 * migration takes the chain from its drive_overrides, never the file.
	 */
	enum blk_format format;
	char *backing_files[BLK_BACKING_MAX];
	unsigned int nbacking;
	bool backing_from_header;
};

struct vm_net {
	char id[VM_ID_MAX + 1];
	/* Backend (tap with host_dev_name, or user-mode), MAC, forwards. */
	struct net_config dev;
	struct rl_config rx_rate_limiter, tx_rate_limiter;
};

struct vm_vsock {
	bool present;
	uint64_t guest_cid;
	char *uds_path;           /* hybrid vsock; NULL: the host's vhost_vsock */
};

/*
 * Firecracker's PmemConfig (virtio/pmem.h has the device, vmm/vm_pmem.c
 * the window): a host file the guest sees as /dev/pmemN, in the order
 * given.
 */
#define VM_MAX_PMEM 19
struct vm_pmem {
	char id[VM_ID_MAX + 1];
	char *path_on_host;
	bool root_device;         /* root=/dev/pmemN on the command line */
	bool read_only;           /* mapped read only, and a read-only memslot */
	struct rl_config rate_limiter;   /* flushes: one op and the file's size each */
};

/* Firecracker's PmemDeviceUpdateConfig: only the rate limiter changes, after boot. */
struct vm_pmem_patch {
	const char *id;
	struct rl_config rate_limiter;   /* buckets set replace the device's */
	bool has_rate_limiter;           /* none: Firecracker changes nothing */
};

/* Firecracker's BalloonDeviceConfig (virtio/balloon.h has the device). */
struct vm_balloon {
	bool present;
	uint32_t amount_mib;          /* the target: how much the guest gives back */
	bool deflate_on_oom;
	uint16_t stats_polling_interval_s;   /* 0: no statistics queue */
	bool free_page_hinting;
	bool free_page_reporting;
};

/*
 * Firecracker's MemoryHotplugConfig (virtio/mem.h has the device): the
 * hotplug region's size, the guest's unit (block) and the host's (slot).
 */
struct vm_hotplug {
	bool present;
	uint32_t total_size_mib, block_size_mib, slot_size_mib;
};

enum vm_log_level { VM_LOG_OFF, VM_LOG_ERROR, VM_LOG_WARNING, VM_LOG_INFO, VM_LOG_DEBUG,
		    VM_LOG_TRACE };

struct vm_logger {
	char *log_path;           /* NULL: stderr */
	enum vm_log_level level;
	bool show_level;
	bool show_log_origin;
};

struct vm_metrics {
	char *metrics_path;       /* NULL: no metrics */
	bool emit_id;             /* each line's "id": the instance id (Firecracker's emit_id) */
	char *properties;         /* each line's "properties": a compact JSON object of strings; NULL: none */
};

/* QEMU's isa-debug-exit (devices/debug_exit.h). */
struct vm_debug_exit {
	bool present;
	uint16_t iobase;
	uint8_t iosize;           /* 1, 2 or 4 */
};

/*
 * A raw image instead of a kernel (--flat, boot/flat.h). Such a VM runs
 * without KVM's in-kernel irqchip and PIT: one vCPU, no virtio device,
 * and a hlt ends it (docs/running.md, "Flat images").
 */
struct vm_flat {
	bool present;
	char *path;
	uint64_t addr, entry;
	bool entry_set;           /* false: entry is addr */
	enum flat_mode mode;
};

/* QEMU's isa-debugcon (devices/debugcon.h). */
struct vm_debugcon {
	bool present;
	uint16_t port;
	char *out_path;           /* NULL: stdout */
};

/*
 * Firecracker's MMDS config (PUT /mmds/config, the config file's
 * "mmds-config"): which NICs answer the metadata address, and how. The
 * NICs are kept by id, as given; vm_config_mmds_net says whether one is
 * listed. The data itself is the store's (mmds/mmds.h, struct
 * vm_config's mmds_store), set at any time through PUT/PATCH /mmds.
 */
#define VM_MMDS_DEFAULT_IPV4 0xa9fea9feu   /* 169.254.169.254, host order */

struct vm_mmds {
	bool on;                  /* configured: the NICs below intercept ipv4 (ARP and TCP) */
	enum mmds_version version;
	bool imds_compat;         /* IMDS text whatever the guest's Accept */
	uint32_t ipv4_be;         /* the address, network byte order; link-local */
	char nets[VM_MAX_NETS][VM_ID_MAX + 1];   /* iface_ids of struct vm_net */
	unsigned int nnets;
};

/*
 * What the host checks when the model is given a file or device, as
 * Firecracker does at PUT time (its BootConfig::new opens the kernel and
 * initrd, a drive's VirtioBlock::new its file, a NIC's Net::new its TAP),
 * so that a missing one is the PUT's 400 rather than InstanceStart's. Each
 * is called by its setter once the values are valid, before c changes;
 * 0, or -errno with err in Firecracker's words. NULL (hearth run, the
 * config file, snapshots): nothing is opened until the VM is built.
 */
struct vm_vfio;
struct vm_config_probe {
	int (*boot_source)(void *ctx, const struct vm_boot_source *b, struct err *err);
	int (*drive)(void *ctx, const struct vm_drive *d, struct err *err);
	int (*net)(void *ctx, const struct vm_net *n, struct err *err);
	/* A static CPU template this host can take (its vendor, T2CL's model). */
	int (*cpu_template)(void *ctx, enum cpu_template_id id, struct err *err);
	/* A device passed through (PUT /device-passthrough): there, and bound to vfio-pci. */
	int (*vfio)(void *ctx, const struct vm_vfio *v, struct err *err);
};

/*
 * Where a virtio device sat on the PCI bus (a snapshot's, of a VM whose
 * drives were plugged in or out while it ran, so their slots are not the
 * layout order's): a restore attaches each device at its recorded slot.
 */
struct vm_pci_slot {
	char type[16];            /* the device's family: "virtio-blk", ... */
	char name[VM_ID_MAX + 1]; /* its own id */
	unsigned int slot;        /* 1 to 31 */
};

/*
 * A host PCI device passed through with VFIO (pci/vfio.h): `hearth run
 * --device vfio=PATH[,id=ID]`, the config file's "pci": {"vfio": [...]}.
 */
#define VM_MAX_VFIO 4
#define VM_VFIO_PATH_MAX 256
#define VM_SBDF_LEN 12                 /* DDDD:BB:DD.F */
struct vm_vfio {
	char id[VM_ID_MAX + 1];
	char path[VM_VFIO_PATH_MAX];   /* /sys/bus/pci/devices/DDDD:BB:DD.F */
};

/*
 * A virtio-fs device (virtio/fs.h): a host directory that a file-system
 * daemon (virtiofsd) serves over a vhost-user socket, mounted in the
 * guest by its tag. Hearth's extension: `hearth run --fs`, PUT /fs/{id},
 * the config file's "fs" (config_fs.c).
 */
#define VM_MAX_FS 8
#define VM_FS_TAG_MAX 36
struct vm_fs {
	char id[VM_ID_MAX + 1];
	char tag[VM_FS_TAG_MAX + 1];
	char *socket;
};

/*
 * A boot through firmware (Hearth's extension, docs/firmware.md):
 * `hearth run --firmware FILE [--firmware-vars FILE]`, boot-source's
 * firmware_path and firmware_vars_path. The image is a ROM (SeaBIOS's
 * bios-256k.bin) or, with a variable store, the code of a CFI flash pair
 * (OVMF_CODE_4M.fd and a per-VM copy of OVMF_VARS_4M.fd). Instead of a
 * kernel: the two exclude each other.
 */
struct vm_firmware {
	char *path;               /* NULL: no firmware */
	char *vars_path;          /* the variable store, written through; NULL: none */
};

/*
 * SMBIOS type 1 fields for the firmware's tables (--smbios, boot-source's
 * "smbios"): cloud-init's NoCloud reads "ds=nocloud;s=URL" from the
 * serial. NULL strings and no UUID: QEMU's defaults.
 */
#define VM_SMBIOS_STR_MAX 512
struct vm_smbios {
	char *serial;
	char *product;
	bool has_uuid;
	uint8_t uuid[16];         /* RFC 4122's byte order */
};

struct vm_config {
	struct vm_boot_source boot;
	struct vm_firmware firmware;
	struct vm_smbios smbios;
	struct vm_machine machine;
	unsigned int ndrives;
	unsigned int nnets;
	struct vm_vsock vsock;
	struct vm_balloon balloon;
	unsigned int npmem;
	struct vm_hotplug hotplug;
	unsigned int nfs;
	bool entropy;
	struct rl_config entropy_rate_limiter;
	struct vm_logger logger;
	struct vm_metrics metrics;
	char *serial_out_path;    /* COM1's output; NULL: stdout */
	struct rl_config serial_rl; /* its rate_limiter: the bandwidth bucket, bytes of output */
	/* PUT /cpu-config's custom template (then machine.cpu_template is NONE); NULL: none. */
	struct cpu_template_custom *cpu_config;
	struct vm_mmds mmds;
	/*
	 * The MMDS store, not owned (the control surface's, which outlives
	 * the VM): what the NICs in mmds.nets answer the guest from. NULL
	 * where no store exists (hearth run); the model is copied with it.
	 */
	struct mmds *mmds_store;
	/* Hearth's own (not in Firecracker's model). */
	char *kvm_path;
	bool virtio_cmdline;      /* also list virtio-mmio devices on the command line */
	/* --pci, Firecracker's --enable-pci: virtio devices on PCI (virtio/pci.h), not virtio-mmio. */
	bool pci;
	/*
	 * Nothing can plug a device into this VM (hearth run without an API
	 * socket): no io_uring rings are set aside for it (vm_pci_rings_make).
	 */
	bool no_plug;
	unsigned int npci_slots;
	unsigned int nvfio;
	/* --guest-decompress: a bzImage boots as it is, not decompressed by Hearth (boot/decompress.h). */
	bool guest_decompress;
	/* --exit-stats: at the end, the boot's phases and the exits by device on stderr (vm.h). */
	bool exit_stats;
	/* --kernel-cache DIR: decompressed bzImages kept there (boot/kcache.h); NULL: none. */
	char *kernel_cache;
	struct vm_debug_exit debug_exit;
	bool test_devices;        /* pc-testdev's ports and window (devices/testdev.h) */
	/*
	 * A live migration's destination, until its switch-over: the drives'
	 * images opened without their locks, which the source still holds
	 * (vm_drives_hold takes them). Never in a record or a config file.
	 */
	bool drives_unlocked;
	bool boot_timer;          /* Firecracker's --boot-timer (devices/boot_timer.h) */
	/*
	 * VMClock (devices/vmclock.h), as Firecracker 1.15: on for every VM
	 * made now; a restore has it where its snapshot's config says so.
	 */
	bool vmclock;
	/*
	 * VMGenID (devices/vmgenid.h), as Firecracker 1.16 has it on x86: on
	 * for every VM made now (not --flat, which has no ACPI); it takes an
	 * interrupt line, so a virtio-mmio VM has one device fewer. A restore
	 * has it where its snapshot's config says so.
	 */
	bool vmgenid;
	/*
	 * Run as `firecracker`: Firecracker's own rules where Hearth's are
	 * wider (docs/api.md "Differences from Firecracker"): its device
	 * budget at InstanceStart, a single-queue TAP, GET /vm/config without
	 * Hearth's "pci". Never saved in a snapshot: the process's, not the VM's.
	 */
	bool fc_rules;
	struct vm_flat flat;
	struct vm_debugcon debugcon;
	bool cli;                 /* from the command line: errors name its flags */
	const struct vm_config_probe *probe;   /* NULL: no checks at set time */
	void *probe_ctx;
	/*
	 * The slots, last: a VM fills the first few, and its counts and
	 * scalars above then share a page or two rather than each lying past
	 * an array on a page of its own (a clone writes its model's pages:
	 * util/trim.h).
	 */
	struct vm_drive drives[VM_MAX_DRIVES];
	struct vm_net nets[VM_MAX_NETS];
	struct vm_pmem pmem[VM_MAX_PMEM];
	struct vm_fs fs[VM_MAX_FS];
	/* A restore's recorded slots, every virtio device's; none: the layout order. */
	struct vm_pci_slot pci_slots[VM_PCI_SLOTS_MAX];
	struct vm_vfio vfio[VM_MAX_VFIO];
};

/* Defaults: 1 vCPU, 256 MiB, entropy on, no devices. */
void vm_config_init(struct vm_config *c);
void vm_config_release(struct vm_config *c);

/*
 * Each setter validates its whole input first and changes c only when it
 * is good; on error it returns -EINVAL (-ENOMEM) with one line in err
 * and c is as before.
 */
int vm_config_set_boot_source(struct vm_config *c, const char *kernel, const char *initrd,
			      const char *boot_args, struct err *err);
int vm_config_set_machine(struct vm_config *c, const struct vm_machine *m, struct err *err);
/*
 * config_firmware.c: the firmware image and its variable store (vars
 * NULL: none), in place of any before; the kernel is the caller's to
 * clear (vm_config_clear_boot). The files are checked when the VM is
 * built (vmm/vm_firmware.h).
 */
int vm_config_set_firmware(struct vm_config *c, const char *path, const char *vars,
			   struct err *err);
/* The SMBIOS fields: each string printable ASCII, the UUID in its canonical text; NULL: none. */
int vm_config_set_smbios(struct vm_config *c, const char *serial, const char *product,
			 const char *uuid, struct err *err);
/* Takes the kernel, or the firmware and the SMBIOS fields, out of c (a PUT replacing one with the other). */
void vm_config_clear_boot(struct vm_config *c);
void vm_config_clear_firmware(struct vm_config *c);
/* A firmware boot's rules: not with a kernel or --flat, its PCI, what it cannot have yet. */
int vm_config_check_firmware(const struct vm_config *c, struct err *err);
/*
 * The custom template (taken over: c frees it), in place of any template
 * before; NULL clears both the custom and the static one.
 */
void vm_config_set_cpu_config(struct vm_config *c, struct cpu_template_custom *t);
/*
 * Adds d, or replaces the drive with the same id when replace is set (the
 * API's PUT); without it a second use of an id is an error (the CLI).
 */
int vm_config_put_drive(struct vm_config *c, const struct vm_drive *d, bool replace,
			struct err *err);
int vm_config_put_net(struct vm_config *c, const struct vm_net *n, bool replace, struct err *err);
/*
 * Removes interface id, as Firecracker's NetBuilder does with the one a
 * PUT replaces before it tries the new one. Whether there was one.
 */
bool vm_config_drop_net(struct vm_config *c, const char *id);
/* Takes drive id out of c (a drive unplugged, or one whose plug failed); false: none. */
bool vm_config_drop_drive(struct vm_config *c, const char *id);
/* config_drive.c: d's chain replaced by copies of files; 0 or -errno + err, d unchanged. */
int vm_drive_set_chain(struct vm_drive *d, const char *const *files, unsigned int n,
		       bool from_header, struct err *err);
void vm_drive_free_chain(struct vm_drive *d);
/* Whether a drive is a qcow2 image (the io thread's seccomp list grows for its engine). */
bool vm_config_has_qcow2(const struct vm_config *c);
int vm_config_set_vsock(struct vm_config *c, const struct vm_vsock *v, struct err *err);
int vm_config_set_entropy(struct vm_config *c, bool on);
/*
 * The balloon, in place of any before (Firecracker's set_balloon_device):
 * its target may not pass the memory size. The live device's changes
 * (target, statistics interval) come back through it too.
 */
int vm_config_set_balloon(struct vm_config *c, const struct vm_balloon *b, struct err *err);
/*
 * config_pmem.c: adds p, or replaces the device with its id when replace
 * is set (the API's PUT; Firecracker's PmemBuilder::build), with
 * Firecracker's root-device rules and words. The file is opened when
 * the VM is built, as Firecracker does.
 */
int vm_config_put_pmem(struct vm_config *c, const struct vm_pmem *p, bool replace,
		       struct err *err);
const struct vm_pmem *vm_config_find_pmem(const struct vm_config *c, const char *id);
/* Whether a pmem device is the root device. */
bool vm_config_pmem_root(const struct vm_config *c);
void vm_config_pmem_release(struct vm_config *c);
/*
 * config_fs.c: adds f, or replaces the device with its id when replace is
 * set (PUT /fs/{id}); tags are unique, as the guest mounts by them.
 */
int vm_config_put_fs(struct vm_config *c, const struct vm_fs *f, bool replace,
		     struct err *err);
void vm_config_fs_release(struct vm_config *c);
/* The first virtio-fs device's id, for a refusal that names it; NULL: none. */
const char *vm_config_fs_any(const struct vm_config *c);
/* Takes pmem device id out of the model (a hot unplug), the later ones moving down. */
void vm_config_drop_pmem(struct vm_config *c, const char *id);
/* The patch's limiter valid and its device in c (Firecracker's words); then apply it. */
int vm_config_check_pmem_patch(const struct vm_config *c, const struct vm_pmem_patch *p,
			       struct err *err);
void vm_config_patch_pmem(struct vm_config *c, const struct vm_pmem_patch *p);
/*
 * The memory hotplug device, in place of any before (Firecracker's
 * set_memory_hotplug_config), bounded as Firecracker's validate bounds
 * it, in its words.
 */
int vm_config_set_hotplug(struct vm_config *c, const struct vm_hotplug *h, struct err *err);
int vm_config_set_logger(struct vm_config *c, const struct vm_logger *l, struct err *err);
int vm_config_set_metrics(struct vm_config *c, const struct vm_metrics *m, struct err *err);
/* NULL goes back to stdout. */
int vm_config_set_serial(struct vm_config *c, const char *out_path, const struct rl_config *rl,
			 struct err *err);
int vm_config_set_kvm_path(struct vm_config *c, const char *path, struct err *err);
/* --kernel-cache DIR (boot/kcache.h): a non-empty path. */
int vm_config_set_kernel_cache(struct vm_config *c, const char *dir, struct err *err);

/* iosize 1, 2 or 4, and the ports inside 0-0xffff. */
int vm_config_set_debug_exit(struct vm_config *c, const struct vm_debug_exit *d, struct err *err);

/* config_flat.c: a path and a known mode; the whole model is checked at boot. */
int vm_config_set_flat(struct vm_config *c, const struct vm_flat *f, struct err *err);
/* A port no in-kernel device of KVM's answers; an output path if any. */
int vm_config_set_debugcon(struct vm_config *c, const struct vm_debugcon *d, struct err *err);
/* A flat VM's limits (struct vm_flat); 0 for a config without --flat. */
int vm_config_check_flat(const struct vm_config *c, struct err *err);

/* Whole-model checks before a boot: a kernel or a flat image, the memory within Hearth's limit, and vm_config_check_flat. */
int vm_config_check_bootable(const struct vm_config *c, struct err *err);

/*
 * config_vfio.c. add: one more passed-through device (its id defaults to
 * vfio<N>); a taken id or path, a path too long or past VM_MAX_VFIO is
 * refused. check (at start, from vm_config_check_bootable): such a VM is
 * a PCI VM with no balloon and no memory hotplug (its RAM is pinned).
 */
int vm_config_add_vfio(struct vm_config *c, const char *id, const char *path, struct err *err);
int vm_config_check_vfio(const struct vm_config *c, struct err *err);
/*
 * PUT /device-passthrough/{id} (Firecracker's VFIO branch): the device
 * at path, in place of the one with that id if any (else one more). As
 * PUT's, refused at once where start would refuse it (no PCI, a balloon,
 * memory hotplug), for a path another id has ("Duplicate device
 * passthrough SBDF: ..."), or by c->probe's vfio (no such device, not
 * bound to vfio-pci); c changes only when it is taken.
 */
int vm_config_put_vfio(struct vm_config *c, const char *id, const char *path, struct err *err);
/* Device id's index in c->vfio, or -1; drop takes it out (a device unplugged). */
int vm_config_find_vfio(const struct vm_config *c, const char *id);
void vm_config_drop_vfio(struct vm_config *c, const char *id);
/*
 * A host PCI address, strictly: DDDD:BB:DD.F (domain 4 hex digits, bus
 * 2, device 2 and at most 1f, function one digit 0 to 7), or BB:DD.F for
 * domain 0000; either case. Into canon as sysfs names it (lower case,
 * "0000:03:00.0"). 0, or -EINVAL with err naming what is wrong.
 */
int vm_vfio_parse_sbdf(const char *s, char canon[VM_SBDF_LEN + 1], struct err *err);

/* "vcpu_count", "mem_size_mib" ... range checks shared by every front end. */
int vm_config_check_id(const char *what, const char *id, struct err *err);
const char *vm_log_level_name(enum vm_log_level l);
/* "Error", "Warning", "Info", "Debug", "Trace", "Off" (any case); -EINVAL otherwise. */
int vm_log_level_parse(const char *s, enum vm_log_level *out);

/*
 * Rate limiters (config_rl.c). what names the device ("drive 'rootfs'"),
 * field the limiter ("rate_limiter"); the message is "WHAT: FIELD: ...".
 */
int vm_config_check_limiter(const char *what, const char *field, const struct rl_config *rl,
			    struct err *err);
/* Turns entropy on with rl as its rate limiter (PUT /entropy, --rng=SPEC). */
int vm_config_put_entropy(struct vm_config *c, const struct rl_config *rl, struct err *err);

/* Firecracker's PartialDrive: what is NULL or unset stays as it is. */
struct vm_drive_patch {
	const char *id;
	const char *path_on_host;
	struct rl_config rate_limiter;   /* buckets set replace the drive's */
	bool has_rate_limiter;           /* the body named one, even {} */
};

/* Firecracker's PartialNetworkInterface. */
struct vm_net_patch {
	const char *id;
	struct rl_config rx_rate_limiter, tx_rate_limiter;
};

/* Checks a patch against the model without changing it; then apply it. */
int vm_config_check_drive_patch(const struct vm_config *c, const struct vm_drive_patch *p,
				struct err *err);
int vm_config_patch_drive(struct vm_config *c, const struct vm_drive_patch *p, struct err *err);
int vm_config_check_net_patch(const struct vm_config *c, const struct vm_net_patch *p,
			      struct err *err);
int vm_config_patch_net(struct vm_config *c, const struct vm_net_patch *p, struct err *err);

/*
 * config_mmds.c: Firecracker's checks (a NIC list, not empty, of NICs
 * already in c; a link-local address), then the config replaces c's and
 * the version goes to c->mmds_store, if any. Words as Firecracker's.
 */
int vm_config_set_mmds(struct vm_config *c, const struct vm_mmds *m, struct err *err);
/* Whether NIC net_id answers the MMDS. */
bool vm_config_mmds_net(const struct vm_config *c, const char *net_id);

const struct vm_drive *vm_config_find_drive(const struct vm_config *c, const char *id);
const struct vm_net *vm_config_find_net(const struct vm_config *c, const char *id);
/*
 * Why NIC n stays off vhost-net, or NULL: it is not a TAP or has
 * vhost=off, or Hearth must see its frames (a rate limiter, the MMDS) or
 * its writes to guest memory (track_dirty_pages: vhost's are not in the
 * dirty log). Whether /dev/vhost-net opens is the device's to find out.
 */
const char *vm_config_net_no_vhost(const struct vm_config *c, const struct vm_net *n);

#endif
