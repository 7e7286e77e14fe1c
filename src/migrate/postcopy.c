/* Post-copy's pages, both sides (postcopy.h). */
#include "migrate/postcopy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mem/guest_mem_uffd.h"
#include "migrate/wire.h"

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint64_t words_of(uint64_t size)
{
	return (size / MIG_PAGE + 63) / 64;
}

static bool bit(const uint64_t *map, uint64_t pg)
{
	return map[pg / 64] >> (pg % 64) & 1;
}

static void clear(uint64_t *map, uint64_t pg)
{
	map[pg / 64] &= ~(1ull << (pg % 64));
}

/* The stale first-pass copies of the pages to come dropped, run by run: they fault from now. */
static int drop(const struct guest_region *g, const uint64_t *map)
{
	uint64_t npages = g->size / MIG_PAGE, start = 0;
	bool in = false;

	for (uint64_t pg = 0; pg <= npages; pg++) {
		bool set = pg < npages && bit(map, pg);

		if (set && !in)
			start = pg;
		if (!set && in &&
		    madvise(g->hva + start * MIG_PAGE, (pg - start) * MIG_PAGE, MADV_DONTNEED) < 0)
			return -errno;
		in = set;
	}
	return 0;
}

void mig_postcopy_release(struct mig_postcopy *pc)
{
	for (unsigned int i = 0; i < MEMFILE_MAX_REGIONS; i++) {
		free(pc->maps[i]);
		free(pc->asked[i]);
		pc->maps[i] = pc->asked[i] = NULL;
	}
}

int mig_postcopy_begin(struct mig_postcopy *pc, const struct guest_mem *gm, uint64_t len,
		       const uint8_t *data, struct err *err)
{
	uint64_t want = 0, off = 0;
	int ret;

	if (pc->uffd < 0)
		return err_set(err, true, -EOPNOTSUPP, "record POSTCOPY: this destination cannot "
			       "take post-copy: %s", pc->uffd_why ? pc->uffd_why : "no userfaultfd");
	for (unsigned int i = 0; i < gm->nregions; i++)
		want += words_of(gm->regions[i].size) * 8;
	if (len != want)
		return err_set(err, true, -EPROTO, "record POSTCOPY of %llu bytes: RAM's bitmaps "
			       "are %llu", (unsigned long long)len, (unsigned long long)want);
	for (unsigned int i = 0; i < gm->nregions; i++) {
		uint64_t w = words_of(gm->regions[i].size), npages = gm->regions[i].size / MIG_PAGE;

		pc->maps[i] = calloc(w ? w : 1, sizeof(uint64_t));
		if (!pc->maps[i])
			return err_set(err, false, -ENOMEM, "out of memory for post-copy's bitmap");
		for (uint64_t k = 0; k < w; k++, off += 8)
			pc->maps[i][k] = get64(data + off);
		/* Bits past the region's end name no page: dropped, never waited for. */
		if (npages % 64)
			pc->maps[i][w - 1] &= (1ull << (npages % 64)) - 1;
		for (uint64_t k = 0; k < w; k++)
			pc->left += (uint64_t)__builtin_popcountll(pc->maps[i][k]);
	}
	/*
	 * Armed first, then the stale copies dropped: a dropped page is
	 * missing from then on, so nothing (khugepaged filling a huge page,
	 * say) can put zeros where a page is still to come.
	 */
	ret = guest_mem_uffd_arm(gm, pc->uffd);
	if (ret)
		return err_set(err, false, ret, "post-copy: arming the userfaultfd on RAM: %s",
			       strerror(-ret));
	pc->on = true;
	for (unsigned int i = 0; i < gm->nregions; i++) {
		ret = drop(&gm->regions[i], pc->maps[i]);
		if (ret)
			return err_set(err, false, ret, "post-copy: dropping stale pages: %s",
				       strerror(-ret));
	}
	return 0;
}

/* The region holding [gpa, gpa + n pages), and the first page's number in it; NULL: none. */
static const struct guest_region *region_of(const struct guest_mem *gm, uint64_t gpa,
					    uint64_t n, unsigned int *idx, uint64_t *pg)
{
	for (unsigned int i = 0; i < gm->nregions; i++) {
		const struct guest_region *g = &gm->regions[i];

		if (gpa >= g->gpa && gpa - g->gpa < g->size && n <= g->size / MIG_PAGE &&
		    n * MIG_PAGE <= g->size - (gpa - g->gpa)) {
			*idx = i;
			*pg = (gpa - g->gpa) / MIG_PAGE;
			return g;
		}
	}
	return NULL;
}

int mig_postcopy_place(struct mig_postcopy *pc, struct guest_mem *gm, uint64_t gpa,
		       uint64_t n, const uint8_t *pages, uint64_t *counted, struct err *err)
{
	unsigned int i;
	uint64_t pg;
	const struct guest_region *g = region_of(gm, gpa, n, &i, &pg);

	if (!g || gpa % MIG_PAGE)
		return err_set(err, true, -EPROTO, "post-copy: %llu pages at GPA 0x%llx are not "
			       "the VM's RAM", (unsigned long long)n, (unsigned long long)gpa);
	for (uint64_t k = 0; k < n; k++) {
		uint8_t *hva = g->hva + (pg + k) * MIG_PAGE;
		int ret;

		/* Not to come (in already, or never named): another copy, skipped. */
		if (!bit(pc->maps[i], pg + k))
			continue;
		ret = pages ? guest_mem_uffd_place(pc->uffd, hva, pages + k * MIG_PAGE, MIG_PAGE)
			    : guest_mem_uffd_zero(pc->uffd, hva, MIG_PAGE);
		/* -EEXIST too: a page still to come was filled by someone else, not with its bytes. */
		if (ret)
			return err_set(err, false, ret, "post-copy: placing GPA 0x%llx: %s",
				       (unsigned long long)(gpa + k * MIG_PAGE), strerror(-ret));
		clear(pc->maps[i], pg + k);
		pc->left--;
		/* In the dirty log, as any page the stream writes: a later Diff snapshot has it. */
		guest_mem_dirty_mark(gm, gpa + k * MIG_PAGE, MIG_PAGE);
		(*counted)++;
	}
	return 0;
}

