/*
 * Writes, zero writes and flushes, one L2 table's reach at a time.
 *
 * A cluster this image has alone (an L2 entry with COPIED) is written in
 * place, with no metadata. Any other gets a cluster of its own: the whole
 * cluster is built (the parts the write does not cover come from the
 * backing layer, zeros, the old shared cluster or the old compressed
 * one), written to a newly allocated cluster (refcount 1, written
 * first), and only after an fdatasync does the L2 entry name it (for a
 * new L2 table: the table's contents go out with the data, the L1 entry
 * after the sync). Clusters so let go are freed after the next sync
 * (qcow2_refcount.c), never before the entry that let them go is on
 * disk. See qcow2.h for what a crash can leave.
 */
#include "disk/qcow2_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Clusters let go while an L2 table is being changed: queued only once the change is written. */
#define L2W_PEND 16u

/* An L2 table being changed: the entries changed, and what must precede writing them. */
struct l2w {
	uint64_t l1i;
	uint64_t off;           /* the table's file offset; 0: none (and none made) */
	uint8_t *t;             /* its cached copy, changed in place */
	bool fresh;             /* new: not yet on disk nor in the L1 table */
	bool barrier;           /* new data clusters: sync before the entries are written */
	uint64_t lo, hi;        /* changed entries [lo, hi) */
	struct qcow2_free pend[L2W_PEND];
	unsigned int npend;
};

static int l2w_begin(struct qcow2 *q, uint64_t l1i, bool create, struct l2w *w,
		     struct err *err)
{
	uint64_t e = q->l1[l1i], off = e & QCOW2_OFFSET_MASK;
	int ret;

	memset(w, 0, sizeof(*w));
	w->l1i = l1i;
	w->lo = UINT64_MAX;
	if (off) {
		/* Only an image with internal snapshots (refused writable) shares L2 tables. */
		if (!(e & QCOW2_OFLAG_COPIED))
			return err_set(err, true, -ENOTSUP,
				       "qcow2: L1 entry %" PRIu64 ": L2 table at 0x%" PRIx64
				       " is shared (no COPIED flag); writing it not supported", l1i,
				       off);
		w->off = off;
		return qcow2_cache_get(q, &q->l2c, off, &w->t, err);
	}
	if (!create)
		return 0;
	ret = qcow2_alloc_cluster(q, &off, err);
	if (ret)
		return ret;
	w->t = qcow2_cache_new(q, &q->l2c, off);
	if (!w->t)
		return err_set(err, false, -ENOMEM, "qcow2: out of memory for an L2 table");
	w->off = off;
	w->fresh = true;
	return 0;
}

static void l2w_set(struct l2w *w, uint64_t i, uint64_t entry)
{
	qcow2_put_be64(w->t + i * 8, entry);
	if (i < w->lo)
		w->lo = i;
	if (i + 1 > w->hi)
		w->hi = i + 1;
}

/* Writes the changes out in the safe order, then queues the clusters they let go. */
static int l2w_commit(struct qcow2 *q, struct l2w *w, struct err *err)
{
	uint8_t e[8];
	int ret = 0;

	if (w->fresh) {
		ret = qcow2_pwrite(q, w->t, q->cluster_size, w->off, err);
		if (!ret)
			ret = qcow2_sync(q, err);
		qcow2_put_be64(e, w->off | QCOW2_OFLAG_COPIED);
		if (!ret)
			ret = qcow2_pwrite(q, e, sizeof(e), q->l1_off + w->l1i * 8, err);
		if (ret)
			return ret;
		q->l1[w->l1i] = w->off | QCOW2_OFLAG_COPIED;
		w->fresh = false;
	} else if (w->lo < w->hi) {
		if (w->barrier)
			ret = qcow2_sync(q, err);
		if (!ret)
			ret = qcow2_pwrite(q, w->t + w->lo * 8, (w->hi - w->lo) * 8,
					   w->off + w->lo * 8, err);
		if (ret)
			return ret;
	}
	w->lo = UINT64_MAX;
	w->hi = 0;
	w->barrier = false;
	for (unsigned int i = 0; i < w->npend && !ret; i++)
		ret = qcow2_free_later(q, w->pend[i].off, w->pend[i].len, err);
	w->npend = 0;
	return ret;
}

/* After a failure: the cached copy may hold changes the file does not. */
static void l2w_abort(struct qcow2 *q, struct l2w *w)
{
	if (w->off && (w->fresh || w->lo < w->hi))
		qcow2_cache_drop(&q->l2c, w->off);
}

