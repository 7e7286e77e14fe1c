/*
 * Guest RAM backed by a snapshot's memory file: each region mapped
 * MAP_PRIVATE from its offset, so pages load on first touch, the guest's
 * writes stay in this process and the file is never modified.
 */
#ifndef HEARTH_MEM_GUEST_MEM_FILE_H
#define HEARTH_MEM_GUEST_MEM_FILE_H

#include <stdint.h>

#include "mem/guest_mem.h"

/*
 * Lays out ram_bytes as guest_mem_init does and maps region i from fd at
 * offsets[i] (n must be the layout's region count, offsets page-aligned).
 * 0, -EINVAL (a count or offset that does not fit) or -errno of mmap.
 * gm keeps a duplicate of fd (and so any flock on it) until
 * guest_mem_destroy has unmapped the RAM.
 */
int guest_mem_init_file_below(struct guest_mem *gm, uint64_t ram_bytes, uint64_t below, int fd,
			      const uint64_t *offsets, unsigned int n);
int guest_mem_init_file(struct guest_mem *gm, uint64_t ram_bytes, int fd,
			const uint64_t *offsets, unsigned int n);

#endif
