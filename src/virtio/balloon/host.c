/*
 * The host's side of virtio-balloon (virtio/balloon.h): the statistics
 * (the buffer the guest fills, held until the interval's timer asks for
 * new values), the target, and free page hinting runs. Firecracker's
 * rules and words (its balloon/device.rs).
 */
#include "virtio/balloon/priv.h"

#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/log.h"

static const char *const stat_names[BALLOON_STAT_COUNT] = {
	[BALLOON_STAT_SWAP_IN] = "swap_in",
	[BALLOON_STAT_SWAP_OUT] = "swap_out",
	[BALLOON_STAT_MAJOR_FAULTS] = "major_faults",
	[BALLOON_STAT_MINOR_FAULTS] = "minor_faults",
	[BALLOON_STAT_FREE_MEMORY] = "free_memory",
	[BALLOON_STAT_TOTAL_MEMORY] = "total_memory",
	[BALLOON_STAT_AVAILABLE_MEMORY] = "available_memory",
	[BALLOON_STAT_DISK_CACHES] = "disk_caches",
	[BALLOON_STAT_HUGETLB_ALLOCATIONS] = "hugetlb_allocations",
	[BALLOON_STAT_HUGETLB_FAILURES] = "hugetlb_failures",
	[BALLOON_STAT_OOM_KILL] = "oom_kill",
	[BALLOON_STAT_ALLOC_STALL] = "alloc_stall",
	[BALLOON_STAT_ASYNC_SCAN] = "async_scan",
	[BALLOON_STAT_DIRECT_SCAN] = "direct_scan",
	[BALLOON_STAT_ASYNC_RECLAIM] = "async_reclaim",
	[BALLOON_STAT_DIRECT_RECLAIM] = "direct_reclaim",
};

const char *virtio_balloon_stat_name(unsigned int s)
{
	return s < BALLOON_STAT_COUNT ? stat_names[s] : NULL;
}

/* A refusal in Firecracker's words (BalloonError after "Balloon: "); err may be NULL. */
#define REFUSE(err, ...) ((err) ? err_set((err), true, -EINVAL, "Balloon: " __VA_ARGS__) : -EINVAL)

/* ---------------------------------------------------------------- statistics */

void balloon_stats_request(struct balloon *b)
{
	int q = balloon_queue(b, BALLOON_Q_STATS);

	/* Firecracker's trigger_stats_update: nothing to hand back is no error. */
	if (q < 0 || !b->stats_held)
		return;
	b->stats_held = false;
	b->c[BC_STATS_REQUESTS]++;
	if (balloon_push_head(b, (unsigned int)q, b->stats_head) < 0)
		virtio_dev_fail(&b->dev, "statistics buffer could not be returned");
}

/*
 * A statistics buffer: its entries read (whole ones only: a trailing part
 * of one is ignored, never read past), then held. A driver that sends a
 * second while we hold one breaks the protocol (5.5.6.3), which
 * Firecracker forgives by returning the first.
 */
enum balloon_chain balloon_stats_chain(struct balloon *b, uint64_t *cost)
{
	const struct virtq_chain *c = &b->chain;
	uint8_t buf[BALLOON_STATS_MAX * BALLOON_STAT_SIZE];
	size_t n;

	*cost += 1;
	b->c[BC_STATS_UPDATES]++;
	if (b->stats_held)
		balloon_stats_request(b);
	/* Too large to be a driver's: kept unread, so the guest still gets it back when asked. */
	if (c->out_len <= sizeof(buf)) {
		n = virtq_iov_to_buf(c->iov, c->n_out, 0, buf, c->out_len) / BALLOON_STAT_SIZE;
		for (size_t i = 0; i < n; i++) {
			uint16_t tag;
			uint64_t val;

			memcpy(&tag, buf + i * BALLOON_STAT_SIZE, 2);
			memcpy(&val, buf + i * BALLOON_STAT_SIZE + 2, 8);
			tag = le16toh(tag);
			if (tag >= BALLOON_STAT_COUNT) {
				b->c[BC_STATS_FAILS]++;
				continue;
			}
			b->stats_present |= 1u << tag;
			b->stats_val[tag] = le64toh(val);
		}
	} else {
		log_ratelimited(&balloon_rl, LOG_WARN, "virtio-balloon: statistics buffer of %llu "
				"bytes not read", (unsigned long long)c->out_len);
	}
	b->stats_held = true;
	b->stats_head = c->head;
	return BALLOON_CHAIN_HELD;
}

