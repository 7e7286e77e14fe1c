/*
 * The Uffd memory backend's one message (Firecracker 1.16's handshake,
 * docs/snapshots.md "The Uffd backend"): with the userfaultfd as
 * SCM_RIGHTS, a JSON array with one object per guest RAM region, in GPA
 * order, its fields in Firecracker's order:
 *
 *   [{"base_host_virt_addr": N, "size": N, "offset": N, "page_size": N,
 *     "page_size_kib": N}, ...]
 *
 * base_host_virt_addr is where the region is mapped in Hearth, offset
 * where its data starts in the memory file (the PT_LOAD's p_offset of
 * Hearth's ELF core), page_size the page a fault is served in, bytes;
 * page_size_kib is Firecracker's deprecated name for the same number,
 * also bytes despite its name, sent for handlers written against it.
 */
#ifndef HEARTH_SNAPSHOT_UFFD_MSG_H
#define HEARTH_SNAPSHOT_UFFD_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Room a receiver needs: the message is one sendmsg, and it fits easily. */
#define UFFD_MSG_MAX 4096
#define UFFD_MSG_MAX_REGIONS 16

struct uffd_mapping {
	uint64_t base_host_virt_addr;
	uint64_t size;
	uint64_t offset;
	uint64_t page_size;
};

/* The JSON text for m[0..n) (malloc'ed, NUL-terminated, *len without it). 0 or -errno. */
int uffd_msg_build(const struct uffd_mapping *m, unsigned int n, char **out, size_t *len);

/*
 * Reads a message (len bytes, not NUL-terminated) into m (room for max),
 * *n set to its count. Every mapping is checked: a page_size that is a
 * power of two of at least 4 KiB, a base, size and offset aligned to it
 * (offset to 4 KiB), a size above 0, no range that wraps, mappings that do
 * not overlap, page_size_kib (when present) equal to page_size. Fields it
 * does not know are ignored, as a newer Firecracker's would be. 0, or
 * -EINVAL with one line naming the problem in err.
 */
int uffd_msg_parse(const char *buf, size_t len, struct uffd_mapping *m, unsigned int max,
		   unsigned int *n, struct err *err);

#endif
