/*
 * virtio-pmem (VIRTIO 1.2, 5.19): the config space and the request
 * queue. Every request is the same FLUSH, so the requests one kick finds
 * share one fdatasync (as Firecracker's share one msync): they wait in
 * waiting[] while it runs on the device's io_uring (flush.c), and are
 * answered together when it comes back. Requests that arrive meanwhile
 * stay in the ring for the next round, so each one's answer comes from
 * a flush that started after the driver asked. A request that is not
 * four bytes out and four in breaks the protocol (NEEDS_RESET); a type
 * other than FLUSH gets EIO, which is how the spec lets a device refuse.
 */
#include "virtio/pmem/priv.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/virtio.h"

static struct ratelimit pmem_rl = RATELIMIT_INIT(10);

static uint64_t pmem_get_features(struct virtio_dev *dev)
{
	(void)dev;
	return 0;
}

/* struct virtio_pmem_config: le64 start, le64 size. */
static void pmem_read_config(struct virtio_dev *dev, uint32_t offset, uint8_t *data,
			     unsigned int len)
{
	struct pmem *p = dev->priv;
	uint64_t cs[2] = { htole64(p->cfg.gpa), htole64(p->cfg.size) };

	if (offset >= sizeof(cs) || len > sizeof(cs) - offset) {
		memset(data, 0, len);
		return;
	}
	memcpy(data, (uint8_t *)cs + offset, len);
}

static void pmem_write_config(struct virtio_dev *dev, uint32_t offset, const uint8_t *data,
			      unsigned int len)
{
	struct pmem *p = dev->priv;

	(void)data;
	p->c[PC_CFG_FAILS]++;
	log_ratelimited(&pmem_rl, LOG_WARN, "virtio-pmem: the driver wrote %u bytes at config "
			"offset %#x, which is read only; ignored", len, offset);
}

/* Writes status into w and returns it to the driver: 0, or -1 when the device failed. */
static int pmem_push(struct pmem *p, const struct pmem_waiter *w, uint32_t status)
{
	uint32_t le = htole32(status);
	int ret;

	virtq_buf_to_iov(w->iov, w->n, 0, &le, sizeof(le));
	p->chain.head = w->head;
	p->chain.n_out = 0;
	p->chain.n_in = w->n;
	p->chain.out_len = 0;
	p->chain.in_len = PMEM_MSG_LEN;
	memcpy(p->chain.iov, w->iov, sizeof(w->iov[0]) * w->n);
	ret = virtq_push(&p->dev.vq[0], &p->chain, PMEM_MSG_LEN);
	if (ret < 0) {
		virtio_dev_fail(&p->dev, ret == -EINVAL ? "virtio-pmem: queue gone"
				: virtq_strerror(-ret));
		return -1;
	}
	p->c[PC_REQUESTS]++;
	return 0;
}

/* Answers every waiting request with status. */
static void pmem_answer(struct pmem *p, uint32_t status)
{
	bool pushed = false;

	for (unsigned int i = 0; i < p->nwaiting; i++) {
		if (pmem_push(p, &p->waiting[i], status))
			break;
		pushed = true;
	}
	p->nwaiting = 0;
	if (pushed)
		virtio_dev_notify(&p->dev, 0);
}

/*
 * Takes one popped request: 0 (waiting for the flush, or answered EIO
 * at once), -EPROTO when its shape breaks the protocol, -EIO when the
 * answer could not be pushed (the device failed).
 */
static int pmem_take(struct pmem *p, const struct virtq_chain *c, bool *pushed)
{
	struct pmem_waiter *w = &p->waiting[p->nwaiting];
	uint32_t type = 0;

	/* 5.19.6: le32 type, device-readable, then le32 ret, device-writable. */
	if (c->out_len != PMEM_MSG_LEN || c->in_len != PMEM_MSG_LEN || c->n_in > PMEM_MSG_LEN)
		return -EPROTO;
	virtq_iov_to_buf(c->iov, c->n_out, 0, &type, sizeof(type));
	w->head = c->head;
	w->n = c->n_in;
	memcpy(w->iov, c->iov + c->n_out, sizeof(w->iov[0]) * c->n_in);
	if (le32toh(type) == PMEM_REQ_FLUSH) {
		p->nwaiting++;
		return 0;
	}
	log_ratelimited(&pmem_rl, LOG_WARN, "virtio-pmem: unknown request type %" PRIu32
			"; answered EIO", le32toh(type));
	p->c[PC_EVENT_FAILS]++;
	if (pmem_push(p, w, PMEM_RESP_EIO))
		return -EIO;
	*pushed = true;
	return 0;
}

