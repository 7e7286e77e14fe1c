/* virtio-pmem's insides, shared by its files and its unit tests. */
#ifndef HEARTH_VIRTIO_PMEM_PRIV_H
#define HEARTH_VIRTIO_PMEM_PRIV_H

#include <liburing.h>

#include "virtio/limiter.h"
#include "virtio/pmem.h"

#define PMEM_QUEUE_SIZE 256
/* struct virtio_pmem_resp's ret (5.19.6): 0 OK, 1 EIO. */
#define PMEM_RESP_OK 0u
#define PMEM_RESP_EIO 1u
#define PMEM_REQ_FLUSH 0u
/* A request is a le32 type out and a le32 ret in; their bytes may be split up. */
#define PMEM_MSG_LEN 4u
/* How long a pause or destroy waits for a flush in flight: a disk's bound (BLK_WAIT_MS). */
#define PMEM_WAIT_MS 5000u

enum pmem_counter { PC_FLUSHES, PC_REQUESTS, PC_FLUSH_FAILS, PC_EVENT_FAILS, PC_CFG_FAILS,
		    PC_COUNT };

/* A request waiting for the flush in flight: what the push needs. */
struct pmem_waiter {
	uint16_t head;
	unsigned int n;                  /* writable segments, at most PMEM_MSG_LEN */
	struct iovec iov[PMEM_MSG_LEN];
};

struct pmem {
	struct virtio_dev dev;
	struct pmem_config cfg;          /* cfg.fd is the device's own duplicate */
	struct virtio_limiter lim;
	struct eventloop *loop;
	struct io_uring *ring;           /* &own_ring, or the spare's (cfg.ring) */
	struct io_uring own_ring;
	struct spare_ring *spare;        /* claimed from the VM's spares; NULL: own_ring */
	bool ring_ready;
	int efd;                         /* the ring's completion eventfd (the spare's, with spare) */
	bool inflight;                   /* one fdatasync at a time */
	/* Requests taken for the flush in flight; a reset empties it. */
	struct pmem_waiter waiting[PMEM_QUEUE_SIZE];
	unsigned int nwaiting;
	uint64_t c[PC_COUNT];            /* under dev.lock */
	struct virtq_chain chain;        /* scratch, large */
};

/*
 * flush.c: the io_uring that runs fdatasync, fenced to that one opcode on
 * cfg.fd: one of the device's own, or cfg.ring (a spare made at start for
 * a device plugged in later), claimed until pmem_flush_release gives it
 * back.
 */
int pmem_flush_init(struct pmem *p);
void pmem_flush_release(struct pmem *p);
int pmem_flush_submit(struct pmem *p);
/*
 * Takes the completion when there is one: 1 with *res (the fdatasync's
 * result), 0 when none yet. wait_ms 0 does not wait.
 */
int pmem_flush_reap(struct pmem *p, int *res, unsigned int wait_ms);

/* pmem.c: a flush came back (res its result): answer the waiting, take more. dev.lock held. */
void pmem_flush_done(struct pmem *p, int res);
/* The completion eventfd's handler (dev.lock taken inside); tests call it by hand. */
void pmem_on_flush_event(void *opaque, uint32_t events);

/* state.c */
int pmem_save(struct virtio_dev *dev, struct bytes_out *o);
int pmem_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in, size_t len,
		 bool apply);

#endif
