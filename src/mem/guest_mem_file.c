#include "mem/guest_mem_file.h"

#include "core/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

int guest_mem_init_file(struct guest_mem *gm, uint64_t ram_bytes, int fd,
			const uint64_t *offsets, unsigned int n)
{
	return guest_mem_init_file_below(gm, ram_bytes, LAYOUT_MMIO_HOLE_START, fd, offsets, n);
}

int guest_mem_init_file_below(struct guest_mem *gm, uint64_t ram_bytes, uint64_t below, int fd,
			      const uint64_t *offsets, unsigned int n)
{
	int ret = guest_mem_layout_below(gm, ram_bytes, below);

	if (ret)
		return ret;
	if (n != gm->nregions)
		return -EINVAL;
	/*
	 * The fd's open file description carries the caller's lock on the
	 * file (a restore's shared flock): a duplicate kept until the RAM is
	 * unmapped keeps it held exactly as long as the file backs RAM,
	 * whatever the caller does with its own fd.
	 */
	gm->file_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (gm->file_fd < 0)
		return -errno;
	gm->file_held = true;
	for (unsigned int i = 0; i < n; i++) {
		void *p;

		if (offsets[i] & 0xfff) {
			guest_mem_destroy(gm);
			return -EINVAL;
		}
		p = mmap(NULL, gm->regions[i].size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_NORESERVE, fd, (off_t)offsets[i]);
		if (p == MAP_FAILED) {
			ret = -errno;
			guest_mem_destroy(gm);
			return ret;
		}
		madvise(p, gm->regions[i].size, MADV_DONTDUMP);
		gm->regions[i].hva = p;
	}
	return 0;
}
