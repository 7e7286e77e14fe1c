/*
 * The qcow2 header and its extensions, read and checked before anything
 * else is: each field the engine depends on is range-checked here, so
 * the rest may trust the geometry (cluster size, table offsets and
 * sizes). Only the first cluster is read: the header, the extensions
 * after it and the backing file name must all lie in it.
 */
#include "disk/qcow2_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/file.h"

#define EXT_END 0x00000000u
#define EXT_BACKING_FMT 0xe2792acau
#define EXT_FEATURE_TABLE 0x6803f857u
#define FEATURE_ENTRY_LEN 48u
#define FEATURE_NAME_LEN 46u

/* Where the feature name table is, if the image has one: for naming unknown bits. */
struct feat_table {
	const uint8_t *p;
	size_t len;
};

struct parse {
	const uint8_t *buf;     /* the first cluster, as far as the file has it */
	size_t avail;           /* its bytes that are in the file */
	uint64_t cs;
	struct feat_table ft;
	bool have_fmt;
};

static const char *const incompat_names[] = {
	"dirty", "corrupt", "external data file", "compression type", "extended L2 entries",
};

/*
 * The image's own name for an incompatible bit, from its feature table,
 * printable characters only; else ours, else "bit N".
 */
static void feature_name(const struct parse *p, unsigned int bit, char *out, size_t out_len)
{
	for (size_t i = 0; i + FEATURE_ENTRY_LEN <= p->ft.len; i += FEATURE_ENTRY_LEN) {
		const uint8_t *e = p->ft.p + i;
		size_t n = 0;

		if (e[0] != 0 || e[1] != bit)
			continue;
		for (size_t j = 0; j < FEATURE_NAME_LEN && e[2 + j] && n + 1 < out_len; j++)
			out[n++] = e[2 + j] >= 0x20 && e[2 + j] < 0x7f ? (char)e[2 + j] : '?';
		out[n] = '\0';
		if (n)
			return;
	}
	if (bit < sizeof(incompat_names) / sizeof(incompat_names[0]))
		snprintf(out, out_len, "%s", incompat_names[bit]);
	else
		snprintf(out, out_len, "bit %u", bit);
}

