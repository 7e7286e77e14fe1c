/*
 * Refcounts and cluster allocation, kept exact (no lazy refcounts): the
 * refcount table (in memory, checked at open) names refcount blocks (in
 * a small cache, written through), each an array of 1- to 64-bit counts.
 *
 * Allocation only moves forward, from the end of the file as it was at
 * open: clusters let go are never handed out again by this handle (their
 * space is punched out of the file instead), so a cluster freed but
 * still named by an entry that is not yet durable can never be reused
 * under it. A refcount block that does not exist yet is put in the first
 * cluster it covers and counts itself; a refcount table too small for
 * the next cluster is moved, grown, past everything, together with new
 * blocks that count it, and the header switched to it in one write.
 */
#include "disk/qcow2_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int qcow2_refcount_load(struct qcow2 *q, struct err *err)
{
	uint64_t cs = q->cluster_size, bytes = (uint64_t)q->rt_clusters * cs;
	uint8_t *raw = malloc(bytes);
	int ret;

	q->rt_entries = bytes / 8;
	q->rt = calloc(q->rt_entries, sizeof(uint64_t));
	if (!raw || !q->rt) {
		ret = err_set(err, false, -ENOMEM, "qcow2: out of memory for the refcount table");
		goto err_free;
	}
	ret = qcow2_pread(q, raw, bytes, q->rt_off, err);
	if (ret)
		goto err_free;
	for (uint64_t i = 0; i < q->rt_entries; i++) {
		uint64_t e = qcow2_be64(raw + i * 8);

		q->rt[i] = e;
		if (!e)
			continue;
		if (e & (cs - 1))
			ret = err_set(err, true, -EINVAL,
				      "qcow2: refcount table entry %" PRIu64 " (0x%" PRIx64
				      ") not aligned to the cluster size", i, e);
		else if (e > q->file_size || cs > q->file_size - e)
			ret = err_set(err, true, -EINVAL,
				      "qcow2: refcount table entry %" PRIu64 ": block at 0x%" PRIx64
				      " past the end of the file (%" PRIu64 " bytes)", i, e,
				      q->file_size);
		else if (qcow2_hits_metadata(q, e, cs))
			ret = err_set(err, true, -EINVAL,
				      "qcow2: refcount table entry %" PRIu64 ": block at 0x%" PRIx64
				      " overlaps the header, the L1 table or the refcount table", i, e);
		if (ret)
			goto err_free;
	}
err_free:
	free(raw);
	return ret;
}

/* Entry i of a refcount block: refcount_bits wide, big-endian, or packed from bit 0 up. */
static uint64_t rb_get(const struct qcow2 *q, const uint8_t *b, uint64_t i)
{
	uint32_t order = q->refcount_order, bits = 1u << order;
	uint64_t v = 0;

	if (order >= 3) {
		for (uint32_t j = 0; j < bits / 8; j++)
			v = v << 8 | b[i * (bits / 8) + j];
		return v;
	}
	return (uint64_t)(b[i * bits / 8] >> (i * bits % 8)) & ((1u << bits) - 1);
}

/* Sets entry i; *at and *len: the bytes of the block that changed. */
static void rb_set(const struct qcow2 *q, uint8_t *b, uint64_t i, uint64_t v, uint64_t *at,
		   size_t *len)
{
	uint32_t order = q->refcount_order, bits = 1u << order;

	if (order >= 3) {
		*at = i * (bits / 8);
		*len = bits / 8;
		for (int j = (int)(bits / 8) - 1; j >= 0; j--, v >>= 8)
			b[*at + (size_t)j] = (uint8_t)v;
		return;
	}
	*at = i * bits / 8;
	*len = 1;
	b[*at] = (uint8_t)((b[*at] & ~(((1u << bits) - 1) << (i * bits % 8))) |
			   (v << (i * bits % 8)));
}