/* The budget ran out with requests left: come back on a later I/O-loop round. */
static void pmem_call_again(struct virtio_dev *dev)
{
	if (dev->kick_again)
		dev->kick_again(dev, 0);
	else
		virtq_set_notify(&dev->vq[0], true);
}

/* Takes what the ring holds and starts its flush. dev.lock held, on the I/O thread. */
static void pmem_process(struct pmem *p)
{
	struct virtio_dev *dev = &p->dev;
	struct virtq *vq = &dev->vq[0];
	unsigned int budget = PMEM_QUEUE_SIZE;
	bool pushed = false;
	int ret = 0;

	/* One flush at a time: its completion comes back here. */
	if (p->inflight || !virtio_dev_running(dev) || !vq->enabled ||
	    virtio_limiter_blocked(&p->lim))
		return;
	if (!virtq_has_work(vq)) {
		/* With EVENT_IDX, publish how far we got, then look once more. */
		virtq_set_notify(vq, true);
		if (!virtq_has_work(vq))
			return;
	}
	/* Firecracker's price, paid before the ring is read: one op and the whole file. */
	if (!virtio_limiter_admit(&p->lim, p->cfg.file_len))
		return;
	while (budget && p->nwaiting < PMEM_QUEUE_SIZE && (ret = virtq_pop(vq, &p->chain)) > 0) {
		budget--;
		ret = pmem_take(p, &p->chain, &pushed);
		if (ret == -EPROTO) {
			p->c[PC_EVENT_FAILS]++;
			virtio_dev_fail(dev, "virtio-pmem: a request is not a 4-byte type and a "
					"4-byte status");
		}
		if (ret < 0)
			goto err_fail;
	}
	if (ret < 0) {
		p->c[PC_EVENT_FAILS]++;
		virtio_dev_fail(dev, virtq_strerror(-ret));
		goto err_fail;
	}
	if (pushed)
		virtio_dev_notify(dev, 0);
	if (!p->nwaiting) {
		virtio_limiter_refund(&p->lim, p->cfg.file_len);
		if (!budget && virtq_has_work(vq))
			pmem_call_again(dev);
		return;
	}
	ret = pmem_flush_submit(p);
	if (ret) {
		log_ratelimited(&pmem_rl, LOG_WARN, "virtio-pmem: cannot start a flush: %s",
				strerror(-ret));
		p->c[PC_FLUSH_FAILS]++;
		pmem_answer(p, PMEM_RESP_EIO);
		return;
	}
	p->inflight = true;
	return;

err_fail:
	/* The device is out of service until reset; what waited is dropped with it. */
	p->nwaiting = 0;
	virtio_limiter_refund(&p->lim, p->cfg.file_len);
	if (pushed)
		virtio_dev_notify(dev, 0);
}

void pmem_flush_done(struct pmem *p, int res)
{
	p->inflight = false;
	if (res < 0) {
		p->c[PC_FLUSH_FAILS]++;
		log_ratelimited(&pmem_rl, LOG_WARN, "virtio-pmem: fdatasync failed: %s",
				strerror(-res));
	} else {
		p->c[PC_FLUSHES]++;
	}
	pmem_answer(p, res < 0 ? PMEM_RESP_EIO : PMEM_RESP_OK);
	pmem_process(p);
}

void pmem_on_flush_event(void *opaque, uint32_t events)
{
	struct pmem *p = opaque;
	uint64_t n;
	int res;

	(void)events;
	if (read(p->efd, &n, sizeof(n)) < 0) {
		/* Nonblocking: nothing to drain is no error. */
	}
	pthread_mutex_lock(&p->dev.lock);
	if (p->inflight && pmem_flush_reap(p, &res, 0) == 1)
		pmem_flush_done(p, res);
	pthread_mutex_unlock(&p->dev.lock);
}

static void pmem_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	(void)q;
	pmem_process(dev->priv);
}

static void pmem_reset(struct virtio_dev *dev)
{
	struct pmem *p = dev->priv;

	/* A flush in flight runs on; its completion finds no one to answer. */
	p->nwaiting = 0;
}

/* A snapshot waits for the flush in flight, within a bound, and answers it. */
static int pmem_pause(struct virtio_dev *dev)
{
	struct pmem *p = dev->priv;
	int res, ret;

	if (!p->inflight)
		return 0;
	ret = pmem_flush_reap(p, &res, PMEM_WAIT_MS);
	if (ret != 1) {
		/* The pause's refusal says "see the log": this is what it finds. */
		log_warn("virtio-pmem: a flush (fdatasync) in flight did not complete within %u s%s%s",
			 PMEM_WAIT_MS / 1000, ret < 0 ? ": " : "", ret < 0 ? strerror(-ret) : "");
		return -EBUSY;
	}
	/* Paused: pmem_process takes nothing new. */
	pmem_flush_done(p, res);
	return 0;
}

