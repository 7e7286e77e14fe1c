/*
 * The live migration stream's codec (docs/migration.md): what a source Hearth
 * sends a destination over one connection, and the few words the
 * destination answers. All little-endian.
 *
 *   header  "HEARTHMG", u32 version (MIG_VERSION), u32 0
 *   record  u32 type, u32 0, u64 length, then length bytes
 *
 * Source to destination:
 *   LAYOUT  the memory file's ELF header (snapshot/memcore.h), once, first:
 *           the regions RAM has and where each lies in the memory image
 *   PRELUDE the state file at the migration's start, once, before any page:
 *           the destination builds the VM from it, paused, while RAM comes
 *   PAGES   u64 GPA (4 KiB-aligned), then 1 to MIG_PAGES_MAX whole pages
 *   ZERO    u64 GPA, u64 count: pages that read as zeros now
 *   POSTCOPY (post-copy only) after the first pass, before STATE: the pages
 *           still to come, one bit per page, the layout's regions' bitmaps
 *           one after another (u64 words); they come after GO, asked for or
 *           pushed, as PAGES and ZERO
 *   STATE   the state file (snapshot/format.h), once, after the last pages
 *   END     nothing: the source is paused and sent everything (post-copy:
 *           everything but the pages POSTCOPY named)
 *   GO      nothing: the destination may run the VM (the answer to READY)
 *   POSTCOPY_END  nothing (post-copy): every page POSTCOPY named was sent
 * Destination to source:
 *   READY   nothing: the VM is built from the stream, paused
 *   FAIL    a line of text: why the destination refused the stream
 *   RUNNING nothing: the VM runs on the destination
 *   PAGE_REQ u64 GPA (post-copy): a page the guest touched, wanted first
 *   POSTCOPY_DONE nothing (post-copy): every page is in; the source may close
 *
 * The receiving side trusts nothing: every length is bounded by its
 * type, every page lands inside the layout's regions, and nothing in the
 * stream names a host resource (the receiving request names them all).
 */
#ifndef HEARTH_MIGRATE_CODEC_H
#define HEARTH_MIGRATE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define MIG_MAGIC "HEARTHMG"
#define MIG_VERSION 1u
#define MIG_HEADER_SIZE 16u
#define MIG_REC_SIZE 16u
#define MIG_PAGE 4096u
#define MIG_PAGES_MAX 256u
#define MIG_LAYOUT_MAX (1u << 20)
#define MIG_STATE_MAX (64u << 20)
#define MIG_FAIL_MAX 1024u
/* The largest RAM a stream may lay out: Hearth's largest machine (1 TiB) and a hotplug region. */
#define MIG_RAM_MAX (2ull << 40)

enum mig_type {
	MIG_LAYOUT = 1,
	MIG_PAGES = 2,
	MIG_ZERO = 3,
	MIG_STATE = 4,
	MIG_END = 5,
	MIG_GO = 6,
	MIG_READY = 7,
	MIG_FAIL = 8,
	MIG_RUNNING = 9,
	MIG_PRELUDE = 10,
	MIG_POSTCOPY = 11,
	MIG_PAGE_REQ = 12,
	MIG_POSTCOPY_END = 13,
	MIG_POSTCOPY_DONE = 14,
};

const char *mig_type_name(uint32_t type);

/* A record's header, read and checked. */
struct mig_rec {
	uint32_t type;
	uint64_t len;
};

void mig_header_put(uint8_t out[MIG_HEADER_SIZE]);
/* 0, or -EPROTO with err naming what is wrong ("not a Hearth migration stream"). */
int mig_header_check(const uint8_t in[MIG_HEADER_SIZE], struct err *err);
void mig_rec_put(uint8_t out[MIG_REC_SIZE], uint32_t type, uint64_t len);
/*
 * Reads a record header and checks its length against its type's bound:
 * 0, or -EPROTO with err ("record PAGES of 9000 bytes: not a GPA and whole
 * pages"). A type unknown to this version is refused too.
 */
int mig_rec_check(const uint8_t in[MIG_REC_SIZE], struct mig_rec *r, struct err *err);

/*
 * Whether the 4 KiB page at p reads as zeros (a page the source need not
 * send, or sends as ZERO).
 */
bool mig_page_zero(const void *p);

#endif
