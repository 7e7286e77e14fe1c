/*
 * The virtio-blk request engine: decodes chains, hands their I/O to the
 * disk backend (disk.h) one step at a time and completes them. Each
 * request owns one slot of a fixed pool and has at most one I/O in
 * flight; the pool is no larger than the disk's depth, so the disk always
 * takes a slot's I/O. When the pool is empty we stop popping and resume
 * from the completion handler. Short transfers are resubmitted for the
 * remainder; nothing is acknowledged before its I/O has completed. See
 * blk.c for the durability notes.
 */
#include "virtio/blk/priv.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "util/log.h"
#include "virtio/virtio.h"

static struct ratelimit engine_rl = RATELIMIT_INIT(10);

/* blk_prepare's protocol breaks: no header or status byte; over a negotiated limit. */
#define BLK_BROKEN (-1)
#define BLK_OVER_LIMIT (-2)

/*
 * Writethrough unless the driver both negotiated FLUSH and left writeback
 * on (5.2.6.3). An unsafe disk promises nothing, so it never is.
 */
static bool blk_writethrough(struct virtio_blk *blk)
{
	if (blk->unsafe)
		return false;
	return !virtio_dev_has_feature(&blk->dev, VIRTIO_BLK_F_FLUSH) || !blk->writeback;
}

/* Copies the byte range [skip, skip+len) of src as iovecs into dst; returns the count. */
static unsigned int blk_slice(const struct iovec *src, unsigned int n, uint64_t skip,
			      uint64_t len, struct iovec *dst)
{
	unsigned int out = 0;

	for (unsigned int i = 0; i < n && len; i++) {
		uint64_t seg = src[i].iov_len, take;

		if (skip >= seg) {
			skip -= seg;
			continue;
		}
		take = seg - skip < len ? seg - skip : len;
		if (take)
			dst[out++] = (struct iovec){ (uint8_t *)src[i].iov_base + skip, take };
		len -= take;
		skip = 0;
	}
	return out;
}

/* The slot the next request takes, or NULL when all are in flight. */
static struct blk_req *blk_slot_peek(struct virtio_blk *blk)
{
	if (blk->free_list)
		return blk->free_list;
	return blk->fresh < BLK_INFLIGHT ? &blk->reqs[blk->fresh] : NULL;
}

static void blk_slot_take(struct virtio_blk *blk, struct blk_req *req)
{
	if (req == blk->free_list)
		blk->free_list = req->next_free;
	else
		blk->fresh++;
}

static void blk_release(struct virtio_blk *blk, struct blk_req *req)
{
	req->next_free = blk->free_list;
	blk->free_list = req;
}

static void blk_count(const struct virtio_blk *blk, struct blk_stats *st,
		      const struct blk_req *req, uint8_t status)
{
	if (status != VIRTIO_BLK_S_OK) {
		st->errors++;
	} else if (req->type == VIRTIO_BLK_T_IN) {
		st->read_requests++;
		st->read_bytes += req->done;
	} else if (req->type == VIRTIO_BLK_T_OUT) {
		st->write_requests++;
		st->write_bytes += req->done;
	} else if (req->type == VIRTIO_BLK_T_FLUSH) {
		st->flush_requests++;
		st->flush_ignored += blk->unsafe && !blk->readonly;
	}
}

static void blk_finish(struct virtio_blk *blk, struct blk_req *req, uint8_t status)
{
	/* Used len counts bytes written contiguously from the start (2.7.8.2). */
	uint64_t data = req->type == VIRTIO_BLK_T_IN || req->type == VIRTIO_BLK_T_GET_ID
				? req->done : 0;
	uint64_t written = data + (data == req->in_len - 1);
	int ret;

	*req->status_byte = status;
	blk->scratch.head = req->head;
	blk->scratch.in_len = req->in_len;
	ret = virtq_push(&blk->dev.vq[req->q], &blk->scratch, (uint32_t)written);
	if (ret) {
		log_ratelimited(&engine_rl, LOG_WARN, "%s: cannot complete request: queue gone",
				blk->disk.name);
	} else {
		blk_count(blk, &blk->stats, req, status);
		blk->done_queues |= 1u << req->q;
	}
	blk_release(blk, req);
}