/* A string from the image: no longer than QCOW2_NAME_MAX and no NUL inside. */
static int copy_name(const uint8_t *src, size_t len, char *dst, const char *what,
		     struct err *err)
{
	if (len > QCOW2_NAME_MAX)
		return err_set(err, true, -EINVAL, "qcow2: %s of %zu bytes is longer than %u",
			       what, len, QCOW2_NAME_MAX);
	if (memchr(src, '\0', len))
		return err_set(err, true, -EINVAL, "qcow2: %s contains a NUL byte", what);
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

/*
 * The extensions between the header and end (the backing file name, or
 * the cluster's end). Each is a type, a length and its data padded to 8
 * bytes; the walk moves at least 8 bytes each step, so it ends.
 */
static int parse_extensions(struct parse *p, struct qcow2_hdr *h, uint64_t end, struct err *err)
{
	uint64_t off = h->header_len;

	while (off < end) {
		uint32_t type, len;
		int ret;

		if (end - off < 8)
			return err_set(err, true, -EINVAL,
				       "qcow2: header extension at %" PRIu64 " cut short", off);
		if (off + 8 > p->avail)
			return err_set(err, true, -EINVAL,
				       "qcow2: header extension at %" PRIu64
				       " past the end of the file", off);
		type = qcow2_be32(p->buf + off);
		len = qcow2_be32(p->buf + off + 4);
		if (type == EXT_END)
			return 0;
		if (len > end - off - 8 || off + 8 + len > p->avail)
			return err_set(err, true, -EINVAL,
				       "qcow2: header extension 0x%08x at %" PRIu64
				       ": length %u runs past the extension area",
				       type, off, len);
		if (type == EXT_BACKING_FMT) {
			if (p->have_fmt)
				return err_set(err, true, -EINVAL,
					       "qcow2: two backing file format extensions");
			ret = copy_name(p->buf + off + 8, len, h->backing_fmt,
					"backing file format", err);
			if (ret)
				return ret;
			p->have_fmt = true;
		} else if (type == EXT_FEATURE_TABLE) {
			p->ft.p = p->buf + off + 8;
			p->ft.len = len;
		}
		/* Any other extension (bitmaps, a crypt header, unknown ones) is skipped. */
		off += 8 + qcow2_round_up(len, 8);
	}
	return 0;
}

/* The incompatible, compression and encryption fields: each unsupported one by name. */
static int check_features(const struct parse *p, const struct qcow2_hdr *h, uint32_t crypt,
			  uint8_t compression, bool writable, struct err *err)
{
	char name[FEATURE_NAME_LEN + 1];

	if (h->incompat & QCOW2_INCOMPAT_CORRUPT)
		return err_set(err, true, -EINVAL,
			       "qcow2: image is marked corrupt (incompatible feature 'corrupt')");
	for (unsigned int bit = 0; bit < 64; bit++) {
		uint64_t b = 1ull << bit;

		if (!(h->incompat & b) || b == QCOW2_INCOMPAT_DIRTY ||
		    b == QCOW2_INCOMPAT_COMPRESSION)
			continue;
		/* Bits we know but do not do are named the same way as unknown ones. */
		feature_name(p, bit, name, sizeof(name));
		return err_set(err, true, -ENOTSUP,
			       "qcow2: incompatible feature '%s' not supported", name);
	}
	if (crypt == 1 || crypt == 2)
		return err_set(err, true, -ENOTSUP, "qcow2: encryption '%s' not supported",
			       crypt == 1 ? "AES" : "LUKS");
	if (crypt)
		return err_set(err, true, -ENOTSUP, "qcow2: encryption method %u not supported",
			       crypt);
	if (h->incompat & QCOW2_INCOMPAT_COMPRESSION) {
		if (compression == 1)
			return err_set(err, true, -ENOTSUP,
				       "qcow2: compression type 'zstd' not supported");
		return err_set(err, true, -ENOTSUP, "qcow2: compression type %u not supported",
			       compression);
	}
	if (compression)
		return err_set(err, true, -EINVAL,
			       "qcow2: compression type %u set without its incompatible feature bit",
			       compression);
	if ((h->incompat & QCOW2_INCOMPAT_DIRTY) && writable)
		return err_set(err, true, -ENOTSUP,
			       "qcow2: image is dirty (its refcounts need a rebuild: "
			       "qemu-img check -r all); only a read-only open is supported");
	if (h->nb_snapshots && writable)
		return err_set(err, true, -ENOTSUP,
			       "qcow2: writing an image with internal snapshots not supported "
			       "(%u snapshots)", h->nb_snapshots);
	return 0;
}

static int check_backing_name(const struct parse *p, struct qcow2_hdr *h, uint64_t off,
			      uint32_t len, struct err *err)
{
	if (!off || !len)
		return 0;
	if (len > QCOW2_NAME_MAX)
		return err_set(err, true, -EINVAL,
			       "qcow2: backing file name of %u bytes is longer than %u", len,
			       QCOW2_NAME_MAX);
	if (off < h->header_len)
		return err_set(err, true, -EINVAL,
			       "qcow2: backing file name at %" PRIu64 " overlaps the header", off);
	if (off > p->cs || len > p->cs - off)
		return err_set(err, true, -EINVAL,
			       "qcow2: backing file name at %" PRIu64 " (%u bytes) "
			       "past the first cluster", off, len);
	if (off + len > p->avail)
		return err_set(err, true, -EINVAL,
			       "qcow2: backing file name at %" PRIu64 " past the end of the file",
			       off);
	h->has_backing = true;
	return copy_name(p->buf + off, len, h->backing, "backing file name", err);
}

/*
 * The L1 and refcount tables' places: aligned, inside the file, clear of
 * the header and of each other.
 */
static int check_tables(const struct qcow2_hdr *h, uint64_t cs, uint64_t file_size,
			struct err *err)
{
	uint64_t clusters = (h->size >> h->cluster_bits) + !!(h->size & (cs - 1));
	uint64_t l2_entries = cs / 8, need = clusters / l2_entries + !!(clusters % l2_entries);
	uint64_t l1_bytes = (uint64_t)h->l1_size * 8, rt_bytes = (uint64_t)h->rt_clusters * cs;

