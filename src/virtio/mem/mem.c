/*
 * virtio-mem (virtio/mem.h): the config space, the request queue and the
 * per-block state machine. The VM's side of a plug or unplug is the ops'.
 */
#include "virtio/mem/priv.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/ratelimit.h"
#include "util/log.h"
#include "virtio/queue.h"
#include "virtio/virtio.h"

static const char *const counter_names[MC_COUNT] = {
	[MC_QUEUE_EVENTS] = "queue_event_count",
	[MC_QUEUE_FAILS] = "queue_event_fails",
	[MC_ACTIVATE_FAILS] = "activate_fails",
	[MC_PLUG_COUNT] = "plug_count",
	[MC_PLUG_BYTES] = "plug_bytes",
	[MC_PLUG_FAILS] = "plug_fails",
	[MC_UNPLUG_COUNT] = "unplug_count",
	[MC_UNPLUG_BYTES] = "unplug_bytes",
	[MC_UNPLUG_FAILS] = "unplug_fails",
	[MC_UNPLUG_ALL_COUNT] = "unplug_all_count",
	[MC_UNPLUG_ALL_FAILS] = "unplug_all_fails",
	[MC_STATE_COUNT] = "state_count",
	[MC_STATE_FAILS] = "state_fails",
	[MC_DISCARD_FAILS] = "unplug_discard_fails",
	[MC_UNKNOWN] = "unknown_requests",
};

static struct ratelimit mem_rl = RATELIMIT_INIT(10);

static const struct virtio_dev_ops mem_ops;

static struct vmem *mem_from_dev(struct virtio_dev *dev)
{
	return dev && dev->ops == &mem_ops ? dev->priv : NULL;
}

/* ------------------------------------------------------------------ blocks */

bool vmem_block_on(const struct vmem *m, uint64_t b)
{
	return (m->map[b / 64] >> (b % 64)) & 1;
}

/* Plugged blocks in [first, first+n), a word at a time where it can. */
uint64_t vmem_count_plugged(const struct vmem *m, uint64_t first, uint64_t n)
{
	uint64_t b = first, end = first + n, count = 0;

	while (b < end) {
		if (!(b % 64) && end - b >= 64) {
			count += (uint64_t)__builtin_popcountll(m->map[b / 64]);
			b += 64;
		} else {
			count += vmem_block_on(m, b++);
		}
	}
	return count;
}

void vmem_set_blocks(struct vmem *m, uint64_t first, uint64_t n, bool on)
{
	for (uint64_t b = first; b < first + n; b++) {
		if (on)
			m->map[b / 64] |= 1ull << (b % 64);
		else
			m->map[b / 64] &= ~(1ull << (b % 64));
	}
}

/*
 * The range a request names, as blocks: 0, or -EINVAL when it is empty,
 * misaligned or not all inside the usable region (5.15.6.x: ERROR).
 */
static int range_blocks(const struct vmem *m, uint64_t addr, uint16_t nb, uint64_t *first)
{
	uint64_t off;

	if (!nb || addr % m->cfg.block_size || addr < m->cfg.addr)
		return -EINVAL;
	off = addr - m->cfg.addr;
	if (off >= m->usable || (uint64_t)nb > (m->usable - off) / m->cfg.block_size)
		return -EINVAL;
	*first = off / m->cfg.block_size;
	return 0;
}

