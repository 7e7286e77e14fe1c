#include "mem/guest_mem_huge.h"

#include "core/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HUGE_SYSFS "/sys/kernel/mm/hugepages/hugepages-2048kB/"

int guest_mem_init_huge(struct guest_mem *gm, uint64_t ram_bytes)
{
	return guest_mem_init_huge_below(gm, ram_bytes, LAYOUT_MMIO_HOLE_START);
}

int guest_mem_init_huge_below(struct guest_mem *gm, uint64_t ram_bytes, uint64_t below)
{
	int ret = guest_mem_layout_below(gm, ram_bytes, below);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < gm->nregions; i++)
		if (gm->regions[i].size % GUEST_HUGE_PAGE_SIZE)
			return -EINVAL;
	for (unsigned int i = 0; i < gm->nregions; i++) {
		void *p = mmap(NULL, gm->regions[i].size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);

		if (p == MAP_FAILED) {
			ret = -errno;
			guest_mem_destroy(gm);
			return ret;
		}
		madvise(p, gm->regions[i].size, MADV_DONTDUMP);
		gm->regions[i].hva = p;
	}
	gm->huge = true;
	return 0;
}

/* [off, off+len) of fd into dst, on through short reads and EINTR. */
static int read_at(int fd, uint8_t *dst, uint64_t off, uint64_t len)
{
	while (len) {
		ssize_t n = pread(fd, dst, len > (1u << 30) ? (1u << 30) : len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;   /* the file shrank under us */
		dst += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/*
 * The data extents of [start, end) of fd into dst. Each turn moves pos
 * forward by at least one byte, so the loop ends within end - start turns
 * (in practice one per extent).
 */
static int fill_region(int fd, uint8_t *dst, uint64_t start, uint64_t end)
{
	uint64_t pos = start;

	while (pos < end) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
		off_t hole;
		int ret;

		if (data < 0 && errno == ENXIO)
			return 0;          /* only a hole from here to the end of the file */
		if (data < 0)
			return -errno;
		if ((uint64_t)data >= end)
			return 0;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		if ((uint64_t)hole > end || hole <= data)
			hole = (off_t)end;
		ret = read_at(fd, dst + ((uint64_t)data - start), (uint64_t)data,
			      (uint64_t)(hole - data));
		if (ret)
			return ret;
		pos = (uint64_t)hole;
	}
	return 0;
}

int guest_mem_fill_from_file(struct guest_mem *gm, int fd, const uint64_t *offsets,
			     unsigned int n)
{
	struct stat st;

	if (n != gm->nregions)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	for (unsigned int i = 0; i < n; i++) {
		const struct guest_region *r = &gm->regions[i];
		int ret;

		if (offsets[i] + r->size < offsets[i])
			return -EINVAL;
		/* A mapping would SIGBUS past the end; a copy says so now. */
		if ((uint64_t)st.st_size < offsets[i] + r->size)
			return -ENODATA;
		ret = fill_region(fd, r->hva, offsets[i], offsets[i] + r->size);
		if (ret)
			return ret;
	}
	return 0;
}

static long read_count(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;
	int ret;

	if (!f)
		return -errno;
	ret = fscanf(f, "%ld", &v) == 1 && v >= 0 ? 0 : -EIO;
	fclose(f);
	return ret ? ret : v;
}

long guest_mem_huge_free(void)
{
	long nfree = read_count(HUGE_SYSFS "free_hugepages");
	long resv = read_count(HUGE_SYSFS "resv_hugepages");

	if (nfree < 0 || resv < 0)
		return nfree < 0 ? nfree : resv;
	/* Free pages other mappings reserved are no more to be had than used ones. */
	return nfree > resv ? nfree - resv : 0;
}
