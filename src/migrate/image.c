/*
 * The destination's image of the stream (image.h). Nothing here trusts
 * the stream: lengths are bounded by type before anything is read
 * (codec.c), and every page is placed through the layout the memory
 * file's own checks accepted.
 */
#include "migrate/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/file.h"

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned int k = 0; k < 8; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

void mig_image_init(struct mig_image *im)
{
	memset(im, 0, sizeof(*im));
	im->fd = -1;
	im->state_fd = -1;
	im->postcopy.uffd = -1;
}

void mig_image_release(struct mig_image *im)
{
	if (im->fd >= 0)
		close(im->fd);
	if (im->state_fd >= 0)
		close(im->state_fd);
	/* The userfaultfd is its maker's (it outlives the image while pages come). */
	mig_postcopy_release(&im->postcopy);
	mig_image_init(im);
}

static int refuse(struct err *err, const struct mig_rec *r, const char *why)
{
	return err_set(err, true, -EPROTO, "record %s: %s", mig_type_name(r->type), why);
}

static int take_layout(struct mig_image *im, const struct mig_rec *r, const uint8_t *data,
		       struct err *err)
{
	uint64_t file_size = get64(data);
	int ret;

	if (im->have_layout)
		return refuse(err, r, "a second layout");
	uint64_t ram = 0, limit = im->ram_limit ? im->ram_limit : MIG_RAM_MAX;

	if (file_size > MIG_RAM_MAX + MIG_LAYOUT_MAX + MEMFILE_MAX_REGIONS * (2ull << 20))
		return refuse(err, r, "a memory image larger than Hearth's largest machine");
	ret = memfile_layout_parse(data + 8, (size_t)r->len - 8, file_size, &im->l, err);
	if (ret)
		return err_prefix(err, -EPROTO, "record LAYOUT: ");
	/* The pages fill memory before the state's config is seen: bounded first. */
	for (unsigned int i = 0; i < im->l.nregions; i++)
		ram += im->l.r[i].size;
	if (ram > limit)
		return err_set(err, true, -EPROTO, "record LAYOUT: %llu MiB of RAM, more than this "
			       "destination takes (%llu MiB)", (unsigned long long)(ram >> 20),
			       (unsigned long long)(limit >> 20));
	if (im->l.r[0].offset < r->len - 8)
		return refuse(err, r, "its first region overlaps its header");
	im->fd = memfd_create("hearth-mig-ram", MFD_CLOEXEC);
	if (im->fd < 0)
		return err_set(err, false, -errno, "memfd_create: %s", strerror(errno));
	if (ftruncate(im->fd, (off_t)file_size) < 0 ||
	    file_pwrite_full(im->fd, data + 8, (size_t)r->len - 8, 0))
		return err_set(err, false, -errno, "the memory image: %s", strerror(errno));
	im->have_layout = true;
	return 0;
}

/* The image's offset of [gpa, gpa + n pages), wholly inside one region; -1: none. */
static int64_t place(const struct mig_image *im, uint64_t gpa, uint64_t n)
{
	if (gpa % MIG_PAGE || !n || n > (MIG_RAM_MAX / MIG_PAGE))
		return -1;
	for (unsigned int i = 0; i < im->l.nregions; i++) {
		const struct memfile_region *g = &im->l.r[i];

		if (gpa >= g->gpa && gpa - g->gpa < g->size &&
		    n * MIG_PAGE <= g->size - (gpa - g->gpa))
			return (int64_t)(g->offset + (gpa - g->gpa));
	}
	return -1;
}

static int take_pages(struct mig_image *im, const struct mig_rec *r, const uint8_t *data,
		      struct err *err)
{
	uint64_t gpa = get64(data), n = (r->len - 8) / MIG_PAGE;
	int64_t off = place(im, gpa, n);
	void *dst;

	if (off < 0)
		return err_set(err, true, -EPROTO, "record PAGES: %llu pages at GPA 0x%llx are "
			       "not inside the layout's RAM", (unsigned long long)n,
			       (unsigned long long)gpa);
	if (im->postcopy.on)
		return mig_postcopy_place(&im->postcopy, im->gm, gpa, n, data + 8, &im->pages, err);
	/* The VM built from PRELUDE: its RAM, whose regions are the layout's (checked). */
	if (im->gm) {
		dst = guest_mem_ptr(im->gm, gpa, n * MIG_PAGE);
		if (!dst)
			return err_set(err, true, -EPROTO, "record PAGES: GPA 0x%llx is not the "
				       "VM's RAM", (unsigned long long)gpa);
		memcpy(dst, data + 8, (size_t)(n * MIG_PAGE));
		/* Hearth wrote them: a Diff snapshot of the VM later has them. */
		guest_mem_dirty_mark(im->gm, gpa, n * MIG_PAGE);
		im->pages += n;
		return 0;
	}
	if (file_pwrite_full(im->fd, data + 8, (size_t)(n * MIG_PAGE), (uint64_t)off))
		return err_set(err, false, -errno, "the memory image: %s", strerror(errno));
	im->pages += n;
	return 0;
}

static int take_zero(struct mig_image *im, const struct mig_rec *r, const uint8_t *data,
		     struct err *err)
{
	uint64_t gpa = get64(data), n = get64(data + 8);
	int64_t off = place(im, gpa, n);