/* Fills req->iov with the shared zero buffer for the rest of the current range. */
static void blk_zero_iov(struct virtio_blk *blk, struct blk_req *req)
{
	struct blk_range *r = &req->ranges[req->range_pos];
	uint64_t left = r->len - r->done;

	req->niov = 0;
	req->iov_pos = 0;
	req->offset = r->off + r->done;
	while (left && req->niov < BLK_ZERO_SEGS) {
		uint64_t take = left < BLK_ZERO_BUF ? left : BLK_ZERO_BUF;

		req->iov[req->niov++] = (struct iovec){ blk->zero_buf, take };
		left -= take;
	}
}

/* Hands req's next I/O to the disk. 0, or -errno when it could not take it. */
static int blk_submit(struct virtio_blk *blk, struct blk_req *req)
{
	struct blk_disk_io io = {
		.iov = req->iov + req->iov_pos,
		.niov = req->niov - req->iov_pos,
		.offset = req->offset,
		.dsync = blk_writethrough(blk),
		.tag = req,
	};
	struct blk_range *r;

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		io.op = BLK_DISK_READ;
		break;
	case VIRTIO_BLK_T_OUT:
		io.op = BLK_DISK_WRITE;
		break;
	case VIRTIO_BLK_T_FLUSH:
		io.op = BLK_DISK_FLUSH;
		break;
	default: /* DISCARD, WRITE_ZEROES */
		r = &req->ranges[req->range_pos];
		if (r->mode == BLK_ZM_WRITE) {
			io.op = BLK_DISK_WRITE;
			break;
		}
		io.op = r->mode == BLK_ZM_PUNCH ? BLK_DISK_PUNCH : BLK_DISK_ZERO_RANGE;
		io.offset = r->off;
		io.len = r->len;
		break;
	}
	return blk_disk_submit(&blk->disk, &io);
}

/* Advances the iovec window past n transferred bytes. */
static void blk_advance(struct blk_req *req, uint64_t n)
{
	req->done += n;
	req->offset += n;
	while (n && req->iov_pos < req->niov) {
		struct iovec *v = &req->iov[req->iov_pos];

		if (n < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			return;
		}
		n -= v->iov_len;
		req->iov_pos++;
	}
}

/*
 * Moves range_pos to the next range with sectors in it; false when none is
 * left. A zero-length range needs no syscall, and fallocate() would refuse
 * it (EINVAL), which for write-zeroes falls through to a zero-byte write.
 */
static bool blk_next_range(struct blk_req *req)
{
	while (req->range_pos < req->nranges && !req->ranges[req->range_pos].len)
		req->range_pos++;
	return req->range_pos < req->nranges;
}

/* One discard/write-zeroes step finished with res; returns the status or -1 to go on. */
static int blk_range_step(struct virtio_blk *blk, struct blk_req *req, int res)
{
	struct blk_range *r = &req->ranges[req->range_pos];

	if (res == -EOPNOTSUPP || (res == -EINVAL && r->mode != BLK_ZM_WRITE)) {
		/* Discard is only a hint (5.2.6); zeroes must still be written. */
		if (req->type == VIRTIO_BLK_T_DISCARD) {
			r->done = r->len;
		} else {
			r->mode++;
			if (r->mode == BLK_ZM_WRITE)
				blk_zero_iov(blk, req);
			return -1;
		}
	} else if (res < 0) {
		log_ratelimited(&engine_rl, LOG_WARN, "%s: %s failed: %s", blk->disk.name,
				req->type == VIRTIO_BLK_T_DISCARD ? "discard" : "write-zeroes",
				strerror(-res));
		return VIRTIO_BLK_S_IOERR;
	} else if (r->mode == BLK_ZM_WRITE) {
		if (res == 0)
			return VIRTIO_BLK_S_IOERR;
		r->done += (uint64_t)res;
		if (r->done < r->len) {
			blk_zero_iov(blk, req);
			return -1;
		}
	} else {
		r->done = r->len;
	}
	req->range_pos++;
	if (!blk_next_range(req))
		return VIRTIO_BLK_S_OK;
	if (req->ranges[req->range_pos].mode == BLK_ZM_WRITE)
		blk_zero_iov(blk, req);
	return -1;
}

