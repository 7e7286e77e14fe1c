/*
 * libFuzzer target for the receiving side of a live migration
 * (src/migrate/recv.c, stream.c): the input is the stream a source sent,
 * read from a file descriptor as the destination reads its socket, into
 * the image a restore then maps.
 *
 * Checked besides ASan/UBSan: a refusal says why; a stream taken whole
 * ended with END after a layout and a state, and every page it placed is
 * inside the layout's RAM (the image is no larger than the layout says).
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fz.h"
#include "migrate/recv.h"
#include "util/file.h"

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
	if (mig_recv_stream(fd, &im, &p, &e)) {
		CHECK(e.msg[0]);
	} else {
		CHECK(im.ended && im.have_layout && im.have_state);
		CHECK(p.bytes <= size);
	}
	if (im.have_layout) {
		CHECK(fstat(im.fd, &st) == 0 && (uint64_t)st.st_size == im.l.file_size);
		CHECK(im.pages + im.zero_pages <= p.pages);
	}
	mig_image_release(&im);
	close(fd);
	return 0;
}
