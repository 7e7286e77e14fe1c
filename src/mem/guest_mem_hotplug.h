/*
 * The memory hotplug region (virtio-mem's device-managed memory): one
 * anonymous mapping above RAM, cut into blocks (the guest's unit of plug
 * and unplug) and KVM slots (the host's unit of mapping). As Firecracker
 * does, a slot is a KVM memslot only while any block in it is plugged;
 * an unplugged block's pages go back to the host and read as zeros when
 * plugged again. Translation (guest_mem_ptr) finds plugged blocks only,
 * so a device never touches, nor makes the host back, unplugged memory.
 *
 * Not part of the regions: e820 does not list it (the guest's driver
 * learns of it from the device); the dirty log keeps a bitmap of its own
 * for it (GUEST_MEM_HP_MAP: its slots' KVM logs, Hearth's marks, and the
 * pages of blocks unplugged since the last collection). A Full snapshot's memory
 * file holds it after RAM; a File restore maps it from there
 * (guest_mem_hotplug_map_file), a Uffd restore registers it with the
 * userfaultfd beside RAM (guest_mem_uffd.h) and the handler serves it.
 */
#ifndef HEARTH_MEM_GUEST_MEM_HOTPLUG_H
#define HEARTH_MEM_GUEST_MEM_HOTPLUG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "mem/guest_mem.h"

/*
 * Someone outside Hearth's own translation that is handed a table of
 * guest memory (an in-kernel vhost backend's VHOST_SET_MEM_TABLE) and
 * must follow plug and unplug: the table covers plugged blocks only
 * (issue 47, S1), else a guest could post buffers in unplugged memory
 * and have the host back what the operator never plugged. changed runs
 * with the region's lock held, after a plug and before an unplugged
 * block's pages go back; 0, or -errno (the table did not change: the
 * plug or unplug is undone).
 */
struct guest_mem_watch {
	int (*changed)(void *ctx, const struct guest_mem *gm);
	void *ctx;
	struct guest_mem_watch *next;    /* the region's list; the watcher owns the node */
};

/* One run of plugged blocks: guest address, size, host address. */
struct guest_mem_run {
	uint64_t gpa, size;
	uint8_t *hva;
};

struct guest_hotplug {
	uint64_t gpa, size;
	uint64_t block_size, slot_size;   /* powers of two... block_size is; slot_size a multiple */
	uint8_t *hva;
	uint64_t nblocks;
	unsigned int nslots;
	unsigned int slot_base;           /* the first KVM slot number */
	/* One bit per block, set while plugged: read lock-free by translation (atomics). */
	uint64_t *plugged;
	uint32_t *slot_plugged;           /* plugged blocks per slot */
	uint64_t slot_fails;              /* KVM slot changes that failed */
	/*
	 * Mapped privately from a memory file (a File restore): an unplugged
	 * block then gets fresh anonymous memory, since MADV_DONTNEED would
	 * bring back the file's bytes rather than zeros.
	 */
	bool file_backed;
	/*
	 * Held across a plug or unplug with its watchers' updates, and by a
	 * table's builder (guest_mem_hotplug_lock), so no table is built from
	 * a half-changed bitmap nor set after a newer one.
	 */
	pthread_mutex_t lock;
	struct guest_mem_watch *watchers;
};

/*
 * Where a region of size bytes goes for RAM laid out as gm: above RAM and
 * the 32-bit hole, on LAYOUT_HOTPLUG_ALIGN. 0 when it would pass
 * LAYOUT_HOTPLUG_LIMIT.
 */
uint64_t guest_mem_hotplug_gpa(const struct guest_mem *gm, uint64_t size);

/*
 * Maps the region (nothing plugged) at guest_mem_hotplug_gpa. block_size
 * a power of two of at least 4 KiB, slot_size a multiple of it, size a
 * multiple of slot_size: -EINVAL otherwise, or with more than
 * LAYOUT_HOTPLUG_MAX_SLOTS slots or no room below LAYOUT_HOTPLUG_LIMIT
 * (-ERANGE); -EEXIST with one already; -ENOMEM.
 */
int guest_mem_hotplug_init(struct guest_mem *gm, uint64_t size, uint64_t block_size,
			   uint64_t slot_size);
/* Unmaps it (guest_mem_destroy calls it); its slots go with the VM. */
void guest_mem_hotplug_destroy(struct guest_mem *gm);

/*
 * Plugs (plug) or unplugs [off, off+len) of the region, block aligned:
 * the slots it touches become KVM memslots on gm->slots_fd while any of
 * their blocks is plugged and stop being when none is; unplugged blocks
 * are given back to the host (after their slot is gone, so the guest
 * cannot fault them in again). Blocks already in the asked state stay.
 * -EINVAL out of range or misaligned; -errno when KVM refused a slot
 * on plug (nothing changed then); -EBUSY when a watcher could not take
 * the new table (nothing changed then: a vhost table has a fixed number
 * of regions, and an unplug in the middle of a run makes one more). On
 * the I/O thread.
 */
int guest_mem_hotplug_set(struct guest_mem *gm, uint64_t off, uint64_t len, bool plug);

/*
 * A File restore: the region's bytes become fd's from offset on, mapped
 * privately over it (pages load on first touch, the file never changes;
 * nothing is plugged yet: the device's record plugs what was). offset
 * page aligned. 0, -EINVAL (no region, a misaligned offset) or -errno of
 * mmap, after which the region may be unmapped: the restore fails, and
 * the VM with it.
 */
int guest_mem_hotplug_map_file(struct guest_mem *gm, int fd, uint64_t offset);

/*
 * The watchers: add (its changed is not called now: the watcher sets its
 * first table itself, under guest_mem_hotplug_lock) and remove. Nothing
 * without a region.
 */
void guest_mem_hotplug_watch(const struct guest_mem *gm, struct guest_mem_watch *w);
void guest_mem_hotplug_unwatch(const struct guest_mem *gm, struct guest_mem_watch *w);
/* The region's lock, for a table built outside a watcher's call; nothing without one (or gm). */
void guest_mem_hotplug_lock(const struct guest_mem *gm);
void guest_mem_hotplug_unlock(const struct guest_mem *gm);

/*
 * The plugged runs, merged, lowest first: the first max into out (which
 * may be NULL with max 0); returns how many there are in all. Call with
 * the lock held, or from the thread that plugs.
 */
unsigned int guest_mem_hotplug_runs(const struct guest_hotplug *hp, struct guest_mem_run *out,
				    unsigned int max);

/* Whether the block holding byte off of the region is plugged (false past its end). */
bool guest_mem_hotplug_plugged(const struct guest_hotplug *hp, uint64_t off);

/* guest_mem_ptr's part: [gpa, gpa+len) when all of it is plugged, else NULL. */
void *guest_mem_hotplug_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

#endif
