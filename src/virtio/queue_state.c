/*
 * A virtqueue's save and restore. Only the device's side is state: the
 * descriptors, avail and used rings are in guest RAM, which a snapshot
 * keeps whole, so a restored queue carries on at the same indices over
 * the same rings, with completed entries the driver has not read yet
 * still in its used ring.
 */
#include <errno.h>

#include "virtio/queue.h"

void virtq_save(const struct virtq *vq, struct bytes_out *o)
{
	bytes_put_u16(o, vq->size);
	bytes_put_u64(o, vq->desc_gpa);
	bytes_put_u64(o, vq->avail_gpa);
	bytes_put_u64(o, vq->used_gpa);
	bytes_put_u8(o, vq->event_idx);
	bytes_put_u8(o, vq->indirect);
	bytes_put_u8(o, vq->enabled);
	bytes_put_u16(o, vq->last_avail);
	bytes_put_u16(o, vq->avail_seen);
	bytes_put_u16(o, vq->next_used);
	bytes_put_u16(o, vq->signalled_used);
	bytes_put_u8(o, vq->signalled_valid);
}

/*
 * The device can have taken at most a ring's worth of chains it has not
 * given back (last_avail - used), and have seen no further than the
 * driver's index allowed at the time (avail - last_avail).
 */
static bool virtq_position_valid(uint16_t size, uint16_t avail, uint16_t last_avail,
				 uint16_t used)
{
	return (uint16_t)(last_avail - used) <= size && (uint16_t)(avail - last_avail) <= size;
}

int virtq_restore(struct virtq *vq, const struct guest_mem *mem, struct bytes_in *in)
{
	struct virtq v = { 0 };
	uint16_t last_avail, avail_seen, next_used, signalled_used;
	bool enabled, signalled_valid;

	v.size = bytes_get_u16(in);
	v.desc_gpa = bytes_get_u64(in);
	v.avail_gpa = bytes_get_u64(in);
	v.used_gpa = bytes_get_u64(in);
	v.event_idx = bytes_get_bool(in);
	v.indirect = bytes_get_bool(in);
	enabled = bytes_get_bool(in);
	last_avail = bytes_get_u16(in);
	avail_seen = bytes_get_u16(in);
	next_used = bytes_get_u16(in);
	signalled_used = bytes_get_u16(in);
	signalled_valid = bytes_get_bool(in);
	if (in->short_read)
		return 0;
	/* A size the transport would have refused: 0 (never set) or a power of two. */
	if (v.size > VIRTQ_MAX_SIZE || (v.size & (v.size - 1)))
		return -EINVAL;
	if (enabled) {
		/* The same checks as QueueReady, against the restored RAM. */
		if (virtq_enable(&v, mem) != VIRTQ_OK)
			return -EINVAL;
		if (!virtq_position_valid(v.size, avail_seen, last_avail, next_used))
			return -EINVAL;
	}
	/* A queue that is not live keeps them only until QueueReady zeroes them. */
	v.last_avail = last_avail;
	v.avail_seen = avail_seen;
	v.next_used = next_used;
	v.signalled_used = signalled_used;
	v.signalled_valid = signalled_valid;
	*vq = v;
	return 0;
}

int virtq_check_base(const struct virtq *vq, uint16_t last_avail)
{
	uint16_t avail, used;

	/* QueueReady zeroes the position of a queue that is not live yet. */
	if (!vq->enabled)
		return 0;
	/*
	 * The guest's own indices stand in for the device's copies: what it
	 * published and what the device (vhost) gave back, in the restored RAM.
	 */
	avail = __atomic_load_n(&vq->avail[1], __ATOMIC_ACQUIRE);
	used = __atomic_load_n(&vq->used[1], __ATOMIC_ACQUIRE);
	return virtq_position_valid(vq->size, avail, last_avail, used) ? 0 : -EINVAL;
}

int virtq_take_position(struct virtq *vq, uint16_t last_avail)
{
	if (!vq->enabled)
		return 0;
	if (virtq_check_base(vq, last_avail))
		return -EINVAL;
	vq->last_avail = last_avail;
	vq->avail_seen = last_avail;
	vq->next_used = __atomic_load_n(&vq->used[1], __ATOMIC_ACQUIRE);
	/* Which used index the driver was last signalled for is unknown: signal next time. */
	vq->signalled_valid = false;
	return 0;
}
