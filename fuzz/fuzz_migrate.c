/*
 * libFuzzer target for the receiving side of a live migration
 * (src/migrate/recv.c, stream.c): the input is the stream a source sent,
 * read from a file descriptor as the destination reads its socket, into
 * the image a restore then maps.
 *
 * A PRELUDE builds "the VM": RAM of the layout's one region (up to 16
 * MiB), so the pages land in it and POSTCOPY (the bitmap of the pages
 * still to come) is taken, arming a userfaultfd on it; after POSTCOPY the
 * rest of the input is read as the post-copy thread reads it (pages placed
 * through the userfaultfd, STATE, END, POSTCOPY_END), with no fault to serve.
 *
 * Checked besides ASan/UBSan: a refusal says why; a stream taken whole
 * ended with END after a layout and a state, and every page it placed is
 * inside the layout's RAM (the image is no larger than the layout says);
 * post-copy's count of pages still to come never exceeds RAM's, and is 0
 * once POSTCOPY_END was taken.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fz.h"
#include "mem/guest_mem_uffd.h"
#include "migrate/recv.h"
#include "migrate/wire.h"
#include "util/file.h"

static struct guest_mem ram;
static bool have_ram;

/* The prelude's VM: RAM as the layout has it, when that is one region of at most 16 MiB. */
static int prelude(void *ctx, int fd, struct guest_mem **gm, struct err *err)
{
	const struct mig_image *im = ctx;

	if (im->l.nregions != 1 || im->l.r[0].gpa || !im->l.r[0].size ||
	    im->l.r[0].size > (16u << 20) || im->l.r[0].size % 4096)
		return err_set(err, true, -EINVAL, "fuzz: a prelude for one region of RAM only");
	if (guest_mem_init(&ram, im->l.r[0].size))
		return err_set(err, false, -ENOMEM, "fuzz: no RAM");
	have_ram = true;
	*gm = &ram;
	return 0;
}

/* After POSTCOPY: the records the post-copy thread reads, until POSTCOPY_END or an error. */
static int postcopy(int fd, struct mig_image *im, struct mig_progress *p, struct err *err)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	int ret = 0;

	while (!ret && !im->postcopy.ended) {
		struct mig_rec r;

		uint64_t before = im->pages + im->zero_pages;

		ret = mig_wire_recv(fd, &r, &buf, &cap, err);
		if (!ret && r.type != MIG_GO)
			ret = mig_image_take(im, &r, buf, err);
		/* Counted as the post-copy thread counts them. */
		p->pages += im->pages + im->zero_pages - before;
	}
	free(buf);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mig_progress p = { 0 };
	struct mig_image im;
	struct err e = ERR_INIT;
	struct stat st;
	int fd = memfd_create("fuzz-stream", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (size && file_pwrite_full(fd, data, size, 0)) {
		close(fd);
		return 0;
	}
	mig_image_init(&im);
	im.prelude = prelude;
	im.prelude_ctx = &im;
	im.postcopy.uffd = guest_mem_uffd_open();
	if (im.postcopy.uffd < 0)
		im.postcopy.uffd_why = "none in this fuzzer";
	if (mig_recv_stream(fd, &im, &p, &e)) {
		CHECK(e.msg[0]);
	} else if (im.postcopy.on) {
		CHECK(im.postcopy.left <= ram.regions[0].size / 4096);
		if (postcopy(fd, &im, &p, &e))
			CHECK(e.msg[0]);
		else
			CHECK(im.postcopy.ended && im.ended && !im.postcopy.left);
	} else {
		CHECK(im.ended && im.have_layout && im.have_state);
		CHECK(p.bytes <= size);
	}
	if (im.have_layout) {
		CHECK(fstat(im.fd, &st) == 0 && (uint64_t)st.st_size == im.l.file_size);
		CHECK(im.pages + im.zero_pages <= p.pages);
	}
	if (im.postcopy.uffd >= 0) {
		if (im.postcopy.on)
			guest_mem_uffd_disarm(&ram, im.postcopy.uffd);
		close(im.postcopy.uffd);
	}
	mig_image_release(&im);
	if (have_ram)
		guest_mem_destroy(&ram);
	have_ram = false;
	close(fd);
	return 0;
}