int mig_postcopy_fault(struct mig_postcopy *pc, const struct guest_mem *gm, uint64_t addr,
		       uint64_t *gpa)
{
	for (unsigned int i = 0; i < gm->nregions; i++) {
		const struct guest_region *g = &gm->regions[i];
		uint64_t base = (uint64_t)(uintptr_t)g->hva, pg;
		int ret;

		if (addr < base || addr - base >= g->size)
			continue;
		pg = (addr - base) / MIG_PAGE;
		if (bit(pc->maps[i], pg)) {
			/* Asked for once: the bit's own high half would do, but a second map is plainer. */
			if (pc->asked[i] && bit(pc->asked[i], pg))
				return 2;
			if (!pc->asked[i]) {
				pc->asked[i] = calloc(words_of(g->size) ? words_of(g->size) : 1,
							 sizeof(uint64_t));
				if (!pc->asked[i])
					return -ENOMEM;
			}
			pc->asked[i][pg / 64] |= 1ull << (pg % 64);
			*gpa = g->gpa + pg * MIG_PAGE;
			return 1;
		}
		/* Missing and not to come: zero at the first pass, and never written since. */
		ret = guest_mem_uffd_zero(pc->uffd, g->hva + pg * MIG_PAGE, MIG_PAGE);
		return ret == -EEXIST ? 0 : ret;
	}
	return -EFAULT;
}

int mig_postcopy_send_map(int fd, const struct guest_mem *gm, uint64_t *const *maps, uint64_t *left,
		    struct mig_progress *p, struct err *err)
{
	struct iovec v[GUEST_MEM_DIRTY_MAPS];
	uint64_t len = 0;
	int ret;

	*left = 0;
	for (unsigned int i = 0; i < gm->nregions; i++) {
		uint64_t w = words_of(gm->regions[i].size);

		v[i] = (struct iovec){ maps[i], (size_t)(w * 8) };
		len += w * 8;
		for (uint64_t k = 0; k < w; k++)
			*left += (uint64_t)__builtin_popcountll(maps[i][k]);
	}
	ret = mig_wire_send(fd, MIG_POSTCOPY, v, gm->nregions, len);
	if (ret)
		return err_set(err, false, ret, "sending POSTCOPY: %s", strerror(-ret));
	__atomic_fetch_add(&p->bytes, MIG_REC_SIZE + len, __ATOMIC_RELAXED);
	return 0;
}

int mig_postcopy_answer(int fd, const struct guest_mem *gm, uint64_t **maps, const uint8_t *req,
		  uint64_t *left, struct mig_progress *p, struct err *err)
{
	uint64_t gpa = get64(req), pg;
	unsigned int i;
	const struct guest_region *g = region_of(gm, gpa, 1, &i, &pg);
	int ret;

	if (!g || gpa % MIG_PAGE)
		return err_set(err, true, -EPROTO, "the destination asked for GPA 0x%llx, not a "
			       "page of RAM", (unsigned long long)gpa);
	/* Sent already (pushed, or asked for twice): it is on its way. */
	if (!bit(maps[i], pg))
		return 0;
	ret = mig_send_range(fd, g, maps[i], pg, pg + 1, p);
	if (ret)
		return err_set(err, false, ret, "sending a page asked for: %s", strerror(-ret));
	clear(maps[i], pg);
	(*left)--;
	__atomic_fetch_add(&p->requested, 1, __ATOMIC_RELAXED);
	return 0;
}

int mig_postcopy_push(int fd, const struct guest_mem *gm, uint64_t **maps, uint64_t *cursor,
		uint64_t *left, struct mig_progress *p, struct err *err)
{
	uint64_t first = 0;

	for (unsigned int i = 0; i < gm->nregions && *left; i++) {
		const struct guest_region *g = &gm->regions[i];
		uint64_t npages = g->size / MIG_PAGE, pg, end, w;

		if (*cursor >= first + npages) {
			first += npages;
			continue;
		}
		pg = *cursor > first ? *cursor - first : 0;
		/* The next page still to come, a word at a time. */
		while (pg < npages) {
			w = maps[i][pg / 64] >> (pg % 64);
			if (w) {
				pg += (uint64_t)__builtin_ctzll(w);
				break;
			}
			pg = (pg / 64 + 1) * 64;
		}
		if (pg >= npages) {
			first += npages;
			*cursor = first;
			continue;
		}
		end = pg + MIG_PAGES_MAX - 1 < npages ? pg + MIG_PAGES_MAX - 1 : npages;
		int ret = mig_send_range(fd, g, maps[i], pg, end, p);

		if (ret)
			return err_set(err, false, ret, "sending RAM: %s", strerror(-ret));
		for (uint64_t k = pg; k < end; k++)
			if (bit(maps[i], k)) {
				clear(maps[i], k);
				(*left)--;
			}
		*cursor = first + end;
		return 0;
	}
	/* Past the end with pages counted: from the start once more, then none is left. */
	if (*left && *cursor)
		*cursor = 0;
	else
		*left = 0;
	return 0;
}
