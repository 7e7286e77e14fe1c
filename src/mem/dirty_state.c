/*
 * The dirty log's record: what a snapshot takes of it (dirty.c holds the
 * log). Per region, then for the memory hotplug region (when there is
 * one; records from before it was logged have none), its bitmap's word
 * count, then the words, bit i of word i/64 for page i, as
 * guest_mem_dirty_collect gives them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/guest_mem.h"
#include "mem/guest_mem_hotplug.h"
#include "util/bytes.h"

#define DIRTY_TAG "DRTY"
#define DIRTY_STATE_VERSION 1u

/* Every page of gm dirty: what is left when collected bits cannot be kept. */
static void mark_all(const struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nregions; i++)
		guest_mem_dirty_mark(gm, gm->regions[i].gpa, gm->regions[i].size);
	if (gm->hp)
		guest_mem_dirty_mark(gm, gm->hp->gpa, gm->hp->size);
}

/* The bitmaps a record of gm holds, in its order: the regions', then the hotplug region's. */
static unsigned int record_maps(const struct guest_mem *gm, unsigned int idx[GUEST_MEM_DIRTY_MAPS])
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < gm->nregions; i++)
		idx[n++] = i;
	if (gm->hp && gm->dirty[GUEST_MEM_HP_MAP])
		idx[n++] = GUEST_MEM_HP_MAP;
	return n;
}

/*
 * Collecting takes the pages out of the log, so a save that fails part
 * way gives back what it took: a later snapshot still sees them.
 */
static int dirty_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct guest_mem *gm = obj;
	uint64_t *maps[GUEST_MEM_DIRTY_MAPS] = { NULL };
	unsigned int idx[GUEST_MEM_DIRTY_MAPS], n, taken = 0;
	int ret = 0;

	bytes_put_tag(o, DIRTY_TAG, DIRTY_STATE_VERSION);
	bytes_put_u8(o, gm->dirty_on);
	if (!gm->dirty_on)
		return 0;
	n = record_maps(gm, idx);
	bytes_put_u32(o, n);
	for (; taken < n; taken++) {
		maps[taken] = calloc(guest_mem_dirty_words(gm, idx[taken]), sizeof(uint64_t));
		if (!maps[taken]) {
			ret = err_set(err, false, -ENOMEM, "out of memory");
			break;
		}
		ret = guest_mem_dirty_collect(gm, gm->slots_fd, idx[taken], maps[taken]);
		if (ret) {
			err_set(err, false, ret, "reading the dirty log: %s", strerror(-ret));
			break;
		}
	}
	for (unsigned int i = 0; !ret && i < n; i++) {
		size_t words = guest_mem_dirty_words(gm, idx[i]);

		bytes_put_u64(o, words);
		for (size_t w = 0; w < words; w++)
			bytes_put_u64(o, maps[i][w]);
	}
	if (!ret && o->oom)
		ret = err_set(err, false, -ENOMEM, "out of memory");
	for (unsigned int i = 0; ret && i < taken; i++)
		guest_mem_dirty_putback(gm, idx[i], maps[i]);
	for (unsigned int i = 0; i < GUEST_MEM_DIRTY_MAPS; i++)
		free(maps[i]);
	return ret;
}

/*
 * A record from before the hotplug region was logged has no bitmap for
 * it: every page of it, so a diff taken next holds the whole region.
 */
static int all_pages(const struct guest_mem *gm, uint64_t **map)
{
	size_t words = guest_mem_dirty_words(gm, GUEST_MEM_HP_MAP);

	*map = malloc(words * sizeof(**map));
	if (!*map)
		return -ENOMEM;
	memset(*map, 0xff, words * sizeof(**map));
	return 0;
}

int guest_mem_dirty_parse(const struct guest_mem *gm, const void *in, size_t len,
			  uint64_t *maps[GUEST_MEM_DIRTY_MAPS])
{
	struct bytes_in r = bytes_in_init(in, len);
	int ret = bytes_get_tag(&r, DIRTY_TAG, DIRTY_STATE_VERSION);
	unsigned int idx[GUEST_MEM_DIRTY_MAPS], n = record_maps(gm, idx), got = 0;
	bool on;

	if (maps)
		memset(maps, 0, sizeof(*maps) * GUEST_MEM_DIRTY_MAPS);
	if (ret)
		return ret;
	on = bytes_get_bool(&r);
	if (on && !r.short_read) {
		got = bytes_get_u32(&r);
		/* All of gm's bitmaps, or (an older record) all but the hotplug region's. */
		if (!r.short_read && got != n && !(got + 1 == n && idx[n - 1] == GUEST_MEM_HP_MAP))
			return -EINVAL;
	}
	for (unsigned int i = 0; on && i < got && !r.short_read; i++) {
		size_t words = guest_mem_dirty_words(gm, idx[i]);
		uint64_t *map = NULL;

		if (bytes_get_u64(&r) != words && !r.short_read) {
			ret = -EINVAL;
			break;
		}
		if (maps && !(map = maps[idx[i]] = calloc(words, sizeof(*map)))) {
			ret = -ENOMEM;
			break;
		}
		for (size_t w = 0; w < words; w++) {
			uint64_t v = bytes_get_u64(&r);

			if (map)
				map[w] = v;
		}
	}
	if (!ret)
		ret = bytes_in_finish(&r);
	/* Pages of a memory that keeps no log cannot be taken up. */
	if (!ret && on != gm->dirty_on)
		ret = -EINVAL;
	if (!ret && on && maps && got < n)
		ret = all_pages(gm, &maps[GUEST_MEM_HP_MAP]);
	for (unsigned int i = 0; ret && maps && i < GUEST_MEM_DIRTY_MAPS; i++) {
		free(maps[i]);
		maps[i] = NULL;
	}
	return ret;
}

/* Each bitmap parse handed out, marked dirty again and freed. */
static void putback_all(const struct guest_mem *gm, uint64_t *maps[GUEST_MEM_DIRTY_MAPS])
{
	for (unsigned int i = 0; i < GUEST_MEM_DIRTY_MAPS; i++) {
		if (maps[i])
			guest_mem_dirty_putback(gm, i, maps[i]);
		free(maps[i]);
	}
}

static int dirty_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct guest_mem *gm = obj;
	uint64_t *maps[GUEST_MEM_DIRTY_MAPS];
	int ret = guest_mem_dirty_parse(gm, in, len, apply ? maps : NULL);

	if (ret || !apply)
		return ret;
	putback_all(gm, maps);
	return 0;
}

const struct component_ops guest_mem_dirty_component = {
	.save = dirty_save,
	.restore = dirty_restore,
};

void guest_mem_dirty_give_back(struct guest_mem *gm, const void *in, size_t len)
{
	uint64_t *maps[GUEST_MEM_DIRTY_MAPS];

	if (!gm->dirty_on)
		return;
	/* A record we cannot read back (out of memory): every page, never fewer. */
	if (guest_mem_dirty_parse(gm, in, len, maps)) {
		mark_all(gm);
		return;
	}
	putback_all(gm, maps);
}
