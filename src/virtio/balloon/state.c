/*
 * virtio-balloon's snapshot record ("VBAL" 1), nested in its transport's
 * (virtio/device.h explains the contract): the config space, the
 * features it offered and the statistics interval (which must be the
 * restoring device's: they fix its queues), the hinting state, the
 * latest statistics and the buffer held for the next, the counters, and
 * which pages are in the balloon (the map only when any are, so an empty
 * balloon costs a few bytes; RAM's pages, then the hotplug region's, and
 * a map of RAM alone, an older Hearth's, is taken). Firecracker's restore ends any hinting run
 * (the guest may use its pages again) and so does this one.
 */
#include "virtio/balloon/priv.h"

#include <errno.h>
#include <string.h>

#define BALLOON_STATE_TAG "VBAL"
#define BALLOON_STATE_VERSION 1u

struct balloon_saved {
	uint64_t offered;
	uint16_t interval_s;
	uint32_t num_pages, actual, cmd_id, poison;
	uint32_t host_cmd, last_cmd_id, guest_cmd;
	bool guest_cmd_present, ack_on_stop;
	uint32_t stats_present;
	uint64_t stats_val[BALLOON_STAT_COUNT];
	bool stats_held;
	uint16_t stats_head;
	uint64_t c[BC_COUNT];
	uint64_t inflated;
};

int balloon_save(struct virtio_dev *dev, struct bytes_out *o)
{
	struct balloon *b = dev->priv;
	uint64_t words = (b->map_pages + 63) / 64;

	bytes_put_tag(o, BALLOON_STATE_TAG, BALLOON_STATE_VERSION);
	bytes_put_u64(o, b->offered);
	bytes_put_u16(o, b->interval_s);
	bytes_put_u32(o, b->num_pages);
	bytes_put_u32(o, b->actual);
	bytes_put_u32(o, b->cmd_id);
	bytes_put_u32(o, b->poison);
	bytes_put_u32(o, b->host_cmd);
	bytes_put_u32(o, b->last_cmd_id);
	bytes_put_u8(o, b->guest_cmd_present);
	bytes_put_u32(o, b->guest_cmd);
	bytes_put_u8(o, b->ack_on_stop);
	bytes_put_u32(o, b->stats_present);
	for (unsigned int i = 0; i < BALLOON_STAT_COUNT; i++)
		bytes_put_u64(o, b->stats_val[i]);
	bytes_put_u8(o, b->stats_held);
	bytes_put_u16(o, b->stats_head);
	bytes_put_u32(o, BC_COUNT);
	for (unsigned int i = 0; i < BC_COUNT; i++)
		bytes_put_u64(o, b->c[i]);
	bytes_put_u64(o, b->map_pages);
	bytes_put_u64(o, b->inflated);
	bytes_put_u8(o, b->inflated != 0);
	for (uint64_t i = 0; b->inflated && i < words; i++)
		bytes_put_u64(o, b->map[i]);
	return 0;
}

/*
 * Reads and checks a record into s; with map, the inflated pages into it
 * too (map_words words). 0, -ENODATA, -EPROTO or -EINVAL.
 */
