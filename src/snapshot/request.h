/*
 * What a snapshot create or load asks for, whoever asks: the API's
 * PUT /snapshot/create and /snapshot/load (api/json_snapshot.c parses
 * Firecracker's SnapshotCreateParams, SnapshotLoadParams and
 * NetworkOverride into these) or `hearth restore`'s flags. Strings are
 * borrowed from whatever the request came in, which must outlive it.
 */
#ifndef HEARTH_SNAPSHOT_REQUEST_H
#define HEARTH_SNAPSHOT_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/config.h"

struct guest_mem;
struct memfile_layout;

struct snap_create_req {
	bool diff;                      /* snapshot_type "Diff" (default "Full") */
	const char *snapshot_path;
	const char *mem_file_path;
	/*
	 * A fork's (Hearth's): the state and a full memory file written into
	 * these two memfds instead of the paths, nothing synced or renamed.
	 */
	bool to_fds;
	int state_fd, mem_fd;
};

/*
 * One NIC's host side on restore: a TAP's name (Firecracker's
 * NetworkOverride), or for a user-mode NIC (a Hearth extension) backend,
 * --net's spec ("user[,host-loopback=on][,hostfwd=...]").
 */
struct snap_net_override {
	const char *iface_id;
	const char *host_dev_name;      /* a TAP NIC's; NULL for a user-mode one */
	const char *backend;            /* a user-mode NIC's; NULL for a TAP */
};

/*
 * A drive's image on restore (drive_overrides, a Hearth extension in the
 * same shape). is_read_only is the request's, as a pmem override's
 * read_only: it decides whether the image is opened, and locked, for
 * writing, so it is said and must be what the snapshot's disk was.
 */
struct snap_drive_override {
	const char *drive_id;
	const char *path_on_host;
	bool is_read_only;
	/*
	 * A qcow2 drive's backing chain (Hearth's, as a drive's own fields):
	 * its files, the image's backing file first, or backing_from_header.
	 * The state file's chain is never opened: this one replaces it.
	 */
	const char *backing_files[BLK_BACKING_MAX];
	unsigned int n_backing;
	bool backing_from_header;
};

/*
 * A pmem device's backing file on restore (pmem_overrides, a Hearth
 * extension in the drive overrides' shape). read_only is the request's,
 * never the state file's: it decides whether the file is opened and
 * mapped writable, so it must be said, and it must be what the snapshot's
 * guest saw (a read-only memslot or not).
 */
struct snap_pmem_override {
	const char *id;
	const char *path_on_host;
	bool read_only;
};

/*
 * A restore takes every host resource from here, none from the state
 * file (docs/snapshot-format.md, "What a state file decides"): each
 * drive's image, each pmem device's file and access, each NIC's host
 * side, the hybrid vsock socket; and from the process restoring, the KVM
 * device and COM1's output.
 */
struct snap_load_req {
	const char *snapshot_path;
	const char *mem_path;           /* mem_backend.backend_path, or the deprecated mem_file_path */
	/*
	 * A fork's clone (Hearth's): the state and memory files are these
	 * descriptors (the template's memfds), the paths only their names.
	 */
	bool from_fds;
	int state_fd, mem_fd;
	bool mem_uffd;                  /* backend_type Uffd: mem_path is the page-fault handler's socket */
	/*
	 * A live migration's destination (Hearth's): RAM anonymous and zero,
	 * handed to this once mapped (the stream fills it); mem_fd unused. Its
	 * disks are opened without their locks (drives_unlocked), which it takes
	 * at the switch-over, once the source let them go.
	 */
	int (*mem_attach)(void *ctx, struct guest_mem *gm, struct err *err);
	void *mem_attach_ctx;
	/* The RAM the stream laid out: the state's config must be it, checked before building. */
	const struct memfile_layout *mem_layout;
	bool drives_unlocked;
	bool track_dirty_pages;         /* or the deprecated enable_diff_snapshots */
	bool resume_vm;
	/*
	 * KVM_CLOCK_REALTIME on restore: the guest's kvmclock advances by the
	 * host's real time since the snapshot (its KVM_GET_CLOCK realtime).
	 */
	bool clock_realtime;
	/*
	 * Firecracker main's snapshot/load huge_pages, ahead of 1.16: what
	 * backs the restored RAM. huge_pages_set false ("Snapshot", or left
	 * out): the snapshot's own.
	 */
	bool huge_pages_set;
	enum vm_huge_pages huge_pages;
	unsigned int n_overrides;
	struct snap_net_override overrides[VM_MAX_NETS];
	unsigned int n_drive_overrides;
	struct snap_drive_override drive_overrides[VM_MAX_DRIVES];
	unsigned int n_pmem_overrides;
	struct snap_pmem_override pmem_overrides[VM_MAX_PMEM];
	const char *vsock_uds_path;     /* vsock_override.uds_path; NULL: none given */
	/*
	 * firmware_override (Hearth's): a firmware VM's image and variable
	 * store (vmm/vm_fw.h); the store is written from the snapshot's
	 * record. NULL: none given.
	 */
	const char *firmware_path, *firmware_vars_path;
	/*
	 * vsock_override.guest_cid (Hearth's): a vhost-vsock device claims its
	 * CID host-wide, so the request names it; 0: none given.
	 */
	uint64_t vsock_cid;
	/* The process's, not the request's: --kvm, PUT /serial before the load. */
	const char *kvm_path;           /* NULL: /dev/kvm */
	const char *serial_out_path;    /* NULL: stdout */
	const struct rl_config *serial_rl; /* PUT /serial's rate_limiter; NULL: none */
};

#endif
