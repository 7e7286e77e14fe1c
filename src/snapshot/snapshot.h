/*
 * Snapshot create and restore (docs/snapshot-format.md): the state file
 * (host, config, vm, vcpu and device sections) and the memory file (an
 * ELF core, snapshot/memcore.h). The control surface calls them for
 * PUT /snapshot/create and /snapshot/load and `hearth restore`
 * (host/host.c).
 */
#ifndef HEARTH_SNAPSHOT_SNAPSHOT_H
#define HEARTH_SNAPSHOT_SNAPSHOT_H

#include <stddef.h>

#include "snapshot/host.h"
#include "snapshot/request.h"
#include "util/err.h"
#include "vmm/runner.h"
#include "vmm/vm.h"

/*
 * Writes the snapshot of a paused VM built from cfg: the memory file
 * first, then the state file, each atomically (a temporary name, fsync,
 * rename), so a state file that loads always has its memory beside it.
 * On the api thread: the vCPUs are parked, their state is read through
 * KVM from here; devices save on the io thread that owns them. 0, or
 * -errno with one line in err.
 */
int snap_create(struct vm *vm, const struct vm_config *cfg, const struct snap_create_req *req,
		struct err *err);

/*
 * A live migration's switch-over (src/migrate): the paused VM's state
 * file, as snap_create would write it, into *buf (*len bytes, malloc'ed),
 * and the pages the dirty log held, taken out of it, into maps (as
 * guest_mem_dirty_parse hands them out; all NULL with tracking off).
 * 0, or -errno with err and the log's pages given back.
 */
int snap_state(struct vm *vm, const struct vm_config *cfg, void **buf, size_t *len,
	       uint64_t *maps[GUEST_MEM_DIRTY_MAPS], struct err *err);

/*
 * A migration's switch-over, on the destination: the VM pre-built from
 * the migration's first state (paused, its RAM filled by the stream) takes
 * the last state's records, every one checked against its components
 * before any is applied, as a reset applies them without touching RAM
 * (VMGenID's new generation and VMClock's disruption included). 0 or
 * -errno with err; after a failed apply the VM must not run.
 */
int snap_apply(struct vm *vm, int state_fd, struct err *err);

/*
 * Restores req's snapshot into run (which has no VM yet): checks the
 * state file, the host and the memory file before anything is built,
 * then builds the VM from the snapshot's config with RAM mapped from the
 * memory file (req->mem_uffd: anonymous RAM handed to the page-fault
 * handler at req->mem_path, which serves it from the file; snapshot/uffd.h)
 * and loads its state. *cfg gets the config. 0, or -errno
 * with err (usage: the files or request were at fault); on failure no VM
 * is left.
 */
int snap_load(struct runner *run, const struct snap_load_req *req, struct vm_config *cfg,
	      struct err *err);

/*
 * A reset: the paused VM vm, restored from a base whose state file is
 * state_fd, goes back to it. RAM reads the base again first
 * (guest_mem_revert: all its pages, or those the dirty log has), then
 * every record is checked against vm's components and that RAM (a vhost
 * queue's position against the base's rings, not the ones vhost moved
 * since), then applied as a restore applies it (VMGenID's new generation
 * and VMClock's disruption included). *pages: how many went back. 0 or
 * -errno with err; -ENOTRECOVERABLE (the base's records do not fit its
 * own RAM) or a failed apply leave the VM in neither state: stop it.
 */
int snap_reset(struct vm *vm, int state_fd, bool all, uint64_t *pages, struct err *err);

/*
 * The restore's opening of its memory file (snap_load's first step on
 * it): opens path read-only, takes its shared lock (snapshot/memfile_lock.h;
 * -EBUSY while a merge rewrites it) and checks its layout against cfg's
 * RAM. 0 with mf filled (the caller closes mf->fd; RAM mapped from it
 * keeps the lock), or -errno with err and nothing held.
 */
int snap_mem_open(const char *path, const struct vm_config *cfg, struct vm_mem_file *mf,
		  struct err *err);

/*
 * Replaces every host resource of cfg, as the state file's config record
 * filled it, with req's (load_host.c): each drive's image, each NIC's
 * TAP name or user-mode forwards and host loopback, the hybrid vsock
 * socket, the KVM device and COM1's output. A drive, NIC or hybrid vsock
 * that req leaves out, or an override for a device the snapshot lacks
 * or of another backend, is refused (-EINVAL, a usage error). 0 or
 * -errno with err.
 */
int snap_load_host(struct vm_config *cfg, const struct snap_load_req *req, struct err *err);

/* What this host offers, for the host section and its check. */
int snap_host_collect(int kvm_fd, int vm_fd, const struct kvm_cpuid2 *cpuid,
		      struct snap_host *h);

#endif
