/*
 * A bounded cache of whole metadata tables (L2 tables, refcount blocks),
 * least recently used out, so that random reads do not read an L2 table
 * each time. It is write-through: whoever changes a cached table writes
 * the bytes it changed to the file at once, so nothing here is ever
 * dirty and an eviction is only a forget. A slot's buffer is allocated
 * at its first use, so a small image costs one table, not the budget.
 */
#include "disk/qcow2_priv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int qcow2_cache_init(struct qcow2_cache *c, unsigned int n)
{
	c->ent = calloc(n, sizeof(*c->ent));
	c->n = c->ent ? n : 0;
	c->tick = 0;
	return c->ent ? 0 : -ENOMEM;
}

void qcow2_cache_free(struct qcow2_cache *c)
{
	for (unsigned int i = 0; i < c->n; i++)
		free(c->ent[i].buf);
	free(c->ent);
	c->ent = NULL;
	c->n = 0;
}

static struct qcow2_cache_ent *find(struct qcow2_cache *c, uint64_t off)
{
	if (!off)
		return NULL;
	for (unsigned int i = 0; i < c->n; i++)
		if (c->ent[i].off == off)
			return &c->ent[i];
	return NULL;
}

/* The slot to fill: an empty one, else the least recently used; its buffer allocated. */
static struct qcow2_cache_ent *victim(struct qcow2 *q, struct qcow2_cache *c)
{
	struct qcow2_cache_ent *v = &c->ent[0];

	for (unsigned int i = 0; i < c->n; i++) {
		if (!c->ent[i].off) {
			v = &c->ent[i];
			break;
		}
		if (c->ent[i].last < v->last)
			v = &c->ent[i];
	}
	v->off = 0;
	if (!v->buf)
		v->buf = malloc(q->cluster_size);
	return v->buf ? v : NULL;
}

int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, uint8_t **t,
		    struct err *err)
{
	struct qcow2_cache_ent *e = find(c, off);
	int ret;

	if (!e) {
		e = victim(q, c);
		if (!e)
			return err_set(err, false, -ENOMEM, "qcow2: out of memory for a table");
		ret = qcow2_pread(q, e->buf, q->cluster_size, off, err);
		if (ret)
			return ret;
		e->off = off;
	}
	e->last = ++c->tick;
	*t = e->buf;
	return 0;
}

uint8_t *qcow2_cache_new(struct qcow2 *q, struct qcow2_cache *c, uint64_t off)
{
	struct qcow2_cache_ent *e = find(c, off);

	if (!e)
		e = victim(q, c);
	if (!e)
		return NULL;
	memset(e->buf, 0, q->cluster_size);
	e->off = off;
	e->last = ++c->tick;
	return e->buf;
}

void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off)
{
	struct qcow2_cache_ent *e = find(c, off);

	if (e)
		e->off = 0;
}
