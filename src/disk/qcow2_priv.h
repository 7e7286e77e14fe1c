/*
 * What the qcow2 engine's files share: the handle, the format's
 * constants, big-endian accessors, and each file's entry points. Only
 * src/disk/qcow2_*.c include it.
 */
#ifndef HEARTH_DISK_QCOW2_PRIV_H
#define HEARTH_DISK_QCOW2_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk/qcow2.h"
#include "util/err.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_V2_HEADER_LEN 72u
#define QCOW2_V3_HEADER_LEN 104u
#define QCOW2_MIN_CLUSTER_BITS 9u
#define QCOW2_MAX_CLUSTER_BITS 21u

/* Header fields a writer changes, by byte offset. */
#define QCOW2_HDR_RT_OFFSET 48u      /* refcount_table_offset, then refcount_table_clusters */
#define QCOW2_HDR_AUTOCLEAR 88u

#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)

/* Table entries (the format's bit layout). */
#define QCOW2_OFLAG_COPIED (1ull << 63)     /* refcount exactly 1: may be written in place */
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO 1ull               /* v3: the cluster reads as zeros */
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_L1_RESERVED (~(QCOW2_OFFSET_MASK | QCOW2_OFLAG_COPIED))
#define QCOW2_L2_RESERVED 0x3f000000000001feull /* bits 1-8 and 56-61 of a standard entry */

/*
 * Limits, QEMU's: past them a table is refused rather than allocated. A
 * table must also lie inside the file, so a small hostile file gets small
 * tables.
 */
#define QCOW2_L1_MAX_BYTES (32u << 20)
#define QCOW2_RT_MAX_BYTES (8u << 20)
/* Clusters with a refcount that an allocation steps over before giving up on a corrupt image. */
#define QCOW2_ALLOC_SCAN_MAX (1u << 16)
/* Clusters let go that wait for the next flush before an fdatasync is forced. */
#define QCOW2_FREES_MAX 64u
/* Refcounts an allocation reads below alloc_hint for a freed cluster, before it appends. */
#define QCOW2_REUSE_SCAN_MAX 4096u
/* Tables in the refcount block cache: allocation walks forward, so few are hot. */
#define QCOW2_RB_CACHE_N 2u
#define QCOW2_L2_CACHE_MAX 1024u

/* A bounded cache of whole tables (L2 tables, refcount blocks), in the file's byte order. */
struct qcow2_cache_ent {
	uint64_t off;           /* the table's file offset; 0: empty */
	uint64_t last;          /* use tick, for least-recently-used eviction */
	uint8_t *buf;           /* cluster_size bytes, allocated at first use */
};

struct qcow2_cache {
	unsigned int n;
	uint64_t tick;
	struct qcow2_cache_ent *ent;
};

struct qcow2_free {
	uint64_t off;
	uint64_t len;
};

/* The header as parsed and checked (qcow2_header.c). */
struct qcow2_hdr {
	uint32_t version;
	uint32_t cluster_bits;
	uint32_t header_len;
	uint32_t l1_size;
	uint32_t rt_clusters;
	uint32_t nb_snapshots;
	uint32_t refcount_order;
	uint64_t size;
	uint64_t l1_off;
	uint64_t rt_off;
	uint64_t incompat;
	uint64_t autoclear;
	bool has_backing;
	char backing[QCOW2_NAME_MAX + 1];
	char backing_fmt[QCOW2_NAME_MAX + 1];
};

struct qcow2 {
	int fd;
	bool writable;
	bool backing_named;     /* the header names a backing file */
	struct qcow2_info info;
	uint32_t cluster_bits;
	uint64_t cluster_size;
	uint32_t l2_bits;       /* log2 of the entries in an L2 table */
	uint64_t file_size;     /* bytes; grows as clusters are written */

	uint64_t l1_off;
	uint32_t l1_size;
	uint64_t *l1;           /* host byte order */

	uint32_t refcount_order;
	uint32_t rb_bits;       /* log2 of the entries (clusters) in a refcount block */
	uint64_t rt_off;
	uint32_t rt_clusters;
	uint64_t rt_entries;
	uint64_t *rt;           /* host byte order; writable handles only */
	uint64_t alloc_hint;    /* the cluster index an allocation looks from */
	/*
	 * The lowest cluster a flush let go (refcount 0) below alloc_hint,
	 * looked at first, QCOW2_REUSE_SCAN_MAX at a time; UINT64_MAX: none.
	 * Without it a guest that discards and writes again grew the file
	 * (and its refcount blocks) for ever, holes punched behind it.
	 */
	uint64_t reuse_hint;

