/*
 * Dirty page tracking for diff snapshots. Two sources, because KVM's
 * dirty log (KVM_MEM_LOG_DIRTY_PAGES) sees only writes by the guest's
 * CPUs: whatever Hearth writes into guest RAM itself (used rings, blk
 * reads landed by io_uring, net/vsock RX, rng, the loader) is marked here
 * by the writer, in a bitmap of our own per region. Collecting ORs the
 * two and clears both, so each diff holds exactly what changed since the
 * previous collection.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "mem/dirty_priv.h"
#include "mem/guest_mem.h"
#include "mem/guest_mem_hotplug.h"

/* Whether idx names a bitmap gm has: a region's, or the hotplug region's. */
static bool map_exists(const struct guest_mem *gm, unsigned int idx)
{
	return idx < gm->nregions || (idx == GUEST_MEM_HP_MAP && gm->hp);
}

size_t guest_mem_dirty_words(const struct guest_mem *gm, unsigned int idx)
{
	uint64_t size;

	if (!map_exists(gm, idx))
		return 0;
	size = idx == GUEST_MEM_HP_MAP ? gm->hp->size : gm->regions[idx].size;
	return (size_t)((((size + GUEST_PAGE_SIZE - 1) >> GUEST_PAGE_SHIFT) + 63) / 64);
}

int guest_mem_dirty_hp_attach(struct guest_mem *gm)
{
	if (!gm->dirty_on || !gm->hp || gm->dirty[GUEST_MEM_HP_MAP])
		return 0;
	gm->dirty[GUEST_MEM_HP_MAP] = calloc(guest_mem_dirty_words(gm, GUEST_MEM_HP_MAP),
					     sizeof(uint64_t));
	return gm->dirty[GUEST_MEM_HP_MAP] ? 0 : -ENOMEM;
}

int guest_mem_dirty_enable(struct guest_mem *gm)
{
	unsigned int i;

	if (!gm->nregions)
		return -EINVAL;
	if (gm->dirty_on)
		return -EBUSY;
	for (i = 0; i < gm->nregions; i++) {
		/* A live start that failed left its maps: taken up again, cleared. */
		if (gm->dirty[i]) {
			memset(gm->dirty[i], 0, guest_mem_dirty_words(gm, i) * sizeof(uint64_t));
			continue;
		}
		gm->dirty[i] = calloc(guest_mem_dirty_words(gm, i), sizeof(uint64_t));
		if (!gm->dirty[i])
			goto err_free;
	}
	/* Release: a device thread that sees it on sees the maps (a live start's). */
	__atomic_store_n(&gm->dirty_on, true, __ATOMIC_RELEASE);
	if (guest_mem_dirty_hp_attach(gm))
		goto err_free;
	return 0;

err_free:
	guest_mem_dirty_release(gm);
	return -ENOMEM;
}

int guest_mem_dirty_start(struct guest_mem *gm, int vm_fd)
{
	int ret;

	if (gm->hp)
		return -EOPNOTSUPP;
	ret = guest_mem_dirty_enable(gm);
	if (ret)
		return ret;
	if (!guest_mem_register(gm, vm_fd))
		return 0;
	ret = -errno;
	/*
	 * Off again, the maps kept (a device thread may be marking in them now;
	 * guest_mem_destroy frees them): tracking that KVM does not do is no
	 * tracking.
	 */
	__atomic_store_n(&gm->dirty_on, false, __ATOMIC_RELEASE);
	return ret;
}

void guest_mem_dirty_release(struct guest_mem *gm)
{
	for (unsigned int i = 0; i < GUEST_MEM_DIRTY_MAPS; i++) {
		free(gm->dirty[i]);
		gm->dirty[i] = NULL;
	}
	gm->dirty_on = false;
}

bool guest_mem_dirty_enabled(const struct guest_mem *gm)
{
	return gm->dirty_on;
}

/* Sets the bits of pages [first, last] of region idx. */
static void mark_pages(const struct guest_mem *gm, unsigned int idx, uint64_t first,
		       uint64_t last)
{
	uint64_t *map = gm->dirty[idx];

	for (uint64_t p = first; p <= last;) {
		uint64_t w = p / 64, bit = p % 64, n = 64 - bit;
		uint64_t mask;

		if (n > last - p + 1)
			n = last - p + 1;
		mask = n == 64 ? ~0ull : ((1ull << n) - 1) << bit;
		__atomic_fetch_or(&map[w], mask, __ATOMIC_RELAXED);
		p += n;
	}
}

/* The part of [gpa, gpa+len) inside [base, base+size) marked in map idx, overflow-safe. */
static void mark_in(const struct guest_mem *gm, unsigned int idx, uint64_t base, uint64_t size,
		    uint64_t gpa, uint64_t len)
{
	uint64_t start, end;

	if (gpa >= base + size || (gpa + len > gpa && gpa + len <= base))
		return;
	start = gpa > base ? gpa - base : 0;
	end = (gpa + len < gpa || gpa + len - base > size) ? size : gpa + len - base;
	if (end > start)
		mark_pages(gm, idx, start >> GUEST_PAGE_SHIFT, (end - 1) >> GUEST_PAGE_SHIFT);
}

