#include "virtio/limiter.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/log.h"

static struct ratelimit limiter_rl = RATELIMIT_INIT(10);

static void limiter_arm(struct virtio_limiter *l, uint64_t ns)
{
	struct itimerspec its = { 0 };

	if (l->tfd < 0)
		return;
	its.it_value.tv_sec = (time_t)(ns / 1000000000ull);
	its.it_value.tv_nsec = (long)(ns % 1000000000ull);
	if (timerfd_settime(l->tfd, 0, &its, NULL) < 0)
		log_ratelimited(&limiter_rl, LOG_WARN, "%s: cannot arm the rate limiter timer: %s",
				l->dev->name, strerror(errno));
}

static void limiter_fire(struct virtio_limiter *l)
{
	rate_limiter_unblock(&l->rl);
	if (l->resume)
		l->resume(l->dev, l->arg);
}

static void limiter_on_timer(void *opaque, uint32_t events)
{
	struct virtio_limiter *l = opaque;
	uint64_t n;

	(void)events;
	pthread_mutex_lock(&l->dev->lock);
	/* Read first: an update may have disarmed it after it fired. */
	if (read(l->tfd, &n, sizeof(n)) == sizeof(n) && l->rl.blocked)
		limiter_fire(l);
	pthread_mutex_unlock(&l->dev->lock);
}

int virtio_limiter_init(struct virtio_limiter *l, const struct virtio_env *env,
			struct virtio_dev *dev, void (*resume)(struct virtio_dev *, void *),
			void *arg)
{
	int ret;

	memset(l, 0, sizeof(*l));
	l->tfd = -1;
	l->dev = dev;
	l->resume = resume;
	l->arg = arg;
	rate_limiter_init(&l->rl, NULL, env->clock);
	if (!env->loop)
		return 0;
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->tfd < 0)
		return -errno;
	ret = eventloop_add(env->loop, l->tfd, EPOLLIN, limiter_on_timer, l);
	if (ret) {
		close(l->tfd);
		l->tfd = -1;
		return ret;
	}
	l->loop = env->loop;
	return 0;
}

void virtio_limiter_release(struct virtio_limiter *l)
{
	if (l->loop)
		eventloop_remove(l->loop, l->tfd);
	if (l->tfd >= 0)
		close(l->tfd);
	l->tfd = -1;
	l->loop = NULL;
}

bool virtio_limiter_admit(struct virtio_limiter *l, uint64_t bytes)
{
	if (rate_limiter_unlimited(&l->rl) && !l->rl.blocked)
		return true;
	if (rate_limiter_consume_request(&l->rl, bytes)) {
		/* An over-consumption goes through but silences the queue for a while. */
		if (l->rl.blocked)
			limiter_arm(l, l->rl.timer_ns);
		l->rl.timer_ns = 0;
		return true;
	}
	l->throttled++;
	if (l->rl.timer_ns)
		limiter_arm(l, l->rl.timer_ns);
	l->rl.timer_ns = 0;   /* armed once per block, not per refused request */
	return false;
}

void virtio_limiter_refund(struct virtio_limiter *l, uint64_t bytes)
{
	rate_limiter_replenish(&l->rl, 1, RL_OPS);
	rate_limiter_replenish(&l->rl, bytes, RL_BYTES);
}

bool virtio_limiter_blocked(const struct virtio_limiter *l)
{
	return l->rl.blocked;
}

void virtio_limiter_update(struct virtio_limiter *l, const struct rl_config *cfg)
{
	rate_limiter_update(&l->rl, cfg);
	if (!l->rl.blocked)
		return;
	limiter_arm(l, 0);    /* disarms */
	limiter_fire(l);
}
