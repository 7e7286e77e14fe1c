#include "vmm/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void registry_init(struct registry *r)
{
	memset(r, 0, sizeof(*r));
}

void registry_destroy(struct registry *r)
{
	/* Last first: a component may depend on one entered before it, never after. */
	while (r->n) {
		struct reg_entry *e = &r->entries[--r->n];

		if (e->comp.ops && e->comp.ops->destroy)
			e->comp.ops->destroy(e->comp.obj);
	}
	free(r->entries);
	memset(r, 0, sizeof(*r));
}

struct reg_entry *registry_find(struct registry *r, enum comp_kind kind, const char *id)
{
	for (unsigned int i = 0; i < r->n; i++)
		if (r->entries[i].kind == kind && !strcmp(r->entries[i].id, id))
			return &r->entries[i];
	return NULL;
}

/* "<type>:<name>", the type without its "virtio-": a second device's registry id. */
static void registry_qualify(const char *type, const char *name, char *out, size_t n)
{
	if (type && !strncmp(type, "virtio-", 7))
		type += 7;
	snprintf(out, n, "%.6s:%s", type ? type : "dev", name);
}

struct reg_entry *registry_find_device(struct registry *r, const char *type, const char *name)
{
	for (unsigned int i = 0; i < r->n; i++) {
		struct reg_entry *e = &r->entries[i];

		if (e->kind == COMP_DEVICE && e->type && type && !strcmp(e->type, type) &&
		    !strcmp(e->name, name))
			return e;
	}
	return NULL;
}

int registry_add(struct registry *r, enum comp_kind kind, const char *id, const char *type,
		 const struct dev_resources *res, const struct component *c)
{
	char key[REG_ID_MAX + 1];
	struct reg_entry *e;
	unsigned int at;

	if (!id || !*id || strlen(id) > VM_ID_MAX)
		return -EINVAL;
	snprintf(key, sizeof(key), "%s", id);
	if (registry_find(r, kind, id)) {
		if (kind != COMP_DEVICE || registry_find_device(r, type, id))
			return -EEXIST;
		registry_qualify(type, id, key, sizeof(key));
		if (registry_find(r, kind, key))
			return -EEXIST;
	}
	if (r->n == r->cap) {
		unsigned int cap = r->cap ? r->cap * 2 : 8;
		struct reg_entry *grown = realloc(r->entries, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		r->entries = grown;
		r->cap = cap;
	}
	/* After the last of its kind and the kinds before it: the kinds' order is kept. */
	for (at = r->n; at && r->entries[at - 1].kind > kind; at--)
		;
	memmove(&r->entries[at + 1], &r->entries[at], (r->n - at) * sizeof(*e));
	r->n++;
	e = &r->entries[at];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	snprintf(e->id, sizeof(e->id), "%s", key);
	snprintf(e->name, sizeof(e->name), "%s", id);
	e->type = type;
	if (res)
		e->res = *res;
	else
		e->res.gsi = -1;
	e->comp = *c;
	return 0;
}

void registry_remove(struct registry *r, struct reg_entry *e)
{
	struct component c;
	unsigned int at;

	if (!e || e < r->entries || e >= r->entries + r->n)
		return;
	at = (unsigned int)(e - r->entries);
	c = e->comp;
	memmove(&r->entries[at], &r->entries[at + 1], (r->n - at - 1) * sizeof(*e));
	r->n--;
	if (c.ops && c.ops->destroy)
		c.ops->destroy(c.obj);
}

unsigned int registry_counters(const struct reg_entry *e, struct dev_counter *out,
			       unsigned int max)
{
	if (!e->comp.ops || !e->comp.ops->counters)
		return 0;
	return e->comp.ops->counters(e->comp.obj, out, max);
}

static int registry_walk(struct registry *r, enum comp_kind kind, bool resume)
{
	int ret = 0;

	for (unsigned int i = 0; i < r->n; i++) {
		const struct reg_entry *e = &r->entries[i];
		int (*op)(void *obj);
		int err;

		if (e->kind != kind || !e->comp.ops)
			continue;
		op = resume ? e->comp.ops->resume : e->comp.ops->pause;
		err = op ? op(e->comp.obj) : 0;
		if (err && !ret)
			ret = err;
	}
	return ret;
}

int registry_pause(struct registry *r, enum comp_kind kind)
{
	return registry_walk(r, kind, false);
}

int registry_resume(struct registry *r, enum comp_kind kind)
{
	return registry_walk(r, kind, true);
}

struct each_call {
	struct reg_entry *entries;
	unsigned int from, to;      /* a run of devices, [from, to) */
	int (*fn)(struct reg_entry *e, void *ctx, struct err *err);
	void *ctx;
};

static int each_run(void *ctx, struct err *err)
{
	struct each_call *c = ctx;

	for (unsigned int i = c->from; i < c->to; i++) {
		int ret = c->fn(&c->entries[i], c->ctx, err);

		if (ret)
			return ret;
	}
	return 0;
}

int registry_each(struct registry *r, struct eventloop *loop,
		  int (*fn)(struct reg_entry *e, void *ctx, struct err *err), void *ctx,
		  struct err *err)
{
	for (unsigned int i = 0; i < r->n;) {
		struct each_call c = { r->entries, i, i + 1, fn, ctx };
		int ret;

		if (r->entries[i].kind != COMP_DEVICE) {
			ret = fn(&r->entries[i], ctx, err);
		} else {
			/*
			 * Consecutive devices in one trip to their thread: a reset
			 * checks and applies a dozen records, and a trip each cost it
			 * more than the records themselves.
			 */
			while (c.to < r->n && r->entries[c.to].kind == COMP_DEVICE)
				c.to++;
			ret = eventloop_run_on(loop, each_run, &c, err);
		}
		if (ret)
			return ret;
		i = c.to;
	}
	return 0;
}