	if (l1_bytes > QCOW2_L1_MAX_BYTES)
		return err_set(err, true, -EINVAL,
			       "qcow2: L1 table of %u entries past the %u MiB limit", h->l1_size,
			       QCOW2_L1_MAX_BYTES >> 20);
	if (h->l1_size < need)
		return err_set(err, true, -EINVAL,
			       "qcow2: L1 table of %u entries too small for a disk of %" PRIu64
			       " bytes (needs %" PRIu64 ")", h->l1_size, h->size, need);
	if (h->l1_size) {
		if (h->l1_off & (cs - 1))
			return err_set(err, true, -EINVAL,
				       "qcow2: L1 table offset 0x%" PRIx64
				       " not aligned to the cluster size", h->l1_off);
		if (h->l1_off < cs)
			return err_set(err, true, -EINVAL,
				       "qcow2: L1 table at 0x%" PRIx64 " overlaps the header",
				       h->l1_off);
		if (h->l1_off > file_size || l1_bytes > file_size - h->l1_off)
			return err_set(err, true, -EINVAL,
				       "qcow2: L1 table at 0x%" PRIx64 " (%" PRIu64
				       " bytes) past the end of the file (%" PRIu64 " bytes)",
				       h->l1_off, l1_bytes, file_size);
	}
	if (!h->rt_clusters)
		return err_set(err, true, -EINVAL, "qcow2: refcount table of 0 clusters");
	if (rt_bytes > QCOW2_RT_MAX_BYTES)
		return err_set(err, true, -EINVAL,
			       "qcow2: refcount table of %u clusters past the %u MiB limit",
			       h->rt_clusters, QCOW2_RT_MAX_BYTES >> 20);
	if (h->rt_off & (cs - 1))
		return err_set(err, true, -EINVAL,
			       "qcow2: refcount table offset 0x%" PRIx64
			       " not aligned to the cluster size", h->rt_off);
	if (h->rt_off < cs)
		return err_set(err, true, -EINVAL,
			       "qcow2: refcount table at 0x%" PRIx64 " overlaps the header",
			       h->rt_off);
	if (h->rt_off > file_size || rt_bytes > file_size - h->rt_off)
		return err_set(err, true, -EINVAL,
			       "qcow2: refcount table at 0x%" PRIx64 " (%" PRIu64
			       " bytes) past the end of the file (%" PRIu64 " bytes)",
			       h->rt_off, rt_bytes, file_size);
	if (qcow2_overlap(h->l1_off, qcow2_round_up(l1_bytes, cs), h->rt_off, rt_bytes))
		return err_set(err, true, -EINVAL,
			       "qcow2: L1 table at 0x%" PRIx64
			       " overlaps the refcount table at 0x%" PRIx64, h->l1_off, h->rt_off);
	return 0;
}

/* The fields of a version 3 header past version 2's. */
static int parse_v3(struct parse *p, struct qcow2_hdr *h, uint8_t *compression,
		    struct err *err)
{
	const uint8_t *b = p->buf;

