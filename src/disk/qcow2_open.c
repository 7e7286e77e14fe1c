/*
 * Opening and closing an image: the header (qcow2_header.c), then the
 * active L1 table read whole and every entry checked, so a lookup later
 * only has to index it; the refcount table likewise for a writable
 * handle (qcow2_refcount.c). Also the handle's file I/O, which keeps
 * track of the file's size as clusters are added.
 */
#include "disk/qcow2_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file.h"

int qcow2_pread(struct qcow2 *q, void *buf, size_t len, uint64_t off, struct err *err)
{
	ssize_t n = file_pread_full(q->fd, buf, len, off);

	if (n < 0)
		return err_set(err, false, (int)n, "qcow2: reading at 0x%" PRIx64 ": %s", off,
			       strerror((int)-n));
	/* Past the end of the file is a hole: a short last cluster reads as zeros. */
	memset((uint8_t *)buf + n, 0, len - (size_t)n);
	return 0;
}

int qcow2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off, struct err *err)
{
	if (file_pwrite_full(q->fd, buf, len, off) < 0) {
		int ret = -errno;

		return err_set(err, false, ret, "qcow2: writing at 0x%" PRIx64 ": %s", off,
			       strerror(-ret));
	}
	if (off + len > q->file_size)
		q->file_size = off + len;
	return 0;
}

int qcow2_sync(struct qcow2 *q, struct err *err)
{
	if (fdatasync(q->fd) < 0) {
		int ret = -errno;

		return err_set(err, false, ret, "qcow2: fdatasync: %s", strerror(-ret));
	}
	return 0;
}

bool qcow2_hits_metadata(const struct qcow2 *q, uint64_t off, uint64_t len)
{
	uint64_t l1_len = qcow2_round_up((uint64_t)q->l1_size * 8, q->cluster_size);

	return qcow2_overlap(off, len, 0, q->cluster_size) ||
	       qcow2_overlap(off, len, q->l1_off, l1_len) ||
	       qcow2_overlap(off, len, q->rt_off, (uint64_t)q->rt_clusters * q->cluster_size);
}

/* A regular file's size, or a block device's. */
static int file_size_of(int fd, uint64_t *size, struct err *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int ret = -errno;

		return err_set(err, false, ret, "qcow2: fstat: %s", strerror(-ret));
	}
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size) < 0) {
			int ret = -errno;

			return err_set(err, false, ret, "qcow2: BLKGETSIZE64: %s", strerror(-ret));
		}
		return 0;
	}
	return err_set(err, true, -EINVAL, "qcow2: not a regular file or block device");
}

/*
 * The active L1 table, whole. Every L2 table it names must be a cluster
 * inside the file, off the header and the top tables: checked once here,
 * so a lookup only indexes.
 */
static int l1_load(struct qcow2 *q, struct err *err)
{
	size_t bytes = (size_t)q->l1_size * 8;
	uint8_t *raw;
	int ret;

	q->l1 = calloc(q->l1_size ? q->l1_size : 1, sizeof(uint64_t));
	raw = malloc(bytes ? bytes : 1);
	if (!q->l1 || !raw) {
		ret = err_set(err, false, -ENOMEM, "qcow2: out of memory for the L1 table");
		goto err_free;
	}
	ret = qcow2_pread(q, raw, bytes, q->l1_off, err);
	if (ret)
		goto err_free;
	for (uint32_t i = 0; i < q->l1_size; i++) {
		uint64_t e = qcow2_be64(raw + (size_t)i * 8), off = e & QCOW2_OFFSET_MASK;

		q->l1[i] = e;
		if (e & QCOW2_L1_RESERVED) {
			ret = err_set(err, true, -EINVAL,
				      "qcow2: L1 entry %u (0x%016" PRIx64 ") has reserved bits set",
				      i, e);
			goto err_free;
		}
		if (!off)
			continue;
		if (off & (q->cluster_size - 1))
			ret = err_set(err, true, -EINVAL,
				      "qcow2: L1 entry %u: L2 table offset 0x%" PRIx64
				      " not aligned to the cluster size", i, off);
		else if (off > q->file_size || q->cluster_size > q->file_size - off)
			ret = err_set(err, true, -EINVAL,
				      "qcow2: L1 entry %u: L2 table at 0x%" PRIx64
				      " past the end of the file (%" PRIu64 " bytes)", i, off,
				      q->file_size);
		else if (qcow2_hits_metadata(q, off, q->cluster_size))
			ret = err_set(err, true, -EINVAL,
				      "qcow2: L1 entry %u: L2 table at 0x%" PRIx64
				      " overlaps the header, the L1 table or the refcount table",
				      i, off);
		if (ret)
			goto err_free;
	}
err_free:
	free(raw);
	return ret;
}

/* A table the L1 or refcount table names: where, and which entry names it. */
struct named {
	uint64_t off;
	uint64_t idx;
	bool block;             /* a refcount block, else an L2 table */
};

static int named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * No cluster may be two tables: two L2 tables, or an L2 table and a
 * refcount block (writes to one would silently change the other). All
 * are cluster-aligned, so overlapping means equal: sorted, neighbours
 * are compared.
 */
