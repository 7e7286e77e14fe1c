/*
 * The destination's image of a live migration's RAM as the stream's
 * records come in (image.c; the records are codec.h's).
 */
#ifndef HEARTH_MIGRATE_IMAGE_H
#define HEARTH_MIGRATE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/guest_mem.h"
#include "migrate/codec.h"
#include "migrate/postcopy.h"
#include "snapshot/memfile_layout.h"
#include "util/err.h"

/*
 * The destination's image of RAM as it comes in: a memory file (the
 * snapshot's layout) in fd, a memfd the restore maps. All of its
 * bookkeeping is here, so a fuzz target drives it without a VM.
 */
struct mig_image {
	int fd;                      /* the memory image; -1 before LAYOUT */
	/*
	 * PRELUDE's taker (NULL: the record is kept, nothing built): builds
	 * the VM from the state in fd, paused, and sets *gm to its RAM,
	 * which then takes every page in place of the image. 0 or -errno
	 * with err.
	 */
	int (*prelude)(void *ctx, int fd, struct guest_mem **gm, struct err *err);
	void *prelude_ctx;
	struct guest_mem *gm;        /* the VM's RAM once PRELUDE built it; NULL: the image */
	bool have_prelude;
	struct memfile_layout l;
	bool have_layout, have_state, ended;
	int state_fd;                /* the state file, once STATE came; -1 before */
	uint64_t pages, zero_pages;  /* counts, for progress */
	/* The most RAM a layout may have (its regions' sum), set before any record; 0: MIG_RAM_MAX. */
	uint64_t ram_limit;
	/* Post-copy (postcopy.h): its userfaultfd, set before the stream; on once POSTCOPY came. */
	struct mig_postcopy postcopy;
};

/* Empty, no limit but MIG_RAM_MAX. */
void mig_image_init(struct mig_image *im);
void mig_image_release(struct mig_image *im);
/*
 * Takes one record from the source (r checked by mig_rec_check, data its
 * r->len bytes): the layout makes the image, pages land in it, STATE is
 * kept, END ends it. Records out of order (pages before the layout, a
 * second layout or state, anything after END, a page outside RAM) are
 * refused: -EPROTO with err naming the record. 0 or -errno. Once
 * POSTCOPY was taken, PAGES and ZERO fill only the pages still to come
 * (any others are already in) and may follow STATE and END, until POSTCOPY_END.
 */
int mig_image_take(struct mig_image *im, const struct mig_rec *r, const uint8_t *data,
		   struct err *err);

#endif