static uint16_t do_plug(struct vmem *m, uint64_t addr, uint16_t nb)
{
	uint64_t first, len = (uint64_t)nb * m->cfg.block_size;
	int ret;

	m->c[MC_PLUG_COUNT]++;
	if (range_blocks(m, addr, nb, &first) || vmem_count_plugged(m, first, nb)) {
		m->c[MC_PLUG_FAILS]++;
		return VIRTIO_MEM_RESP_ERROR;
	}
	/* 5.15.6.2.2: the device may refuse what would pass requested_size. */
	if (m->plugged + len > m->requested) {
		m->c[MC_PLUG_FAILS]++;
		return VIRTIO_MEM_RESP_NACK;
	}
	ret = m->cfg.ops->set(m->cfg.ctx, first * m->cfg.block_size, len, true);
	if (ret) {
		m->c[MC_PLUG_FAILS]++;
		log_ratelimited(&mem_rl, LOG_WARN, "virtio-mem: cannot plug 0x%llx+0x%llx: %s",
				(unsigned long long)addr, (unsigned long long)len, strerror(-ret));
		return VIRTIO_MEM_RESP_NACK;
	}
	vmem_set_blocks(m, first, nb, true);
	m->plugged += len;
	m->c[MC_PLUG_BYTES] += len;
	return VIRTIO_MEM_RESP_ACK;
}

/*
 * The blocks are unplugged whatever the VM's side says, they are no longer
 * the guest's, except when it says -EBUSY (busy_ok): nothing changed there
 * (a vhost table could not take one more run), and the driver is told to
 * try later. 0 or -EBUSY.
 */
static int unplug_blocks(struct vmem *m, uint64_t first, uint64_t n, bool busy_ok)
{
	uint64_t len = n * m->cfg.block_size;
	int ret = m->cfg.ops->set(m->cfg.ctx, first * m->cfg.block_size, len, false);

	if (ret == -EBUSY && busy_ok)
		return ret;
	if (ret) {
		m->c[MC_DISCARD_FAILS]++;
		log_ratelimited(&mem_rl, LOG_WARN, "virtio-mem: cannot give back 0x%llx+0x%llx: %s",
				(unsigned long long)(m->cfg.addr + first * m->cfg.block_size),
				(unsigned long long)len, strerror(-ret));
	}
	vmem_set_blocks(m, first, n, false);
	m->plugged -= len;
	return 0;
}

static uint16_t do_unplug(struct vmem *m, uint64_t addr, uint16_t nb)
{
	uint64_t first;

	m->c[MC_UNPLUG_COUNT]++;
	if (range_blocks(m, addr, nb, &first) || vmem_count_plugged(m, first, nb) != nb) {
		m->c[MC_UNPLUG_FAILS]++;
		return VIRTIO_MEM_RESP_ERROR;
	}
	/* 5.15.6.3: BUSY, nothing unplugged; Linux's driver tries again later. */
	if (unplug_blocks(m, first, nb, true)) {
		m->c[MC_UNPLUG_FAILS]++;
		return VIRTIO_MEM_RESP_BUSY;
	}
	m->c[MC_UNPLUG_BYTES] += (uint64_t)nb * m->cfg.block_size;
	return VIRTIO_MEM_RESP_ACK;
}

uint64_t vmem_usable_for(const struct vmem *m, uint64_t requested)
{
	uint64_t s = m->cfg.slot_size;

	return (requested + s - 1) / s * s;
}

/* Every plugged run, as few calls to the ops as there are runs; *cost grows by the blocks. */
static uint16_t do_unplug_all(struct vmem *m, uint64_t *cost)
{
	uint64_t b = 0;

	m->c[MC_UNPLUG_ALL_COUNT]++;
	while (b < m->nblocks) {
		uint64_t run = 0;

		if (!m->map[b / 64] && !(b % 64)) {
			b += 64;
			continue;
		}
		while (b + run < m->nblocks && vmem_block_on(m, b + run))
			run++;
		/*
		 * A whole run leaves every table one region smaller, so a vhost
		 * table takes it; should the VM's side still change nothing
		 * (-EBUSY), the run stays plugged on both sides and the driver
		 * is told to try again, rather than the two parting ways.
		 */
		if (run && unplug_blocks(m, b, run, true)) {
			*cost += m->nblocks / 64;
			m->c[MC_UNPLUG_ALL_FAILS]++;
			return VIRTIO_MEM_RESP_BUSY;
		}
		b += run ? run : 1;
	}
	*cost += m->nblocks / 64;
	m->usable = vmem_usable_for(m, m->requested);
	return VIRTIO_MEM_RESP_ACK;
}

