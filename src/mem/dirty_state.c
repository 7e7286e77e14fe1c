/*
 * The dirty log's record: what a snapshot takes of it (dirty.c holds the
 * log). Per region, its bitmap's word count, then the words, bit i of
 * word i/64 for page i, as guest_mem_dirty_collect gives them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/guest_mem.h"
#include "util/bytes.h"

#define DIRTY_TAG "DRTY"
#define DIRTY_STATE_VERSION 1u

/* Every page of gm dirty: what is left when collected bits cannot be kept. */
static void mark_all(const struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nregions; i++)
		guest_mem_dirty_mark(gm, gm->regions[i].gpa, gm->regions[i].size);
}

/*
 * Collecting takes the pages out of the log, so a save that fails part
 * way gives back what it took: a later snapshot still sees them.
 */
static int dirty_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct guest_mem *gm = obj;
	uint64_t *maps[GUEST_MEM_MAX_REGIONS] = { NULL };
	unsigned int taken = 0;
	int ret = 0;

	bytes_put_tag(o, DIRTY_TAG, DIRTY_STATE_VERSION);
	bytes_put_u8(o, gm->dirty_on);
	if (!gm->dirty_on)
		return 0;
	bytes_put_u32(o, gm->nregions);
	for (; taken < gm->nregions; taken++) {
		maps[taken] = calloc(guest_mem_dirty_words(gm, taken), sizeof(uint64_t));
		if (!maps[taken]) {
			ret = err_set(err, false, -ENOMEM, "out of memory");
			break;
		}
		ret = guest_mem_dirty_collect(gm, gm->slots_fd, taken, maps[taken]);
		if (ret) {
			err_set(err, false, ret, "reading the dirty log: %s", strerror(-ret));
			break;
		}
	}
	for (unsigned int i = 0; !ret && i < gm->nregions; i++) {
		size_t words = guest_mem_dirty_words(gm, i);

		bytes_put_u64(o, words);
		for (size_t w = 0; w < words; w++)
			bytes_put_u64(o, maps[i][w]);
	}
	if (!ret && o->oom)
		ret = err_set(err, false, -ENOMEM, "out of memory");
	for (unsigned int i = 0; ret && i < taken; i++)
		guest_mem_dirty_putback(gm, i, maps[i]);
	for (unsigned int i = 0; i < GUEST_MEM_MAX_REGIONS; i++)
		free(maps[i]);
	return ret;
}

int guest_mem_dirty_parse(const struct guest_mem *gm, const void *in, size_t len,
			  uint64_t *maps[GUEST_MEM_MAX_REGIONS])
{
	struct bytes_in r = bytes_in_init(in, len);
	int ret = bytes_get_tag(&r, DIRTY_TAG, DIRTY_STATE_VERSION);
	bool on;

	if (maps)
		memset(maps, 0, sizeof(*maps) * GUEST_MEM_MAX_REGIONS);
	if (ret)
		return ret;
	on = bytes_get_bool(&r);
	if (on && !r.short_read && bytes_get_u32(&r) != gm->nregions && !r.short_read)
		return -EINVAL;
	for (unsigned int i = 0; on && i < gm->nregions && !r.short_read; i++) {
		size_t words = guest_mem_dirty_words(gm, i);
		uint64_t *map = NULL;

		if (bytes_get_u64(&r) != words && !r.short_read) {
			ret = -EINVAL;
			break;
		}
		if (maps && !(map = maps[i] = calloc(words, sizeof(*map)))) {
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
	for (unsigned int i = 0; ret && maps && i < GUEST_MEM_MAX_REGIONS; i++) {
		free(maps[i]);
		maps[i] = NULL;
	}
	return ret;
}

static int dirty_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct guest_mem *gm = obj;
	uint64_t *maps[GUEST_MEM_MAX_REGIONS];
	int ret = guest_mem_dirty_parse(gm, in, len, apply ? maps : NULL);

	if (ret || !apply)
		return ret;
	for (unsigned int i = 0; i < gm->nregions; i++) {
		if (maps[i])
			guest_mem_dirty_putback(gm, i, maps[i]);
		free(maps[i]);
	}
	return 0;
}

const struct component_ops guest_mem_dirty_component = {
	.save = dirty_save,
	.restore = dirty_restore,
};

void guest_mem_dirty_give_back(struct guest_mem *gm, const void *in, size_t len)
{
	uint64_t *maps[GUEST_MEM_MAX_REGIONS];

	if (!gm->dirty_on)
		return;
	/* A record we cannot read back (out of memory): every page, never fewer. */
	if (guest_mem_dirty_parse(gm, in, len, maps)) {
		mark_all(gm);
		return;
	}
	for (unsigned int i = 0; i < gm->nregions; i++) {
		if (maps[i])
			guest_mem_dirty_putback(gm, i, maps[i]);
		free(maps[i]);
	}
}