int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *rc, struct err *err)
{
	uint64_t ti = cluster >> q->rb_bits;
	uint8_t *b;
	int ret;

	*rc = 0;
	if (ti >= q->rt_entries || !q->rt[ti])
		return 0;
	ret = qcow2_cache_get(q, &q->rbc, q->rt[ti], &b, err);
	if (!ret)
		*rc = rb_get(q, b, cluster & ((1ull << q->rb_bits) - 1));
	return ret;
}

/* Adds delta (+1 or -1) to a cluster's refcount, written through; its block must exist for +1. */
static int refcount_add(struct qcow2 *q, uint64_t cluster, int delta, uint64_t *now,
			struct err *err)
{
	uint64_t ti = cluster >> q->rb_bits, i = cluster & ((1ull << q->rb_bits) - 1), rc, at;
	uint64_t max = q->refcount_order == 6 ? UINT64_MAX : (1ull << (1u << q->refcount_order)) - 1;
	size_t len;
	uint8_t *b;
	int ret;

	if (ti >= q->rt_entries || !q->rt[ti])
		return err_set(err, true, -EINVAL,
			       "qcow2: cluster at 0x%" PRIx64 " has no refcount block",
			       cluster << q->cluster_bits);
	ret = qcow2_cache_get(q, &q->rbc, q->rt[ti], &b, err);
	if (ret)
		return ret;
	rc = rb_get(q, b, i);
	if ((delta < 0 && !rc) || (delta > 0 && rc == max))
		return err_set(err, true, -EINVAL,
			       "qcow2: refcount %" PRIu64 " of cluster at 0x%" PRIx64
			       " cannot go %s", rc, cluster << q->cluster_bits,
			       delta < 0 ? "below 0" : "higher");
	rc = delta < 0 ? rc - 1 : rc + 1;
	rb_set(q, b, i, rc, &at, &len);
	*now = rc;
	ret = qcow2_pwrite(q, b + at, len, q->rt[ti] + at, err);
	if (ret)
		qcow2_cache_drop(&q->rbc, q->rt[ti]);
	return ret;
}

/* The missing block ti, put in cluster c (the first free one it covers), counting itself. */
static int new_block(struct qcow2 *q, uint64_t ti, uint64_t c, struct err *err)
{
	uint64_t off = c << q->cluster_bits, at;
	uint8_t *b = qcow2_cache_new(q, &q->rbc, off), e[8];
	size_t len;
	int ret;

	if (!b)
		return err_set(err, false, -ENOMEM, "qcow2: out of memory for a refcount block");
	rb_set(q, b, c & ((1ull << q->rb_bits) - 1), 1, &at, &len);
	/* The block on disk before the table names it. */
	ret = qcow2_pwrite(q, b, q->cluster_size, off, err);
	if (!ret)
		ret = qcow2_sync(q, err);
	qcow2_put_be64(e, off);
	if (!ret)
		ret = qcow2_pwrite(q, e, sizeof(e), q->rt_off + ti * 8, err);
	if (ret) {
		qcow2_cache_drop(&q->rbc, off);
		return ret;
	}
	q->rt[ti] = off;
	q->alloc_hint = c + 1;
	return 0;
}

/*
 * The new table's size in clusters (tn) and the blocks (k) that count it
 * and themselves, all placed from cluster s: k blocks, then the table.
 * The k blocks cover k * rbe clusters from s, which must hold the k + tn
 * clusters; the table must have entries up to those blocks' and one more.
 */
static int grow_plan(const struct qcow2 *q, uint64_t s, uint64_t *tn, uint64_t *k,
		     struct err *err)
{
	uint64_t rbe = 1ull << q->rb_bits, per = q->cluster_size / 8;

	uint64_t most = QCOW2_RT_MAX_BYTES / q->cluster_size;