static uint16_t do_state(struct vmem *m, uint64_t addr, uint16_t nb, uint16_t *state)
{
	uint64_t first, n;

	m->c[MC_STATE_COUNT]++;
	if (range_blocks(m, addr, nb, &first)) {
		m->c[MC_STATE_FAILS]++;
		return VIRTIO_MEM_RESP_ERROR;
	}
	n = vmem_count_plugged(m, first, nb);
	*state = n == nb ? VIRTIO_MEM_STATE_PLUGGED : !n ? VIRTIO_MEM_STATE_UNPLUGGED
		 : VIRTIO_MEM_STATE_MIXED;
	return VIRTIO_MEM_RESP_ACK;
}

/* ------------------------------------------------------------------- queue */

/*
 * One request: read it, answer it. -EPROTO when the chain holds no whole
 * request or no room for the answer (the driver broke the protocol).
 */
static int mem_request(struct vmem *m, uint64_t *cost, uint32_t *written)
{
	struct virtq_chain *c = &m->chain;
	uint8_t req[VIRTIO_MEM_REQ_SIZE], resp[VIRTIO_MEM_RESP_SIZE] = { 0 };
	uint16_t type, nb, rtype, state = 0;
	uint64_t addr;

	if (c->out_len < VIRTIO_MEM_REQ_SIZE || c->in_len < VIRTIO_MEM_RESP_SIZE)
		return -EPROTO;
	virtq_iov_to_buf(c->iov, c->n_out, 0, req, sizeof(req));
	memcpy(&type, req, 2);
	memcpy(&addr, req + 8, 8);
	memcpy(&nb, req + 16, 2);
	type = le16toh(type);
	addr = le64toh(addr);
	nb = le16toh(nb);
	*cost += nb;
	switch (type) {
	case VIRTIO_MEM_REQ_PLUG:
		rtype = do_plug(m, addr, nb);
		break;
	case VIRTIO_MEM_REQ_UNPLUG:
		rtype = do_unplug(m, addr, nb);
		break;
	case VIRTIO_MEM_REQ_UNPLUG_ALL:
		rtype = do_unplug_all(m, cost);
		break;
	case VIRTIO_MEM_REQ_STATE:
		rtype = do_state(m, addr, nb, &state);
		break;
	default:
		m->c[MC_UNKNOWN]++;
		log_ratelimited(&mem_rl, LOG_WARN, "virtio-mem: unknown request type %u", type);
		rtype = VIRTIO_MEM_RESP_ERROR;
		break;
	}
	rtype = htole16(rtype);
	state = htole16(state);
	memcpy(resp, &rtype, 2);
	memcpy(resp + 8, &state, 2);
	*written = (uint32_t)virtq_buf_to_iov(c->iov + c->n_out, c->n_in, 0, resp, sizeof(resp));
	return 0;
}

static void mem_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	struct vmem *m = dev->priv;
	struct virtq *vq = &dev->vq[0];
	unsigned int chains = MEM_KICK_CHAINS;
	uint64_t cost = 0;
	bool pushed = false;
	uint32_t written;
	int ret;

	m->c[MC_QUEUE_EVENTS]++;
	if (q != 0) {
		virtio_dev_fail(dev, "notify on a queue it has not");
		return;
	}
	for (;;) {
		ret = 0;
		while (chains && cost < MEM_KICK_BLOCKS && virtio_dev_running(dev) &&
		       (ret = virtq_pop(vq, &m->chain)) > 0) {
			chains--;
			written = 0;
			if (mem_request(m, &cost, &written)) {
				m->c[MC_QUEUE_FAILS]++;
				virtio_dev_fail(dev, "a request without a whole header "
						"or room for the response");
				ret = 0;
				break;
			}
			ret = virtq_push(vq, &m->chain, written);
			if (ret < 0)
				break;
			pushed = true;
		}
		if (ret < 0) {
			m->c[MC_QUEUE_FAILS]++;
			virtio_dev_fail(dev, virtq_strerror(-ret));
			break;
		}
		if (!virtio_dev_running(dev))
			break;
		if ((!chains || cost >= MEM_KICK_BLOCKS) && virtq_has_work(vq)) {
			if (dev->kick_again)
				dev->kick_again(dev, 0);
			else
				virtq_set_notify(vq, true);
			break;
		}
		/* With EVENT_IDX, publish how far we got, then look again (rng.c says why). */
		virtq_set_notify(vq, true);
		if (!virtq_has_work(vq))
			break;
	}
	if (pushed)
		virtio_dev_notify(dev, 0);
}

