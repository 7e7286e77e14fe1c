/*
 * virtio-balloon (virtio/balloon.h): the device as its transport sees it,
 * its config space, and the loop every queue shares: a budget per kick,
 * each chain handed to its queue's handler (pages.c, host.c), returned
 * with nothing written unless the handler keeps it.
 */
#include "virtio/balloon/priv.h"

#include <errno.h>
#include <endian.h>
#include <stdlib.h>
#include <string.h>

#include "mem/guest_mem_hotplug.h"
#include "util/log.h"
#include "virtio/virtio.h"

struct ratelimit balloon_rl = RATELIMIT_INIT(10);

static const char *const counter_names[BC_COUNT] = {
	[BC_INFLATE_COUNT] = "inflate_count",
	[BC_DEFLATE_COUNT] = "deflate_count",
	[BC_STATS_UPDATES] = "stats_updates_count",
	[BC_STATS_FAILS] = "stats_update_fails",
	[BC_EVENT_FAILS] = "event_fails",
	[BC_REPORT_COUNT] = "free_page_report_count",
	[BC_REPORT_FREED] = "free_page_report_freed",
	[BC_REPORT_FAILS] = "free_page_report_fails",
	[BC_HINT_COUNT] = "free_page_hint_count",
	[BC_HINT_FREED] = "free_page_hint_freed",
	[BC_HINT_FAILS] = "free_page_hint_fails",
	[BC_INFLATE_PAGES] = "inflate_pages",
	[BC_DEFLATE_PAGES] = "deflate_pages",
	[BC_PFN_INVALID] = "pfn_invalid",
	[BC_PFN_REPEATED] = "pfn_repeated",
	[BC_BUFFERS_SKIPPED] = "buffers_skipped",
	[BC_DISCARD_BYTES] = "discard_bytes",
	[BC_DISCARD_FAILS] = "discard_fails",
	[BC_DISCARD_KEPT] = "discard_kept_bytes",
	[BC_STATS_REQUESTS] = "stats_requests",
};

void balloon_layout(uint64_t features, unsigned int num_queues, uint8_t *role)
{
	static const struct {
		unsigned int bit;
		enum balloon_role role;
	} optional[] = {
		{ VIRTIO_BALLOON_F_STATS_VQ, BALLOON_Q_STATS },
		{ VIRTIO_BALLOON_F_FREE_PAGE_HINT, BALLOON_Q_HINT },
		{ VIRTIO_BALLOON_F_REPORTING, BALLOON_Q_REPORT },
	};
	unsigned int next = 2;

	memset(role, BALLOON_Q_NONE, VIRTIO_MAX_QUEUES);
	role[0] = BALLOON_Q_INFLATE;
	role[1] = BALLOON_Q_DEFLATE;
	/* 5.5.2: a queue exists only with its feature; the next present one takes its place. */
	for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
		if ((features >> optional[i].bit) & 1 && next < num_queues)
			role[next++] = (uint8_t)optional[i].role;
}

int balloon_queue(const struct balloon *b, enum balloon_role role)
{
	for (unsigned int q = 0; q < b->dev.num_queues; q++)
		if (b->role[q] == role)
			return (int)q;
	return -1;
}

void balloon_set_cmd(struct balloon *b, uint32_t cmd)
{
	b->host_cmd = cmd;
	b->cmd_id = cmd;
	if (b->dev.signal_config)
		b->dev.signal_config(&b->dev);
}

int balloon_push_head(struct balloon *b, unsigned int q, uint16_t head)
{
	struct virtq *vq = &b->dev.vq[q];
	int ret;

	b->held.head = head;
	b->held.n_out = b->held.n_in = 0;
	b->held.out_len = b->held.in_len = 0;
	ret = virtq_push(vq, &b->held, 0);
	if (ret < 0)
		return ret;
	virtio_dev_notify(&b->dev, q);
	return 0;
}

/* ------------------------------------------------------------------ config */

static void config_image(const struct balloon *b, uint8_t img[BALLOON_CONFIG_SIZE])
{
	uint32_t v[4] = { htole32(b->num_pages), htole32(b->actual), htole32(b->cmd_id),
			  htole32(b->poison) };

	memcpy(img, v, BALLOON_CONFIG_SIZE);
}