void guest_mem_dirty_mark(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (!__atomic_load_n(&gm->dirty_on, __ATOMIC_RELAXED) || !len)
		return;
	for (unsigned int i = 0; i < gm->nregions; i++)
		mark_in(gm, i, gm->regions[i].gpa, gm->regions[i].size, gpa, len);
	if (gm->hp && gm->dirty[GUEST_MEM_HP_MAP])
		mark_in(gm, GUEST_MEM_HP_MAP, gm->hp->gpa, gm->hp->size, gpa, len);
}

void guest_mem_dirty_mark_hva(const struct guest_mem *gm, const void *hva, uint64_t len)
{
	uintptr_t p = (uintptr_t)hva;

	if (!__atomic_load_n(&gm->dirty_on, __ATOMIC_RELAXED) || !len)
		return;
	for (unsigned int i = 0; i < gm->nregions; i++) {
		const struct guest_region *r = &gm->regions[i];
		uintptr_t base = (uintptr_t)r->hva;

		if (r->hva && p >= base && p - base < r->size) {
			uint64_t off = p - base;
			uint64_t n = len < r->size - off ? len : r->size - off;

			guest_mem_dirty_mark(gm, r->gpa + off, n);
			return;
		}
	}
	if (gm->hp && p >= (uintptr_t)gm->hp->hva && p - (uintptr_t)gm->hp->hva < gm->hp->size) {
		uint64_t off = p - (uintptr_t)gm->hp->hva;

		guest_mem_dirty_mark(gm, gm->hp->gpa + off,
				     len < gm->hp->size - off ? len : gm->hp->size - off);
	}
}

/*
 * KVM's log of each hotplug slot that is a memslot now, into its place in
 * bitmap. KVM fills whole 64-page words per slot, so a slot must be a
 * multiple of 256 KiB to land at its place: Firecracker's bounds (2 MiB
 * blocks at least) make every slot one; guest_mem_hotplug_init alone
 * does not promise it.
 */
static int collect_hp_slots(struct guest_mem *gm, int vm_fd, uint64_t *bitmap)
{
	const struct guest_hotplug *hp = gm->hp;
	uint64_t slot_pages = hp->slot_size >> GUEST_PAGE_SHIFT;

	if (slot_pages % 64)
		return -EINVAL;
	for (unsigned int s = 0; s < hp->nslots; s++) {
		struct kvm_dirty_log log = { .slot = hp->slot_base + s,
					     .dirty_bitmap = bitmap + s * (slot_pages / 64) };

		if (__atomic_load_n(&hp->slot_plugged[s], __ATOMIC_RELAXED) &&
		    ioctl(vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			return -errno;
	}
	return 0;
}

int guest_mem_dirty_collect(struct guest_mem *gm, int vm_fd, unsigned int idx, uint64_t *bitmap)
{
	size_t words = guest_mem_dirty_words(gm, idx);

	if (!gm->dirty_on || !map_exists(gm, idx) || !gm->dirty[idx])
		return -EINVAL;
	memset(bitmap, 0, words * sizeof(uint64_t));
	if (vm_fd >= 0 && idx == GUEST_MEM_HP_MAP) {
		int ret = collect_hp_slots(gm, vm_fd, bitmap);

		if (ret)
			return ret;
	} else if (vm_fd >= 0) {
		/*
		 * Without KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 (we never enable it)
		 * the get also clears KVM's log and write-protects the pages
		 * again: the next call sees only newer writes. KVM fills
		 * ALIGN(pages, 64) bits, which is exactly our word count.
		 */
		struct kvm_dirty_log log = { .slot = idx, .dirty_bitmap = bitmap };

		if (ioctl(vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			return -errno;
	}
	/*
	 * Exchange, not read-then-clear: a device marking between the two
	 * would be lost. A mark that lands after our exchange goes into the
	 * next collection, as the write it stands for happened after ours.
	 */
	for (size_t w = 0; w < words; w++)
		bitmap[w] |= __atomic_exchange_n(&gm->dirty[idx][w], 0, __ATOMIC_ACQ_REL);
	return 0;
}

void guest_mem_dirty_putback(const struct guest_mem *gm, unsigned int idx, const uint64_t *bitmap)
{
	size_t words = guest_mem_dirty_words(gm, idx);

	if (!gm->dirty_on || !map_exists(gm, idx) || !gm->dirty[idx])
		return;
	for (size_t w = 0; w < words; w++)
		if (bitmap[w])
			__atomic_fetch_or(&gm->dirty[idx][w], bitmap[w], __ATOMIC_RELAXED);
}
