/*
 * virtio-blk's insides, shared by blk.c (the device model, setup),
 * engine.c (the request engine), swap.c (live changes) and state.c
 * (pause and snapshots). The disk backend beneath them has its own face
 * (disk.h) and knows nothing of this. Not for use outside src/virtio/blk/.
 */
#ifndef HEARTH_VIRTIO_BLK_PRIV_H
#define HEARTH_VIRTIO_BLK_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/blk.h"
#include "virtio/blk/disk.h"
#include "virtio/limiter.h"

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_WZ_F_UNMAP 1u

#define VIRTIO_BLK_ID_BYTES 20
#define BLK_HDR_LEN 16u
#define BLK_QUEUE_MAX 256u
/* Request queues a disk may have (VIRTIO_BLK_F_MQ); one unless asked for more. */
#define BLK_MAX_QUEUES 16u
/*
 * A read or write's data (5.2.4 size_max, seg_max): at most BLK_SEG_MAX
 * segments (the queue size less the header and status, as QEMU and
 * crosvm advertise) of at most BLK_SIZE_MAX bytes each, so at most
 * BLK_REQ_MAX_BYTES (31.75 MiB) in all, however the segments overlap.
 * The bound is what keeps a pause or a swap, which wait for the requests
 * in flight, proportionate: 128 of them hold 4 GiB at most, not 512.
 */
#define BLK_SEG_MAX (BLK_QUEUE_MAX - 2)
#define BLK_SIZE_MAX (128u * 1024u)
#define BLK_REQ_MAX_BYTES ((uint64_t)BLK_SEG_MAX * BLK_SIZE_MAX)
#define BLK_MAX_RANGES 16u        /* max_discard_seg / max_write_zeroes_seg */
#define BLK_MAX_RANGE_SECTORS (1u << 22) /* 2 GiB per discard segment */
#define BLK_ZERO_BUF (64u * 1024u)
#define BLK_ZERO_SEGS 16u
/*
 * Chains taken per call before the I/O thread gets its loop back: requests
 * answered without I/O (GET_ID, bad type or range) free their slot at once,
 * so slots alone do not bound a guest that refills as fast as we answer.
 */
#define BLK_KICK_BUDGET 256u

/* How one discard/write-zeroes range is being carried out. */
enum blk_zero_mode { BLK_ZM_PUNCH, BLK_ZM_ZERO_RANGE, BLK_ZM_WRITE };

struct blk_range {
	uint64_t off, len, done;
	enum blk_zero_mode mode;
};

struct blk_req {
	uint16_t head;
	uint16_t q;               /* the queue it came from, and goes back to */
	uint32_t gen;             /* blk->gen when taken: older ones belong to dead rings */
	uint32_t type;
	uint8_t status;
	uint8_t *status_byte;     /* the last device-writable byte, in guest RAM */
	uint64_t in_len;          /* device-writable bytes in the chain */
	uint64_t offset;          /* file offset of the next transfer */
	uint64_t total, done;     /* data bytes */
	unsigned int niov, iov_pos;
	struct blk_range ranges[BLK_MAX_RANGES];
	unsigned int nranges, range_pos;
	struct blk_req *next_free;
	struct iovec iov[VIRTQ_MAX_SEGS];
};

/* Completed requests, for the counters hook; under dev.lock. */
struct blk_stats {
	uint64_t read_requests, read_bytes;
	uint64_t write_requests, write_bytes;
	uint64_t flush_requests;
	uint64_t flush_ignored;   /* of flush_requests, answered without a sync (unsafe) */
	uint64_t errors;
	uint64_t throttled;       /* the limiter's, copied by the counters hook */
};

struct virtio_blk {
	struct virtio_dev dev;
	struct blk_disk disk;     /* the image, its I/O; dev.name is disk.name */
	char id[VIRTIO_BLK_ID_BYTES];
	bool readonly;
	bool unsafe;              /* BLK_CACHE_UNSAFE: no FLUSH offered, flushes not synced */
	uint8_t writeback;
	uint32_t gen;             /* bumped by every reset */
	/*
	 * Queues with requests completed into them since the driver was
	 * last told (blk_engine_notify), one bit each; and where the next
	 * round over every queue starts, so none is always served last.
	 */
	uint32_t done_queues;
	unsigned int next_q;
	/*
	 * BLK_INFLIGHT slots of about 16 KiB each: those freed are on
	 * free_list, those never used yet are [fresh, BLK_INFLIGHT), so a
	 * slot's pages are touched only once a request needs it (a list
	 * threaded through all of them up front cost 512 KiB of RSS).
	 */
	struct blk_req *reqs, *free_list;
	unsigned int fresh;
	uint8_t *zero_buf;
	struct blk_stats stats;
	struct virtio_limiter lim;
	struct virtq_chain scratch;
};

/* dev is the first member, so this also works before priv is set. */
static inline struct virtio_blk *virtio_blk_from_dev(struct virtio_dev *dev)
{
	return (struct virtio_blk *)dev;
}

/*
 * engine.c, dev->lock held. Pops and starts requests of queue q while
 * slots are free and the rate limiter lets them go; true if any
 * completed at once. _all does every queue, the one after the last
 * round's first. What completes is noted in done_queues, and
 * blk_engine_notify tells the driver, one interrupt per queue.
 */
bool blk_engine_process(struct virtio_blk *blk, unsigned int q);
bool blk_engine_process_all(struct virtio_blk *blk);
void blk_engine_notify(struct virtio_blk *blk);
/*
 * The disk's user (disk.h): one I/O came back (a request of an older
 * generation is only dropped, never answered: its rings are gone), and
 * the completion eventfd fired (takes dev->lock).
 */
bool blk_engine_complete(void *ctx, void *tag, int res);
void blk_engine_ready(void *ctx);
/* The rate limiter's timer fired: take the requests it held back. dev->lock held. */
void blk_engine_resume(struct virtio_dev *dev, void *arg);

/*
 * state.c: the pause (in-flight requests complete first, BLK_WAIT_MS at
 * most: -EBUSY past it) and the snapshot record.
 */
int virtio_blk_pause(struct virtio_dev *dev);
int virtio_blk_save(struct virtio_dev *dev, struct bytes_out *o);
int virtio_blk_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in,
		       size_t len, bool apply);

#endif
