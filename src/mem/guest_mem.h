/*
 * Guest RAM: one anonymous mapping per region, bounds-checked GPA<->HVA
 * translation. RAM above 3 GiB continues at 4 GiB, past the MMIO hole.
 */
#ifndef HEARTH_MEM_GUEST_MEM_H
#define HEARTH_MEM_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/component.h"

#define GUEST_MEM_MAX_REGIONS 2
/*
 * The dirty log keeps a bitmap per RAM region and one for the memory
 * hotplug region, whose index is GUEST_MEM_HP_MAP (never a region's).
 */
#define GUEST_MEM_HP_MAP GUEST_MEM_MAX_REGIONS
#define GUEST_MEM_DIRTY_MAPS (GUEST_MEM_MAX_REGIONS + 1)

struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	struct guest_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned int nregions;
	uint64_t ram_bytes;
	/*
	 * Dirty tracking (dirty.c), off unless guest_mem_dirty_enable ran:
	 * per region one bit per 4 KiB page that Hearth itself wrote (KVM
	 * logs only the guest CPUs' writes). Words are set with atomic OR
	 * from any thread and taken with atomic exchange by the collector.
	 */
	bool dirty_on;
	uint64_t *dirty[GUEST_MEM_DIRTY_MAPS];   /* the regions', then the hotplug region's */
	int slots_fd;             /* the VM its memslots are on (guest_mem_register); -1: none */
	/*
	 * RAM mapped from a file (guest_mem_file.h): a duplicate of its fd,
	 * which carries the file's lock (snapshot/memfile_lock.h) until the
	 * mappings are gone. Only meaningful when file_held.
	 */
	bool file_held;
	int file_fd;
	/*
	 * RAM whose missing pages a handler process serves (guest_mem_uffd.h):
	 * the userfaultfd and the handler's socket (-1: none), both closed
	 * only once the mappings are gone. Only meaningful when uffd_held.
	 */
	bool uffd_held;
	int uffd, uffd_sock;
	/*
	 * RAM another process maps too (guest_mem_init_shared): one memfd,
	 * which a vhost-user backend is handed, region i at shm_offset[i].
	 * Only meaningful when shared.
	 */
	bool shared;
	int shm_fd;
	uint64_t shm_offset[GUEST_MEM_MAX_REGIONS];
	/* Backed by 2 MiB hugetlbfs pages (guest_mem_huge.h), the unit a page-fault handler fills. */
	bool huge;
	/*
	 * The memory hotplug region (guest_mem_hotplug.h), NULL without one.
	 * No region of the above: not in e820, the memory file or the dirty
	 * log; guest_mem_ptr finds its plugged blocks only.
	 */
	struct guest_hotplug *hp;
};

#define GUEST_PAGE_SIZE 4096ull
#define GUEST_PAGE_SHIFT 12

/* Lays out ram_bytes around the hole. Does not map anything. */
int guest_mem_layout(struct guest_mem *gm, uint64_t ram_bytes);
/* Lays out and mmaps. */
int guest_mem_init(struct guest_mem *gm, uint64_t ram_bytes);
/*
 * The same with at most `below` bytes of RAM under 4 GiB (a multiple of
 * GUEST_MEM_BELOW_ALIGN, at most LAYOUT_MMIO_HOLE_START; the rest from
 * 4 GiB): a firmware boot's q35 stops low RAM where its firmware puts
 * the ECAM window (vmm/vm_ram.h). Every *_init has its _below twin; the
 * plain ones are LAYOUT_MMIO_HOLE_START's.
 */
#define GUEST_MEM_BELOW_ALIGN (2ull << 20)
int guest_mem_layout_below(struct guest_mem *gm, uint64_t ram_bytes, uint64_t below);
int guest_mem_init_below(struct guest_mem *gm, uint64_t ram_bytes, uint64_t below);
void guest_mem_destroy(struct guest_mem *gm);
/*
 * Lays out and maps ram_bytes from one memfd (MAP_SHARED, 2 MiB aligned
 * as guest_mem_map_aligned): RAM a vhost-user backend can map. Given
 * back pages are punched out of the file (guest_mem_discard). 0 or -errno.
 */
