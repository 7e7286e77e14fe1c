/*
 * Post-copy (docs/migration.md "Post-copy"): the switch-over after one
 * pass, the pages written since then fetched by the destination as its
 * guest touches them, while the source pushes the rest.
 *
 * Source: POSTCOPY names the pages still to come (the dirty log at the
 * switch-over); after it, every PAGE_REQ is answered at once and, once
 * the VM runs there, the rest is pushed in GPA order; POSTCOPY_END when none is
 * left; POSTCOPY_DONE from the destination ends it.
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
#include "migrate/codec.h"
#include "snapshot/memfile_layout.h"
#include "util/err.h"

/*
 * The destination's post-copy, inside its image (image.h): the
 * userfaultfd, made before the stream (-1: none, uffd_why says why),
 * armed on RAM by POSTCOPY; the pages still to come (a bitmap per
 * region) and how many; those asked for already (PAGE_REQ); on: POSTCOPY
 * was taken; ended: POSTCOPY_END came.
 */
struct mig_postcopy {
	int uffd;
	const char *uffd_why;
	bool on, ended;
	uint64_t *maps[MEMFILE_MAX_REGIONS];
	uint64_t *asked[MEMFILE_MAX_REGIONS];
	uint64_t left;
};

/* Its bitmaps freed (the fd is the caller's). */
void mig_postcopy_release(struct mig_postcopy *pc);
/* Destination: POSTCOPY's len bytes taken, gm's RAM armed on pc->uffd. 0 or -errno with err. */
int mig_postcopy_begin(struct mig_postcopy *pc, const struct guest_mem *gm, uint64_t len,
		       const uint8_t *data, struct err *err);
/*
 * Destination: n pages at gpa (inside RAM, checked) from pages, or zeros
 * (pages NULL): the ones still to come placed (*counted grows by them),
 * the rest skipped. 0 or -errno with err.
 */
int mig_postcopy_place(struct mig_postcopy *pc, struct guest_mem *gm, uint64_t gpa,
		       uint64_t n, const uint8_t *pages, uint64_t *counted, struct err *err);
/*
 * Destination: a fault at host address addr. 0: served (a zero page); 1:
 * a page still to come, first asked for now (its GPA in *gpa, for a
 * PAGE_REQ); 2: asked for already. -EFAULT outside RAM, or -errno.
 */
int mig_postcopy_fault(struct mig_postcopy *pc, const struct guest_mem *gm, uint64_t addr,
		       uint64_t *gpa);

/* Source: the POSTCOPY record of maps (a bitmap per region of gm); *left its pages. */
int mig_postcopy_send_map(int fd, const struct guest_mem *gm, uint64_t *const *maps, uint64_t *left,
		    struct mig_progress *p, struct err *err);
/*
 * Source: a PAGE_REQ's payload (8 bytes) answered: the page, if still to
 * come, sent and taken out of maps (*left less one). -EPROTO with err for
 * a GPA outside RAM.
 */
int mig_postcopy_answer(int fd, const struct guest_mem *gm, uint64_t **maps, const uint8_t *req,
		  uint64_t *left, struct mig_progress *p, struct err *err);
/*
 * Source: the next pages still to come after *cursor (a page number over
 * all regions, from 0), at most MIG_PAGES_MAX, sent and taken out of maps.
 * 0 or -errno with err.
 */
int mig_postcopy_push(int fd, const struct guest_mem *gm, uint64_t **maps, uint64_t *cursor,
		uint64_t *left, struct mig_progress *p, struct err *err);

#endif
