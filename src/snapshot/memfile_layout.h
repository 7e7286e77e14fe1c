/*
 * The memory file's layout as a reader sees it: an ELF64 x86-64 core
 * (ET_CORE) whose first program header is PT_NOTE and whose others are
 * one PT_LOAD per guest RAM region, in GPA order, each at a 4 KiB-aligned
 * file offset, the file ending with the last region's data. Snapshot
 * create writes it (full, or diff: same layout, holes for clean pages);
 * restore maps each region MAP_PRIVATE from its offset; snapshot-merge
 * (merge.c) folds a diff onto its base. docs/snapshot-format.md.
 */
#ifndef HEARTH_SNAPSHOT_MEMFILE_LAYOUT_H
#define HEARTH_SNAPSHOT_MEMFILE_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define MEMFILE_MAX_REGIONS 16
#define MEMFILE_PAGE 4096ull
/*
 * e_type of a base that snapshot-merge is writing: an OS-specific value
 * (ET_LOOS..ET_HIOS), so gdb, restore and a second merge all refuse a
 * merge that was interrupted rather than take a half-merged image.
 */
#define MEMFILE_ET_MERGING 0xfe48

struct memfile_region {
	uint64_t gpa, size, offset;
};

struct memfile_layout {
	unsigned int nregions;
	struct memfile_region r[MEMFILE_MAX_REGIONS];
	uint64_t note_offset, note_size;
	uint64_t file_size;
};

/*
 * Reads and checks the ELF header and program headers of fd, which is
 * st_size bytes long. 0, or -EINVAL (-ENODATA when truncated) with one
 * line naming the problem in err ("not an ELF file", "truncated: ...",
 * "an interrupted snapshot-merge" ...).
 */
int memfile_layout_read(int fd, struct memfile_layout *l, struct err *err);
/* The same checks on the first len bytes of a file of file_size bytes (fuzzing, tests). */
int memfile_layout_parse(const void *buf, size_t len, uint64_t file_size,
			 struct memfile_layout *l, struct err *err);
/* Both have the same regions at the same offsets and the same size. */
bool memfile_layout_same(const struct memfile_layout *a, const struct memfile_layout *b);

/*
 * Diff snapshots: writes the pages of one region whose bits are set in
 * bitmap (bit i of word i/64: page i, as guest_mem_dirty_collect gives
 * them) from src to fd at file_off + page * 4 KiB, runs of pages in one
 * pwrite. A set page is always written, even all zeros, so it is data
 * and not a hole; clear pages are not touched (holes in a file created
 * with ftruncate). *written (may be NULL) adds the bytes written.
 * 0 or -errno (-ENOSPC: disk full).
 */
int memfile_diff_write_region(int fd, uint64_t file_off, const uint8_t *src, uint64_t size,
			      const uint64_t *bitmap, uint64_t *written);

/*
 * Folds the diff memory file onto its base, in place: checks both
 * layouts match, marks the base MEMFILE_ET_MERGING and syncs it, copies
 * every data extent of the diff (SEEK_DATA/SEEK_HOLE) onto the base at
 * the same offset, syncs, then writes the diff's ELF header (ET_CORE
 * again) and syncs. The base is then the full image of the diff's
 * moment; interrupted, it is refused by every reader until merged again.
 * 0 or -errno with one line in err. *started (may be NULL) tells whether
 * the base was changed: false for a refused input, which leaves it
 * untouched.
 */
int memfile_merge(const char *base, const char *diff, bool *started, struct err *err);

#endif
