/*
 * virtio-mem's snapshot record ("VMEM" 1), nested in its transport's
 * (virtio/device.h explains the contract): the region's geometry (which
 * must be the restoring device's: the guest's driver was told it), the
 * config space's usable, plugged and requested sizes, the counters, and
 * which blocks are plugged (the map only when any are). The plugged
 * blocks' bytes are in the memory file, which the VM maps over the
 * region before devices restore; applying the record plugs those blocks
 * again (their KVM slots come back). Nothing else is pending: every
 * request is answered within the kick that brought it.
 */
#include "virtio/mem/priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define VMEM_STATE_TAG "VMEM"
#define VMEM_STATE_VERSION 1u

struct vmem_saved {
	uint64_t addr, region_size, block_size, slot_size;
	uint64_t usable, plugged, requested;
	uint64_t c[MC_COUNT];
	bool has_map;
};

int vmem_save(struct virtio_dev *dev, struct bytes_out *o)
{
	struct vmem *m = dev->priv;

	bytes_put_tag(o, VMEM_STATE_TAG, VMEM_STATE_VERSION);
	bytes_put_u64(o, m->cfg.addr);
	bytes_put_u64(o, m->cfg.region_size);
	bytes_put_u64(o, m->cfg.block_size);
	bytes_put_u64(o, m->cfg.slot_size);
	bytes_put_u64(o, m->usable);
	bytes_put_u64(o, m->plugged);
	bytes_put_u64(o, m->requested);
	bytes_put_u32(o, MC_COUNT);
	for (unsigned int i = 0; i < MC_COUNT; i++)
		bytes_put_u64(o, m->c[i]);
	bytes_put_u8(o, m->plugged != 0);
	for (uint64_t i = 0; m->plugged && i < (m->nblocks + 63) / 64; i++)
		bytes_put_u64(o, m->map[i]);
	return 0;
}

/* The sizes agree with each other and with this device's region. */
static bool sizes_hold(const struct vmem *m, const struct vmem_saved *s)
{
	const struct virtio_mem_config *c = &m->cfg;

	if (s->addr != c->addr || s->region_size != c->region_size ||
	    s->block_size != c->block_size || s->slot_size != c->slot_size) {
		log_err("virtio-mem: the snapshot's region is %#" PRIx64 "+%#" PRIx64 " in blocks "
			"of %#" PRIx64 " and slots of %#" PRIx64 "; this VM's is %#" PRIx64 "+%#"
			PRIx64 " in %#" PRIx64 " and %#" PRIx64, s->addr, s->region_size,
			s->block_size, s->slot_size, c->addr, c->region_size, c->block_size,
			c->slot_size);
		return false;
	}
	/* What the device itself keeps true: whole slots usable, covering the request. */
	return s->usable <= c->region_size && !(s->usable % c->slot_size) &&
	       s->requested <= c->region_size && !(s->requested % c->block_size) &&
	       s->usable >= vmem_usable_for(m, s->requested) &&
	       s->plugged <= s->usable && !(s->plugged % c->block_size) &&
	       s->has_map == (s->plugged != 0);
}

/*
 * Reads and checks a record; with map (the device's words, zeroed), the
 * plugged blocks into it. 0, -ENODATA, -EPROTO or -EINVAL.
 */
static int vmem_parse(const struct vmem *m, const void *in, size_t len, struct vmem_saved *s,
		      uint64_t *map)
{
	struct bytes_in r = bytes_in_init(in, len);
	uint64_t words = (m->nblocks + 63) / 64, count = 0, usable_blocks;
	int ret = bytes_get_tag(&r, VMEM_STATE_TAG, VMEM_STATE_VERSION);

	if (ret)
		return ret;
	s->addr = bytes_get_u64(&r);
	s->region_size = bytes_get_u64(&r);
	s->block_size = bytes_get_u64(&r);
	s->slot_size = bytes_get_u64(&r);
	s->usable = bytes_get_u64(&r);
	s->plugged = bytes_get_u64(&r);
	s->requested = bytes_get_u64(&r);
	if (bytes_get_u32(&r) != MC_COUNT && !r.short_read)
		return -EINVAL;
	for (unsigned int i = 0; i < MC_COUNT; i++)
		s->c[i] = bytes_get_u64(&r);
	s->has_map = bytes_get_bool(&r);
	if (r.short_read)
		return -ENODATA;
	if (!sizes_hold(m, s))
		return -EINVAL;
	usable_blocks = s->usable / m->cfg.block_size;
	for (uint64_t i = 0; s->has_map && i < words; i++) {
		uint64_t w = bytes_get_u64(&r);

		/* No block past the usable region (which is within the region) is plugged. */
		if (usable_blocks <= i * 64 ? w != 0
		    : usable_blocks - i * 64 < 64 && w >> (usable_blocks - i * 64))
			return -EINVAL;
		count += (uint64_t)__builtin_popcountll(w);
		if (map)
			map[i] = w;
	}
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	return count * m->cfg.block_size == s->plugged ? 0 : -EINVAL;
}

/* Plugs (plug) or unplugs every run of map's blocks through the ops. 0 or the first -errno. */
static int plug_runs(struct vmem *m, const uint64_t *map, bool plug)
{
	uint64_t b = 0;

	while (b < m->nblocks) {
		uint64_t run = 0;
		int ret;

		while (b + run < m->nblocks && (map[(b + run) / 64] >> ((b + run) % 64)) & 1)
			run++;
		if (!run) {
			b++;
			continue;
		}
		ret = m->cfg.ops->set(m->cfg.ctx, b * m->cfg.block_size, run * m->cfg.block_size,
				      plug);
		if (ret && plug)
			return ret;
		b += run;
	}
	return 0;
}

int vmem_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in, size_t len,
		 bool apply)
{
	struct vmem *m = dev->priv;
	uint64_t words = (m->nblocks + 63) / 64;
	struct vmem_saved s;
	uint64_t *map;
	int ret;

	(void)vq; /* one queue, no ring position of its own */
	if (!apply)
		return vmem_parse(m, in, len, &s, NULL);
	/* A device restores once, into a new VM: nothing is plugged yet. */
	if (m->plugged)
		return -EINVAL;
	map = calloc(words, sizeof(*map));
	if (!map)
		return -ENOMEM;
	ret = vmem_parse(m, in, len, &s, map);
	if (!ret)
		ret = plug_runs(m, map, true);
	if (ret) {
		/* The host refused a slot: what did come back goes again. */
		plug_runs(m, map, false);
		free(map);
		return ret;
	}
	memcpy(m->map, map, words * sizeof(*map));
	free(map);
	m->usable = s.usable;
	m->plugged = s.plugged;
	m->requested = s.requested;
	memcpy(m->c, s.c, sizeof(s.c));
	return 0;
}
