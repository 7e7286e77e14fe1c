/*
 * Post-copy (docs/migration.md "Post-copy"): the switch-over after one
 * pass, the pages written since then fetched by the destination as its
 * guest touches them, while the source pushes the rest.
 *
 * Source: POSTCOPY names the pages still to come (the dirty log at the
 * switch-over); after it, every PAGE_REQ is answered at once and, once
 * the VM runs there, the rest is pushed in GPA order; PC_END when none is
 * left; PC_DONE from the destination ends it.
 *
 * Destination: POSTCOPY drops the stale copies of those pages (the first
 * pass's) and arms the userfaultfd on RAM. From then on a fault on a page
 * still to come is asked for (PAGE_REQ, once), a fault on any other
 * missing page is a page that was zero at the first pass and stayed so
 * (it is filled with zeros), and PAGES and ZERO fill the pages still to
 * come through the userfaultfd (waking whoever waits), never memcpy.
 * Nothing here blocks on a page of the guest's.
 */
#ifndef HEARTH_MIGRATE_POSTCOPY_H
#define HEARTH_MIGRATE_POSTCOPY_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/guest_mem.h"
#include "migrate/send.h"
#include "migrate/stream.h"
#include "util/err.h"

/* Destination, from mig_image_take: POSTCOPY taken (data: r->len bytes), the fd armed. */
int mig_pc_begin(struct mig_image *im, const struct mig_rec *r, const uint8_t *data,
		 struct err *err);
/*
 * Destination: n pages at gpa (inside RAM, checked) from pages, or zeros
 * (pages NULL): the ones still to come placed, the rest skipped. 0 or
 * -errno with err.
 */
int mig_pc_place(struct mig_image *im, uint64_t gpa, uint64_t n, const uint8_t *pages,
		 struct err *err);
/*
 * Destination: a fault at host address addr. 0: served (a zero page); 1:
 * a page still to come, first asked for now (its GPA in *gpa, for a
 * PAGE_REQ); 2: asked for already. -EFAULT outside RAM, or -errno.
 */
int mig_pc_fault(struct mig_image *im, uint64_t addr, uint64_t *gpa);

/* Source: the POSTCOPY record of maps (a bitmap per region of gm); *left its pages. */
int mig_pc_send_map(int fd, const struct guest_mem *gm, uint64_t *const *maps, uint64_t *left,
		    struct mig_progress *p, struct err *err);
/*
 * Source: a PAGE_REQ's payload (8 bytes) answered: the page, if still to
 * come, sent and taken out of maps (*left less one). -EPROTO with err for
 * a GPA outside RAM.
 */
int mig_pc_answer(int fd, const struct guest_mem *gm, uint64_t **maps, const uint8_t *req,
		  uint64_t *left, struct mig_progress *p, struct err *err);
/*
 * Source: the next pages still to come after *cursor (a page number over
 * all regions, from 0), at most MIG_PAGES_MAX, sent and taken out of maps.
 * 0 or -errno with err.
 */
int mig_pc_push(int fd, const struct guest_mem *gm, uint64_t **maps, uint64_t *cursor,
		uint64_t *left, struct mig_progress *p, struct err *err);

#endif