	/* Doubling, as far as the limit allows, so growth is rare. */
	*tn = (uint64_t)q->rt_clusters * 2 < most ? (uint64_t)q->rt_clusters * 2 : most;
	if (*tn <= q->rt_clusters)
		*tn = q->rt_clusters + 1ull;
	for (unsigned int i = 0; i < 64; i++) {
		uint64_t need;

		*k = *tn / (rbe - 1) + !!(*tn % (rbe - 1));
		need = s / rbe + *k + 1;
		if (*tn * q->cluster_size > QCOW2_RT_MAX_BYTES)
			break;
		if (*tn * per >= need)
			return 0;
		*tn = need / per + !!(need % per);
	}
	return err_set(err, false, -EFBIG,
		       "qcow2: the refcount table would grow past %u MiB",
		       QCOW2_RT_MAX_BYTES >> 20);
}

/* Moves the table, grown, to cluster s on: blocks first, then the table, then the header. */
static int grow_table(struct qcow2 *q, uint64_t c, struct err *err)
{
	uint64_t cs = q->cluster_size, rbe = 1ull << q->rb_bits, s = qcow2_round_up(c, rbe);
	uint64_t tn, k, entries, old_off = q->rt_off, old_n = q->rt_clusters, at, now;
	uint8_t *blk = NULL, *tab = NULL, hdr[12];
	uint64_t *rt = NULL;
	size_t len;
	int ret = grow_plan(q, s, &tn, &k, err);

	if (ret)
		return ret;
	if (s + k + tn >= 1ull << (56 - q->cluster_bits))
		return err_set(err, false, -EFBIG, "qcow2: the image would pass 2^56 bytes");
	entries = tn * cs / 8;
	blk = malloc(cs);
	tab = calloc(tn, cs);
	rt = calloc(entries, sizeof(*rt));
	if (!blk || !tab || !rt) {
		ret = err_set(err, false, -ENOMEM, "qcow2: out of memory for the refcount table");
		goto err_free;
	}
	for (uint64_t j = 0; j < k && !ret; j++) {
		uint64_t first = s + j * rbe;

		memset(blk, 0, cs);
		for (uint64_t x = first; x < s + k + tn && x < first + rbe; x++)
			rb_set(q, blk, x - first, 1, &at, &len);
		ret = qcow2_pwrite(q, blk, cs, (s + j) * cs, err);
	}
	memcpy(rt, q->rt, q->rt_entries * sizeof(*rt));
	for (uint64_t j = 0; j < k; j++)
		rt[s / rbe + j] = (s + j) * cs;
	for (uint64_t i = 0; i < entries; i++)
		qcow2_put_be64(tab + i * 8, rt[i]);
	if (!ret)
		ret = qcow2_pwrite(q, tab, tn * cs, (s + k) * cs, err);
	if (!ret)
		ret = qcow2_sync(q, err);
	/* The offset and the cluster count side by side: one write switches both. */
	qcow2_put_be64(hdr, (s + k) * cs);
	qcow2_put_be32(hdr + 8, (uint32_t)tn);
	if (!ret)
		ret = qcow2_pwrite(q, hdr, sizeof(hdr), QCOW2_HDR_RT_OFFSET, err);
	if (!ret)
		ret = qcow2_sync(q, err);
	if (ret)
		goto err_free;
	free(q->rt);
	q->rt = rt;
	rt = NULL;
	q->rt_entries = entries;
	q->rt_off = (s + k) * cs;
	q->rt_clusters = (uint32_t)tn;
	q->alloc_hint = s + k + tn;
	/* The header names the new table durably: the old one is free. */
	for (uint64_t i = 0; i < old_n && !ret; i++)
		ret = refcount_add(q, old_off / cs + i, -1, &now, err);
err_free:
	free(blk);
	free(tab);
	free(rt);
	return ret;
}

/*
 * A cluster a flush let go, from reuse_hint up (a bounded look each time;
 * the hint only moves up, so every cluster is looked at once per free
 * below it). 1 with *off taken, 0 when none was found this time, -errno.
 */
