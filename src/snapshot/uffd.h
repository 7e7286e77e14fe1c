/*
 * The restore's Uffd memory backend (PUT /snapshot/load with mem_backend
 * {"backend_type": "Uffd", "backend_path": SOCKET}; `hearth restore
 * --mem-uffd SOCKET`), Firecracker 1.16's handshake: guest RAM mapped
 * anonymous and registered with a userfaultfd (mem/guest_mem_uffd.h),
 * then one connection to the handler's Unix socket and one sendmsg: the
 * regions' mappings (snapshot/uffd_msg.h) with the userfaultfd as
 * SCM_RIGHTS. Hearth never opens the memory file; the handler serves
 * every page from it. The connection stays open as long as the RAM: its
 * end of file is the handler's sign that Hearth is done with it.
 */
#ifndef HEARTH_SNAPSHOT_UFFD_H
#define HEARTH_SNAPSHOT_UFFD_H

#include "mem/guest_mem.h"
#include "snapshot/memcore.h"
#include "snapshot/uffd_msg.h"
#include "util/err.h"

struct snap_uffd {
	const char *sock_path;     /* the handler's socket */
	unsigned int nvcpus;       /* the snapshot's: they place the regions in the memory file */
};

/*
 * gm's regions as the handler sees them, RAM's then the memory hotplug
 * region's (when gm has one): each one's address here, its size, its
 * data's offset in the memory file a snapshot of gm with nvcpus vCPUs
 * has (snapshot/memcore.h), its page size. How many, or -EINVAL.
 */
int snap_uffd_mappings(const struct guest_mem *gm, unsigned int nvcpus,
		       struct uffd_mapping m[MEMCORE_MAX_REGIONS]);

/*
 * vm_mem_file's attach (ctx: struct snap_uffd): the handshake on gm,
 * mapped and untouched. Connecting and sending wait at most 5 s each.
 * 0, or -errno with one line in err naming the socket and the problem:
 * no socket there, nothing listening, the handler gone before it read,
 * userfaultfd refused to this process (and what it needs).
 */
int snap_uffd_attach(void *ctx, struct guest_mem *gm, struct err *err);

#endif