static void pmem_resume(struct virtio_dev *dev)
{
	(void)dev; /* virtio_dev_resume looks at the queue itself */
}

static unsigned int pmem_counters(struct virtio_dev *dev, struct dev_counter *out,
				  unsigned int max)
{
	struct pmem *p = dev->priv;
	struct dev_counter c[PC_COUNT + 1];

	pthread_mutex_lock(&dev->lock);
	c[0] = (struct dev_counter){ "flushes", p->c[PC_FLUSHES] };
	c[1] = (struct dev_counter){ "requests", p->c[PC_REQUESTS] };
	c[2] = (struct dev_counter){ "flush_fails", p->c[PC_FLUSH_FAILS] };
	c[3] = (struct dev_counter){ "event_fails", p->c[PC_EVENT_FAILS] };
	c[4] = (struct dev_counter){ "cfg_fails", p->c[PC_CFG_FAILS] };
	c[5] = (struct dev_counter){ "rate_limiter_throttled", p->lim.throttled };
	pthread_mutex_unlock(&dev->lock);
	return dev_counters_copy(out, max, c, PC_COUNT + 1);
}

/* The limiter's timer fired: take the requests it held back. */
static void pmem_limiter_resume(struct virtio_dev *dev, void *arg)
{
	(void)arg;
	pmem_process(dev->priv);
}

void virtio_pmem_set_limiter(struct virtio_dev *dev, const struct rl_config *cfg)
{
	struct pmem *p = dev->priv;

	pthread_mutex_lock(&dev->lock);
	virtio_limiter_update(&p->lim, cfg);
	pthread_mutex_unlock(&dev->lock);
}

static const struct virtio_dev_ops pmem_ops = {
	.device_id = VIRTIO_ID_PMEM,
	.get_features = pmem_get_features,
	.read_config = pmem_read_config,
	.write_config = pmem_write_config,
	.reset = pmem_reset,
	.queue_notify = pmem_queue_notify,
	.destroy = virtio_pmem_destroy,
	.counters = pmem_counters,
	.pause = pmem_pause,
	.resume = pmem_resume,
	.save = pmem_save,
	.restore = pmem_restore,
};

int virtio_pmem_create(const struct virtio_env *env, const struct pmem_config *cfg,
		       struct virtio_dev **out, struct err *err)
{
	const char *what = "";
	struct pmem *p;
	int ret;

	if (!cfg->size || cfg->gpa % PMEM_ALIGN || cfg->size % PMEM_ALIGN ||
	    cfg->file_len > cfg->size)
		return err_set(err, false, -EINVAL, "virtio-pmem: window %#" PRIx64 "+%#" PRIx64
			       " is not 2 MiB aligned around the file", cfg->gpa, cfg->size);
	p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(err, false, -ENOMEM, "virtio-pmem: out of memory");
	p->cfg = *cfg;
	p->efd = -1;
	p->cfg.fd = fcntl(cfg->fd, F_DUPFD_CLOEXEC, 0);
	if (p->cfg.fd < 0) {
		ret = -errno;
		goto err_free;
	}
	p->dev.ops = &pmem_ops;
	p->dev.priv = p;
	p->dev.name = "virtio-pmem";
	p->dev.num_queues = 1;
	p->dev.queue_max = PMEM_QUEUE_SIZE;
	p->dev.config_size = 16;
	ret = virtio_dev_init(&p->dev, env);
	if (ret)
		goto err_fd;
	ret = virtio_limiter_init(&p->lim, env, &p->dev, pmem_limiter_resume, NULL);
	if (ret)
		goto err_dev;
	ret = pmem_flush_init(p);
	if (ret) {
		what = "io_uring unavailable: ";
		goto err_lim;
	}
	if (env->loop) {
		ret = eventloop_add(env->loop, p->efd, EPOLLIN, pmem_on_flush_event, p);
		if (ret) {
			what = "completion eventfd: ";
			goto err_flush;
		}
		p->loop = env->loop;
	}
	*out = &p->dev;
	return 0;

err_flush:
	pmem_flush_release(p);
err_lim:
	virtio_limiter_release(&p->lim);
err_dev:
	virtio_dev_release(&p->dev);
err_fd:
	close(p->cfg.fd);
err_free:
	free(p);
	return err_set(err, false, ret, "virtio-pmem: %s%s", what, strerror(-ret));
}

void virtio_pmem_destroy(struct virtio_dev *dev)
{
	struct pmem *p;

	if (!dev)
		return;
	p = dev->priv;
	if (p->loop)
		eventloop_remove(p->loop, p->efd);
	pmem_flush_release(p);
	virtio_limiter_release(&p->lim);
	virtio_dev_release(&p->dev);
	close(p->cfg.fd);
	free(p);
}
