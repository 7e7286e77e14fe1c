/*
 * The source's side of RAM in a live migration (docs/migration.md): the
 * layout, a first pass over all of RAM, then passes over what the dirty
 * log says was written since, each page as PAGES (or ZERO when it reads
 * as zeros now). Runs on the migration's own thread while the guest runs;
 * the dirty log (mem/guest_mem.h) catches whatever it writes behind.
 */
#ifndef HEARTH_MIGRATE_SEND_H
#define HEARTH_MIGRATE_SEND_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/guest_mem.h"
#include "util/err.h"

/* What either side reports (GET /migrate), as atomics: any thread reads them. */
struct mig_progress {
	uint64_t bytes;              /* stream bytes sent or received */
	uint64_t pages;              /* pages sent or received (zero ones included) */
	uint64_t pages_left;         /* dirty at the last collection: the next pass's */
	uint64_t iteration;          /* passes done (the first over all of RAM is 1) */
	uint64_t expected_downtime_ms;
	uint64_t bandwidth;          /* bytes per second of the last pass */
	uint64_t first_pass_pages;   /* the first pass's: RAM's non-zero pages when it began */
	uint64_t requested;          /* post-copy: pages the destination asked for (PAGE_REQ) */
};

/* The stream's header and the LAYOUT record of gm (memcore's ELF header, nvcpus notes). */
int mig_send_begin(int fd, const struct guest_mem *gm, unsigned int nvcpus,
		   struct mig_progress *p, struct err *err);
/*
 * One pass. maps NULL: every page of RAM, zero ones skipped (the
 * destination's image starts as zeros); else the pages set in maps[i]
 * (region i's bitmap), zero ones as ZERO records. 0 or -errno with err.
 */
int mig_send_pass(int fd, const struct guest_mem *gm, uint64_t *const *maps,
		  struct mig_progress *p, struct err *err);
/*
 * Region r's pages [from, to) (page numbers within it): all, or those set
 * in map; non-zero runs as PAGES, zero ones as ZERO when map names them
 * (else skipped). 0 or -errno.
 */
int mig_send_range(int fd, const struct guest_region *r, const uint64_t *map, uint64_t from,
		   uint64_t to, struct mig_progress *p);
/*
 * Whether pre-copy stops after a pass: n pages left, which would take
 * expect_ms at the last pass's rate against budget_ms, prev the pages the
 * pass before left (UINT64_MAX after the first). Once the rest fits the
 * budget, it goes on while a pass still halves it, unless it is down to
 * MIG_CONVERGED_PAGES: what is left is sent paused, and the estimate leaves
 * out the switch-over's own costs. (max_iterations is the caller's.)
 */
#define MIG_CONVERGED_PAGES 64
bool mig_precopy_done(uint64_t expect_ms, uint32_t budget_ms, uint64_t n, uint64_t prev);

/*
 * The dirty log since the last collection, region by region into maps
 * (allocated on the first call; mig_maps_free), *n the pages set. 0 or
 * -errno.
 */
int mig_collect(struct guest_mem *gm, int vm_fd, uint64_t **maps, uint64_t *n);
void mig_maps_free(uint64_t **maps);
/* Every page of RAM marked dirty again (a failed migration gives its collections back). */
void mig_mark_all(const struct guest_mem *gm);

#endif