void virtio_balloon_stats_poll(struct virtio_dev *dev)
{
	struct balloon *b = balloon_from_dev(dev);

	if (!b)
		return;
	pthread_mutex_lock(&dev->lock);
	/* Paused: the rings are frozen for a snapshot; the next tick asks. */
	if (virtio_dev_running(dev))
		balloon_stats_request(b);
	pthread_mutex_unlock(&dev->lock);
}

static void balloon_on_timer(void *opaque, uint32_t events)
{
	struct balloon *b = opaque;
	uint64_t n;

	(void)events;
	if (read(b->timer_fd, &n, sizeof(n)) != sizeof(n))
		return;
	virtio_balloon_stats_poll(&b->dev);
}

/* Made at creation, so that arming it later cannot fail for want of a file descriptor. */
int balloon_timer_init(struct balloon *b, const struct virtio_env *env)
{
	int ret;

	if (!env->loop || !b->interval_s)
		return 0;
	b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (b->timer_fd < 0)
		return -errno;
	ret = eventloop_add(env->loop, b->timer_fd, EPOLLIN, balloon_on_timer, b);
	if (ret) {
		close(b->timer_fd);
		b->timer_fd = -1;
		return ret;
	}
	b->loop = env->loop;
	return 0;
}

void balloon_timer_release(struct balloon *b)
{
	if (b->loop)
		eventloop_remove(b->loop, b->timer_fd);
	if (b->timer_fd >= 0)
		close(b->timer_fd);
	b->timer_fd = -1;
	b->loop = NULL;
}

void balloon_timer_arm(struct balloon *b, bool on)
{
	struct itimerspec its = { 0 };

	if (b->timer_fd < 0)
		return;
	if (on && b->interval_s && balloon_queue(b, BALLOON_Q_STATS) >= 0) {
		its.it_interval.tv_sec = b->interval_s;
		its.it_value = its.it_interval;
	}
	if (timerfd_settime(b->timer_fd, 0, &its, NULL) < 0)
		log_ratelimited(&balloon_rl, LOG_WARN, "virtio-balloon: statistics timer: %s",
				strerror(errno));
}

int virtio_balloon_set_stats_interval(struct virtio_dev *dev, uint16_t interval_s,
				      struct err *err)
{
	struct balloon *b = balloon_from_dev(dev);
	int ret = 0;

	if (!b)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	if (interval_s == b->interval_s)
		goto out;
	/* The queue and its feature bit exist from creation or never. */
	if (!interval_s || !b->interval_s) {
		ret = REFUSE(err, "Statistics cannot be enabled/disabled after activation.");
		goto out;
	}
	if (virtio_dev_running(dev))
		balloon_stats_request(b);
	b->interval_s = interval_s;
	balloon_timer_arm(b, dev->activated);
out:
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int virtio_balloon_get_stats(struct virtio_dev *dev, struct balloon_stats *out,
			     struct err *err)
{
	struct balloon *b = balloon_from_dev(dev);
	int ret = 0;