/* A CQE for req arrived; returns the final status, or -1 when more I/O was queued. */
static int blk_step(struct virtio_blk *blk, struct blk_req *req, int res)
{
	int status;

	if (res == -EAGAIN || res == -EINTR)
		return blk_submit(blk, req) ? VIRTIO_BLK_S_IOERR : -1;
	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		/* A zero-byte transfer inside the capacity means the image shrank. */
		if (res <= 0) {
			log_ratelimited(&engine_rl, LOG_WARN, "%s: %s at byte %" PRIu64 " failed: %s",
					blk->disk.name, req->type == VIRTIO_BLK_T_IN ? "read" : "write",
					req->offset, res ? strerror(-res) : "image truncated");
			return VIRTIO_BLK_S_IOERR;
		}
		blk_advance(req, (uint64_t)res);
		if (req->done >= req->total)
			return VIRTIO_BLK_S_OK;
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (res < 0)
			log_ratelimited(&engine_rl, LOG_WARN, "%s: fdatasync failed: %s", blk->disk.name,
					strerror(-res));
		return res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	default:
		status = blk_range_step(blk, req, res);
		if (status >= 0)
			return status;
		break;
	}
	return blk_submit(blk, req) ? VIRTIO_BLK_S_IOERR : -1;
}

/* Checks and loads the segments of a DISCARD/WRITE_ZEROES request. */
static uint8_t blk_load_ranges(struct virtio_blk *blk, struct blk_req *req,
			       const struct virtq_chain *c)
{
	struct {
		uint64_t sector;
		uint32_t num_sectors;
		uint32_t flags;
	} __attribute__((packed)) seg;
	uint64_t n = (c->out_len - BLK_HDR_LEN) / sizeof(seg);

	if (n == 0 || n > BLK_MAX_RANGES || (c->out_len - BLK_HDR_LEN) % sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t sector;
		uint32_t num, flags;

		virtq_iov_to_buf(c->iov, c->n_out, BLK_HDR_LEN + i * sizeof(seg), &seg, sizeof(seg));
		sector = le64toh(seg.sector);
		num = le32toh(seg.num_sectors);
		flags = le32toh(seg.flags);
		/* 5.2.6.2: unknown flags, or unmap on a discard, are unsupported. */
		if ((flags & ~VIRTIO_BLK_WZ_F_UNMAP) ||
		    (req->type == VIRTIO_BLK_T_DISCARD && flags))
			return VIRTIO_BLK_S_UNSUPP;
		if (num > BLK_MAX_RANGE_SECTORS || sector > blk->disk.img.capacity ||
		    num > blk->disk.img.capacity - sector)
			return VIRTIO_BLK_S_IOERR;
		req->ranges[i] = (struct blk_range){
			.off = sector * BLK_SECTOR,
			.len = (uint64_t)num * BLK_SECTOR,
			.mode = (flags & VIRTIO_BLK_WZ_F_UNMAP) || req->type == VIRTIO_BLK_T_DISCARD
					? BLK_ZM_PUNCH : BLK_ZM_ZERO_RANGE,
		};
	}
	req->nranges = (unsigned int)n;
	req->range_pos = 0;
	return blk_next_range(req) ? 0xff : VIRTIO_BLK_S_OK;
}

/*
 * A read or write's data (data bytes in req->iov, niov segments) against
 * the device's limits (priv.h: BLK_SEG_MAX, BLK_SIZE_MAX and their
 * product, BLK_REQ_MAX_BYTES). 0 when within. Over a limit the driver
 * negotiated (5.2.4: it was told) the driver is broken: BLK_OVER_LIMIT,
 * and the device needs a reset as for any other protocol break. Over a
 * limit it did not negotiate, it was never told: the request alone is
 * refused (IOERR). Either way no byte of it is read or written.
 */
static int blk_check_limits(struct virtio_blk *blk, const struct blk_req *req, uint64_t data)
{
	bool seg = virtio_dev_has_feature(&blk->dev, VIRTIO_BLK_F_SEG_MAX);
	bool size = virtio_dev_has_feature(&blk->dev, VIRTIO_BLK_F_SIZE_MAX);
	bool told;

	/* Over the product, one of the two limits is broken. */
	if (data > BLK_REQ_MAX_BYTES) {
		told = seg && size;
	} else if (req->niov > BLK_SEG_MAX) {
		told = seg;
	} else {
		unsigned int i;

		for (i = 0; i < req->niov && req->iov[i].iov_len <= BLK_SIZE_MAX; i++)
			;
		if (i == req->niov)
			return 0;
		told = size;
	}
	if (told)
		return BLK_OVER_LIMIT;
	log_ratelimited(&engine_rl, LOG_WARN, "%s: a request of %" PRIu64 " bytes in %u segments "
			"is over the disk's limits (%u segments of %u bytes); answered IOERR",
			blk->disk.name, data, req->niov, BLK_SEG_MAX, BLK_SIZE_MAX);
	return VIRTIO_BLK_S_IOERR;
}

