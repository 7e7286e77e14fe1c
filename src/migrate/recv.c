/* The destination's reading of the stream (recv.h). */
#include "migrate/recv.h"

#include <errno.h>
#include <stdlib.h>

#include "migrate/wire.h"

int mig_recv_stream(int fd, struct mig_image *im, struct mig_progress *p, struct err *err)
{
	uint8_t hdr[MIG_HEADER_SIZE], *buf = NULL;
	size_t cap = 0;
	int ret = mig_wire_read(fd, hdr, sizeof(hdr));

	if (ret)
		return err_set(err, false, ret, "the stream's header: %s", ret == -EPIPE ?
			       "the source closed the connection" : "not read in 30 s");
	ret = mig_header_check(hdr, err);
	__atomic_fetch_add(&p->bytes, sizeof(hdr), __ATOMIC_RELAXED);
	/* Post-copy: from POSTCOPY on, the pages come with faults, read elsewhere (postcopy.h). */
	while (!ret && !im->ended && !im->postcopy.on) {
		struct mig_rec r;
		uint64_t before = im->pages + im->zero_pages;

		ret = mig_wire_recv(fd, &r, &buf, &cap, err);
		if (!ret)
			ret = mig_image_take(im, &r, buf, err);
		if (ret)
			break;
		__atomic_fetch_add(&p->bytes, MIG_REC_SIZE + r.len, __ATOMIC_RELAXED);
		__atomic_fetch_add(&p->pages, im->pages + im->zero_pages - before,
				   __ATOMIC_RELAXED);
	}
	free(buf);
	return ret;
}
