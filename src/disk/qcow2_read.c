/*
 * Synchronous reads, extent by extent through qcow2_map: data from the
 * file, zeros, compressed clusters decompressed (the last one kept, as
 * guests read a cluster in pieces), and the backing layer for clusters
 * this image does not have. The chain is followed by recursion, one
 * level per layer, refused past QCOW2_CHAIN_MAX levels whatever the
 * caller attached.
 */
#include "disk/qcow2_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/file.h"

bool qcow2_has_backing(const struct qcow2 *q)
{
	return q->backing_named || q->backing.kind != QCOW2_LAYER_NONE;
}

int qcow2_compressed_load(struct qcow2 *q, const struct qcow2_cl *cl, struct err *err)
{
	uint64_t len = cl->host_len;
	int ret;

	if (q->zout_entry && q->zout_entry == cl->entry)
		return 0;
	if (!q->zin)
		q->zin = malloc(2 * q->cluster_size);
	if (!q->zout)
		q->zout = malloc(q->cluster_size);
	if (!q->zin || !q->zout)
		return err_set(err, false, -ENOMEM, "qcow2: out of memory");
	q->zout_entry = 0;
	if (cl->host_off >= q->file_size)
		return err_set(err, true, -EINVAL,
			       "qcow2: compressed cluster at 0x%" PRIx64 " past the end of the file",
			       cl->host_off);
	/* The last sector may be cut by the file's end: the stream ends before it does. */
	if (len > q->file_size - cl->host_off)
		len = q->file_size - cl->host_off;
	ret = qcow2_pread(q, q->zin, (size_t)len, cl->host_off, err);
	if (!ret)
		ret = qcow2_inflate(q->zin, (size_t)len, q->zout, q->cluster_size, err);
	if (ret)
		return err_prefix(err, ret, "qcow2: compressed cluster at 0x%" PRIx64 ": ",
				  cl->host_off);
	q->zout_entry = cl->entry;
	return 0;
}

/* A raw layer's bytes: what the file has below its size, zeros after. */
static int raw_read(const struct qcow2_layer *l, uint64_t off, uint8_t *buf, size_t len,
		    struct err *err)
{
	size_t n = off >= l->size ? 0 : l->size - off < len ? (size_t)(l->size - off) : len;
	ssize_t got = n ? file_pread_full(l->fd, buf, n, off) : 0;

	if (got < 0)
		return err_set(err, false, (int)got,
			       "qcow2: reading the raw backing file at 0x%" PRIx64 ": %s", off,
			       strerror((int)-got));
	memset(buf + got, 0, len - (size_t)got);
	return 0;
}

int qcow2_backing_read(struct qcow2 *q, uint64_t off, void *buf, size_t len,
		       unsigned int depth, struct err *err)
{
	const struct qcow2_layer *l = &q->backing;
	uint64_t bsize;
	size_t n;

	switch (l->kind) {
	case QCOW2_LAYER_RAW:
		return raw_read(l, off, buf, len, err);
	case QCOW2_LAYER_QCOW2:
		bsize = l->qcow2->info.size;
		n = off >= bsize ? 0 : bsize - off < len ? (size_t)(bsize - off) : len;
		memset((uint8_t *)buf + n, 0, len - n);
		return n ? qcow2_read_at(l->qcow2, off, buf, n, depth + 1, err) : 0;
	case QCOW2_LAYER_NONE:
		break;
	}
	if (q->backing_named)
		return err_set(err, false, -ENXIO,
			       "qcow2: the image's backing file '%s' is not attached",
			       q->info.backing_file);
	memset(buf, 0, len);
	return 0;
}

int qcow2_read_at(struct qcow2 *q, uint64_t off, void *buf, size_t len, unsigned int depth,
		  struct err *err)
{
	uint8_t *p = buf;

	if (depth >= QCOW2_CHAIN_MAX)
		return err_set(err, true, -ELOOP, "qcow2: backing chain deeper than %u layers",
			       QCOW2_CHAIN_MAX);
	while (len) {
		struct qcow2_map m;
		struct qcow2_cl cl;
		uint8_t *t;
		size_t n;
		int ret;

		ret = qcow2_map(q, off, len, &m, err);
		if (ret)
			return ret;
		n = (size_t)m.len;
		switch (m.kind) {
		case QCOW2_MAP_DATA:
			ret = qcow2_pread(q, p, n, m.host_off, err);
			break;
		case QCOW2_MAP_ZERO:
			memset(p, 0, n);
			break;
		case QCOW2_MAP_BACKING:
			ret = qcow2_backing_read(q, off, p, n, depth, err);
			break;
		case QCOW2_MAP_COMPRESSED:
			/* The map said compressed: the entry is the one it decoded. */
			ret = qcow2_l2_table(q, off >> q->cluster_bits >> q->l2_bits, &t, err);
			if (!ret)
				ret = qcow2_l2_entry(q, t, (off >> q->cluster_bits) &
						     ((1ull << q->l2_bits) - 1), off, &cl, err);
			if (!ret)
				ret = qcow2_compressed_load(q, &cl, err);
			if (!ret)
				memcpy(p, q->zout + (off & (q->cluster_size - 1)), n);
			break;
		}
		if (ret)
			return ret;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int qcow2_read(struct qcow2 *q, uint64_t off, void *buf, size_t len, struct err *err)
{
	if (!len)
		return 0;
	return qcow2_read_at(q, off, buf, len, 0, err);
}