/*
 * Decodes the chain in blk->scratch into req. Returns a final status when
 * the request is answered without I/O, 0xff when it needs I/O, or -1
 * (BLK_BROKEN, BLK_OVER_LIMIT) when the chain breaks the protocol.
 */
static int blk_prepare(struct virtio_blk *blk, struct blk_req *req)
{
	const struct virtq_chain *c = &blk->scratch;
	const struct iovec *in = c->iov + c->n_out;
	struct { uint32_t type, reserved; uint64_t sector; } __attribute__((packed)) hdr;
	uint64_t sector, data;
	struct iovec last;
	int ret;

	if (c->out_len < BLK_HDR_LEN || c->in_len < 1)
		return BLK_BROKEN;
	blk_slice(in, c->n_in, c->in_len - 1, 1, &last);
	virtq_iov_to_buf(c->iov, c->n_out, 0, &hdr, sizeof(hdr));
	*req = (struct blk_req){
		.head = c->head,
		.gen = blk->gen,
		.type = le32toh(hdr.type),
		.status_byte = last.iov_base,
		.in_len = c->in_len,
	};
	sector = le64toh(hdr.sector);

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (req->type == VIRTIO_BLK_T_OUT && blk->readonly)
			return VIRTIO_BLK_S_IOERR;
		data = req->type == VIRTIO_BLK_T_IN ? c->in_len - 1 : c->out_len - BLK_HDR_LEN;
		/* The limits first: the total before slicing, whatever else is wrong. */
		if (data <= BLK_REQ_MAX_BYTES)
			req->niov = req->type == VIRTIO_BLK_T_IN
					    ? blk_slice(in, c->n_in, 0, data, req->iov)
					    : blk_slice(c->iov, c->n_out, BLK_HDR_LEN, data, req->iov);
		ret = blk_check_limits(blk, req, data);
		if (ret)
			return ret;
		/* Whole sectors inside the image; the division keeps this overflow-free. */
		if (data % BLK_SECTOR || sector > blk->disk.img.capacity ||
		    data / BLK_SECTOR > blk->disk.img.capacity - sector)
			return VIRTIO_BLK_S_IOERR;
		if (data == 0)
			return VIRTIO_BLK_S_OK;
		req->total = data;
		req->offset = sector * BLK_SECTOR;
		return 0xff;
	case VIRTIO_BLK_T_FLUSH:
		if (blk->readonly)
			return VIRTIO_BLK_S_OK;
		/* Unsafe: answered at once, as if the disk had no volatile cache. */
		return blk->unsafe ? VIRTIO_BLK_S_OK : 0xff;
	case VIRTIO_BLK_T_GET_ID:
		/* Zero-padded when shorter than 20 bytes (5.2.6). */
		req->done = virtq_buf_to_iov(in, c->n_in, 0, blk->id,
					     c->in_len - 1 < VIRTIO_BLK_ID_BYTES ? c->in_len - 1
										 : VIRTIO_BLK_ID_BYTES);
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (blk->readonly)
			return VIRTIO_BLK_S_IOERR;
		return blk_load_ranges(blk, req, c);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static bool blk_can_run(struct virtio_blk *blk, unsigned int q)
{
	/* Paused: completions still land, but no new request is taken. */
	return virtio_dev_running(&blk->dev) && blk->dev.vq[q].enabled;
}

/*
 * What the chain in blk->scratch costs the limiter, as in Firecracker: an
 * op, and its data bytes for a read or write. A chain too short for a
 * header costs nothing here; blk_prepare fails it.
 */
static uint64_t blk_request_bytes(const struct virtio_blk *blk)
{
	const struct virtq_chain *c = &blk->scratch;
	uint32_t type;

	if (c->out_len < BLK_HDR_LEN || c->in_len < 1)
		return 0;
	virtq_iov_to_buf(c->iov, c->n_out, 0, &type, sizeof(type));
	type = le32toh(type);
	if (type == VIRTIO_BLK_T_IN)
		return c->in_len - 1;
	return type == VIRTIO_BLK_T_OUT ? c->out_len - BLK_HDR_LEN : 0;
}

bool blk_engine_process(struct virtio_blk *blk, unsigned int q)
{
	struct virtq *vq = &blk->dev.vq[q];
	unsigned int budget = BLK_KICK_BUDGET;
	bool completed = false;

	while (blk_can_run(blk, q)) {
		struct blk_req *req = blk_slot_peek(blk);
		int ret;

		/* Out of slots: completions resume us, so no notifications are needed. */
		if (!req)
			break;
		/* Held back: the limiter's timer resumes us. */
		if (virtio_limiter_blocked(&blk->lim))
			break;
		if (!budget) {
			if (!virtq_has_work(vq)) {
				virtq_set_notify(vq, true);
				if (!virtq_has_work(vq))
					break;
			}
			/*
			 * A guest refilling as fast as we answer would keep the I/O
			 * thread here; take the rest on a later round. Chains already
			 * published get no new kick, so notifications can stay off.
			 */
			if (blk->dev.kick_again)
				blk->dev.kick_again(&blk->dev, q);
			else
				virtq_set_notify(vq, true);
			break;
		}
		virtq_set_notify(vq, false);
		ret = virtq_pop(vq, &blk->scratch);
		if (ret < 0) {
			virtio_dev_fail(&blk->dev, virtq_strerror(-ret));
			break;
		}
		if (ret == 0) {
			/* Re-enable kicks, then look again so a late request is not missed. */
			virtq_set_notify(vq, true);
			if (!virtq_has_work(vq))
				break;
			continue;
		}
		if (!virtio_limiter_admit(&blk->lim, blk_request_bytes(blk))) {
			/* Left in the ring, not lost: the next pop returns it again. */
			virtq_unpop(vq);
			break;
		}
		budget--;
		blk_slot_take(blk, req);
		ret = blk_prepare(blk, req);
		req->q = (uint16_t)q;
		if (ret == 0xff && blk_submit(blk, req))
			ret = VIRTIO_BLK_S_IOERR;
		if (ret == 0xff)
			continue;
		if (ret < 0) {
			blk_release(blk, req);
			virtio_dev_fail(&blk->dev, ret == BLK_OVER_LIMIT
					? "virtio-blk request over the size_max or seg_max the "
					  "driver negotiated"
					: "virtio-blk request without a 16-byte header or a "
					  "status byte");
			break;
		}
		blk_finish(blk, req, (uint8_t)ret);
		completed = true;
	}
	return completed;
}

bool blk_engine_process_all(struct virtio_blk *blk)
{
	unsigned int n = blk->dev.num_queues, first = blk->next_q % n;
	bool completed = false;

	blk->next_q = first + 1;
	for (unsigned int i = 0; i < n; i++)
		completed |= blk_engine_process(blk, (first + i) % n);
	return completed;
}

void blk_engine_notify(struct virtio_blk *blk)
{
	uint32_t done = blk->done_queues;

	blk->done_queues = 0;
	for (unsigned int q = 0; done; q++, done >>= 1)
		if (done & 1)
			virtio_dev_notify(&blk->dev, q);
}

bool blk_engine_complete(void *ctx, void *tag, int res)
{
	struct virtio_blk *blk = ctx;
	struct blk_req *req = tag;
	int status;

	if (req->gen != blk->gen) {
		/*
		 * Taken before a reset: its status byte and used entry would
		 * land in memory the driver has since reused. Drop it.
		 */
		blk_release(blk, req);
		return false;
	}
	status = blk_step(blk, req, res);
	if (status < 0)
		return false;
	blk_finish(blk, req, (uint8_t)status);
	return true;
}

void blk_engine_ready(void *ctx)
{
	struct virtio_blk *blk = ctx;
	bool completed;

	pthread_mutex_lock(&blk->dev.lock);
	completed = blk_disk_reap(&blk->disk);
	/* Slots were freed: take the requests we left in the rings. */
	completed |= blk_engine_process_all(blk);
	blk_disk_kick(&blk->disk);
	if (completed)
		blk_engine_notify(blk);
	pthread_mutex_unlock(&blk->dev.lock);
}

void blk_engine_resume(struct virtio_dev *dev, void *arg)
{
	struct virtio_blk *blk = virtio_blk_from_dev(dev);

	(void)arg;
	if (blk_engine_process_all(blk))
		blk_engine_notify(blk);
	blk_disk_kick(&blk->disk);
}