static int balloon_parse(const struct balloon *b, const struct virtq *vq, const void *in,
			 size_t len, struct balloon_saved *s, uint64_t *map)
{
	struct bytes_in r = bytes_in_init(in, len);
	uint64_t words, map_pages, count = 0;
	bool has_map;
	int ret = bytes_get_tag(&r, BALLOON_STATE_TAG, BALLOON_STATE_VERSION);

	if (ret)
		return ret;
	s->offered = bytes_get_u64(&r);
	s->interval_s = bytes_get_u16(&r);
	s->num_pages = bytes_get_u32(&r);
	s->actual = bytes_get_u32(&r);
	s->cmd_id = bytes_get_u32(&r);
	s->poison = bytes_get_u32(&r);
	s->host_cmd = bytes_get_u32(&r);
	s->last_cmd_id = bytes_get_u32(&r);
	s->guest_cmd_present = bytes_get_bool(&r);
	s->guest_cmd = bytes_get_u32(&r);
	s->ack_on_stop = bytes_get_bool(&r);
	s->stats_present = bytes_get_u32(&r);
	for (unsigned int i = 0; i < BALLOON_STAT_COUNT; i++)
		s->stats_val[i] = bytes_get_u64(&r);
	s->stats_held = bytes_get_bool(&r);
	s->stats_head = bytes_get_u16(&r);
	if (bytes_get_u32(&r) != BC_COUNT && !r.short_read)
		return -EINVAL;
	for (unsigned int i = 0; i < BC_COUNT; i++)
		s->c[i] = bytes_get_u64(&r);
	map_pages = bytes_get_u64(&r);
	s->inflated = bytes_get_u64(&r);
	has_map = bytes_get_bool(&r);
	if (r.short_read)
		return -ENODATA;
	/* Another device's config: its queues would not be the ones the guest set up. */
	if (s->offered != b->offered || !s->interval_s != !b->interval_s)
		return -EINVAL;
	if (s->stats_present >> BALLOON_STAT_COUNT)
		return -EINVAL;
	/* A held buffer is on the statistics queue, always 2 when there is one. */
	if (s->stats_held && (!((s->offered >> VIRTIO_BALLOON_F_STATS_VQ) & 1) ||
			      b->dev.num_queues < 3 || !vq[2].enabled || s->stats_head >= vq[2].size))
		return -EINVAL;
	/*
	 * Another RAM's map, or a count the map does not bear out. A map of
	 * RAM alone is an older Hearth's, which kept no hotplug pages.
	 */
	if ((map_pages != b->map_pages && map_pages != b->ram_pages) || s->inflated > map_pages ||
	    has_map != (s->inflated != 0))
		return -EINVAL;
	words = (map_pages + 63) / 64;
	for (uint64_t i = 0; has_map && i < words; i++) {
		uint64_t w = bytes_get_u64(&r);

		if (i == words - 1 && map_pages % 64 && w >> (map_pages % 64))
			return -EINVAL;
		count += (uint64_t)__builtin_popcountll(w);
		if (map)
			map[i] = w;
	}
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	return count == s->inflated ? 0 : -EINVAL;
}

int balloon_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in, size_t len,
		    bool apply)
{
	struct balloon *b = dev->priv;
	uint8_t role[VIRTIO_MAX_QUEUES];
	struct balloon_saved s;
	int ret = balloon_parse(b, vq, in, len, &s, NULL);

	if (ret || !apply)
		return ret;
	/* Checked with the same bytes: this pass only fills the map. */
	if (b->map)
		memset(b->map, 0, (b->map_pages + 63) / 64 * sizeof(uint64_t));
	ret = balloon_parse(b, vq, in, len, &s, b->map);
	if (ret)
		return ret;
	b->interval_s = s.interval_s;
	b->num_pages = s.num_pages;
	b->actual = s.actual;
	b->poison = s.poison;
	b->cmd_id = s.cmd_id;
	b->host_cmd = s.host_cmd;
	b->last_cmd_id = s.last_cmd_id;
	b->guest_cmd = s.guest_cmd;
	b->guest_cmd_present = s.guest_cmd_present;
	b->ack_on_stop = s.ack_on_stop;
	/*
	 * Firecracker's restore: the guest may take its hinted pages back
	 * (balloon_restored tells it). Hints still queued are then not
	 * given back, as the host's DONE says.
	 */
	if ((b->offered >> VIRTIO_BALLOON_F_FREE_PAGE_HINT) & 1)
		b->cmd_id = b->host_cmd = VIRTIO_BALLOON_CMD_ID_DONE;
	b->stats_present = s.stats_present;
	memcpy(b->stats_val, s.stats_val, sizeof(b->stats_val));
	/*
	 * As Firecracker: a held buffer only means something on a started
	 * device, and only on the statistics queue the driver negotiated
	 * (queue 2, which the check could only take on trust).
	 */
	balloon_layout(dev->features, dev->num_queues, role);
	b->stats_held = s.stats_held && dev->activated && role[2] == BALLOON_Q_STATS &&
			s.stats_head < vq[2].size;
	b->stats_head = s.stats_head;
	b->restoring = true;
	memcpy(b->c, s.c, sizeof(b->c));
	b->inflated = s.inflated;
	return 0;
}
