/*
 * What the guest hands over (virtio/balloon.h): pages to inflate by
 * their numbers, pages it takes back, and ranges of free memory it
 * reports or hints. Every number and range is copied out of guest RAM
 * once, then checked against the RAM's regions: nothing outside them
 * (the MMIO hole, past the end) is ever given back, and a page number the
 * guest repeats is counted once. A reported or hinted range may also lie
 * in the hotplug region's plugged memory (virtio-mem), which goes back
 * as RAM does. The map has a bit for each page of RAM, then one for each
 * page of the hotplug region: a page is inflated there only while its
 * block is plugged, and taken back wherever it lies in the region (a
 * block unplugged meanwhile still had its page counted).
 */
#include "virtio/balloon/priv.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/guest_mem_hotplug.h"
#include "util/log.h"

#define PAGE (1ull << BALLOON_PFN_SHIFT)

/*
 * Page pfn's bit in the map, and *end, the first page past the span it
 * lies in (its RAM region, or its hotplug block): a run given back never
 * crosses one. A page in the hotplug region counts only while its block
 * is plugged, unless any_block. -1 when the page is not the guest's.
 */
static int64_t page_span(const struct balloon *b, uint64_t pfn, bool any_block, uint64_t *end)
{
	const struct guest_mem *gm = b->dev.mem;
	const struct guest_hotplug *hp = gm->hp;
	uint64_t gpa, first = 0, off;

	if (pfn > (UINT64_MAX >> BALLOON_PFN_SHIFT))
		return -1;
	gpa = pfn << BALLOON_PFN_SHIFT;
	for (unsigned int i = 0; i < gm->nregions; i++) {
		const struct guest_region *r = &gm->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size && r->size - (gpa - r->gpa) >= PAGE) {
			*end = (r->gpa + r->size) >> BALLOON_PFN_SHIFT;
			return (int64_t)(first + ((gpa - r->gpa) >> BALLOON_PFN_SHIFT));
		}
		first += r->size >> BALLOON_PFN_SHIFT;
	}
	/* The map's hotplug part exists only when the region did at creation. */
	if (!hp || b->map_pages == b->ram_pages || gpa < hp->gpa || gpa - hp->gpa >= hp->size)
		return -1;
	off = gpa - hp->gpa;
	if (!any_block && !guest_mem_hotplug_plugged(hp, off))
		return -1;
	*end = (hp->gpa + (off / hp->block_size + 1) * hp->block_size) >> BALLOON_PFN_SHIFT;
	return (int64_t)(b->ram_pages + (off >> BALLOON_PFN_SHIFT));
}

int64_t balloon_page_bit(const struct balloon *b, uint64_t pfn, bool any_block)
{
	uint64_t end;

	return page_span(b, pfn, any_block, &end);
}

static bool map_test_set(uint64_t *map, uint64_t bit)
{
	uint64_t m = 1ull << (bit % 64), old = map[bit / 64];

	map[bit / 64] = old | m;
	return old & m;
}

static bool map_test_clear(uint64_t *map, uint64_t bit)
{
	uint64_t m = 1ull << (bit % 64), old = map[bit / 64];

	map[bit / 64] = old & ~m;
	return old & m;
}

/*
 * Gives back the whole pages of [gpa, gpa+len): a range the guest names
 * need not be page-aligned, and the pages it only partly covers hold
 * other data, so they stay. The bytes given back, or -errno (counted).
 */
static int64_t give_back(struct balloon *b, uint64_t gpa, uint64_t len)
{
	uint64_t start = (gpa + PAGE - 1) & ~(PAGE - 1), end = (gpa + len) & ~(PAGE - 1);
	int64_t n;

	if (end <= start)
		return 0;
	n = guest_mem_discard(b->dev.mem, start, end - start);
	if (n < 0) {
		b->c[BC_DISCARD_FAILS]++;
		log_ratelimited(&balloon_rl, LOG_WARN,
				"virtio-balloon: cannot give back 0x%llx+0x%llx: %s",
				(unsigned long long)start, (unsigned long long)(end - start),
				strerror((int)-n));
		return n;
	}
	b->c[BC_DISCARD_BYTES] += (uint64_t)n;
	b->c[BC_DISCARD_KEPT] += end - start - (uint64_t)n;
	return n;
}