static int l2w_free(struct qcow2 *q, struct l2w *w, uint64_t off, uint64_t len,
		    struct err *err)
{
	int ret;

	if (w->npend == L2W_PEND) {
		ret = l2w_commit(q, w, err);
		if (ret)
			return ret;
	}
	w->pend[w->npend++] = (struct qcow2_free){ off, len };
	return 0;
}

/* The cluster's old contents into q->cow, for the parts a write leaves. */
static int cow_fill(struct qcow2 *q, const struct qcow2_cl *cl, uint64_t guest_off,
		    struct err *err)
{
	uint64_t cs = q->cluster_size, n = q->info.size - guest_off < cs ? q->info.size - guest_off : cs;
	int ret = 0;

	memset(q->cow, 0, cs);
	switch (cl->type) {
	case QCOW2_C_UNALLOC:
		ret = qcow2_backing_read(q, guest_off, q->cow, (size_t)n, 0, err);
		break;
	case QCOW2_C_NORMAL:
		ret = qcow2_pread(q, q->cow, cs, cl->host_off, err);
		break;
	case QCOW2_C_COMPRESSED:
		ret = qcow2_compressed_load(q, cl, err);
		if (!ret)
			memcpy(q->cow, q->zout, cs);
		break;
	case QCOW2_C_ZERO:
		break;
	}
	return ret;
}

/* Writes n bytes at in into guest cluster gc, whose entry is in w. */
static int write_cluster(struct qcow2 *q, struct l2w *w, uint64_t gc, uint64_t in,
			 const uint8_t *src, uint64_t n, struct err *err)
{
	uint64_t cs = q->cluster_size, i = gc & ((1ull << q->l2_bits) - 1), target;
	const uint8_t *data = src;
	struct qcow2_cl cl;
	int ret = qcow2_l2_entry(q, w->t, i, gc << q->cluster_bits, &cl, err);

	if (ret)
		return ret;
	if (cl.type == QCOW2_C_NORMAL && cl.copied)
		return qcow2_pwrite(q, src, (size_t)n, cl.host_off + in, err);
	if (in || n != cs) {
		ret = cow_fill(q, &cl, gc << q->cluster_bits, err);
		if (ret)
			return ret;
		memcpy(q->cow + in, src, (size_t)n);
		data = q->cow;
	}
	/* A preallocated zero cluster of our own is reused; anything else gets a new one. */
	if (cl.type == QCOW2_C_ZERO && cl.host_off && cl.copied)
		target = cl.host_off;
	else
		ret = qcow2_alloc_cluster(q, &target, err);
	if (!ret)
		ret = qcow2_pwrite(q, data, cs, target, err);
	if (ret)
		return ret;
	l2w_set(w, i, target | QCOW2_OFLAG_COPIED);
	w->barrier = true;
	if (cl.type == QCOW2_C_COMPRESSED)
		return l2w_free(q, w, cl.host_off, cl.host_len, err);
	if (cl.host_off && cl.host_off != target)
		return l2w_free(q, w, cl.host_off, cs, err);
	return 0;
}

/* A write inside one L2 table's reach. */
static int write_chunk(struct qcow2 *q, uint64_t off, const uint8_t *src, uint64_t len,
		       struct err *err)
{
	uint64_t cs = q->cluster_size;
	struct l2w w;
	int ret = l2w_begin(q, off >> q->cluster_bits >> q->l2_bits, true, &w, err);

	while (!ret && len) {
		uint64_t in = off & (cs - 1), n = cs - in < len ? cs - in : len;

		ret = write_cluster(q, &w, off >> q->cluster_bits, in, src, n, err);
		off += n;
		src += n;
		len -= n;
	}
	if (!ret)
		ret = l2w_commit(q, &w, err);
	if (ret)
		l2w_abort(q, &w);
	return ret;
}

static int check_write(struct qcow2 *q, uint64_t off, uint64_t len, struct err *err)
{
	if (!q->writable)
		return err_set(err, false, -EROFS, "qcow2: the image is open read-only");
	if (off > q->info.size || len > q->info.size - off)
		return err_set(err, false, -EINVAL,
			       "qcow2: %" PRIu64 " bytes at 0x%" PRIx64 " are not all inside the "
			       "disk (%" PRIu64 " bytes)", len, off, q->info.size);
	if (!q->cow)
		q->cow = malloc(q->cluster_size);
	if (!q->cow)
		return err_set(err, false, -ENOMEM, "qcow2: out of memory");
	return 0;
}

