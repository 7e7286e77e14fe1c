/*
 * Guest offsets to what backs them: the L1 entry (checked at open) names
 * an L2 table, whose entry for the cluster is decoded and checked here,
 * at each use, since L2 tables are read lazily. An entry the format does
 * not allow is refused by name rather than guessed at: reserved bits set,
 * a misaligned offset, or a cluster on top of the header or the top
 * tables (writing or freeing one would wreck the image).
 */
#include "disk/qcow2_priv.h"

#include <errno.h>
#include <inttypes.h>

static int bad(struct err *err, uint64_t guest_off, uint64_t entry, const char *why)
{
	return err_set(err, true, -EINVAL,
		       "qcow2: L2 entry 0x%016" PRIx64 " for guest offset 0x%" PRIx64 ": %s", entry,
		       guest_off, why);
}

static int decode_compressed(const struct qcow2 *q, uint64_t e, uint64_t guest_off,
			     struct qcow2_cl *cl, struct err *err)
{
	uint64_t coff = e & q->coff_mask, sectors = ((e >> q->csize_shift) & q->csize_mask) + 1;

	if (e & QCOW2_OFLAG_COPIED)
		return bad(err, guest_off, e, "a compressed cluster with the COPIED flag");
	/* With small clusters the offset field reaches past bit 55: those bits must be 0. */
	if (coff >> 56)
		return bad(err, guest_off, e, "compressed data past 2^56");
	cl->type = QCOW2_C_COMPRESSED;
	cl->host_off = coff;
	cl->host_len = sectors * 512 - (coff & 511);
	if (qcow2_hits_metadata(q, cl->host_off, cl->host_len))
		return bad(err, guest_off, e,
			   "compressed data overlaps the header, the L1 table or the refcount table");
	return 0;
}

int qcow2_l2_entry(const struct qcow2 *q, const uint8_t *t, uint64_t i, uint64_t guest_off,
		   struct qcow2_cl *cl, struct err *err)
{
	uint64_t e = t ? qcow2_be64(t + i * 8) : 0, off = e & QCOW2_OFFSET_MASK;

	*cl = (struct qcow2_cl){ .type = QCOW2_C_UNALLOC, .entry = e };
	if (e & QCOW2_OFLAG_COMPRESSED)
		return decode_compressed(q, e, guest_off, cl, err);
	cl->copied = e & QCOW2_OFLAG_COPIED;
	if (e & QCOW2_L2_RESERVED)
		return bad(err, guest_off, e, "reserved bits set");
	if (off & (q->cluster_size - 1))
		return bad(err, guest_off, e, "cluster offset not aligned to the cluster size");
	if (off && qcow2_hits_metadata(q, off, q->cluster_size))
		return bad(err, guest_off, e,
			   "cluster overlaps the header, the L1 table or the refcount table");
	cl->host_off = off;
	if (e & QCOW2_OFLAG_ZERO) {
		if (q->info.version < 3)
			return bad(err, guest_off, e, "the zero flag in a version 2 image");
		cl->type = QCOW2_C_ZERO;
	} else if (off) {
		cl->type = QCOW2_C_NORMAL;
	} else if (cl->copied) {
		/* Offset 0 with COPIED set means "at 0 in an external data file", which is refused. */
		return bad(err, guest_off, e, "cluster at offset 0");
	}
	return 0;
}

int qcow2_l2_table(struct qcow2 *q, uint64_t l1i, uint8_t **t, struct err *err)
{
	uint64_t off = l1i < q->l1_size ? q->l1[l1i] & QCOW2_OFFSET_MASK : 0;

	*t = NULL;
	return off ? qcow2_cache_get(q, &q->l2c, off, t, err) : 0;
}

static enum qcow2_map_kind kind_of(const struct qcow2 *q, const struct qcow2_cl *cl)
{
	switch (cl->type) {
	case QCOW2_C_NORMAL:
		return QCOW2_MAP_DATA;
	case QCOW2_C_COMPRESSED:
		return QCOW2_MAP_COMPRESSED;
	case QCOW2_C_ZERO:
		return QCOW2_MAP_ZERO;
	case QCOW2_C_UNALLOC:
		break;
	}
	return qcow2_has_backing(q) ? QCOW2_MAP_BACKING : QCOW2_MAP_ZERO;
}

int qcow2_map(struct qcow2 *q, uint64_t off, uint64_t len, struct qcow2_map *m,
	      struct err *err)
{
	uint64_t cs = q->cluster_size, gc = off >> q->cluster_bits, in = off & (cs - 1);
	uint64_t mask = (1ull << q->l2_bits) - 1, l1i = gc >> q->l2_bits;
	struct qcow2_cl cl;
	struct err later;
	uint8_t *t;
	int ret;

	if (!len || off > q->info.size || len > q->info.size - off)
		return err_set(err, false, -EINVAL,
			       "qcow2: %" PRIu64 " bytes at 0x%" PRIx64 " are not all inside the "
			       "disk (%" PRIu64 " bytes)", len, off, q->info.size);
	ret = qcow2_l2_table(q, l1i, &t, err);
	if (!ret)
		ret = qcow2_l2_entry(q, t, gc & mask, off, &cl, err);
	if (ret)
		return ret;
	*m = (struct qcow2_map){ .kind = kind_of(q, &cl), .len = cs - in < len ? cs - in : len };
	if (m->kind == QCOW2_MAP_COMPRESSED) {
		m->host_off = cl.host_off;
		m->host_len = cl.host_len;
		return 0;
	}
	if (m->kind == QCOW2_MAP_DATA) {
		m->host_off = cl.host_off + in;
		m->in_place = q->writable && cl.copied;
	}
	/* Whole clusters after the first, while they are of the same kind (and contiguous, for data). */
	for (gc++; m->len < len && (gc >> q->l2_bits) == l1i; gc++) {
		uint64_t step = len - m->len < cs ? len - m->len : cs;

		/* A bad entry further on ends this extent; the caller meets it on its next call. */
		if (qcow2_l2_entry(q, t, gc & mask, gc << q->cluster_bits, &cl, &later) ||
		    kind_of(q, &cl) != m->kind)
			break;
		if (m->kind == QCOW2_MAP_DATA &&
		    (cl.host_off != m->host_off + m->len || (q->writable && cl.copied) != m->in_place))
			break;
		m->len += step;
	}
	return 0;
}