static void balloon_read_config(struct virtio_dev *dev, uint32_t offset, uint8_t *data,
				unsigned int len)
{
	uint8_t img[BALLOON_CONFIG_SIZE];

	/* The transport keeps offset + len within config_size. */
	config_image(dev->priv, img);
	memcpy(data, img + offset, len);
}

/*
 * 5.5.4: the driver writes actual (and poison_val, which only means
 * something with PAGE_POISON, never offered); the target and the command
 * id are the device's, so bytes written over them are dropped.
 */
static void balloon_write_config(struct virtio_dev *dev, uint32_t offset, const uint8_t *data,
				 unsigned int len)
{
	struct balloon *b = dev->priv;
	uint8_t img[BALLOON_CONFIG_SIZE];
	uint32_t v;

	config_image(b, img);
	memcpy(img + offset, data, len);
	memcpy(&v, img + 4, 4);
	b->actual = le32toh(v);
	memcpy(&v, img + 12, 4);
	b->poison = le32toh(v);
}

static uint64_t balloon_get_features(struct virtio_dev *dev)
{
	return ((struct balloon *)dev->priv)->offered;
}

/* --------------------------------------------------------------- lifecycle */

static void balloon_queue_notify(struct virtio_dev *dev, unsigned int q);

/*
 * DRIVER_OK. Linux primes the statistics queue with its first buffer
 * and kicks it before it sets DRIVER_OK, when the kick is not ours to
 * serve: whatever waits in the queues is taken now. Not on a restore's
 * activation, which comes before the interrupt controllers are back:
 * balloon_restored does it then.
 */
static int balloon_activate(struct virtio_dev *dev)
{
	struct balloon *b = dev->priv;

	balloon_layout(dev->features, dev->num_queues, b->role);
	balloon_timer_arm(b, true);
	if (b->restoring) {
		b->restoring = false;
		return 0;
	}
	for (unsigned int q = 0; q < dev->num_queues && virtio_dev_running(dev); q++)
		if (dev->vq[q].enabled && b->role[q] != BALLOON_Q_NONE)
			balloon_queue_notify(dev, q);
	return 0;
}

/*
 * The driver reset the device (Firecracker's _reset): whatever it held
 * is forgotten, and the pages it had inflated are its RAM again (they
 * read as zeros until written). The target stays the host's.
 */
static void balloon_reset(struct virtio_dev *dev)
{
	struct balloon *b = dev->priv;

	b->actual = 0;
	b->poison = 0;
	b->cmd_id = b->host_cmd = VIRTIO_BALLOON_CMD_ID_STOP;
	b->last_cmd_id = 0;
	b->guest_cmd = 0;
	b->guest_cmd_present = b->ack_on_stop = false;
	b->stats_held = false;
	b->restoring = false;
	b->stats_present = 0;
	memset(b->stats_val, 0, sizeof(b->stats_val));
	if (b->map)
		memset(b->map, 0, (b->map_pages + 63) / 64 * sizeof(uint64_t));
	b->inflated = 0;
	memset(b->role, BALLOON_Q_NONE, sizeof(b->role));
	balloon_timer_arm(b, false);
}

/* The budget ran out with buffers left: come back on a later I/O-loop round. */
static void balloon_call_again(struct virtio_dev *dev, unsigned int q)
{
	if (dev->kick_again)
		dev->kick_again(dev, q);
	else
		virtq_set_notify(&dev->vq[q], true); /* at least the driver's next kick */
}

/*
 * Takes q's chains, each through fn, within the kick's budget (as
 * rng_queue_notify does); a ring the guest broke marks NEEDS_RESET.
 */
static void balloon_drain(struct balloon *b, unsigned int q,
			  enum balloon_chain (*fn)(struct balloon *, uint64_t *))
{
	struct virtio_dev *dev = &b->dev;
	struct virtq *vq = &dev->vq[q];
	unsigned int chains = BALLOON_KICK_CHAINS;
	uint64_t cost = 0;
	bool pushed = false;
	int ret;