int guest_mem_init_shared(struct guest_mem *gm, uint64_t ram_bytes);
int guest_mem_init_shared_below(struct guest_mem *gm, uint64_t ram_bytes, uint64_t below);
/* KVM_SET_USER_MEMORY_REGION for each region; gm remembers vm_fd (its dirty log's). */
int guest_mem_register(struct guest_mem *gm, int vm_fd);

/*
 * Host pointer for [gpa, gpa+len) when the whole range lies in one region,
 * else NULL. Overflowing ranges are rejected.
 */
void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/*
 * The pages of host memory at p (len bytes, inside guest RAM) that the
 * host is about to fill (the kernel, the initrd), allocated in one call
 * (MADV_POPULATE_WRITE) rather than faulted in one by one as they are
 * written: a stock kernel's 30 MB are 7,500 faults, which a nested host
 * (the lab's L1) pays for dearly. Advice: a kernel before 5.14 faults
 * them in as before.
 */
void guest_mem_prefault(void *p, uint64_t len);

/*
 * Anonymous guest memory (MAP_NORESERVE) at a 2 MiB-aligned address, as
 * QEMU maps its own: only then can a 2 MiB guest-physical range be a
 * transparent huge page on the host (where THP is on) and one large
 * mapping in KVM's EPT, NPT or shadow tables, which need the address and
 * the guest-physical one to agree modulo 2 MiB (every region starts on a
 * 2 MiB boundary of guest-physical space). Kernels before 6.7 align only
 * file and hugetlbfs mappings by themselves. MAP_FAILED on failure;
 * munmap(p, size) undoes it.
 */
void *guest_mem_map_aligned(uint64_t size);
int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len);
int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len);

/*
 * Dirty page tracking, for diff snapshots (dirty.c). Enable after
 * guest_mem_init and before guest_mem_register: the memslots then carry
 * KVM_MEM_LOG_DIRTY_PAGES. 0 or -errno (-EINVAL: no regions; -EBUSY:
 * already on).
 */
int guest_mem_dirty_enable(struct guest_mem *gm);
bool guest_mem_dirty_enabled(const struct guest_mem *gm);
/*
 * The same on a running VM (a live migration): the maps, then every RAM
 * memslot set again on vm_fd with KVM_MEM_LOG_DIRTY_PAGES (a flags-only
 * change). Device threads may be marking meanwhile. 0 or -errno
 * (-EOPNOTSUPP: a memory hotplug region; tracking is then off).
 */
int guest_mem_dirty_start(struct guest_mem *gm, int vm_fd);
/*
 * Hearth wrote [gpa, gpa+len) of guest RAM itself: lock-free, any thread;
 * nothing when tracking is off; bytes outside RAM are ignored. const:
 * marking changes the bitmap, never the layout, and the device paths
 * hold a const guest_mem.
 */
