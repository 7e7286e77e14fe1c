/* "etc/e820" from the RAM layout (e820_fwcfg.h). */
#include "firmware/e820_fwcfg.h"

#include <errno.h>

static void put_le(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Inserts r into the sorted tbl of *n; -EINVAL when it overlaps a range already there. */
static int insert(struct e820_fwcfg_range *tbl, unsigned int *n, const struct e820_fwcfg_range *r)
{
	unsigned int i = *n;

	while (i > 0 && tbl[i - 1].addr > r->addr)
		i--;
	if (i > 0 && tbl[i - 1].addr + tbl[i - 1].len > r->addr)
		return -EINVAL;
	if (i < *n && r->addr + r->len > tbl[i].addr)
		return -EINVAL;
	for (unsigned int j = *n; j > i; j--)
		tbl[j] = tbl[j - 1];
	tbl[i] = *r;
	(*n)++;
	return 0;
}

int e820_fwcfg_build(const struct guest_mem *gm, const struct e820_fwcfg_range *extra,
		     unsigned int n, uint8_t *out, size_t max, size_t *len, struct err *err)
{
	struct e820_fwcfg_range tbl[E820_FWCFG_MAX];
	unsigned int count = 0;

	if (!gm || gm->nregions == 0 || gm->nregions > GUEST_MEM_MAX_REGIONS)
		return err_set(err, false, -EINVAL, "e820: no RAM");
	if (n > E820_FWCFG_EXTRA_MAX || (n && !extra))
		return err_set(err, false, -ENOSPC, "e820: more than %d extra ranges",
			       E820_FWCFG_EXTRA_MAX);
	for (unsigned int i = 0; i < gm->nregions; i++) {
		struct e820_fwcfg_range r = { gm->regions[i].gpa, gm->regions[i].size,
					      E820_FWCFG_RAM };

		if (!r.len || r.addr + r.len < r.addr || insert(tbl, &count, &r))
			return err_set(err, false, -EINVAL, "e820: RAM region %u is malformed", i);
	}
	for (unsigned int i = 0; i < n; i++) {
		const struct e820_fwcfg_range *r = &extra[i];

		if (r->type < E820_FWCFG_RESERVED || r->type > E820_FWCFG_UNUSABLE)
			return err_set(err, false, -EINVAL, "e820: range %u has type %u", i,
				       r->type);
		if (!r->len || r->addr + r->len < r->addr)
			return err_set(err, false, -EINVAL, "e820: range %u is empty or wraps", i);
		if (insert(tbl, &count, r))
			return err_set(err, false, -EINVAL,
				       "e820: range %u (0x%llx, 0x%llx bytes) overlaps another", i,
				       (unsigned long long)r->addr, (unsigned long long)r->len);
	}
	if (!out || max < (size_t)count * E820_FWCFG_ENTRY)
		return err_set(err, false, -ENOSPC, "e820: %u entries need %u bytes", count,
			       count * E820_FWCFG_ENTRY);
	for (unsigned int i = 0; i < count; i++) {
		uint8_t *e = out + (size_t)i * E820_FWCFG_ENTRY;

		put_le(e, tbl[i].addr, 8);
		put_le(e + 8, tbl[i].len, 8);
		put_le(e + 16, tbl[i].type, 4);
	}
	*len = (size_t)count * E820_FWCFG_ENTRY;
	return 0;
}
