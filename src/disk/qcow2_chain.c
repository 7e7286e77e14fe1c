/*
 * Backing chains. The engine never opens a backing file: the caller
 * opens each layer (by its own policy, from the name qcow2_info reports)
 * and attaches it under the one above. Before it does, it can check the
 * files it opened for a loop or a chain too deep (qcow2_chain_check);
 * attaching checks again on the handles, so a loop cannot be built
 * either way.
 */
#include "disk/qcow2_priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int qcow2_set_backing(struct qcow2 *q, const struct qcow2_layer *layer, struct err *err)
{
	unsigned int depth = 2;

	if (!layer || layer->kind == QCOW2_LAYER_NONE) {
		q->backing = (struct qcow2_layer){ .kind = QCOW2_LAYER_NONE, .fd = -1 };
		return 0;
	}
	if (layer->kind == QCOW2_LAYER_RAW) {
		if (layer->fd < 0)
			return err_set(err, false, -EBADF, "qcow2: a raw backing layer without an fd");
		q->backing = *layer;
		return 0;
	}
	if (layer->kind != QCOW2_LAYER_QCOW2 || !layer->qcow2)
		return err_set(err, false, -EINVAL, "qcow2: a backing layer of no known kind");
	/* Every attach was checked, so the walk meets no loop; it is bounded all the same. */
	for (const struct qcow2 *b = layer->qcow2; b; depth++) {
		if (b == q)
			return err_set(err, true, -ELOOP,
				       "qcow2: the backing layer's chain holds this image: a loop");
		if (depth > QCOW2_CHAIN_MAX)
			return err_set(err, true, -ELOOP,
				       "qcow2: backing chain deeper than %u layers", QCOW2_CHAIN_MAX);
		if (b->backing.kind == QCOW2_LAYER_RAW && depth + 1 > QCOW2_CHAIN_MAX)
			return err_set(err, true, -ELOOP,
				       "qcow2: backing chain deeper than %u layers", QCOW2_CHAIN_MAX);
		b = b->backing.kind == QCOW2_LAYER_QCOW2 ? b->backing.qcow2 : NULL;
	}
	q->backing = *layer;
	return 0;
}

static const char *link_name(const struct qcow2_link *l, size_t i, char *buf, size_t len)
{
	if (l->name)
		snprintf(buf, len, "'%s'", l->name);
	else
		snprintf(buf, len, "layer %zu", i);
	return buf;
}

int qcow2_chain_check(const struct qcow2_link *links, size_t n, struct err *err)
{
	struct stat st[QCOW2_CHAIN_MAX];
	char a[256], b[256];

	if (n > QCOW2_CHAIN_MAX)
		return err_set(err, true, -ELOOP,
			       "qcow2: a backing chain of %zu files is deeper than %u (at %s)", n,
			       QCOW2_CHAIN_MAX, link_name(&links[QCOW2_CHAIN_MAX], QCOW2_CHAIN_MAX,
							   a, sizeof(a)));
	for (size_t i = 0; i < n; i++) {
		if (fstat(links[i].fd, &st[i]) < 0) {
			int ret = -errno;

			return err_set(err, false, ret, "qcow2: fstat %s: %s",
				       link_name(&links[i], i, a, sizeof(a)), strerror(-ret));
		}
		for (size_t j = 0; j < i; j++)
			if (st[j].st_dev == st[i].st_dev && st[j].st_ino == st[i].st_ino)
				return err_set(err, true, -ELOOP,
					       "qcow2: backing chain loops: %s is the same file as %s",
					       link_name(&links[i], i, a, sizeof(a)),
					       link_name(&links[j], j, b, sizeof(b)));
	}
	return 0;
}