void guest_mem_dirty_mark(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
/* The same for a host range inside a region's mapping (a virtqueue's iovecs). */
void guest_mem_dirty_mark_hva(const struct guest_mem *gm, const void *hva, uint64_t len);
/*
 * Pages of region idx dirtied since the last call, one bit per 4 KiB page
 * (bit i of word i/64 is page i), KVM's log (KVM_GET_DIRTY_LOG on slot
 * idx) OR Hearth's marks, then both cleared. idx GUEST_MEM_HP_MAP is the
 * memory hotplug region: the log of each of its slots that is a memslot
 * now, at its place (a slot leaves KVM only once all its blocks are
 * unplugged, and unplugging marks the blocks, whose bytes became zeros).
 * bitmap holds guest_mem_dirty_words(gm, idx) words. vm_fd < 0: Hearth's
 * marks only (no KVM: tools and tests). 0 or -errno (-EINVAL: tracking off
 * or no such region).
 */
int guest_mem_dirty_collect(struct guest_mem *gm, int vm_fd, unsigned int idx, uint64_t *bitmap);
size_t guest_mem_dirty_words(const struct guest_mem *gm, unsigned int idx);
/*
 * Gives back pages a collect returned (bitmap as it filled it) when the
 * snapshot they were for failed: they are dirty again for the next one,
 * which would otherwise miss them. Lock-free, like the marks.
 */
void guest_mem_dirty_putback(const struct guest_mem *gm, unsigned int idx, const uint64_t *bitmap);

/*
 * A reset (guest_mem_revert.c): RAM mapped privately from a file reads
 * the file's pages again. all: every page; else only those the dirty log
 * (KVM's and Hearth's marks) has since its last collect, which this one
 * is. *pages: how many went. 0 or -errno (-EOPNOTSUPP: RAM not a private
 * file mapping of 4 KiB pages, or a hotplug region; -EINVAL: not all and
 * tracking off).
 */
int guest_mem_revert(struct guest_mem *gm, int vm_fd, bool all, uint64_t *pages);

/*
 * The dirty log as a component (core/component.h; dirty_state.c), obj the
 * guest_mem. Its record ("DRTY" 1) is whether tracking is on and, if so,
 * per region (then the hotplug region, when there is one) its bitmap's
 * size and the pages dirtied since the last save:
 * saving collects them (KVM's log on slots_fd, OR Hearth's marks), so a
 * save is taken once per snapshot, after every other part's (whose saves
 * may mark pages). restore checks the record against this memory and
 * applies it by marking its pages dirty again (guest_mem_dirty_putback).
 * It is no part of the state file: the memory file is written from it.
 */
extern const struct component_ops guest_mem_dirty_component;
/*
 * Reads such a record: 0, -ENODATA, -EPROTO or -EINVAL (another memory's,
 * tracking that is not gm's). With maps, also hands out each region's
 * bitmap (calloc'ed, the caller frees them; all NULL with tracking off),
 * the hotplug region's at GUEST_MEM_HP_MAP: from a record written before
 * it was logged (no such bitmap), every page of it.
 */
int guest_mem_dirty_parse(const struct guest_mem *gm, const void *in, size_t len,
			  uint64_t *maps[GUEST_MEM_DIRTY_MAPS]);
/*
 * A snapshot that saved the dirty log's record (in, len) and then failed
 * gives its pages back with this: they are dirty again, so the next
 * snapshot's collection takes them with whatever was written since. A
 * record that cannot be read back marks every page: a larger next diff,
 * never one that misses a page.
 */
void guest_mem_dirty_give_back(struct guest_mem *gm, const void *in, size_t len);

/* Highest RAM address + 1 below the hole. */
uint64_t guest_mem_low_end(const struct guest_mem *gm);

/*
 * guest_mem_discard.c: the guest gave up [gpa, gpa+len) (a balloon's
 * inflated, reported or hinted pages). Its host pages go back to the host
 * and it reads as zeros once the guest touches it again, whatever backs
 * the RAM: anonymous (MADV_DONTNEED), a File restore's private mapping of
 * the memory file (a fresh anonymous mapping over it, as MADV_DONTNEED
 * would bring back the file's bytes), a Uffd restore (MADV_DONTNEED, then
 * the zero page put in the hole so no fault reaches the handler), 2 MiB
 * pages (only whole ones inside the range; the rest is left as it is).
 * The range must be 4 KiB aligned and lie inside one region (RAM never
 * spans the MMIO hole), or inside plugged blocks of the hotplug region
 * (guest_mem_hotplug.h): -EINVAL otherwise, with nothing touched. What
 * was given back is marked dirty, so a Diff snapshot records the zeros.
 * On the I/O thread; vCPUs may run (KVM follows through its MMU
 * notifiers). Returns the bytes given back (less than len only for
 * partly covered huge pages), or -errno.
 */
int64_t guest_mem_discard(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

#endif
