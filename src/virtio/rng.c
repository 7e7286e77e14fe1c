/*
 * virtio-rng (VIRTIO 1.2, 5.4): one request queue; every request is a
 * chain of device-writable buffers that we fill from getrandom().
 */
#include "virtio/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/log.h"
#include "virtio/limiter.h"
#include "virtio/virtio.h"

#define RNG_QUEUE_SIZE 256
/*
 * One request gets at most this many bytes: the spec lets us return less
 * than offered (5.4.6.1), and a cap keeps a guest from making the I/O
 * thread spend long on a single kick.
 */
#define RNG_REQUEST_CAP (64u * 1024u)
/*
 * Work per kick before the I/O thread gets its loop back (signals, other
 * devices): a guest that refills the queue as fast as we fill buffers
 * would otherwise keep it here for good. Then kick_again brings us back.
 */
#define RNG_KICK_REQUESTS 256u
#define RNG_KICK_BYTES (1024u * 1024u)

struct rng {
	struct virtio_dev dev;
	uint64_t requests, bytes; /* completed; under dev.lock */
	struct virtio_limiter lim;
	/* Large (one iovec per segment), so kept here rather than on the stack. */
	struct virtq_chain chain;
};

static struct ratelimit rng_rl = RATELIMIT_INIT(10);

/*
 * Fills buf with up to len random bytes; returns how many (possibly fewer
 * when the kernel gives a short read and then fails). Never blocks once the
 * host's entropy pool is initialised.
 */
static size_t rng_fill(uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom(buf + done, len - done, GRND_NONBLOCK);

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* Some bytes already satisfy the driver (5.4.6.1); send those. */
			if (done)
				break;
			/*
			 * The pool is not initialised yet (only early in the host's
			 * boot): wait for it rather than complete with no bytes,
			 * which the spec forbids. A small request keeps it short.
			 */
			n = getrandom(buf, len < 64 ? len : 64, 0);
			if (n > 0) {
				done += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
		}
		log_ratelimited(&rng_rl, LOG_WARN, "virtio-rng: getrandom failed: %s",
				n < 0 ? strerror(errno) : "no bytes");
		break;
	}
	return done;
}

/* Fills the chain's writable segments in order, up to the cap. */
static uint32_t rng_fill_chain(const struct virtq_chain *c)
{
	uint32_t written = 0;

	for (unsigned int i = c->n_out; i < c->n_out + c->n_in; i++) {
		size_t want = c->iov[i].iov_len, got;

		if (want > RNG_REQUEST_CAP - written)
			want = RNG_REQUEST_CAP - written;
		if (!want)
			continue;
		got = rng_fill(c->iov[i].iov_base, want);
		written += (uint32_t)got;
		/* A short fill means the host ran dry: the driver sees the real count. */
		if (got < want || written == RNG_REQUEST_CAP)
			break;
	}
	return written;
}

static uint64_t rng_get_features(struct virtio_dev *dev)
{
	(void)dev;
	return 0;
}

static void rng_reset(struct virtio_dev *dev)
{
	/* No in-flight state: every request completes inside queue_notify. */
	(void)dev;
}

/* The budget ran out with requests left: come back on a later I/O-loop round. */
static void rng_call_again(struct virtio_dev *dev, unsigned int q)
{
	if (dev->kick_again)
		dev->kick_again(dev, q);
	else
		virtq_set_notify(&dev->vq[q], true); /* at least the driver's next kick */
}

/* What a request costs the limiter: the bytes it will get, at most. */
static uint64_t rng_request_bytes(const struct virtq_chain *c)
{
	return c->in_len < RNG_REQUEST_CAP ? c->in_len : RNG_REQUEST_CAP;
}

static void rng_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	struct rng *r = dev->priv;
	struct virtq *vq = &dev->vq[q];
	unsigned int requests = RNG_KICK_REQUESTS;
	uint32_t bytes = 0, written;
	bool pushed = false;
	int ret;

	for (;;) {
		ret = 0;
		while (requests && bytes < RNG_KICK_BYTES && !virtio_limiter_blocked(&r->lim) &&
		       (ret = virtq_pop(vq, &r->chain)) > 0) {
			requests--;
			/* 5.4.6.1: requests only carry buffers for us to write. */
			if (r->chain.n_out) {
				virtio_dev_fail(dev, "virtio-rng request has a device-readable buffer");
				goto out;
			}
			if (!virtio_limiter_admit(&r->lim, rng_request_bytes(&r->chain))) {
				/* Left in the ring; the limiter's timer brings us back. */
				virtq_unpop(vq);
				goto out;
			}
			written = rng_fill_chain(&r->chain);
			bytes += written;
			ret = virtq_push(vq, &r->chain, written);
			if (ret < 0)
				break;
			pushed = true;
			r->requests++;
			r->bytes += written;
		}
		if (ret < 0) {
			virtio_dev_fail(dev, virtq_strerror(-ret));
			goto out;
		}
		if (virtio_limiter_blocked(&r->lim))
			goto out;
		if ((!requests || bytes >= RNG_KICK_BYTES) && virtq_has_work(vq)) {
			rng_call_again(dev, q);
			break;
		}
		/*
		 * With EVENT_IDX the driver only kicks when it passes avail_event,
		 * so publish how far we got; then look again for buffers added
		 * before it saw the new value.
		 */
		virtq_set_notify(vq, true);
		if (!virtq_has_work(vq))
			break;
	}