	h->incompat = qcow2_be64(b + 72);
	h->autoclear = qcow2_be64(b + QCOW2_HDR_AUTOCLEAR);
	h->refcount_order = qcow2_be32(b + 96);
	h->header_len = qcow2_be32(b + 100);
	if (h->header_len < QCOW2_V3_HEADER_LEN || h->header_len % 8 || h->header_len > p->cs)
		return err_set(err, true, -EINVAL,
			       "qcow2: header length %u invalid (a multiple of 8, %u to %" PRIu64
			       ")", h->header_len, QCOW2_V3_HEADER_LEN, p->cs);
	if (h->header_len > p->avail)
		return err_set(err, true, -EINVAL,
			       "qcow2: header length %u past the end of the file", h->header_len);
	if (h->refcount_order > 6)
		return err_set(err, true, -EINVAL, "qcow2: refcount_order %u out of range (0..6)",
			       h->refcount_order);
	*compression = h->header_len > QCOW2_V3_HEADER_LEN ? b[104] : 0;
	return 0;
}

int qcow2_header_parse(int fd, uint64_t file_size, bool writable, struct qcow2_hdr *h,
		       struct err *err)
{
	uint8_t first[QCOW2_V3_HEADER_LEN] = { 0 }, compression = 0;
	struct parse p = { 0 };
	uint64_t backing_off, ext_end;
	uint32_t backing_len, crypt, magic;
	uint8_t *buf = NULL;
	ssize_t n;
	int ret;

	memset(h, 0, sizeof(*h));
	if (file_size < QCOW2_V2_HEADER_LEN)
		return err_set(err, true, -EINVAL,
			       "qcow2: file of %" PRIu64 " bytes too short for a header", file_size);
	n = file_pread_full(fd, first, QCOW2_V2_HEADER_LEN, 0);
	if (n < 0)
		return err_set(err, false, (int)n, "qcow2: reading the header: %s",
			       strerror((int)-n));
	if (n < (ssize_t)QCOW2_V2_HEADER_LEN)
		return err_set(err, true, -EINVAL, "qcow2: the header is cut short");
	magic = qcow2_be32(first);
	if (magic != QCOW2_MAGIC)
		return err_set(err, true, -EINVAL, "qcow2: not a qcow2 image (magic 0x%08x)", magic);
	h->version = qcow2_be32(first + 4);
	if (h->version != 2 && h->version != 3)
		return err_set(err, true, -ENOTSUP, "qcow2: version %u not supported (2 or 3)",
			       h->version);
	h->cluster_bits = qcow2_be32(first + 20);
	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return err_set(err, true, -EINVAL, "qcow2: cluster_bits %u out of range (%u..%u)",
			       h->cluster_bits, QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
	p.cs = 1ull << h->cluster_bits;
	p.avail = file_size < p.cs ? (size_t)file_size : (size_t)p.cs;
	buf = calloc(1, p.cs);
	if (!buf)
		return err_set(err, false, -ENOMEM, "qcow2: out of memory");
	n = file_pread_full(fd, buf, p.avail, 0);
	if (n < 0) {
		ret = err_set(err, false, (int)n, "qcow2: reading the header: %s",
			      strerror((int)-n));
		goto err_free;
	}
	p.avail = (size_t)n;
	p.buf = buf;

	backing_off = qcow2_be64(buf + 8);
	backing_len = qcow2_be32(buf + 16);
	h->size = qcow2_be64(buf + 24);
	crypt = qcow2_be32(buf + 32);
	h->l1_size = qcow2_be32(buf + 36);
	h->l1_off = qcow2_be64(buf + 40);
	h->rt_off = qcow2_be64(buf + QCOW2_HDR_RT_OFFSET);
	h->rt_clusters = qcow2_be32(buf + 56);
	h->nb_snapshots = qcow2_be32(buf + 60);
	h->header_len = QCOW2_V2_HEADER_LEN;
	h->refcount_order = 4;
	if (h->version == 3) {
		ret = parse_v3(&p, h, &compression, err);
		if (ret)
			goto err_free;
	}
	/* As QEMU: the extensions end where the backing file name begins. */
	ext_end = backing_off && backing_off < p.cs ? backing_off : p.cs;
	ret = parse_extensions(&p, h, ext_end, err);
	if (!ret)
		ret = check_features(&p, h, crypt, compression, writable, err);
	if (!ret)
		ret = check_backing_name(&p, h, backing_off, backing_len, err);
	if (!ret)
		ret = check_tables(h, p.cs, file_size, err);
err_free:
	free(buf);
	return ret;
}