/*
 * The page numbers in b->chain's device-readable part, into b->pfns: how
 * many, or -1 for a buffer that is no whole number of them, holds more
 * than BALLOON_BUF_PFNS or is only device-writable; Firecracker
 * acknowledges those unread, and so do we.
 */
static int read_pfns(struct balloon *b)
{
	const struct virtq_chain *c = &b->chain;
	size_t n;

	if (c->out_len % sizeof(uint32_t) || c->out_len > sizeof(b->pfns) || !c->n_out)
		return -1;
	n = virtq_iov_to_buf(c->iov, c->n_out, 0, b->pfns, c->out_len) / sizeof(uint32_t);
	for (size_t i = 0; i < n; i++)
		b->pfns[i] = le32toh(b->pfns[i]);
	return (int)n;
}

/*
 * An insertion sort of at most BALLOON_BUF_PFNS numbers: glibc's qsort
 * asks the kernel for the machine's memory (sysinfo) before it sorts,
 * which the io thread's seccomp filter does not allow (seen in the lab).
 */
static void sort_u32(uint32_t *v, unsigned int n)
{
	for (unsigned int i = 1; i < n; i++) {
		uint32_t x = v[i];
		unsigned int j = i;

		for (; j && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* Pages [first, first+n) of one span go into the balloon, then back to the host. */
static void inflate_run(struct balloon *b, uint64_t first, uint64_t n)
{
	int64_t bit = balloon_page_bit(b, first, false);

	for (uint64_t i = 0; i < n; i++) {
		if (!map_test_set(b->map, (uint64_t)bit + i)) {
			b->inflated++;
			b->c[BC_INFLATE_PAGES]++;
		} else {
			b->c[BC_PFN_REPEATED]++;
		}
	}
	/*
	 * A page inflated before goes back again all the same: a guest
	 * that wrote to it meanwhile broke the protocol, and the host gets
	 * the page back either way.
	 */
	give_back(b, first << BALLOON_PFN_SHIFT, n << BALLOON_PFN_SHIFT);
}

enum balloon_chain balloon_inflate_chain(struct balloon *b, uint64_t *cost)
{
	int n = read_pfns(b);
	unsigned int k = 0;

	b->c[BC_INFLATE_COUNT]++;
	if (n < 0) {
		b->c[BC_BUFFERS_SKIPPED]++;
		return BALLOON_CHAIN_DONE;
	}
	*cost += (unsigned int)n;
	for (int i = 0; i < n; i++) {
		if (balloon_page_bit(b, b->pfns[i], false) < 0) {
			b->c[BC_PFN_INVALID]++;
			continue;
		}
		b->pfns[k++] = b->pfns[i];
	}
	/* Sorted, neighbours the guest listed in any order go back as one range. */
	sort_u32(b->pfns, k);
	for (unsigned int i = 0; i < k;) {
		uint64_t first = b->pfns[i], last = first, end = 0;

		/* The run stops at its span's end: a range is given back within one. */
		page_span(b, first, false, &end);
		for (i++; i < k && b->pfns[i] <= last + 1 && b->pfns[i] < end; i++) {
			if (b->pfns[i] == last)
				b->c[BC_PFN_REPEATED]++;
			last = b->pfns[i];
		}
		inflate_run(b, first, last - first + 1);
	}
	return BALLOON_CHAIN_DONE;
}

/*
 * The guest takes pages back. There is nothing to map: the page faults
 * in afresh, zero, when the guest touches it (Firecracker only
 * acknowledges the buffer); only the map and the count change.
 */
enum balloon_chain balloon_deflate_chain(struct balloon *b, uint64_t *cost)
{
	int n = read_pfns(b);

	b->c[BC_DEFLATE_COUNT]++;
	if (n < 0) {
		b->c[BC_BUFFERS_SKIPPED]++;
		return BALLOON_CHAIN_DONE;
	}
	*cost += (unsigned int)n;
	for (int i = 0; i < n; i++) {
		int64_t bit = balloon_page_bit(b, b->pfns[i], true);

		if (bit < 0) {
			b->c[BC_PFN_INVALID]++;
			continue;
		}
		if (map_test_clear(b->map, (uint64_t)bit)) {
			b->inflated--;
			b->c[BC_DEFLATE_PAGES]++;
		}
	}
	return BALLOON_CHAIN_DONE;
}

/*
 * The guest-physical address of a segment virtq_pop resolved: inside one
 * RAM region, or inside the hotplug region's plugged memory (which
 * guest_mem_discard checks again, block by block).
 */
static bool iov_gpa(const struct balloon *b, const struct iovec *v, uint64_t *gpa)
{
	const struct guest_mem *gm = b->dev.mem;
	uintptr_t p = (uintptr_t)v->iov_base, lo;

	for (unsigned int i = 0; i < gm->nregions; i++) {
		const struct guest_region *r = &gm->regions[i];

		lo = (uintptr_t)r->hva;
		if (r->hva && p >= lo && p - lo <= r->size && v->iov_len <= r->size - (p - lo)) {
			*gpa = r->gpa + (p - lo);
			return true;
		}
	}
	lo = gm->hp ? (uintptr_t)gm->hp->hva : 0;
	if (lo && p >= lo && p - lo <= gm->hp->size && v->iov_len <= gm->hp->size - (p - lo)) {
		*gpa = gm->hp->gpa + (p - lo);
		return true;
	}
	return false;
}

/*
 * One free range of a reporting or hinting chain: given back within the
 * chain's byte budget. 0 when it went (or had no whole page), -1 when it
 * did not.
 */
static int give_back_range(struct balloon *b, const struct iovec *v, uint64_t *left,
			   uint64_t *freed, uint64_t *cost)
{
	uint64_t gpa;
	int64_t n;

	if (!iov_gpa(b, v, &gpa) || v->iov_len > *left)
		return -1;
	*left -= v->iov_len;
	*cost += v->iov_len >> BALLOON_PFN_SHIFT;
	n = give_back(b, gpa, v->iov_len);
	if (n < 0)
		return -1;
	*freed += (uint64_t)n;
	return 0;
}

/* Free page reporting (5.5.6.6): each segment is a free range; the chain comes back empty. */
enum balloon_chain balloon_report_chain(struct balloon *b, uint64_t *cost)
{
	const struct virtq_chain *c = &b->chain;
	uint64_t left = BALLOON_CHAIN_BYTES;

	for (unsigned int i = 0; i < c->n_out + c->n_in; i++) {
		b->c[BC_REPORT_COUNT]++;
		*cost += 1;
		if (give_back_range(b, &c->iov[i], &left, &b->c[BC_REPORT_FREED], cost))
			b->c[BC_REPORT_FAILS]++;
	}
	return BALLOON_CHAIN_DONE;
}

/*
 * Free page hinting (5.5.6.7), as Firecracker reads it: a segment of 4
 * bytes, whichever its direction, is the driver's command id (a run's id
 * it answers, STOP when it has no more, DONE taken as STOP); any other is
 * a free range of the run the last id named, given back only while the
 * host's run is that one. Once the host said DONE (or before it started
 * any), the guest may use those pages again: they are left alone.
 */
enum balloon_chain balloon_hint_chain(struct balloon *b, uint64_t *cost)
{
	const struct virtq_chain *c = &b->chain;
	uint64_t left = BALLOON_CHAIN_BYTES;

	for (unsigned int i = 0; i < c->n_out + c->n_in; i++) {
		const struct iovec *v = &c->iov[i];
		uint32_t cmd;

		*cost += 1;
		if (v->iov_len == sizeof(cmd)) {
			virtq_iov_to_buf(v, 1, 0, &cmd, sizeof(cmd));
			cmd = le32toh(cmd);
			b->guest_cmd = cmd;
			b->guest_cmd_present = true;
			b->hint_stop_seen = cmd == VIRTIO_BALLOON_CMD_ID_STOP ||
					    cmd == VIRTIO_BALLOON_CMD_ID_DONE;
			continue;
		}
		if (b->host_cmd == VIRTIO_BALLOON_CMD_ID_STOP ||
		    b->host_cmd == VIRTIO_BALLOON_CMD_ID_DONE || !b->guest_cmd_present ||
		    b->guest_cmd != b->host_cmd)
			continue;
		b->c[BC_HINT_COUNT]++;
		if (give_back_range(b, v, &left, &b->c[BC_HINT_FREED], cost))
			b->c[BC_HINT_FAILS]++;
	}
	return BALLOON_CHAIN_DONE;
}