out:
	if (pushed)
		virtio_dev_notify(dev, q);
}

static unsigned int rng_counters(struct virtio_dev *dev, struct dev_counter *out,
				 unsigned int max)
{
	struct rng *r = dev->priv;
	struct dev_counter c[3];

	pthread_mutex_lock(&dev->lock);
	c[0] = (struct dev_counter){ "requests", r->requests };
	c[1] = (struct dev_counter){ "bytes", r->bytes };
	c[2] = (struct dev_counter){ "rate_limiter_throttled", r->lim.throttled };
	pthread_mutex_unlock(&dev->lock);
	return dev_counters_copy(out, max, c, 3);
}

/* The limiter's timer fired: take the requests it held back. */
static void rng_resume(struct virtio_dev *dev, void *arg)
{
	(void)arg;
	/* Paused: resume looks at the queue itself. */
	if (virtio_dev_running(dev) && dev->vq[0].enabled)
		rng_queue_notify(dev, 0);
}

void virtio_rng_set_limiter(struct virtio_dev *dev, const struct rl_config *cfg)
{
	struct rng *r = dev->priv;

	pthread_mutex_lock(&dev->lock);
	virtio_limiter_update(&r->lim, cfg);
	pthread_mutex_unlock(&dev->lock);
}

/*
 * Snapshots: nothing is in flight between kicks, so the record is only
 * the counters, which a restored VM's metrics carry on from. The rate
 * limiter's buckets are not saved: a restored device starts with them
 * full, as a new one does (at most one bucket's worth early).
 */
#define RNG_STATE_TAG "VRNG"
#define RNG_STATE_VERSION 1u

static int rng_save(struct virtio_dev *dev, struct bytes_out *o)
{
	struct rng *r = dev->priv;

	bytes_put_tag(o, RNG_STATE_TAG, RNG_STATE_VERSION);
	bytes_put_u64(o, r->requests);
	bytes_put_u64(o, r->bytes);
	return 0;
}

static int rng_restore(struct virtio_dev *dev, const struct virtq *vq, const void *in,
		       size_t len, bool apply)
{
	struct rng *r = dev->priv;
	struct bytes_in b = bytes_in_init(in, len);
	uint64_t requests, bytes;
	int ret = bytes_get_tag(&b, RNG_STATE_TAG, RNG_STATE_VERSION);

	(void)vq; /* no ring position of its own */
	if (ret)
		return ret;
	requests = bytes_get_u64(&b);
	bytes = bytes_get_u64(&b);
	ret = bytes_in_finish(&b);
	if (ret || !apply)
		return ret;
	r->requests = requests;
	r->bytes = bytes;
	return 0;
}

static const struct virtio_dev_ops rng_ops = {
	.device_id = VIRTIO_ID_RNG,
	.get_features = rng_get_features,
	.reset = rng_reset,
	.queue_notify = rng_queue_notify,
	.destroy = virtio_rng_destroy,
	.counters = rng_counters,
	.save = rng_save,
	.restore = rng_restore,
};

int virtio_rng_create(const struct virtio_env *env, struct virtio_dev **out, struct err *err)
{
	struct rng *r = calloc(1, sizeof(*r));
	int ret;

	if (!r) {
		ret = -ENOMEM;
		goto err_msg;
	}
	r->dev.ops = &rng_ops;
	r->dev.priv = r;
	r->dev.name = "virtio-rng";
	r->dev.num_queues = 1;
	r->dev.queue_max = RNG_QUEUE_SIZE;
	r->dev.config_size = 0;
	ret = virtio_dev_init(&r->dev, env);
	if (ret)
		goto err_free;
	ret = virtio_limiter_init(&r->lim, env, &r->dev, rng_resume, NULL);
	if (ret)
		goto err_dev;
	*out = &r->dev;
	return 0;

err_dev:
	virtio_dev_release(&r->dev);
err_free:
	free(r);
err_msg:
	if (err)
		err_set(err, false, ret, "virtio-rng: %s", strerror(-ret));
	return ret;
}

void virtio_rng_destroy(struct virtio_dev *dev)
{
	struct rng *r;

	if (!dev)
		return;
	r = dev->priv;
	virtio_limiter_release(&r->lim);
	virtio_dev_release(&r->dev);
	free(r);
}