	if (off < 0)
		return err_set(err, true, -EPROTO, "record ZERO: %llu pages at GPA 0x%llx are "
			       "not inside the layout's RAM", (unsigned long long)n,
			       (unsigned long long)gpa);
	if (im->postcopy.on)
		return mig_postcopy_place(&im->postcopy, im->gm, gpa, n, NULL, &im->zero_pages, err);
	if (im->gm) {
		void *dst = guest_mem_ptr(im->gm, gpa, n * MIG_PAGE);

		if (!dst)
			return err_set(err, true, -EPROTO, "record ZERO: GPA 0x%llx is not the "
				       "VM's RAM", (unsigned long long)gpa);
		memset(dst, 0, (size_t)(n * MIG_PAGE));
		guest_mem_dirty_mark(im->gm, gpa, n * MIG_PAGE);
	} else if (fallocate(im->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
			     (off_t)(n * MIG_PAGE)) < 0) {
		return err_set(err, false, -errno, "the memory image: %s", strerror(errno));
	}
	im->zero_pages += n;
	return 0;
}

/* A state record's bytes in a memfd of its own (a load reads a state from an fd). */
static int state_memfd(const struct mig_rec *r, const uint8_t *data, int *fd, struct err *err)
{
	*fd = memfd_create("hearth-mig-state", MFD_CLOEXEC);
	if (*fd < 0)
		return err_set(err, false, -errno, "memfd_create: %s", strerror(errno));
	if (file_pwrite_full(*fd, data, (size_t)r->len, 0))
		return err_set(err, false, -errno, "the state: %s", strerror(errno));
	return 0;
}

static int take_state(struct mig_image *im, const struct mig_rec *r, const uint8_t *data,
		      struct err *err)
{
	int ret;

	if (im->have_state)
		return refuse(err, r, "a second state");
	ret = state_memfd(r, data, &im->state_fd, err);
	if (!ret)
		im->have_state = true;
	return ret;
}

/* The VM's RAM, as PRELUDE built it, is exactly the layout's: each region where it says. */
static bool same_ram(const struct mig_image *im, const struct guest_mem *gm)
{
	if (gm->hp || gm->nregions != im->l.nregions)
		return false;
	for (unsigned int i = 0; i < gm->nregions; i++)
		if (gm->regions[i].gpa != im->l.r[i].gpa || gm->regions[i].size != im->l.r[i].size ||
		    !gm->regions[i].hva)
			return false;
	return true;
}

static int take_prelude(struct mig_image *im, const struct mig_rec *r, const uint8_t *data,
			struct err *err)
{
	struct guest_mem *gm = NULL;
	int fd = -1, ret;

	if (im->have_prelude)
		return refuse(err, r, "a second prelude");
	if (im->pages || im->zero_pages)
		return refuse(err, r, "after pages");
	im->have_prelude = true;
	if (!im->prelude)
		return 0;
	ret = state_memfd(r, data, &fd, err);
	if (!ret)
		ret = im->prelude(im->prelude_ctx, fd, &gm, err);
	if (fd >= 0)
		close(fd);
	if (ret)
		return ret;
	if (!gm || !same_ram(im, gm))
		return refuse(err, r, "the VM it builds does not have the layout's RAM");
	im->gm = gm;
	return 0;
}

int mig_image_take(struct mig_image *im, const struct mig_rec *r, const uint8_t *data,
		   struct err *err)
{
	const struct mig_postcopy *pc = &im->postcopy;
	bool pc_page = pc->on && !pc->ended && (r->type == MIG_PAGES || r->type == MIG_ZERO);

	if (im->ended && !pc_page && !(r->type == MIG_POSTCOPY_END && pc->on && !pc->ended))
		return refuse(err, r, pc->ended ? "after POSTCOPY_END" : "after END");
	switch (r->type) {
	case MIG_LAYOUT:
		return take_layout(im, r, data, err);
	case MIG_PAGES: case MIG_ZERO:
		if (!im->have_layout)
			return refuse(err, r, "before the layout");
		if (im->have_state && !pc_page)
			return refuse(err, r, "after the state");
		return r->type == MIG_PAGES ? take_pages(im, r, data, err)
					    : take_zero(im, r, data, err);
	case MIG_STATE:
		if (!im->have_layout)
			return refuse(err, r, "before the layout");
		return take_state(im, r, data, err);
	case MIG_PRELUDE:
		if (!im->have_layout)
			return refuse(err, r, "before the layout");
		if (im->have_state)
			return refuse(err, r, "after the state");
		return take_prelude(im, r, data, err);
	case MIG_END:
		if (!im->have_state)
			return refuse(err, r, "before the state");
		im->ended = true;
		return 0;
	case MIG_POSTCOPY:
		if (!im->have_prelude || !im->gm)
			return refuse(err, r, "without a VM built from PRELUDE");
		if (im->have_state)
			return refuse(err, r, "after the state");
		if (im->postcopy.on)
			return refuse(err, r, "a second one");
		return mig_postcopy_begin(&im->postcopy, im->gm, r->len, data, err);
	case MIG_POSTCOPY_END:
		if (!im->ended)
			return refuse(err, r, "before END");
		if (im->postcopy.left)
			return err_set(err, true, -EPROTO, "record POSTCOPY_END: %llu pages POSTCOPY named "
				       "never came", (unsigned long long)im->postcopy.left);
		im->postcopy.ended = true;
		return 0;
	default:
		return refuse(err, r, "not one a source sends");
	}
}
