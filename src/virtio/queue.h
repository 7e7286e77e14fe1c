/*
 * Split virtqueues, parsed defensively: the guest writes every byte of the
 * rings and descriptors, so each one is copied once, then checked.
 */
#ifndef HEARTH_VIRTIO_QUEUE_H
#define HEARTH_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mem/guest_mem.h"
#include "util/bytes.h"
#include "virtio/virtio.h"

/* A chain longer than this is refused even when the queue is larger. */
#define VIRTQ_MAX_SEGS 1024u

enum virtq_error {
	VIRTQ_OK = 0,
	VIRTQ_ERR_RING_ADDR,    /* ring outside RAM or misaligned */
	VIRTQ_ERR_AVAIL_JUMP,   /* avail idx moved by more than the queue size */
	VIRTQ_ERR_HEAD,         /* head index >= queue size */
	VIRTQ_ERR_NEXT,         /* next >= queue (or table) size */
	VIRTQ_ERR_LOOP,         /* more links than descriptors */
	VIRTQ_ERR_ADDR,         /* buffer outside RAM, straddling or wrapping */
	VIRTQ_ERR_TOTAL_LEN,    /* chain longer than 2^32 bytes */
	VIRTQ_ERR_NESTED,       /* indirect descriptor inside an indirect table */
	VIRTQ_ERR_INDIRECT_NEXT,/* INDIRECT together with NEXT */
	VIRTQ_ERR_INDIRECT_LEN, /* table length 0 or not a multiple of 16 */
	VIRTQ_ERR_INDIRECT_OFF, /* indirect used without negotiating it */
	VIRTQ_ERR_DIRECTION,    /* device-readable after device-writable */
	VIRTQ_ERR_TOO_MANY,     /* more than VIRTQ_MAX_SEGS segments */
	VIRTQ_ERR_USED_LEN,     /* device reported more written than offered */
};

const char *virtq_strerror(enum virtq_error e);

struct virtq {
	/* Set by the driver through the transport. */
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	/* Negotiated. */
	bool event_idx;
	bool indirect;
	/* Live state once enabled. */
	bool enabled;
	const struct guest_mem *mem;
	struct virtq_desc *desc;
	uint16_t *avail;  /* flags, idx, ring[size], used_event */
	uint16_t *used;   /* flags, idx, then {u32 id, u32 len}[size], avail_event */
	uint16_t last_avail;
	uint16_t avail_seen;  /* the driver's avail idx when we last read it */
	uint16_t next_used;
	uint16_t signalled_used;
	bool signalled_valid;
};

struct virtq_chain {
	uint16_t head;
	unsigned int n_out;       /* device-readable segments, first in iov */
	unsigned int n_in;        /* device-writable segments, after them */
	uint64_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_SEGS];
};

/* Resolves and checks the ring addresses; VIRTQ_ERR_RING_ADDR if bad. */
enum virtq_error virtq_enable(struct virtq *vq, const struct guest_mem *mem);
void virtq_reset(struct virtq *vq);

/*
 * Takes the next available chain. Returns 1 with *chain filled, 0 when the
 * ring is empty, or -(enum virtq_error) when the guest broke the rules;
 * the queue is then unusable until the device is reset.
 */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain);

/*
 * For a device that takes many chains for one request (a frame spread over
 * mergeable buffers): read the driver's avail index once, then pop only up
 * to that snapshot, so a guest that keeps moving the index cannot feed the
 * loop past the queue size. virtq_read_avail returns 0 or
 * -VIRTQ_ERR_AVAIL_JUMP and, like virtq_pop, re-arms EVENT_IDX when empty;
 * virtq_pop_until returns like virtq_pop, 0 once end is reached.
 */
int virtq_read_avail(struct virtq *vq, uint16_t *end);
int virtq_pop_until(struct virtq *vq, struct virtq_chain *chain, uint16_t end);

/*
 * Gives back the chain the last virtq_pop returned (not yet pushed): the
 * next pop returns it again. For a device that may not serve it yet.
 */
static inline void virtq_unpop(struct virtq *vq)
{
	vq->last_avail--;
}

/* Returns a chain with the bytes written into its device-writable part. */
int virtq_push(struct virtq *vq, const struct virtq_chain *chain, uint32_t written);

/* After pushes: does the driver want an interrupt now? (EVENT_IDX aware) */
bool virtq_needs_interrupt(struct virtq *vq);

/*
 * Tells the driver whether to notify us. With EVENT_IDX, enabling asks for
 * a notification when the driver adds past avail_seen: entries it already
 * published and we gave back (too few for a frame) do not count.
 */
void virtq_set_notify(struct virtq *vq, bool enable);

/* True when the avail ring has entries we have not taken. */
bool virtq_has_work(struct virtq *vq);

/* True when the driver published entries since we last read its index. */
bool virtq_has_new(struct virtq *vq);

/*
 * A queue's state inside its transport's saved record (queue_state.c):
 * the driver's layout, what was negotiated, and the device's indices.
 * The rings themselves are guest memory and are saved with it. Restore
 * resolves the rings in mem again and writes vq only when every value
 * is sane (0, or -EINVAL); a short read is left for the caller's
 * bytes_in_finish.
 */
void virtq_save(const struct virtq *vq, struct bytes_out *o);
int virtq_restore(struct virtq *vq, const struct guest_mem *mem, struct bytes_in *in);

/*
 * For a device whose ring position lives outside its virtq (vhost's
 * next avail index): the check virtq_restore makes of its own, with the
 * driver's avail index and the used index as the rings of the restored
 * vq say them. 0, or -EINVAL. A queue that is not enabled passes.
 */
int virtq_check_base(const struct virtq *vq, uint16_t last_avail);

/*
 * The position another party (vhost) left an enabled queue at becomes
 * the virtq's own: last_avail as it says, next_used as the used ring's
 * index says (it wrote every used entry for what it took). -EINVAL,
 * changing nothing, when the two do not fit the driver's avail index.
 */
int virtq_take_position(struct virtq *vq, uint16_t last_avail);

/* Copies between an iovec range and a flat buffer; bounded by both. */
size_t virtq_iov_to_buf(const struct iovec *iov, unsigned int n, size_t off, void *buf,
			size_t len);
size_t virtq_buf_to_iov(const struct iovec *iov, unsigned int n, size_t off, const void *buf,
			size_t len);

#ifdef HEARTH_FUZZ
/* Fuzz builds only: called before every read of guest memory in queue.c. */
extern void (*virtq_fuzz_race)(void);
#endif

#endif