/* Bytes from off to the end of its L2 table's reach. */
static uint64_t table_reach(const struct qcow2 *q, uint64_t off)
{
	uint32_t shift = q->cluster_bits + q->l2_bits;

	return ((off >> shift) + 1) * (1ull << shift) - off;
}

int qcow2_write(struct qcow2 *q, uint64_t off, const void *buf, size_t len, struct err *err)
{
	const uint8_t *p = buf;
	int ret = check_write(q, off, len, err);

	while (!ret && len) {
		uint64_t n = table_reach(q, off) < len ? table_reach(q, off) : len;

		ret = write_chunk(q, off, p, n, err);
		off += n;
		p += n;
		len -= (size_t)n;
	}
	return ret;
}

/* Whole clusters [off, off + len) inside one table's reach made to read as zeros. */
static int zero_chunk(struct qcow2 *q, uint64_t off, uint64_t len, struct err *err)
{
	bool v3 = q->info.version >= 3, backed = qcow2_has_backing(q);
	uint64_t mask = (1ull << q->l2_bits) - 1;
	struct l2w w;
	int ret = l2w_begin(q, off >> q->cluster_bits >> q->l2_bits, backed, &w, err);

	/* No table and nothing behind: it all reads as zeros already. */
	if (ret || !w.t)
		return ret;
	for (uint64_t gc = off >> q->cluster_bits; !ret && gc << q->cluster_bits < off + len; gc++) {
		struct qcow2_cl cl;

		ret = qcow2_l2_entry(q, w.t, gc & mask, gc << q->cluster_bits, &cl, err);
		if (ret || (cl.type == QCOW2_C_UNALLOC && !backed) ||
		    (cl.type == QCOW2_C_ZERO && !cl.host_off))
			continue;
		l2w_set(&w, gc & mask, v3 ? QCOW2_OFLAG_ZERO : 0);
		if (cl.type == QCOW2_C_COMPRESSED)
			ret = l2w_free(q, &w, cl.host_off, cl.host_len, err);
		else if (cl.host_off)
			ret = l2w_free(q, &w, cl.host_off, q->cluster_size, err);
	}
	if (!ret)
		ret = l2w_commit(q, &w, err);
	if (ret)
		l2w_abort(q, &w);
	return ret;
}

/* Zeros written as data, a cluster at most at a time. */
static int write_zeros(struct qcow2 *q, uint64_t off, uint64_t len, struct err *err)
{
	uint8_t *z;
	int ret = 0;

	if (!len)
		return 0;
	z = calloc(1, q->cluster_size);
	if (!z)
		return err_set(err, false, -ENOMEM, "qcow2: out of memory");
	while (!ret && len) {
		uint64_t n = len < q->cluster_size ? len : q->cluster_size;

		ret = qcow2_write(q, off, z, (size_t)n, err);
		off += n;
		len -= n;
	}
	free(z);
	return ret;
}

int qcow2_zero(struct qcow2 *q, uint64_t off, uint64_t len, struct err *err)
{
	uint64_t cs = q->cluster_size, end = off + len, a, b;
	int ret = check_write(q, off, len, err);

	if (ret || !len)
		return ret;
	/* A version 2 image has no zero flag: over a backing file, zeros must be data. */
	if (q->info.version < 3 && qcow2_has_backing(q))
		return write_zeros(q, off, len, err);
	/* Whole clusters [a, b); the disk's last cluster is whole when the range reaches its end. */
	a = qcow2_round_up(off, cs);
	b = end == q->info.size ? qcow2_round_up(end, cs) : end / cs * cs;
	if (a >= b)
		return write_zeros(q, off, len, err);
	ret = write_zeros(q, off, a - off, err);
	for (uint64_t at = a; !ret && at < b;) {
		uint64_t n = table_reach(q, at) < b - at ? table_reach(q, at) : b - at;

		ret = zero_chunk(q, at, n, err);
		at += n;
	}
	if (!ret && b < end)
		ret = write_zeros(q, b, end - b, err);
	return ret;
}

int qcow2_flush(struct qcow2 *q, struct err *err)
{
	int ret;

	if (!q->writable)
		return 0;
	ret = qcow2_sync(q, err);
	if (!ret && q->nfrees)
		ret = qcow2_frees_apply(q, err);
	return ret;
}