/* ------------------------------------------------------------------ config */

static void config_image(const struct vmem *m, uint8_t img[VIRTIO_MEM_CONFIG_SIZE])
{
	uint64_t v[7] = { htole64(m->cfg.block_size), 0 /* node_id, padding */,
			  htole64(m->cfg.addr), htole64(m->cfg.region_size), htole64(m->usable),
			  htole64(m->plugged), htole64(m->requested) };

	memcpy(img, v, VIRTIO_MEM_CONFIG_SIZE);
}

static void mem_read_config(struct virtio_dev *dev, uint32_t offset, uint8_t *data,
			    unsigned int len)
{
	uint8_t img[VIRTIO_MEM_CONFIG_SIZE];

	/* The transport keeps offset + len within config_size. */
	config_image(dev->priv, img);
	memcpy(data, img + offset, len);
}

/* 5.15.4: every field is the device's. */
static void mem_write_config(struct virtio_dev *dev, uint32_t offset, const uint8_t *data,
			     unsigned int len)
{
	(void)dev;
	(void)data;
	log_ratelimited(&mem_rl, LOG_WARN, "virtio-mem: the driver wrote the config (offset "
			"%#x, %u bytes): ignored", offset, len);
}

static uint64_t mem_get_features(struct virtio_dev *dev)
{
	(void)dev;
	return 1ull << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE;
}

/* Firecracker's: a driver that may touch unplugged memory is not one we serve. */
static int mem_activate(struct virtio_dev *dev)
{
	struct vmem *m = dev->priv;

	if (!virtio_dev_has_feature(dev, VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE)) {
		m->c[MC_ACTIVATE_FAILS]++;
		log_ratelimited(&mem_rl, LOG_WARN, "virtio-mem: VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE "
				"feature not acknowledged by guest");
		return -EINVAL;
	}
	m->active = true;
	return 0;
}

/* 5.15.5.2: the device must not change the blocks' state on a reset. */
static void mem_reset(struct virtio_dev *dev)
{
	((struct vmem *)dev->priv)->active = false;
}

static unsigned int mem_counters(struct virtio_dev *dev, struct dev_counter *out,
				 unsigned int max)
{
	struct vmem *m = dev->priv;
	struct dev_counter c[MC_COUNT + 1];

	pthread_mutex_lock(&dev->lock);
	for (unsigned int i = 0; i < MC_COUNT; i++)
		c[i] = (struct dev_counter){ counter_names[i], m->c[i] };
	c[MC_COUNT] = (struct dev_counter){ "plugged_bytes", m->plugged };
	pthread_mutex_unlock(&dev->lock);
	return dev_counters_copy(out, max, c, MC_COUNT + 1);
}

static const struct virtio_dev_ops mem_ops = {
	.device_id = VIRTIO_ID_MEM,
	.get_features = mem_get_features,
	.read_config = mem_read_config,
	.write_config = mem_write_config,
	.activate = mem_activate,
	.reset = mem_reset,
	.queue_notify = mem_queue_notify,
	.destroy = virtio_mem_destroy,
	.counters = mem_counters,
	.save = vmem_save,
	.restore = vmem_restore,
};

/* ------------------------------------------------------------------- host */

