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
	/* Newest first: a device may depend on one created before it, never after. */
	while (r->n) {
		struct dev_entry *e = &r->entries[--r->n];

		if (e->transport && e->transport_ops && e->transport_ops->destroy)
			e->transport_ops->destroy(e->transport);
		if (e->ops && e->ops->destroy)
			e->ops->destroy(e->dev);
	}
	free(r->entries);
	memset(r, 0, sizeof(*r));
}

struct dev_entry *registry_find(struct registry *r, const char *id)
{
	for (unsigned int i = 0; i < r->n; i++)
		if (!strcmp(r->entries[i].id, id))
			return &r->entries[i];
	return NULL;
}

struct dev_entry *registry_find_kind(struct registry *r, enum dev_kind kind, const char *type,
				     unsigned int nth)
{
	for (unsigned int i = 0; i < r->n; i++) {
		struct dev_entry *e = &r->entries[i];

		if (e->kind == kind && (!type || !strcmp(e->type, type)) && nth-- == 0)
			return e;
	}
	return NULL;
}

int registry_add(struct registry *r, const char *id, enum dev_kind kind, const char *type,
		 const struct dev_resources *res, const struct dev_ops *ops, void *dev)
{
	struct dev_entry *e;

	if (!id || !*id || strlen(id) > VM_ID_MAX)
		return -EINVAL;
	if (registry_find(r, id))
		return -EEXIST;
	if (r->n == r->cap) {
		unsigned int cap = r->cap ? r->cap * 2 : 8;
		struct dev_entry *grown = realloc(r->entries, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		r->entries = grown;
		r->cap = cap;
	}
	e = &r->entries[r->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->kind = kind;
	e->type = type;
	if (res)
		e->res = *res;
	else
		e->res.gsi = -1;
	e->ops = ops;
	e->dev = dev;
	return 0;
}

void registry_set_transport(struct registry *r, const struct dev_transport_ops *ops,
			    void *transport)
{
	if (!r->n)
		return;
	r->entries[r->n - 1].transport_ops = ops;
	r->entries[r->n - 1].transport = transport;
}

unsigned int registry_counters(const struct dev_entry *e, struct dev_counter *out,
			       unsigned int max)
{
	if (!e->ops || !e->ops->counters)
		return 0;
	return e->ops->counters(e->dev, out, max);
}

int registry_pause(struct registry *r)
{
	int ret = 0;

	for (unsigned int i = 0; i < r->n; i++) {
		struct dev_entry *e = &r->entries[i];
		int err = e->ops && e->ops->pause ? e->ops->pause(e->dev) : 0;

		if (err && !ret)
			ret = err;
	}
	return ret;
}

int registry_resume(struct registry *r)
{
	int ret = 0;

	for (unsigned int i = 0; i < r->n; i++) {
		struct dev_entry *e = &r->entries[i];
		int err = e->ops && e->ops->resume ? e->ops->resume(e->dev) : 0;

		if (err && !ret)
			ret = err;
	}
	return ret;
}