	for (;;) {
		ret = 0;
		/* A handler may have found the guest broke the protocol: stop there. */
		while (chains && cost < BALLOON_KICK_PAGES && virtio_dev_running(dev) &&
		       (ret = virtq_pop(vq, &b->chain)) > 0) {
			chains--;
			if (fn(b, &cost) == BALLOON_CHAIN_HELD)
				continue;
			ret = virtq_push(vq, &b->chain, 0);
			if (ret < 0)
				break;
			pushed = true;
		}
		if (ret < 0) {
			b->c[BC_EVENT_FAILS]++;
			virtio_dev_fail(dev, virtq_strerror(-ret));
			break;
		}
		if (!virtio_dev_running(dev))
			break;
		if ((!chains || cost >= BALLOON_KICK_PAGES) && virtq_has_work(vq)) {
			balloon_call_again(dev, q);
			break;
		}
		/* With EVENT_IDX, publish how far we got, then look again (rng.c says why). */
		virtq_set_notify(vq, true);
		if (!virtq_has_work(vq))
			break;
	}
	if (pushed)
		virtio_dev_notify(dev, q);
}

static void balloon_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	struct balloon *b = dev->priv;

	switch (q < VIRTIO_MAX_QUEUES ? b->role[q] : BALLOON_Q_NONE) {
	case BALLOON_Q_INFLATE:
		balloon_drain(b, q, balloon_inflate_chain);
		break;
	case BALLOON_Q_DEFLATE:
		balloon_drain(b, q, balloon_deflate_chain);
		break;
	case BALLOON_Q_STATS:
		balloon_drain(b, q, balloon_stats_chain);
		break;
	case BALLOON_Q_REPORT:
		balloon_drain(b, q, balloon_report_chain);
		break;
	case BALLOON_Q_HINT:
		b->hint_stop_seen = false;
		balloon_drain(b, q, balloon_hint_chain);
		/* The guest has no more to hint: end the run, if the host said to. */
		if (b->hint_stop_seen && b->ack_on_stop && virtio_dev_running(dev))
			balloon_set_cmd(b, VIRTIO_BALLOON_CMD_ID_DONE);
		break;
	default:
		/* A queue the negotiated features have not: the driver set it up anyway. */
		virtio_dev_fail(dev, "notify on a queue the negotiated features do not have");
		break;
	}
}

static unsigned int balloon_counters(struct virtio_dev *dev, struct dev_counter *out,
				     unsigned int max)
{
	struct balloon *b = dev->priv;
	struct dev_counter c[BC_COUNT + 2];

	pthread_mutex_lock(&dev->lock);
	for (unsigned int i = 0; i < BC_COUNT; i++)
		c[i] = (struct dev_counter){ counter_names[i], b->c[i] };
	c[BC_COUNT] = (struct dev_counter){ "inflated_pages", b->inflated };
	/*
	 * Firecracker's key, for tools that read its set; an activation here
	 * cannot fail (balloon_activate), so it stays 0 and is not saved.
	 */
	c[BC_COUNT + 1] = (struct dev_counter){ "activate_fails", 0 };
	pthread_mutex_unlock(&dev->lock);
	return dev_counters_copy(out, max, c, BC_COUNT + 2);
}

/*
 * After a restore (activated, dev.lock held): the hinting run the
 * snapshot caught is over (the record says DONE), which the driver is
 * told as Firecracker's kick does; and buffers the guest queued while
 * the VM was paused for the snapshot are taken now, as a resume would.
 */
static void balloon_restored(struct virtio_dev *dev)
{
	struct balloon *b = dev->priv;

	b->restoring = false;
	if ((b->offered >> VIRTIO_BALLOON_F_FREE_PAGE_HINT) & 1 && dev->signal_config)
		dev->signal_config(dev);
	for (unsigned int q = 0; q < dev->num_queues && virtio_dev_running(dev); q++)
		if (dev->vq[q].enabled && b->role[q] != BALLOON_Q_NONE)
			balloon_queue_notify(dev, q);
}