int virtio_mem_create(const struct virtio_env *env, const struct virtio_mem_config *cfg,
		      struct virtio_dev **out, struct err *err)
{
	const struct virtio_mem_config *c = cfg;
	struct vmem *m;
	int ret;

	if (!c->ops || !c->ops->set || c->block_size < 4096 ||
	    (c->block_size & (c->block_size - 1)) || !c->slot_size ||
	    c->slot_size % c->block_size || !c->region_size || c->region_size % c->slot_size ||
	    c->addr % c->block_size || c->addr + c->region_size < c->addr)
		return err_set(err, false, -EINVAL, "virtio-mem: a region of %#llx bytes at %#llx "
			       "in blocks of %#llx and slots of %#llx is no geometry",
			       (unsigned long long)c->region_size, (unsigned long long)c->addr,
			       (unsigned long long)c->block_size, (unsigned long long)c->slot_size);
	m = calloc(1, sizeof(*m));
	if (!m)
		return err_set(err, false, -ENOMEM, "virtio-mem: out of memory");
	m->cfg = *c;
	m->nblocks = c->region_size / c->block_size;
	m->map = calloc((m->nblocks + 63) / 64, sizeof(uint64_t));
	if (!m->map) {
		ret = -ENOMEM;
		goto err_free;
	}
	m->dev.ops = &mem_ops;
	m->dev.priv = m;
	m->dev.name = "virtio-mem";
	m->dev.num_queues = 1;
	m->dev.queue_max = MEM_QUEUE_SIZE;
	m->dev.config_size = VIRTIO_MEM_CONFIG_SIZE;
	ret = virtio_dev_init(&m->dev, env);
	if (ret)
		goto err_free;
	*out = &m->dev;
	return 0;

err_free:
	free(m->map);
	free(m);
	return err_set(err, false, ret, "virtio-mem: %s", strerror(-ret));
}

void virtio_mem_destroy(struct virtio_dev *dev)
{
	struct vmem *m = mem_from_dev(dev);

	if (!m)
		return;
	virtio_dev_release(&m->dev);
	free(m->map);
	free(m);
}

#define FC_VMM "Failed to create memory hotplug device: "

int virtio_mem_set_requested(struct virtio_dev *dev, uint32_t requested_mib, struct err *err)
{
	struct vmem *m = mem_from_dev(dev);
	uint64_t bytes = (uint64_t)requested_mib << 20;
	int ret = 0;

	if (!m)
		return err_set(err, true, -EINVAL, "Failed perform action on device: Device not "
			       "found");
	pthread_mutex_lock(&dev->lock);
	if (!m->active) {
		ret = err_set(err, true, -EINVAL, FC_VMM "Device is not active");
	} else if (bytes % m->cfg.block_size || bytes > m->cfg.region_size) {
		ret = err_set(err, true, -EINVAL, FC_VMM "Size %llu is invalid: it must be a "
			      "multiple of block size and less than the total size",
			      (unsigned long long)bytes);
	} else {
		/* The usable region only grows here; an UNPLUG_ALL is what shrinks it. */
		if (m->usable < bytes)
			m->usable = vmem_usable_for(m, bytes);
		m->requested = bytes;
		if (dev->signal_config)
			dev->signal_config(dev);
	}
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

void virtio_mem_get_status(struct virtio_dev *dev, struct virtio_mem_status *out)
{
	struct vmem *m = mem_from_dev(dev);

	memset(out, 0, sizeof(*out));
	if (!m)
		return;
	pthread_mutex_lock(&dev->lock);
	out->total_size_mib = (uint32_t)(m->cfg.region_size >> 20);
	out->block_size_mib = (uint32_t)(m->cfg.block_size >> 20);
	out->slot_size_mib = (uint32_t)(m->cfg.slot_size >> 20);
	out->plugged_size_mib = (uint32_t)(m->plugged >> 20);
	out->requested_size_mib = (uint32_t)(m->requested >> 20);
	pthread_mutex_unlock(&dev->lock);
}
