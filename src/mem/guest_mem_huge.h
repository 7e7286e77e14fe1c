/*
 * Guest RAM in 2 MiB hugetlbfs pages (Firecracker's huge_pages "2M"),
 * and a snapshot's memory file read into such RAM.
 */
#ifndef HEARTH_MEM_GUEST_MEM_HUGE_H
#define HEARTH_MEM_GUEST_MEM_HUGE_H

#include <stdint.h>

#include "mem/guest_mem.h"

#define GUEST_HUGE_PAGE_SIZE (2ull << 20)

/*
 * guest_mem_init with each region an anonymous private MAP_HUGETLB |
 * MAP_HUGE_2MB mapping. Not MAP_NORESERVE: the kernel reserves every
 * page of the pool at the mmap, so a pool too small is -ENOMEM here and
 * never a SIGBUS when the guest first touches a page. -EINVAL: a region
 * that is no whole number of huge pages.
 */
int guest_mem_init_huge(struct guest_mem *gm, uint64_t ram_bytes);
int guest_mem_init_huge_below(struct guest_mem *gm, uint64_t ram_bytes, uint64_t below);

/*
 * Copies region i of a snapshot's memory file (fd, from offsets[i]) into
 * gm's RAM, which must be fresh (all zero): hugetlbfs pages cannot be a
 * private mapping of an ordinary file. Only the file's data is read
 * (SEEK_DATA/SEEK_HOLE), so the pages of its holes stay untouched and
 * unallocated (still reserved). n must be gm's region count. 0; -EINVAL
 * (a count that does not fit); -ENODATA (the file ends inside a region);
 * or -errno of the reads.
 */
int guest_mem_fill_from_file(struct guest_mem *gm, int fd, const uint64_t *offsets,
			     unsigned int n);

/*
 * The 2 MiB pages a new mapping could reserve now: the pool's free pages
 * less those reserved by others (sysfs free_hugepages - resv_hugepages),
 * or -errno.
 */
long guest_mem_huge_free(void);

#endif
