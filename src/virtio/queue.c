#include "virtio/queue.h"

#include <errno.h>
#include <string.h>

#ifdef HEARTH_FUZZ
/*
 * Fuzz builds only (fuzz/build.sh): runs before each read of guest memory
 * here, so a target can play a guest that rewrites RAM between the
 * device's reads, deterministically.
 */
void (*virtq_fuzz_race)(void);
#define GUEST_READ()                                                                         \
	do {                                                                                 \
		if (virtq_fuzz_race)                                                         \
			virtq_fuzz_race();                                                   \
	} while (0)
#else
#define GUEST_READ() do { } while (0)
#endif

static const char *const error_names[] = {
	[VIRTQ_OK] = "no error",
	[VIRTQ_ERR_RING_ADDR] = "ring address outside RAM or misaligned",
	[VIRTQ_ERR_AVAIL_JUMP] = "avail index moved by more than the queue size",
	[VIRTQ_ERR_HEAD] = "chain head index beyond the queue",
	[VIRTQ_ERR_NEXT] = "descriptor 'next' beyond the table",
	[VIRTQ_ERR_LOOP] = "descriptor chain loops or exceeds the queue size",
	[VIRTQ_ERR_ADDR] = "buffer outside RAM, straddling a region or wrapping",
	[VIRTQ_ERR_TOTAL_LEN] = "chain longer than 4 GiB",
	[VIRTQ_ERR_NESTED] = "indirect descriptor inside an indirect table",
	[VIRTQ_ERR_INDIRECT_NEXT] = "descriptor has both INDIRECT and NEXT",
	[VIRTQ_ERR_INDIRECT_LEN] = "indirect table length is 0 or not a multiple of 16",
	[VIRTQ_ERR_INDIRECT_OFF] = "indirect descriptor without VIRTIO_F_INDIRECT_DESC",
	[VIRTQ_ERR_DIRECTION] = "device-readable descriptor after a device-writable one",
	[VIRTQ_ERR_TOO_MANY] = "chain has too many segments",
	[VIRTQ_ERR_USED_LEN] = "device wrote more than the chain offered",
};

const char *virtq_strerror(enum virtq_error e)
{
	if ((unsigned int)e < sizeof(error_names) / sizeof(error_names[0]) && error_names[e])
		return error_names[e];
	return "unknown virtqueue error";
}

void virtq_reset(struct virtq *vq)
{
	memset(vq, 0, sizeof(*vq));
}

enum virtq_error virtq_enable(struct virtq *vq, const struct guest_mem *mem)
{
	uint64_t n = vq->size;

	/* Alignments from the spec's split-ring table: 16, 2 and 4. */
	if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)) || (vq->desc_gpa & 15) ||
	    (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return VIRTQ_ERR_RING_ADDR;
	vq->desc = guest_mem_ptr(mem, vq->desc_gpa, 16 * n);
	vq->avail = guest_mem_ptr(mem, vq->avail_gpa, 6 + 2 * n);
	vq->used = guest_mem_ptr(mem, vq->used_gpa, 6 + 8 * n);
	if (!vq->desc || !vq->avail || !vq->used) {
		vq->desc = NULL;
		vq->avail = vq->used = NULL;
		return VIRTQ_ERR_RING_ADDR;
	}
	vq->mem = mem;
	vq->last_avail = 0;
	vq->avail_seen = 0;
	vq->next_used = 0;
	vq->signalled_valid = false;
	vq->enabled = true;
	return VIRTQ_OK;
}