static int alloc_reused(struct qcow2 *q, uint64_t *off, struct err *err)
{
	uint64_t rc, now;
	int ret;

	for (unsigned int n = 0; n < QCOW2_REUSE_SCAN_MAX && q->reuse_hint < q->alloc_hint;
	     n++, q->reuse_hint++) {
		uint64_t c = q->reuse_hint, ti = c >> q->rb_bits;

		if (ti >= q->rt_entries || !q->rt[ti])
			continue;
		ret = qcow2_refcount_get(q, c, &rc, err);
		if (ret)
			return ret;
		if (rc)
			continue;
		ret = refcount_add(q, c, 1, &now, err);
		if (ret)
			return ret;
		q->reuse_hint = c + 1;
		*off = c << q->cluster_bits;
		return 1;
	}
	if (q->reuse_hint >= q->alloc_hint)
		q->reuse_hint = UINT64_MAX;
	return 0;
}

int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *off, struct err *err)
{
	uint64_t limit = 1ull << (56 - q->cluster_bits), rc, now;
	unsigned int scanned = 0;
	int ret = alloc_reused(q, off, err);

	if (ret)
		return ret < 0 ? ret : 0;
	for (;;) {
		uint64_t c = q->alloc_hint, ti = c >> q->rb_bits;

		if (c >= limit)
			return err_set(err, false, -EFBIG, "qcow2: the image would pass 2^56 bytes");
		/* Both move the hint past the clusters they took. */
		if (ti >= q->rt_entries) {
			ret = grow_table(q, c, err);
			if (ret)
				return ret;
			continue;
		}
		if (!q->rt[ti]) {
			ret = new_block(q, ti, c, err);
			if (ret)
				return ret;
			continue;
		}
		ret = qcow2_refcount_get(q, c, &rc, err);
		if (ret)
			return ret;
		if (rc) {
			/* In use past the end of the file: only a corrupt image has many. */
			if (++scanned > QCOW2_ALLOC_SCAN_MAX)
				return err_set(err, true, -EINVAL,
					       "qcow2: no free cluster in %u past the end of the "
					       "file (refcounts corrupt)", QCOW2_ALLOC_SCAN_MAX);
			q->alloc_hint++;
			continue;
		}
		ret = refcount_add(q, c, 1, &now, err);
		if (ret)
			return ret;
		q->alloc_hint = c + 1;
		*off = c << q->cluster_bits;
		return 0;
	}
}

int qcow2_free_later(struct qcow2 *q, uint64_t off, uint64_t len, struct err *err)
{
	int ret;

	if (q->nfrees == QCOW2_FREES_MAX) {
		/* The entries that let these go must be durable before their refcounts drop. */
		ret = qcow2_sync(q, err);
		if (!ret)
			ret = qcow2_frees_apply(q, err);
		if (ret)
			return ret;
	}
	q->frees[q->nfrees++] = (struct qcow2_free){ off, len };
	return 0;
}

int qcow2_frees_apply(struct qcow2 *q, struct err *err)
{
	int ret = 0;

	for (unsigned int i = 0; i < q->nfrees && !ret; i++) {
		uint64_t first = q->frees[i].off >> q->cluster_bits;
		uint64_t last = (q->frees[i].off + q->frees[i].len - 1) >> q->cluster_bits, now;

		for (uint64_t c = first; c <= last && !ret; c++) {
			ret = refcount_add(q, c, -1, &now, err);
			/* Free space goes back to the filesystem; failing that, it stays allocated. */
			if (!ret && !now)
				(void)fallocate(q->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						(off_t)(c << q->cluster_bits),
						(off_t)q->cluster_size);
			/* Taken again before the file grows (alloc_reused). */
			if (!ret && !now && c < q->reuse_hint)
				q->reuse_hint = c;
		}
	}
	/* On a failure the rest are dropped: leaked, never freed twice. */
	q->nfrees = 0;
	return ret;
}
