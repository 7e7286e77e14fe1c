/*
 * qcow2 disk images (QEMU's format, versions 2 and 3, as its
 * docs/interop/qcow2.txt describes them), read and written from a file
 * descriptor the caller opened. The image never chooses a host resource:
 * its header's backing file name is only reported (qcow2_info), and the
 * caller, by its own policy, opens that file and attaches it as the
 * image's backing layer (qcow2_set_backing), building a chain top to
 * bottom. Nothing here opens a path.
 *
 * Every refusal is by name with the offending value, as a usage error
 * (the image is at fault), e.g. "qcow2: incompatible feature 'external
 * data file' not supported"; a refused open writes nothing to the file.
 * A hostile image can make an operation fail, never crash, hang, read or
 * write outside its own file, or loop without bound.
 *
 * Supported: versions 2 and 3, clusters of 512 bytes to 2 MiB, refcounts
 * of every width (1 to 64 bits), zlib-compressed clusters (read; a write
 * over one copies it to a plain cluster), the zero flag (v3), backing
 * layers (qcow2 or raw), images with internal snapshots read-only (their
 * active state).
 * Not supported, refused by name at open: encryption (AES, LUKS), an
 * external data file, extended L2 entries (subclusters), zstd
 * compression, a corrupt image, a dirty image (lazy refcounts left
 * unsettled) opened writable, internal snapshots opened writable, unknown
 * incompatible features. Never done: compressed writes, lazy refcounts
 * (refcounts are kept exact, so the dirty bit is never set), resizing,
 * snapshots, bitmaps (an image opened writable has its autoclear bits
 * cleared at open, as the format asks of a writer that does not keep
 * them).
 *
 * Crash safety of a writable image: a cluster's refcount is raised and
 * its data (and a new L2 table's contents) written before an fdatasync,
 * and only then is the entry pointing at it written (L2 entry, or L1
 * entry for a new table); a cluster let go (overwritten compressed data,
 * a zeroed cluster) has its refcount lowered only after the next
 * fdatasync, at qcow2_flush (or sooner, once 64 wait), and its space
 * punched out of the file. A crash can therefore leak clusters (a
 * refcount with nothing pointing at it, which `qemu-img check -r leaks`
 * reclaims) but never leave an entry pointing at a cluster whose data or
 * refcount is not on disk. An allocating write costs one fdatasync per
 * L2 table it touches (a few more when it adds a refcount block or grows
 * the refcount table); a write into clusters already allocated costs
 * none. Durability of everything written is qcow2_flush's.
 *
 * A handle is not thread-safe: one thread (the device's I/O thread) uses
 * it, and its backing layers, at a time.
 */
#ifndef HEARTH_DISK_QCOW2_H
#define HEARTH_DISK_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Layers in a chain, the top image included: deeper chains are refused. */
#define QCOW2_CHAIN_MAX 16
/* The longest backing file name or format the format allows. */
#define QCOW2_NAME_MAX 1023
/* The L2 table cache's default budget; at least two tables are kept whatever it says. */
#define QCOW2_CACHE_DEFAULT (1u << 20)

struct qcow2;

struct qcow2_opts {
	bool writable;          /* the fd is open for writing too; else nothing is written */
	size_t cache_bytes;     /* the L2 table cache's budget; 0: QCOW2_CACHE_DEFAULT */
};

struct qcow2_info {
	uint32_t version;       /* 2 or 3 */
	uint32_t cluster_bits;
	uint32_t cluster_size;
	uint32_t refcount_bits;
	uint64_t size;          /* the virtual disk's size in bytes (QEMU sees its whole sectors) */
	uint32_t nb_snapshots;  /* internal snapshots (never read: only the active state is) */
	bool dirty;             /* the dirty bit (refcounts unsettled): opened read-only */
	bool writable;
	bool has_backing;       /* the header names a backing file */
	/* NUL-terminated; the header's bytes, which may contain no NUL. "" when none. */
	char backing_file[QCOW2_NAME_MAX + 1];
	char backing_fmt[QCOW2_NAME_MAX + 1];
};

/*
 * Opens the image on fd (pread/pwrite only, so its file position is left
 * alone; buffered, not O_DIRECT, as metadata I/O is not sector-aligned;
 * the fd stays the caller's, never closed here, and must outlive the
 * handle). Parses and
 * checks the header, its extensions and the L1 table (and, writable, the
 * refcount table). 0 with *out set; -EINVAL (usage) for an image refused
 * by name, -ENOTSUP (usage) for a feature not supported, -ENOMEM, or
 * another -errno from the file.
 */
int qcow2_open(int fd, const struct qcow2_opts *opts, struct qcow2 **out, struct err *err);
/*
 * Flushes a writable handle (as qcow2_flush, its errors dropped: call
 * qcow2_flush first to learn of them) and frees the handle. The backing
 * layer stays the caller's: close it after this one. NULL is a no-op.
 */
void qcow2_close(struct qcow2 *q);
const struct qcow2_info *qcow2_info(const struct qcow2 *q);

/* What backs the clusters an image does not have: nothing, another qcow2 image, or a raw file. */
enum qcow2_layer_kind {
	QCOW2_LAYER_NONE,
	QCOW2_LAYER_QCOW2,
	QCOW2_LAYER_RAW,
};

