/*
 * Internals shared by blk.c (device model, setup) and io.c (request
 * engine on io_uring), with drain.c, swap.c, ring.c and state.c. Not
 * for use outside src/virtio/blk/.
 */
#ifndef HEARTH_VIRTIO_BLK_PRIV_H
#define HEARTH_VIRTIO_BLK_PRIV_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/err.h"
#include "virtio/blk.h"
#include "virtio/limiter.h"

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
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
#define BLK_SECTOR 512u
#define BLK_HDR_LEN 16u
#define BLK_QUEUE_MAX 256u
#define BLK_INFLIGHT 128u         /* pool size == submission ring size */
#define BLK_MAX_RANGES 16u        /* max_discard_seg / max_write_zeroes_seg */
#define BLK_MAX_RANGE_SECTORS (1u << 22) /* 2 GiB per discard segment */
/* Conservative O_DIRECT alignment: valid for every logical block size up to 4K. */
#define BLK_DIO_ALIGN 4096u
#define BLK_ZERO_BUF (64u * 1024u)
#define BLK_ZERO_SEGS 16u
/*
 * Chains taken per call before the I/O thread gets its loop back: requests
 * answered without I/O (GET_ID, bad type or range) free their slot at once,
 * so slots alone do not bound a guest that refills as fast as we answer.
 */
#define BLK_KICK_BUDGET 256u
/* A reset drain that cannot use io_uring_enter polls the ring this long, at most. */
#define BLK_DRAIN_POLL_MS 100
#define BLK_DRAIN_POLLS 300       /* rounds without a completion: 30 s */

/* How one discard/write-zeroes range is being carried out. */
enum blk_zero_mode { BLK_ZM_PUNCH, BLK_ZM_ZERO_RANGE, BLK_ZM_WRITE };

struct blk_range {
	uint64_t off, len, done;
	enum blk_zero_mode mode;
};

struct blk_req {
	uint16_t head;
	uint32_t gen;             /* blk->gen when taken: older ones belong to dead rings */
	uint32_t type;
	uint8_t status;
	uint8_t *status_byte;     /* the last device-writable byte, in guest RAM */
	uint64_t in_len;          /* device-writable bytes in the chain */
	uint64_t offset;          /* file offset of the next transfer */
	uint64_t total, done;     /* data bytes */
	int fd;
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
	uint64_t errors;
	uint64_t throttled;       /* the limiter's, copied by the counters hook */
};

struct virtio_blk {
	struct virtio_dev dev;
	struct eventloop *loop;
	char *path;
	char name[64];
	char id[VIRTIO_BLK_ID_BYTES];
	bool readonly;
	bool direct;              /* fd is O_DIRECT; fd_buffered takes unaligned requests */
	int fd, fd_buffered;
	int efd;                  /* io_uring completion eventfd */
	bool ring_ready;
	struct io_uring ring;
	uint64_t capacity;        /* sectors */
	uint8_t writeback;
	uint8_t phys_exp;
	unsigned int inflight;    /* SQEs queued or in the kernel */
	uint32_t gen;             /* bumped by every reset */
	struct blk_req *reqs, *free_list;
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

/* Sizes the image behind fd (a regular file or block device) in sectors. */
int virtio_blk_size(int fd, const char *path, uint64_t *capacity, uint8_t *phys_exp,
		    struct err *err);
/*
 * Pops and starts requests while slots are free and the rate limiter
 * lets them go. True if any completed at once.
 */
bool virtio_blk_io_process(struct virtio_blk *blk);
/* Hands queued SQEs to the kernel. */
void virtio_blk_io_kick(struct virtio_blk *blk);
/*
 * Takes every CQE the kernel posted. A request of the current generation
 * steps on (more I/O or its answer); one from before a reset is only
 * dropped, never answered: its rings are gone. True if any was answered.
 */
bool virtio_blk_io_reap(struct virtio_blk *blk);
/* The rate limiter's timer fired: take the requests it held back. dev->lock held. */
void virtio_blk_resume(struct virtio_dev *dev, void *arg);
/* eventloop callback for blk->efd: reaps completions. Takes dev->lock. */
void virtio_blk_io_complete(void *opaque, uint32_t events);
/*
 * For a reset: every request in flight becomes stale; cancels them and
 * waits until the kernel gave each back (drain.c). If that cannot be
 * done, logs it and leaves them counted in inflight: the device then
 * refuses to start (virtio_blk_activate) until they have come back.
 */
void virtio_blk_io_drain(struct virtio_blk *blk);

/*
 * swap.c, dev->lock held: lets every request in flight finish (on
 * the current image) without taking new ones, for a swap or a pause.
 * Bounded like a reset's drain: BLK_DRAIN_POLLS waits in a row without a
 * completion and it gives up (-ETIMEDOUT). *completed: some were answered
 * (the driver needs an interrupt). 0 or -errno.
 */
int virtio_blk_quiesce(struct virtio_blk *blk, bool *completed);

/*
 * state.c: the pause (in-flight requests complete first) and the
 * snapshot record. dev->lock held.
 */
void virtio_blk_pause(struct virtio_dev *dev);
/* blk.c: the config space as the driver reads it (dev->config_size bytes). */
void virtio_blk_read_config(struct virtio_dev *dev, uint32_t offset, uint8_t *data,
			    unsigned int len);
int virtio_blk_save(struct virtio_dev *dev, struct bytes_out *o);
int virtio_blk_restore(struct virtio_dev *dev, const void *in, size_t len, bool apply);

/*
 * ring.c: the ring, created disabled, with blk->fd and blk->fd_buffered
 * registered and efd as its completion eventfd, restricted to virtio-blk's
 * opcodes on those files, then enabled. 0 or -errno (nothing left open).
 */
int virtio_blk_ring_init(struct virtio_blk *blk, int efd);
/* Puts other image descriptors in the registered slots (nothing in flight). 0 or -errno. */
int virtio_blk_ring_set_files(struct virtio_blk *blk, int fd, int fd_buffered);
/* Points a prepared SQE at the registered slot of its descriptor: the ring takes no other. */
void virtio_blk_ring_fix_sqe(const struct virtio_blk *blk, struct io_uring_sqe *sqe);

#endif
