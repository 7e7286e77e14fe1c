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

static uint64_t region_pages(const struct guest_region *r)
{
	return (r->size + GUEST_PAGE_SIZE - 1) >> GUEST_PAGE_SHIFT;
}

size_t guest_mem_dirty_words(const struct guest_mem *gm, unsigned int idx)
{
	if (idx >= gm->nregions)
		return 0;
	return (size_t)((region_pages(&gm->regions[idx]) + 63) / 64);
}

int guest_mem_dirty_enable(struct guest_mem *gm)
{
	unsigned int i;

	if (!gm->nregions)
		return -EINVAL;
	if (gm->dirty_on)
		return -EBUSY;
	for (i = 0; i < gm->nregions; i++) {
		gm->dirty[i] = calloc(guest_mem_dirty_words(gm, i), sizeof(uint64_t));
		if (!gm->dirty[i])
			goto err_free;
	}
	gm->dirty_on = true;
	return 0;

err_free:
	guest_mem_dirty_release(gm);
	return -ENOMEM;
}

void guest_mem_dirty_release(struct guest_mem *gm)
{
	for (unsigned int i = 0; i < GUEST_MEM_MAX_REGIONS; i++) {
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

void guest_mem_dirty_mark(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (!__atomic_load_n(&gm->dirty_on, __ATOMIC_RELAXED) || !len)
		return;
	for (unsigned int i = 0; i < gm->nregions; i++) {
		const struct guest_region *r = &gm->regions[i];
		uint64_t start, end;

		/* The part of [gpa, gpa+len) inside the region, overflow-safe. */
		if (gpa >= r->gpa + r->size || (gpa + len > gpa && gpa + len <= r->gpa))
			continue;
		start = gpa > r->gpa ? gpa - r->gpa : 0;
		end = (gpa + len < gpa || gpa + len - r->gpa > r->size) ? r->size
									: gpa + len - r->gpa;
		if (end > start)
			mark_pages(gm, i, start >> GUEST_PAGE_SHIFT, (end - 1) >> GUEST_PAGE_SHIFT);
	}
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
}

int guest_mem_dirty_collect(struct guest_mem *gm, int vm_fd, unsigned int idx, uint64_t *bitmap)
{
	size_t words = guest_mem_dirty_words(gm, idx);

	if (!gm->dirty_on || idx >= gm->nregions)
		return -EINVAL;
	memset(bitmap, 0, words * sizeof(uint64_t));
	if (vm_fd >= 0) {
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

	if (!gm->dirty_on || idx >= gm->nregions)
		return;
	for (size_t w = 0; w < words; w++)
		if (bitmap[w])
			__atomic_fetch_or(&gm->dirty[idx][w], bitmap[w], __ATOMIC_RELAXED);
}
