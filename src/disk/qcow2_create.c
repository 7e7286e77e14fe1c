/*
 * A new, empty qcow2 version 3 image: the header cluster (the header,
 * a backing file format extension if asked, the end of the extensions,
 * the backing file name), the refcount table (one cluster), one refcount
 * block, and the L1 table, all zeros but what names the others. No
 * features, 16-bit refcounts unless asked otherwise: what `qemu-img
 * create -f qcow2` makes; `qemu-img check` finds nothing to say about
 * it. Every cluster it adds later, the engine allocates.
 */
#include "disk/qcow2_priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file.h"

#define EXT_BACKING_FMT 0xe2792acau
/* QEMU's own header length: v3's fields and the compression type byte, padded to 8. */
#define CREATE_HEADER_LEN 112u

struct layout {
	uint64_t cs;
	uint32_t order;         /* refcount_order: log2 of the refcount width */
	uint32_t l1_size;
	uint64_t l1_clusters;
	size_t fmt_len, name_len;
	uint64_t name_off;
};

static int plan(const struct qcow2_create_opts *o, uint32_t cb, struct layout *l,
		struct err *err)
{
	uint64_t clusters, l2e, l1;
	size_t ext;

	l->cs = 1ull << cb;
	for (l->order = 0; l->order < 6 && 1u << l->order != o->refcount_bits; l->order++)
		;
	if (!o->refcount_bits)
		l->order = 4;
	else if (1u << l->order != o->refcount_bits)
		return err_set(err, true, -EINVAL,
			       "qcow2: refcount_bits %u is not a power of two from 1 to 64",
			       o->refcount_bits);
	l->fmt_len = o->backing_fmt ? strlen(o->backing_fmt) : 0;
	l->name_len = o->backing_file ? strlen(o->backing_file) : 0;
	if (o->backing_file && !l->name_len)
		return err_set(err, true, -EINVAL, "qcow2: an empty backing file name");
	if (o->backing_fmt && !o->backing_file)
		return err_set(err, true, -EINVAL, "qcow2: a backing format without a backing file");
	if (l->fmt_len > QCOW2_NAME_MAX || l->name_len > QCOW2_NAME_MAX)
		return err_set(err, true, -EINVAL,
			       "qcow2: backing file name or format longer than %u bytes",
			       QCOW2_NAME_MAX);
	ext = l->fmt_len ? 8 + (size_t)qcow2_round_up(l->fmt_len, 8) : 0;
	l->name_off = CREATE_HEADER_LEN + ext + 8;
	if (l->name_off + l->name_len > l->cs)
		return err_set(err, true, -EINVAL,
			       "qcow2: the backing file name does not fit in a %" PRIu64
			       "-byte cluster", l->cs);
	/* QEMU sees a disk in sectors: a size between two would be cut short. */
	if (o->size % 512)
		return err_set(err, true, -EINVAL,
			       "qcow2: a disk of %" PRIu64 " bytes is not a whole number of "
			       "512-byte sectors", o->size);
	clusters = (o->size >> cb) + !!(o->size & (l->cs - 1));
	l2e = l->cs / 8;
	l1 = clusters / l2e + !!(clusters % l2e);
	if (l1 * 8 > QCOW2_L1_MAX_BYTES)
		return err_set(err, true, -EINVAL,
			       "qcow2: a disk of %" PRIu64 " bytes needs an L1 table past %u MiB "
			       "at %" PRIu64 "-byte clusters", o->size, QCOW2_L1_MAX_BYTES >> 20,
			       l->cs);
	l->l1_size = (uint32_t)l1;
	l->l1_clusters = qcow2_round_up(l1 * 8, l->cs) / l->cs;
	/* One refcount block counts all the metadata. */
	if (3 + l->l1_clusters > l->cs * 8 >> l->order)
		return err_set(err, true, -EINVAL,
			       "qcow2: a disk of %" PRIu64 " bytes is too large for %" PRIu64
			       "-byte clusters here", o->size, l->cs);
	return 0;
}

static void fill_header(uint8_t *h, const struct qcow2_create_opts *o, uint32_t cb,
			const struct layout *l)
{
	uint8_t *ext = h + CREATE_HEADER_LEN;

	qcow2_put_be32(h, QCOW2_MAGIC);
	qcow2_put_be32(h + 4, 3);
	if (l->name_len) {
		qcow2_put_be64(h + 8, l->name_off);
		qcow2_put_be32(h + 16, (uint32_t)l->name_len);
		memcpy(h + l->name_off, o->backing_file, l->name_len);
	}
	qcow2_put_be32(h + 20, cb);
	qcow2_put_be64(h + 24, o->size);
	qcow2_put_be32(h + 36, l->l1_size);
	qcow2_put_be64(h + 40, l->l1_size ? 3 * l->cs : 0);
	qcow2_put_be64(h + QCOW2_HDR_RT_OFFSET, l->cs);
	qcow2_put_be32(h + 56, 1);
	qcow2_put_be32(h + 96, l->order);
	qcow2_put_be32(h + 100, CREATE_HEADER_LEN);
	if (l->fmt_len) {
		qcow2_put_be32(ext, EXT_BACKING_FMT);
		qcow2_put_be32(ext + 4, (uint32_t)l->fmt_len);
		memcpy(ext + 8, o->backing_fmt, l->fmt_len);
	}
	/* The end-of-extensions marker is the zeros after them. */
}

int qcow2_create(int fd, const struct qcow2_create_opts *o, struct err *err)
{
	uint32_t cb = o->cluster_bits ? o->cluster_bits : 16;
	uint64_t meta;
	struct layout l = { 0 };
	struct stat st;
	uint8_t *c;
	int ret;

	if (cb < QCOW2_MIN_CLUSTER_BITS || cb > QCOW2_MAX_CLUSTER_BITS)
		return err_set(err, true, -EINVAL, "qcow2: cluster_bits %u out of range (%u..%u)",
			       cb, QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
	ret = plan(o, cb, &l, err);
	if (ret)
		return ret;
	c = calloc(1, l.cs);
	if (!c)
		return err_set(err, false, -ENOMEM, "qcow2: out of memory");
	meta = 3 + l.l1_clusters;
	fill_header(c, o, cb, &l);
	if (file_pwrite_full(fd, c, l.cs, 0) < 0)
		goto err_io;
	memset(c, 0, l.cs);
	qcow2_put_be64(c, 2 * l.cs);
	if (file_pwrite_full(fd, c, l.cs, l.cs) < 0)
		goto err_io;
	memset(c, 0, l.cs);
	/* A count of 1, big-endian when a byte or wider, else packed from bit 0 of each byte. */
	for (uint64_t i = 0; i < meta; i++) {
		if (l.order >= 3)
			c[(i + 1) * (1u << (l.order - 3)) - 1] = 1;
		else
			c[(i << l.order) / 8] |= (uint8_t)(1u << ((i << l.order) % 8));
	}
	if (file_pwrite_full(fd, c, l.cs, 2 * l.cs) < 0)
		goto err_io;
	memset(c, 0, l.cs);
	for (uint64_t i = 0; i < l.l1_clusters; i++)
		if (file_pwrite_full(fd, c, l.cs, (3 + i) * l.cs) < 0)
			goto err_io;
	/* A file that held something longer must end where the image does. */
	if (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) && ftruncate(fd, (off_t)(meta * l.cs)) < 0))
		goto err_io;
	if (fdatasync(fd) < 0)
		goto err_io;
	free(c);
	return 0;
err_io:
	ret = -errno;
	free(c);
	return err_set(err, false, ret, "qcow2: writing the new image: %s", strerror(-ret));
}