static int check_distinct(struct qcow2 *q, struct err *err)
{
	uint64_t n = 0, rt_n = q->rt ? q->rt_entries : 0;
	struct named *v = malloc((q->l1_size + rt_n + 1) * sizeof(*v));
	int ret = 0;

	if (!v)
		return err_set(err, false, -ENOMEM, "qcow2: out of memory");
	for (uint64_t i = 0; i < q->l1_size; i++)
		if (q->l1[i] & QCOW2_OFFSET_MASK)
			v[n++] = (struct named){ q->l1[i] & QCOW2_OFFSET_MASK, i, false };
	for (uint64_t i = 0; i < rt_n; i++)
		if (q->rt[i])
			v[n++] = (struct named){ q->rt[i], i, true };
	qsort(v, n, sizeof(*v), named_cmp);
	for (uint64_t i = 1; i < n && !ret; i++) {
		const struct named *a = &v[i - 1], *b = &v[i];

		if (a->off != b->off)
			continue;
		if (a->block && b->block)
			ret = err_set(err, true, -EINVAL,
				      "qcow2: refcount blocks %" PRIu64 " and %" PRIu64
				      " are both at 0x%" PRIx64, a->idx, b->idx, a->off);
		else if (a->block || b->block)
			ret = err_set(err, true, -EINVAL,
				      "qcow2: L1 entry %" PRIu64 ": L2 table at 0x%" PRIx64
				      " is also refcount block %" PRIu64, a->block ? b->idx : a->idx,
				      a->off, a->block ? a->idx : b->idx);
		else
			ret = err_set(err, true, -EINVAL,
				      "qcow2: L1 entries %" PRIu64 " and %" PRIu64
				      " both name the L2 table at 0x%" PRIx64, a->idx, b->idx, a->off);
	}
	free(v);
	return ret;
}

/* A writer that keeps no autoclear feature must clear its bits before writing (the format). */
static int clear_autoclear(struct qcow2 *q, struct err *err)
{
	uint8_t zero[8] = { 0 };
	int ret = qcow2_pwrite(q, zero, sizeof(zero), QCOW2_HDR_AUTOCLEAR, err);

	return ret ? ret : qcow2_sync(q, err);
}

static void fill_info(struct qcow2 *q, const struct qcow2_hdr *h)
{
	struct qcow2_info *i = &q->info;

	i->version = h->version;
	i->cluster_bits = h->cluster_bits;
	i->cluster_size = (uint32_t)q->cluster_size;
	i->refcount_bits = 1u << h->refcount_order;
	i->size = h->size;
	i->nb_snapshots = h->nb_snapshots;
	i->dirty = h->incompat & QCOW2_INCOMPAT_DIRTY;
	i->writable = q->writable;
	i->has_backing = h->has_backing;
	memcpy(i->backing_file, h->backing, sizeof(i->backing_file));
	memcpy(i->backing_fmt, h->backing_fmt, sizeof(i->backing_fmt));
}

int qcow2_open(int fd, const struct qcow2_opts *opts, struct qcow2 **out, struct err *err)
{
	struct qcow2_opts def = { 0 };
	struct qcow2_hdr *h;
	struct qcow2 *q;
	size_t budget;
	int ret;

	*out = NULL;
	if (!opts)
		opts = &def;
	q = calloc(1, sizeof(*q));
	h = malloc(sizeof(*h));
	if (!q || !h) {
		free(q);
		free(h);
		return err_set(err, false, -ENOMEM, "qcow2: out of memory");
	}
	q->fd = fd;
	q->writable = opts->writable;
	ret = file_size_of(fd, &q->file_size, err);
	if (!ret)
		ret = qcow2_header_parse(fd, q->file_size, q->writable, h, err);
	if (ret)
		goto err_close;
	q->cluster_bits = h->cluster_bits;
	q->cluster_size = 1ull << h->cluster_bits;
	q->l2_bits = h->cluster_bits - 3;
	q->l1_off = h->l1_off;
	q->l1_size = h->l1_size;
	q->rt_off = h->rt_off;
	q->rt_clusters = h->rt_clusters;
	q->refcount_order = h->refcount_order;
	q->rb_bits = h->cluster_bits + 3 - h->refcount_order;
	q->backing_named = h->has_backing;
	/* Compressed descriptors: x = 62 - (cluster_bits - 8) bits of offset, then the sectors. */
	q->csize_shift = 62 - (h->cluster_bits - 8);
	q->coff_mask = (1ull << q->csize_shift) - 1;
	q->csize_mask = (1ull << (h->cluster_bits - 8)) - 1;
	fill_info(q, h);

	budget = opts->cache_bytes ? opts->cache_bytes : QCOW2_CACHE_DEFAULT;
	budget /= q->cluster_size;
	ret = qcow2_cache_init(&q->l2c, budget < 2 ? 2 : budget > QCOW2_L2_CACHE_MAX ?
				       QCOW2_L2_CACHE_MAX : (unsigned int)budget);
	if (!ret)
		ret = qcow2_cache_init(&q->rbc, QCOW2_RB_CACHE_N);
	if (ret) {
		ret = err_set(err, false, ret, "qcow2: out of memory");
		goto err_close;
	}
	ret = l1_load(q, err);
	if (!ret && q->writable)
		ret = qcow2_refcount_load(q, err);
	if (!ret)
		ret = check_distinct(q, err);
	/* Last: a refused image must not have been written to. */
	if (!ret && q->writable && h->autoclear)
		ret = clear_autoclear(q, err);
	if (ret)
		goto err_close;
	q->alloc_hint = q->file_size / q->cluster_size + !!(q->file_size % q->cluster_size);
	q->reuse_hint = UINT64_MAX;
	free(h);
	*out = q;
	return 0;
err_close:
	free(h);
	q->writable = false;
	qcow2_close(q);
	return ret;
}

void qcow2_close(struct qcow2 *q)
{
	struct err ignored = ERR_INIT;

	if (!q)
		return;
	if (q->writable)
		(void)qcow2_flush(q, &ignored);
	qcow2_cache_free(&q->l2c);
	qcow2_cache_free(&q->rbc);
	free(q->l1);
	free(q->rt);
	free(q->cow);
	free(q->zin);
	free(q->zout);
	free(q);
}

const struct qcow2_info *qcow2_info(const struct qcow2 *q)
{
	return &q->info;
}