	/* Compressed descriptors: the offset's bits, then the sector count's. */
	uint32_t csize_shift;
	uint64_t csize_mask;
	uint64_t coff_mask;

	struct qcow2_cache l2c;
	struct qcow2_cache rbc;
	struct qcow2_layer backing;

	uint8_t *cow;           /* one cluster: a write's copy-on-write buffer */
	uint8_t *zin;           /* two clusters: a compressed stream */
	uint8_t *zout;          /* one cluster: the last one decompressed */
	uint64_t zout_entry;    /* its L2 entry; 0: none */

	struct qcow2_free frees[QCOW2_FREES_MAX];
	unsigned int nfrees;
};

/* The kind of a guest cluster, from its L2 entry (qcow2_map.c). */
enum qcow2_ctype {
	QCOW2_C_UNALLOC,
	QCOW2_C_ZERO,           /* zero flag; host_off may name a preallocated cluster (or 0) */
	QCOW2_C_NORMAL,
	QCOW2_C_COMPRESSED,     /* host_off, host_len: the stream */
};

struct qcow2_cl {
	enum qcow2_ctype type;
	uint64_t entry;
	uint64_t host_off;
	uint64_t host_len;
	bool copied;
};

static inline uint64_t qcow2_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline uint32_t qcow2_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void qcow2_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline void qcow2_put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Whether [a, a + alen) and [b, b + blen) share a byte (no overflow: both lie below 2^63). */
static inline bool qcow2_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

static inline uint64_t qcow2_round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) / align * align;
}

/* qcow2_header.c */
int qcow2_header_parse(int fd, uint64_t file_size, bool writable, struct qcow2_hdr *h,
		       struct err *err);

/* qcow2_open.c: file I/O that keeps file_size; reads past the end give zeros. */
int qcow2_pread(struct qcow2 *q, void *buf, size_t len, uint64_t off, struct err *err);
int qcow2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off, struct err *err);
int qcow2_sync(struct qcow2 *q, struct err *err);
/* Whether [off, off + len) touches the header cluster, the L1 table or the refcount table. */
bool qcow2_hits_metadata(const struct qcow2 *q, uint64_t off, uint64_t len);

/* qcow2_cache.c */
int qcow2_cache_init(struct qcow2_cache *c, unsigned int n);
void qcow2_cache_free(struct qcow2_cache *c);
/* The table at off, read on a miss; valid until the next call on this cache. */
int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, uint8_t **t,
		    struct err *err);
/* A slot for a table new in the file (zeroed, not read). NULL when out of memory. */
uint8_t *qcow2_cache_new(struct qcow2 *q, struct qcow2_cache *c, uint64_t off);
/* Forgets the table at off (its copy may differ from the file after a failure). */
void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off);

/* qcow2_map.c */
/* The L2 table of L1 entry l1i from the cache, or *t NULL when it has none. */
int qcow2_l2_table(struct qcow2 *q, uint64_t l1i, uint8_t **t, struct err *err);
/* Entry i of table t (NULL: unallocated), decoded; guest_off names it in messages. */
int qcow2_l2_entry(const struct qcow2 *q, const uint8_t *t, uint64_t i, uint64_t guest_off,
		   struct qcow2_cl *cl, struct err *err);

/* qcow2_read.c */
int qcow2_read_at(struct qcow2 *q, uint64_t off, void *buf, size_t len, unsigned int depth,
		  struct err *err);
/* The backing layer's bytes at guest offset off (zeros past its end). */
int qcow2_backing_read(struct qcow2 *q, uint64_t off, void *buf, size_t len,
		       unsigned int depth, struct err *err);
/* A compressed cluster's contents into q->zout (kept for the next read of it). */
int qcow2_compressed_load(struct qcow2 *q, const struct qcow2_cl *cl, struct err *err);
bool qcow2_has_backing(const struct qcow2 *q);

/* qcow2_inflate.c: raw deflate (QEMU's window of 2^12) into exactly out_len bytes. */
int qcow2_inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len,
		  struct err *err);

/* qcow2_refcount.c */
int qcow2_refcount_load(struct qcow2 *q, struct err *err);
int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *rc, struct err *err);
/* A free cluster, its refcount set to 1 (written, not synced): its file offset in *off. */
int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *off, struct err *err);
/* Lowers by one the refcount of every cluster [off, off + len) touches, at the next flush. */
int qcow2_free_later(struct qcow2 *q, uint64_t off, uint64_t len, struct err *err);
/* Applies the pending frees (the caller synced since they were queued). */
int qcow2_frees_apply(struct qcow2 *q, struct err *err);

#endif