struct qcow2_layer {
	enum qcow2_layer_kind kind;
	struct qcow2 *qcow2;    /* QCOW2: a handle of the caller's, read-only or not; never written */
	int fd;                 /* RAW: read with pread */
	uint64_t size;          /* RAW: its size; reads past it (or a qcow2's size) are zeros */
};

/*
 * Attaches (or, with kind NONE, detaches) the layer under q. Refused
 * (-ELOOP, usage) when q is already in the layer's chain or the chain
 * would be deeper than QCOW2_CHAIN_MAX. Reads of clusters q does not
 * have go to the layer; if the header names a backing file and none is
 * attached, such reads fail (-ENXIO) rather than invent zeros.
 */
int qcow2_set_backing(struct qcow2 *q, const struct qcow2_layer *layer, struct err *err);

/* One file of a chain to be built, top first: its fd, its name for messages (NULL: "layer N"). */
struct qcow2_link {
	int fd;
	const char *name;
};

/*
 * Checks a chain before it is built: at most QCOW2_CHAIN_MAX files, and
 * no file twice (the same st_dev and st_ino), which would be a loop.
 * 0, or -ELOOP (usage) naming the files; -errno if fstat fails.
 */
int qcow2_chain_check(const struct qcow2_link *links, size_t n, struct err *err);

enum qcow2_map_kind {
	QCOW2_MAP_DATA,         /* the bytes are at host_off in this image's file */
	QCOW2_MAP_ZERO,         /* they read as zeros */
	QCOW2_MAP_COMPRESSED,   /* one compressed cluster's: read them with qcow2_read */
	QCOW2_MAP_BACKING,      /* the backing layer's, at the same guest offset */
};

struct qcow2_map {
	enum qcow2_map_kind kind;
	uint64_t len;           /* bytes from the offset asked for that are of this kind, >= 1 */
	uint64_t host_off;      /* DATA: where they start in the file; COMPRESSED: the stream's start */
	uint64_t host_len;      /* COMPRESSED: the stream's length in the file */
	/*
	 * DATA on a writable handle: the clusters are this image's alone, so
	 * writes may go straight to host_off (no metadata changes); else a
	 * write must go through qcow2_write. Host bytes past the file's end
	 * (a short last cluster) read as zeros.
	 */
	bool in_place;
};

/*
 * What backs the guest bytes [off, off + len): the first extent, of
 * m->len bytes (at most len, and never past one L2 table's reach: call
 * again for the rest). off + len must lie within the disk. 0, -EINVAL
 * (usage) for a corrupt table entry, or -errno.
 */
int qcow2_map(struct qcow2 *q, uint64_t off, uint64_t len, struct qcow2_map *m,
	      struct err *err);

/*
 * Reads guest bytes [off, off + len) into buf, through the backing chain
 * and decompressing compressed clusters. 0 or -errno (-EINVAL for a range
 * past the disk's end, usage for a corrupt image; -ENXIO for a backing
 * file named but not attached).
 */
int qcow2_read(struct qcow2 *q, uint64_t off, void *buf, size_t len, struct err *err);

/*
 * Writes guest bytes [off, off + len) (writable handles only: -EROFS),
 * allocating clusters and L2 tables as needed, with copy-on-write from
 * the backing layer (or zeros, or a compressed cluster's contents) for
 * the parts of a cluster the write does not cover. 0 or -errno; on a
 * failure part of the range may have been written, and clusters may have
 * leaked, never a dangling entry.
 */
int qcow2_write(struct qcow2 *q, uint64_t off, const void *buf, size_t len, struct err *err);

/*
 * Makes guest bytes [off, off + len) read as zeros (write-zeroes and
 * discard both): whole clusters get v3's zero flag (v2: are deallocated
 * when nothing backs them, else written), their host clusters let go;
 * partial clusters are written with zeros. Writable handles only.
 */
int qcow2_zero(struct qcow2 *q, uint64_t off, uint64_t len, struct err *err);

/*
 * Makes everything written so far durable (fdatasync), then lowers the
 * refcounts of clusters let go since the last flush (whose new refcounts
 * become durable at the next flush; a crash between leaks them, no more).
 * Read-only handles: 0.
 */
int qcow2_flush(struct qcow2 *q, struct err *err);

/*
 * Loads zlib (dlopen, once per process) for compressed clusters; reading
 * one does it too, but a process that seals itself in a sandbox should
 * call this first. 0 or -ELIBACC.
 */
int qcow2_inflate_load(struct err *err);

struct qcow2_create_opts {
	uint64_t size;            /* the virtual disk's size in bytes, a multiple of 512 */
	uint32_t cluster_bits;    /* 9..21; 0: 16 (64 KiB clusters) */
	uint32_t refcount_bits;   /* 1, 2, 4, ..., 64; 0: 16 */
	const char *backing_file; /* NULL: none; recorded in the header, never opened */
	const char *backing_fmt;  /* NULL: none recorded ("qcow2", "raw") */
};

/*
 * Writes a new, empty qcow2 version 3 image (no features) onto fd from
 * offset 0, truncating a regular file to the
 * image's length, and fdatasyncs it. 0 or -errno; -EINVAL (usage) for
 * options out of range (a name too long to fit the first cluster, a disk
 * too large for a single refcount block's worth of metadata).
 */
int qcow2_create(int fd, const struct qcow2_create_opts *opts, struct err *err);

#endif