	if (!b)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	if (!b->interval_s) {
		ret = REFUSE(err, "Received stats query when stats are disabled.");
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->target_pages = b->num_pages;
	out->actual_pages = b->actual;
	out->target_mib = b->num_pages / BALLOON_PAGES_PER_MIB;
	out->actual_mib = b->actual / BALLOON_PAGES_PER_MIB;
	out->present = b->stats_present;
	memcpy(out->val, b->stats_val, sizeof(out->val));
out:
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

/* ------------------------------------------------------------------ target */

int virtio_balloon_set_target(struct virtio_dev *dev, uint32_t amount_mib, struct err *err)
{
	struct balloon *b = balloon_from_dev(dev);
	int ret = 0;

	if (!b)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	if (!dev->activated) {
		ret = REFUSE(err, "Device not activated yet.");
		goto out;
	}
	/* Firecracker's words name the amount asked for, not the limit. */
	if ((uint64_t)amount_mib > (b->map_pages >> 8)) {
		ret = REFUSE(err, "Requested memory should be less than %uMiB", amount_mib);
		goto out;
	}
	b->num_pages = amount_mib * BALLOON_PAGES_PER_MIB;
	if (dev->signal_config)
		dev->signal_config(dev);
out:
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

void virtio_balloon_get_config(struct virtio_dev *dev, struct balloon_config *out)
{
	struct balloon *b = balloon_from_dev(dev);

	memset(out, 0, sizeof(*out));
	if (!b)
		return;
	pthread_mutex_lock(&dev->lock);
	out->amount_mib = b->num_pages / BALLOON_PAGES_PER_MIB;
	out->deflate_on_oom = (b->offered >> VIRTIO_BALLOON_F_DEFLATE_ON_OOM) & 1;
	out->stats_polling_interval_s = b->interval_s;
	out->free_page_hinting = (b->offered >> VIRTIO_BALLOON_F_FREE_PAGE_HINT) & 1;
	out->free_page_reporting = (b->offered >> VIRTIO_BALLOON_F_REPORTING) & 1;
	pthread_mutex_unlock(&dev->lock);
}

uint32_t virtio_balloon_actual_mib(struct virtio_dev *dev)
{
	struct balloon *b = balloon_from_dev(dev);
	uint32_t v;

	if (!b)
		return 0;
	pthread_mutex_lock(&dev->lock);
	v = b->actual / BALLOON_PAGES_PER_MIB;
	pthread_mutex_unlock(&dev->lock);
	return v;
}

/* ------------------------------------------------------------------ hinting */

/* The device offers hinting, and (need_active) the driver started it; else the refusal. */
static int hint_check(struct balloon *b, bool need_active, struct err *err)
{
	if (!((b->offered >> VIRTIO_BALLOON_F_FREE_PAGE_HINT) & 1))
		return REFUSE(err, "Attempting to use hinting when not enabled");
	if (need_active && !b->dev.activated)
		return REFUSE(err, "Device not activated yet.");
	return 0;
}

int virtio_balloon_hint_start(struct virtio_dev *dev, bool ack_on_stop, struct err *err)
{
	struct balloon *b = balloon_from_dev(dev);
	uint32_t cmd;
	int ret;

	if (!b)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	ret = hint_check(b, true, err);
	if (!ret) {
		/* STOP and DONE are no run's: the ids wrap past them. */
		cmd = b->last_cmd_id + 1;
		if (cmd <= VIRTIO_BALLOON_CMD_ID_DONE)
			cmd = VIRTIO_BALLOON_CMD_ID_DONE + 1;
		b->last_cmd_id = cmd;
		b->ack_on_stop = ack_on_stop;
		balloon_set_cmd(b, cmd);
	}
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int virtio_balloon_hint_status(struct virtio_dev *dev, struct balloon_hint_status *out,
			       struct err *err)
{
	struct balloon *b = balloon_from_dev(dev);
	int ret;

	if (!b)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	ret = hint_check(b, false, err);
	if (!ret)
		*out = (struct balloon_hint_status){ .host_cmd = b->host_cmd,
						     .guest_cmd_present = b->guest_cmd_present,
						     .guest_cmd = b->guest_cmd };
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int virtio_balloon_hint_stop(struct virtio_dev *dev, struct err *err)
{
	struct balloon *b = balloon_from_dev(dev);
	int ret;

	if (!b)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	ret = hint_check(b, true, err);
	if (!ret)
		balloon_set_cmd(b, VIRTIO_BALLOON_CMD_ID_DONE);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}