static const struct virtio_dev_ops balloon_ops = {
	.device_id = VIRTIO_ID_BALLOON,
	.get_features = balloon_get_features,
	.read_config = balloon_read_config,
	.write_config = balloon_write_config,
	.activate = balloon_activate,
	.reset = balloon_reset,
	.queue_notify = balloon_queue_notify,
	.destroy = virtio_balloon_destroy,
	.counters = balloon_counters,
	.save = balloon_save,
	.restore = balloon_restore,
	.restored = balloon_restored,
};

struct balloon *balloon_from_dev(struct virtio_dev *dev)
{
	return dev && dev->ops == &balloon_ops ? dev->priv : NULL;
}

static uint64_t offered_features(const struct balloon_config *cfg)
{
	uint64_t f = 0;

	if (cfg->stats_polling_interval_s)
		f |= 1ull << VIRTIO_BALLOON_F_STATS_VQ;
	if (cfg->deflate_on_oom)
		f |= 1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	if (cfg->free_page_hinting)
		f |= 1ull << VIRTIO_BALLOON_F_FREE_PAGE_HINT;
	if (cfg->free_page_reporting)
		f |= 1ull << VIRTIO_BALLOON_F_REPORTING;
	return f;
}

int virtio_balloon_create(const struct virtio_env *env, const struct balloon_config *cfg,
			  struct virtio_dev **out, struct err *err)
{
	struct balloon *b;
	uint64_t pages = 0, words;
	int ret;

	/* Firecracker's mib_to_pages: the target in pages is a le32. */
	if ((uint64_t)cfg->amount_mib * BALLOON_PAGES_PER_MIB > UINT32_MAX) {
		if (err)
			err_set(err, true, -EINVAL, "Balloon: Requested memory should be less "
				"than %uMiB", UINT32_MAX / BALLOON_PAGES_PER_MIB);
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		ret = -ENOMEM;
		goto err_msg;
	}
	b->offered = offered_features(cfg);
	b->interval_s = cfg->stats_polling_interval_s;
	b->num_pages = cfg->amount_mib * BALLOON_PAGES_PER_MIB;
	b->timer_fd = -1;
	b->dev.ops = &balloon_ops;
	b->dev.priv = b;
	b->dev.name = "virtio-balloon";
	b->dev.num_queues = 2u + (unsigned int)__builtin_popcountll(
		b->offered & ((1ull << VIRTIO_BALLOON_F_STATS_VQ) |
			      (1ull << VIRTIO_BALLOON_F_FREE_PAGE_HINT) |
			      (1ull << VIRTIO_BALLOON_F_REPORTING)));
	b->dev.queue_max = BALLOON_QUEUE_SIZE;
	b->dev.config_size = BALLOON_CONFIG_SIZE;
	ret = virtio_dev_init(&b->dev, env);
	if (ret)
		goto err_free;
	for (unsigned int i = 0; env->mem && i < env->mem->nregions; i++)
		pages += env->mem->regions[i].size >> BALLOON_PFN_SHIFT;
	b->ram_pages = pages;
	/* The hotplug region is mapped before any device is made (vm_ram.c). */
	if (env->mem && env->mem->hp)
		pages += env->mem->hp->size >> BALLOON_PFN_SHIFT;
	b->map_pages = pages;
	words = (pages + 63) / 64;
	if (words) {
		b->map = calloc(words, sizeof(uint64_t));
		if (!b->map) {
			ret = -ENOMEM;
			goto err_dev;
		}
	}
	ret = balloon_timer_init(b, env);
	if (ret)
		goto err_map;
	*out = &b->dev;
	return 0;

err_map:
	free(b->map);
err_dev:
	virtio_dev_release(&b->dev);
err_free:
	free(b);
err_msg:
	if (err)
		err_set(err, false, ret, "virtio-balloon: %s", strerror(-ret));
	return ret;
}

void virtio_balloon_destroy(struct virtio_dev *dev)
{
	struct balloon *b = balloon_from_dev(dev);

	if (!b)
		return;
	balloon_timer_release(b);
	free(b->map);
	virtio_dev_release(&b->dev);
	free(b);
}
