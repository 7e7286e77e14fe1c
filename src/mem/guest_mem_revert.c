/*
 * RAM mapped privately from a file (a restore's memory file, a fork's
 * memfd) put back to that file's pages: a reset. The pages the guest or
 * Hearth wrote are private copies; MADV_DONTNEED drops them, and the next
 * access reads the file's page again (KVM's mappings of them go with the
 * host's, through its MMU notifier). With the dirty log only the pages
 * written since the last collect are touched, so a reset costs what the
 * clone wrote, not its size.
 */
#include "mem/guest_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

static int drop(uint8_t *hva, uint64_t first, uint64_t n)
{
	if (madvise(hva + first * GUEST_PAGE_SIZE, n * GUEST_PAGE_SIZE, MADV_DONTNEED) < 0)
		return -errno;
	return 0;
}

/* Region idx's pages in bitmap, in runs of set bits. */
static int drop_marked(const struct guest_region *r, const uint64_t *bitmap, size_t words,
		       uint64_t *pages)
{
	uint64_t npages = r->size / GUEST_PAGE_SIZE, run = 0, start = 0;
	int ret;

	for (uint64_t pg = 0; pg <= npages; pg++) {
		bool set = pg < npages && pg / 64 < words && (bitmap[pg / 64] >> (pg % 64)) & 1;

		if (set && !run)
			start = pg;
		if (set) {
			run++;
			continue;
		}
		if (run) {
			ret = drop(r->hva, start, run);
			if (ret)
				return ret;
			*pages += run;
			run = 0;
		}
	}
	return 0;
}

int guest_mem_revert(struct guest_mem *gm, int vm_fd, bool all, uint64_t *pages)
{
	int ret = 0;

	*pages = 0;
	if (!gm->file_held || gm->shared || gm->huge || gm->uffd_held || gm->hp)
		return -EOPNOTSUPP;
	if (!all && !gm->dirty_on)
		return -EINVAL;
	for (unsigned int i = 0; !ret && i < gm->nregions; i++) {
		const struct guest_region *r = &gm->regions[i];
		size_t words = gm->dirty_on ? guest_mem_dirty_words(gm, i) : 0;
		uint64_t *map = NULL;

		/* Collected even for a whole drop: the log starts again from the base. */
		if (gm->dirty_on) {
			map = calloc(words ? words : 1, sizeof(*map));
			if (!map)
				return -ENOMEM;
			ret = guest_mem_dirty_collect(gm, vm_fd, i, map);
		}
		if (!ret && all) {
			ret = drop(r->hva, 0, r->size / GUEST_PAGE_SIZE);
			*pages += r->size / GUEST_PAGE_SIZE;
		} else if (!ret) {
			ret = drop_marked(r, map, words, pages);
		}
		free(map);
	}
	return ret;
}
