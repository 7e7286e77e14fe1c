#include "snapshot/uffd_msg.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MIN_PAGE 4096ull

int uffd_msg_build(const struct uffd_mapping *m, unsigned int n, char **out, size_t *len)
{
	json_t *a = json_array();
	char *s;

	if (!a)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		/* JSON_PRESERVE_ORDER below keeps the fields in Firecracker's order. */
		json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I}",
				      "base_host_virt_addr", (json_int_t)m[i].base_host_virt_addr,
				      "size", (json_int_t)m[i].size,
				      "offset", (json_int_t)m[i].offset,
				      "page_size", (json_int_t)m[i].page_size,
				      "page_size_kib", (json_int_t)m[i].page_size);

		if (!o || json_array_append_new(a, o)) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	s = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(a);
	if (!s)
		return -ENOMEM;
	*out = s;
	*len = strlen(s);
	return 0;
}

static int bad(struct err *err, unsigned int i, const char *what)
{
	return err_set(err, true, -EINVAL, "the mapping message's region %u: %s", i, what);
}

/* A field that must be there, a non-negative integer. */
static int field(json_t *o, const char *name, unsigned int i, uint64_t *v, struct err *err)
{
	json_t *f = json_object_get(o, name);

	if (!json_is_integer(f) || json_integer_value(f) < 0)
		return err_set(err, true, -EINVAL, "the mapping message's region %u: '%s' is "
			       "missing or not a non-negative integer", i, name);
	*v = (uint64_t)json_integer_value(f);
	return 0;
}

static int check_one(const struct uffd_mapping *u, unsigned int i, json_t *o, struct err *err)
{
	json_t *kib = json_object_get(o, "page_size_kib");
	uint64_t p = u->page_size;

	if (p < MIN_PAGE || (p & (p - 1)))
		return bad(err, i, "page_size is not a power of two of at least 4096");
	if (kib && (!json_is_integer(kib) || (uint64_t)json_integer_value(kib) != p))
		return bad(err, i, "page_size_kib is not page_size");
	if (!u->size || (u->size & (p - 1)) || (u->base_host_virt_addr & (p - 1)))
		return bad(err, i, "its base or size is not a multiple of its page_size");
	if (u->offset & (MIN_PAGE - 1))
		return bad(err, i, "its offset is not a multiple of 4096");
	if (u->base_host_virt_addr + u->size < u->base_host_virt_addr ||
	    u->offset + u->size < u->offset)
		return bad(err, i, "its range wraps around");
	return 0;
}

int uffd_msg_parse(const char *buf, size_t len, struct uffd_mapping *m, unsigned int max,
		   unsigned int *n, struct err *err)
{
	json_error_t je;
	json_t *a = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je), *o;
	size_t i;
	int ret = 0;

	*n = 0;
	if (!a)
		return err_set(err, true, -EINVAL, "the mapping message is not JSON: %s", je.text);
	if (!json_is_array(a) || !json_array_size(a) || json_array_size(a) > max) {
		ret = err_set(err, true, -EINVAL, "the mapping message is not an array of 1 to "
			      "%u regions", max);
		goto out;
	}
	json_array_foreach(a, i, o) {
		struct uffd_mapping *u = &m[i];

		if (!json_is_object(o)) {
			ret = bad(err, (unsigned int)i, "not an object");
			goto out;
		}
		ret = field(o, "base_host_virt_addr", (unsigned int)i, &u->base_host_virt_addr, err);
		if (!ret)
			ret = field(o, "size", (unsigned int)i, &u->size, err);
		if (!ret)
			ret = field(o, "offset", (unsigned int)i, &u->offset, err);
		if (!ret)
			ret = field(o, "page_size", (unsigned int)i, &u->page_size, err);
		if (!ret)
			ret = check_one(u, (unsigned int)i, o, err);
		for (size_t j = 0; !ret && j < i; j++)
			if (u->base_host_virt_addr < m[j].base_host_virt_addr + m[j].size &&
			    m[j].base_host_virt_addr < u->base_host_virt_addr + u->size)
				ret = err_set(err, true, -EINVAL, "the mapping message's regions "
					      "%zu and %zu overlap", j, i);
		if (ret)
			goto out;
	}
	*n = (unsigned int)json_array_size(a);
out:
	json_decref(a);
	return ret;
}