static uint16_t load16(const uint16_t *p)
{
	GUEST_READ();
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

bool virtq_has_work(struct virtq *vq)
{
	return vq->enabled && load16(&vq->avail[1]) != vq->last_avail;
}

bool virtq_has_new(struct virtq *vq)
{
	return vq->enabled && load16(&vq->avail[1]) != vq->avail_seen;
}

static int add_segment(struct virtq *vq, struct virtq_chain *c, const struct virtq_desc *d)
{
	void *p;

	if (c->n_out + c->n_in >= VIRTQ_MAX_SEGS)
		return -VIRTQ_ERR_TOO_MANY;
	p = guest_mem_ptr(vq->mem, d->addr, d->len);
	if (!p)
		return -VIRTQ_ERR_ADDR;
	if (d->flags & VIRTQ_DESC_F_WRITE) {
		c->in_len += d->len;
		c->iov[c->n_out + c->n_in++] = (struct iovec){ p, d->len };
	} else {
		if (c->n_in)
			return -VIRTQ_ERR_DIRECTION;
		c->out_len += d->len;
		c->iov[c->n_out++] = (struct iovec){ p, d->len };
	}
	if (c->out_len + c->in_len > UINT32_MAX)
		return -VIRTQ_ERR_TOTAL_LEN;
	return 0;
}

/* Walks one chain from head; every descriptor is copied before use. */
static int walk_chain(struct virtq *vq, uint16_t head, struct virtq_chain *c)
{
	/* Bytes, not descriptors: an indirect table need not be aligned (2.7.5.3). */
	const uint8_t *table = (const uint8_t *)vq->desc;
	uint32_t table_size = vq->size, idx = head, hops = 0;
	bool in_indirect = false;

	for (;;) {
		struct virtq_desc d;
		int ret;

		if (++hops > table_size)
			return -VIRTQ_ERR_LOOP;
		GUEST_READ();
		memcpy(&d, table + (size_t)idx * sizeof(d), sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect)
				return -VIRTQ_ERR_INDIRECT_OFF;
			if (in_indirect)
				return -VIRTQ_ERR_NESTED;
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return -VIRTQ_ERR_INDIRECT_NEXT;
			if (d.len == 0 || d.len % sizeof(struct virtq_desc))
				return -VIRTQ_ERR_INDIRECT_LEN;
			/* A chain may not be longer than the queue, indirect or not. */
			if (d.len / sizeof(struct virtq_desc) > vq->size)
				return -VIRTQ_ERR_TOO_MANY;
			table = guest_mem_ptr(vq->mem, d.addr, d.len);
			if (!table)
				return -VIRTQ_ERR_ADDR;
			table_size = d.len / sizeof(struct virtq_desc);
			in_indirect = true;
			idx = 0;
			hops = 0;
			continue;
		}
		ret = add_segment(vq, c, &d);
		if (ret)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		idx = d.next;
		if (idx >= table_size)
			return -VIRTQ_ERR_NEXT;
	}
}

int virtq_read_avail(struct virtq *vq, uint16_t *end)
{
	uint16_t avail_idx;

	*end = vq->last_avail;
	if (!vq->enabled)
		return 0;
	avail_idx = load16(&vq->avail[1]);
	if (avail_idx == vq->last_avail && vq->event_idx) {
		/*
		 * With EVENT_IDX the driver kicks only when it passes avail_event,
		 * so every device that drains a queue must re-arm it; doing it
		 * here means no device can forget. Re-check after the barrier so
		 * a buffer added meanwhile is not missed.
		 */
		vq->avail_seen = avail_idx;
		virtq_set_notify(vq, true);
		avail_idx = load16(&vq->avail[1]);
	}
	if ((uint16_t)(avail_idx - vq->last_avail) > vq->size)
		return -VIRTQ_ERR_AVAIL_JUMP;
	/*
	 * Kept only once checked: a jump the device refused must not become
	 * its position, or the snapshot of that broken queue would be one no
	 * restore takes (queue_state.c checks the same).
	 */
	vq->avail_seen = avail_idx;
	*end = avail_idx;
	return 0;
}

int virtq_pop_until(struct virtq *vq, struct virtq_chain *c, uint16_t end)
{
	uint16_t head;
	int ret;

	if (!vq->enabled || end == vq->last_avail)
		return 0;
	/* A stale snapshot must not let the device run past what it checked. */
	if ((uint16_t)(end - vq->last_avail) > vq->size)
		return -VIRTQ_ERR_AVAIL_JUMP;
	head = load16(&vq->avail[2 + vq->last_avail % vq->size]);
	if (head >= vq->size)
		return -VIRTQ_ERR_HEAD;
	c->head = head;
	c->n_out = c->n_in = 0;
	c->out_len = c->in_len = 0;
	ret = walk_chain(vq, head, c);
	if (ret)
		return ret;
	vq->last_avail++;
	return 1;
}

int virtq_pop(struct virtq *vq, struct virtq_chain *c)
{
	uint16_t end;
	int ret = virtq_read_avail(vq, &end);

	return ret ? ret : virtq_pop_until(vq, c, end);
}

/*
 * For diff snapshots (mem/dirty.c): KVM logs only the guest CPUs' writes,
 * so what a device wrote through this chain is marked here, where every
 * device returns its chains. The whole device-writable part, not just
 * `written` bytes: a device may write more than it reports (the spec
 * makes `written` a lower bound) and a page marked needlessly only costs
 * diff size, a page missed corrupts the restored guest. Then the used
 * element and index we just wrote.
 */
static void push_mark_dirty(const struct virtq *vq, const struct virtq_chain *c,
			    const uint8_t *elem)
{
	if (!vq->mem || !guest_mem_dirty_enabled(vq->mem))
		return;
	for (unsigned int i = c->n_out; i < c->n_out + c->n_in; i++)
		guest_mem_dirty_mark_hva(vq->mem, c->iov[i].iov_base, c->iov[i].iov_len);
	guest_mem_dirty_mark_hva(vq->mem, elem, 8);
	guest_mem_dirty_mark_hva(vq->mem, &vq->used[1], 2);
}

int virtq_push(struct virtq *vq, const struct virtq_chain *c, uint32_t written)
{
	uint8_t *ring = (uint8_t *)vq->used + 4;
	uint32_t elem[2];

	if (!vq->enabled)
		return -EINVAL;
	if (written > c->in_len)
		return -VIRTQ_ERR_USED_LEN;
	elem[0] = c->head;
	elem[1] = written;
	memcpy(ring + 8 * (vq->next_used % vq->size), elem, sizeof(elem));
	vq->next_used++;
	/* The element must be visible before the index that publishes it. */
	__atomic_store_n(&vq->used[1], vq->next_used, __ATOMIC_RELEASE);
	push_mark_dirty(vq, c, ring + 8 * ((vq->next_used - 1) % vq->size));
	return 0;
}

bool virtq_needs_interrupt(struct virtq *vq)
{
	uint16_t old, event;
	bool valid;

	if (!vq->enabled)
		return false;
	/* Order our used-index store before reading the driver's suppression. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(&vq->avail[0]) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	event = load16(&vq->avail[2 + vq->size]);
	old = vq->signalled_used;
	valid = vq->signalled_valid;
	vq->signalled_used = vq->next_used;
	vq->signalled_valid = true;
	/* 2.7.10: interrupt when used_event lies in (old, new]. */
	return !valid || (uint16_t)(vq->next_used - event - 1) < (uint16_t)(vq->next_used - old);
}

void virtq_set_notify(struct virtq *vq, bool enable)
{
	if (!vq->enabled)
		return;
	if (vq->event_idx) {
		/* avail_event follows the used ring. */
		uint16_t *avail_event = (uint16_t *)((uint8_t *)vq->used + 4 + 8 * vq->size);
		/*
		 * Not last_avail: after a device gave entries back, an event
		 * behind the driver's index would never be crossed again
		 * (2.7.10), and the device would wait forever.
		 */
		if (enable) {
			__atomic_store_n(avail_event, vq->avail_seen, __ATOMIC_RELEASE);
			if (vq->mem)
				guest_mem_dirty_mark_hva(vq->mem, avail_event, 2);
		}
	} else {
		__atomic_store_n(&vq->used[0], enable ? 0 : VIRTQ_USED_F_NO_NOTIFY,
				 __ATOMIC_RELEASE);
		if (vq->mem)
			guest_mem_dirty_mark_hva(vq->mem, &vq->used[0], 2);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

size_t virtq_iov_to_buf(const struct iovec *iov, unsigned int n, size_t off, void *buf,
			size_t len)
{
	size_t done = 0;

	GUEST_READ();
	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len, take;
		if (off >= seg) {
			off -= seg;
			continue;
		}
		take = seg - off < len - done ? seg - off : len - done;
		memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, take);
		done += take;
		off = 0;
	}
	return done;
}

size_t virtq_buf_to_iov(const struct iovec *iov, unsigned int n, size_t off, const void *buf,
			size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len, take;
		if (off >= seg) {
			off -= seg;
			continue;
		}
		take = seg - off < len - done ? seg - off : len - done;
		memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done, take);
		done += take;
		off = 0;
	}
	return done;
}
