/*
 * virtio-net (VIRTIO 1.2, 5.1). The device moves frames between the
 * guest's queues and a backend per queue pair (an fd, or for one in this
 * process its send and recv ops); every header and chain
 * is checked here, so the backends only ever see well-formed frames.
 * The transmit path is tx.c's, the receive path rx.c's.
 */
#include "virtio/net.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "util/log.h"
#include "virtio/net/priv.h"
#include "virtio/net/slirp.h"
#include "virtio/net/tap.h"
#include "virtio/virtio.h"

#define NET_CONFIG_SIZE 12u

struct ratelimit net_rl = RATELIMIT_INIT(10);
static unsigned int net_next_index;

/* Pops the next chain; false when the ring is empty or broken (then the device failed). */
bool net_pop(struct net_dev *nd, struct virtq *vq, struct virtq_chain *c)
{
	int ret = virtq_pop(vq, c);

	if (ret < 0)
		virtio_dev_fail(&nd->dev, virtq_strerror(-ret));
	return ret > 0;
}

void net_set_pairs(struct net_dev *nd, unsigned int n)
{
	nd->cur_pairs = n;
	if (nd->be->ops->set_queues && nd->be->ops->set_queues(nd->be, n))
		log_ratelimited(&net_rl, LOG_WARN, "%s: backend refused %u queues", nd->name, n);
	for (unsigned int i = 0; i < nd->max_pairs; i++)
		net_poll_set(nd, &nd->pair[i], i < n);
}

static void net_ctrl_process(struct net_dev *nd, unsigned int q)
{
	struct virtio_dev *dev = &nd->dev;
	struct virtq *vq = &dev->vq[q];
	struct virtq_chain *c = nd->scratch;
	unsigned int budget = NET_CTRL_BUDGET;

	while (budget && net_pop(nd, vq, c)) {
		uint8_t cmd[2], ack = VIRTIO_NET_ERR;
		uint16_t pairs;

		budget--;
		if (c->out_len < sizeof(cmd) || c->in_len < 1) {
			virtio_dev_fail(dev, "control command without class/command or ack");
			return;
		}
		virtq_iov_to_buf(c->iov, c->n_out, 0, cmd, sizeof(cmd));
		if (cmd[0] == VIRTIO_NET_CTRL_MQ && cmd[1] == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET &&
		    c->out_len >= 4 && net_has(nd, VIRTIO_NET_F_MQ)) {
			virtq_iov_to_buf(c->iov, c->n_out, 2, &pairs, sizeof(pairs));
			if (pairs >= 1 && pairs <= nd->max_pairs) {
				net_set_pairs(nd, pairs);
				ack = VIRTIO_NET_OK;
			}
		}
		virtq_buf_to_iov(c->iov + c->n_out, c->n_in, 0, &ack, 1);
		virtq_push(vq, c, 1);
	}
	/* As for TX: a guest refilling as fast as we answer gets the rest later. */
	if (!budget && virtq_has_work(vq))
		net_call_again(nd, q);
	virtio_dev_notify(dev, q);
}

static uint64_t net_get_features(struct virtio_dev *dev)
{
	struct net_dev *nd = dev->priv;
	uint64_t f = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |
		     (1ull << VIRTIO_NET_F_MRG_RXBUF) | nd->be->offload_features;

	if (nd->max_pairs > 1)
		f |= (1ull << VIRTIO_NET_F_CTRL_VQ) | (1ull << VIRTIO_NET_F_MQ);
	if (nd->be->mtu)
		f |= 1ull << VIRTIO_NET_F_MTU;
	return f;
}

static void net_read_config(struct virtio_dev *dev, uint32_t offset, uint8_t *data,
			    unsigned int len)
{
	struct net_dev *nd = dev->priv;
	uint8_t cfg[NET_CONFIG_SIZE];
	uint16_t status = VIRTIO_NET_S_LINK_UP, pairs = (uint16_t)nd->max_pairs;
	uint16_t mtu = (uint16_t)nd->be->mtu;

	memcpy(cfg, nd->mac, 6);
	memcpy(cfg + 6, &status, 2);
	memcpy(cfg + 8, &pairs, 2);
	memcpy(cfg + 10, &mtu, 2);
	if (offset + len <= sizeof(cfg))
		memcpy(data, cfg + offset, len);
}

static int net_activate(struct virtio_dev *dev)
{
	struct net_dev *nd = dev->priv;
	int ret;

	ret = nd->be->ops->set_offload ? nd->be->ops->set_offload(nd->be, dev->features) : 0;
	if (ret) {
		log_warn("%s: backend cannot apply the negotiated offloads: %s", nd->name,
			 strerror(-ret));
		return ret;
	}
	for (unsigned int i = 0; i < nd->max_pairs; i++)
		nd->pair[i].pending = 0;
	/* 5.1.5: only the first pair is used until the driver asks for more. */
	net_set_pairs(nd, 1);
	/* Paused (a restore's activation): resume starts vhost. */
	return dev->paused ? 0 : net_vhost_start(nd);
}

static void net_reset(struct virtio_dev *dev)
{
	struct net_dev *nd = dev->priv;

	net_vhost_stop(nd, false);
	for (unsigned int i = 0; i < nd->max_pairs; i++) {
		nd->pair[i].pending = 0;
		net_poll_set(nd, &nd->pair[i], false);
	}
	nd->cur_pairs = 1;
	if (nd->be->ops->set_offload)
		nd->be->ops->set_offload(nd->be, 0);
}

static void net_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	struct net_dev *nd = dev->priv;
	unsigned int ctrl = net_has(nd, VIRTIO_NET_F_MQ) ? 2 * nd->max_pairs : 2;

	if (net_has(nd, VIRTIO_NET_F_CTRL_VQ) && q == ctrl) {
		net_ctrl_process(nd, q);
	} else if (q / 2 >= nd->max_pairs) {
		virtio_dev_fail(dev, "notify for a queue that is not in use");
	} else if (net_on_vhost(nd)) {
		net_vhost_notify(nd, q);
	} else if (q % 2 == 0) {
		/* New RX buffers: resume reading the backend. */
		if (q / 2 < nd->cur_pairs) {
			net_poll_set(nd, &nd->pair[q / 2], true);
			net_rx_process(nd, &nd->pair[q / 2]);
		}
	} else {
		net_tx_process(nd, q);
	}
}

static unsigned int net_counters(struct virtio_dev *dev, struct dev_counter *out,
				 unsigned int max)
{
	struct net_dev *nd = dev->priv;
	struct net_mmds_stats ms = { 0 };
	struct virtio_net_stats st;

	virtio_net_get_stats(dev, &st);
	/* The MMDS stack's frames: the stack is the io thread's, as this read is. */
	if (nd->mmds)
		net_mmds_get_stats(nd->mmds, &ms);
	return dev_counters_copy(out, max, (const struct dev_counter[]){
		{ "rx_packets", st.rx_packets },
		{ "rx_bytes", st.rx_bytes },
		{ "rx_dropped_oversize", st.rx_dropped_oversize },
		{ "tx_packets", st.tx_packets },
		{ "tx_bytes", st.tx_bytes },
		{ "tx_dropped", st.tx_dropped },
		{ "rx_rate_limiter_throttled", st.rx_throttled },
		{ "tx_rate_limiter_throttled", st.tx_throttled },
		{ "mmds_frames_in", ms.frames_in },
		{ "mmds_dropped_in", ms.dropped_in },
		{ "mmds_frames_out", ms.frames_out },
		{ "mmds_dropped_out", ms.dropped_out },
		{ "tx_spoofed_mac_count", st.tx_spoofed_mac },
	}, 13);
}

/* vhost serves the rings: pause takes them back (positions into the virtqs), resume hands them over. */
static int net_pause(struct virtio_dev *dev)
{
	struct net_dev *nd = dev->priv;

	if (net_vhost_stop(nd, true))
		virtio_dev_fail(dev, "vhost-net left its rings at positions the guest's indices "
				"do not allow");
	return 0;
}

static void net_resume_vhost(struct virtio_dev *dev)
{
	struct net_dev *nd = dev->priv;

	if (dev->activated && !(dev->status & VIRTIO_STATUS_NEEDS_RESET) && net_vhost_start(nd))
		virtio_dev_fail(dev, "vhost-net would not start again after a pause");
}

static const struct virtio_dev_ops net_ops = {
	.device_id = VIRTIO_ID_NET,
	.get_features = net_get_features,
	.read_config = net_read_config,
	.activate = net_activate,
	.reset = net_reset,
	.queue_notify = net_queue_notify,
	.pause = net_pause,
	.resume = net_resume_vhost,
	.destroy = virtio_net_destroy,
	.counters = net_counters,
	.save = net_state_save,
	.restore = net_state_restore,
	.restored = net_state_restored,
};

static void net_on_backend(void *opaque, uint32_t events)
{
	struct net_pair *p = opaque;
	struct net_dev *nd = p->nd;

	pthread_mutex_lock(&nd->dev.lock);
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* Reported even with no events requested: stop watching, or we spin. */
		log_warn("%s: backend queue %u hung up; receive stopped", nd->name, p->idx);
		eventloop_remove(nd->loop, p->fd);
		p->registered = false;
	} else {
		net_rx_process(nd, p);
	}
	pthread_mutex_unlock(&nd->dev.lock);
}

/* The MMDS stack has frames for the guest: pair 0's receive path reads them. */
static void net_on_mmds(void *opaque, uint32_t events)
{
	struct net_dev *nd = opaque;

	(void)events;
	pthread_mutex_lock(&nd->dev.lock);
	net_rx_process(nd, &nd->pair[0]);
	pthread_mutex_unlock(&nd->dev.lock);
}

void virtio_net_rx_poll(struct virtio_dev *dev)
{
	struct net_dev *nd = dev->priv;

	pthread_mutex_lock(&dev->lock);
	for (unsigned int i = 0; i < nd->max_pairs; i++)
		if (nd->pair[i].polling)
			net_rx_process(nd, &nd->pair[i]);
	pthread_mutex_unlock(&dev->lock);
}

void virtio_net_get_stats(struct virtio_dev *dev, struct virtio_net_stats *st)
{
	struct net_dev *nd = dev->priv;

	pthread_mutex_lock(&dev->lock);
	*st = nd->stats;
	st->rx_throttled = nd->rx_lim.throttled;
	st->tx_throttled = nd->tx_lim.throttled;
	pthread_mutex_unlock(&dev->lock);
}

/* A limiter's timer fired: take up the queues it held back. dev->lock held. */
static void net_resume(struct virtio_dev *dev, void *arg)
{
	struct net_dev *nd = dev->priv;
	bool tx = arg == &nd->tx_lim;

	/* Paused: resume looks at every queue itself. */
	if (!virtio_dev_running(dev))
		return;
	for (unsigned int i = 0; i < nd->cur_pairs; i++) {
		if (tx) {
			if (dev->vq[2 * i + 1].enabled)
				net_tx_process(nd, 2 * i + 1);
		} else {
			net_poll_set(nd, &nd->pair[i], true);
			net_rx_process(nd, &nd->pair[i]);
		}
	}
}

void virtio_net_set_limiters(struct virtio_dev *dev, const struct rl_config *rx,
			     const struct rl_config *tx)
{
	struct net_dev *nd = dev->priv;

	pthread_mutex_lock(&dev->lock);
	if (rx)
		virtio_limiter_update(&nd->rx_lim, rx);
	if (tx)
		virtio_limiter_update(&nd->tx_lim, tx);
	/* vhost's frames never pass through the limiters: serve the rings here from now on. */
	if (net_on_vhost(nd) && ((rx && rl_config_enabled(rx)) || (tx && rl_config_enabled(tx)))) {
		net_vhost_drop(nd, "a rate limiter was set");
		if (virtio_dev_running(dev)) {
			net_set_pairs(nd, nd->cur_pairs);
			for (unsigned int q = 0; q < 2 * nd->cur_pairs; q++)
				if (dev->vq[q].enabled)
					net_queue_notify(dev, q);
		}
	}
	pthread_mutex_unlock(&dev->lock);
}

bool virtio_net_on_vhost(struct virtio_dev *dev)
{
	struct net_dev *nd = dev->priv;
	bool on;

	pthread_mutex_lock(&dev->lock);
	on = net_on_vhost(nd);
	pthread_mutex_unlock(&dev->lock);
	return on;
}

int virtio_net_attach_vhost(struct virtio_dev *dev, const char *path,
			    int (*io)(int fd, unsigned long req, void *arg), bool required,
			    struct err *err)
{
	struct net_vhost_backend be = { path, io };

	return net_vhost_attach(dev->priv, &be, required, err);
}

static void net_free(struct net_dev *nd)
{
	/* vhost first: it holds the TAP queues and the kick and call eventfds. */
	net_vhost_destroy(nd);
	for (unsigned int i = 0; i < NET_MAX_QUEUE_PAIRS; i++) {
		if (nd->pair[i].registered)
			eventloop_remove(nd->loop, nd->pair[i].fd);
		free(nd->pair[i].buf);
	}
	if (nd->mmds_registered)
		eventloop_remove(nd->loop, net_mmds_fd(nd->mmds));
	net_mmds_close(nd->mmds);
	virtio_limiter_release(&nd->rx_lim);
	virtio_limiter_release(&nd->tx_lim);
	if (nd->be)
		nd->be->ops->destroy(nd->be);
	free(nd->first);
	free(nd->scratch);
	free(nd->txbuf);
	virtio_dev_release(&nd->dev);
	free(nd);
}

int virtio_net_create_backend(const struct virtio_env *env, const struct net_config *cfg,
			      struct net_be *be, struct virtio_dev **out, struct err *err)
{
	struct net_dev *nd = calloc(1, sizeof(*nd));
	unsigned int index = net_next_index++;
	int ret = -ENOMEM;

	if (!nd) {
		be->ops->destroy(be);
		goto err_oom;
	}
	/* First, so that net_free can undo any step below. */
	ret = virtio_dev_init(&nd->dev, env);
	if (ret)
		goto err_init;
	ret = -ENOMEM;
	nd->be = be;
	if (cfg->mtu)
		be->mtu = cfg->mtu;
	nd->loop = env->loop;
	nd->rx_lim.tfd = nd->tx_lim.tfd = -1;
	nd->max_pairs = be->nqueues;
	nd->cur_pairs = 1;
	snprintf(nd->name, sizeof(nd->name), "virtio-net%u", index);
	/* Default: locally administered unicast, "HR" for Hearth, then the device index. */
	memcpy(nd->mac, cfg->mac_set ? cfg->mac : (const uint8_t[6]){ 2, 0x48, 0x52, 0, 0, index }, 6);
	nd->mac_set = cfg->mac_set;
	nd->first = malloc(sizeof(*nd->first));
	nd->scratch = malloc(sizeof(*nd->scratch));
	nd->txbuf = malloc(NET_BUF_LEN);
	if (!nd->first || !nd->scratch || !nd->txbuf)
		goto err_oom;
	for (unsigned int i = 0; i < nd->max_pairs; i++) {
		nd->pair[i] = (struct net_pair){ .nd = nd, .idx = i, .fd = be->fds[i] };
		nd->pair[i].buf = malloc(NET_BUF_LEN);
		if (!nd->pair[i].buf)
			goto err_oom;
	}
	ret = virtio_limiter_init(&nd->rx_lim, env, &nd->dev, net_resume, &nd->rx_lim);
	if (!ret)
		ret = virtio_limiter_init(&nd->tx_lim, env, &nd->dev, net_resume, &nd->tx_lim);
	if (ret) {
		err_set(err, false, ret, "%s: rate limiter timer: %s", nd->name, strerror(-ret));
		goto err_free;
	}
	nd->dev.ops = &net_ops;
	nd->dev.priv = nd;
	nd->dev.name = nd->name;
	nd->dev.num_queues = 2 * nd->max_pairs + (nd->max_pairs > 1);
	nd->dev.queue_max = NET_QUEUE_SIZE;
	nd->dev.config_size = NET_CONFIG_SIZE;
	for (unsigned int i = 0; nd->loop && i < nd->max_pairs; i++) {
		/* Registered idle; activation turns EPOLLIN on. */
		ret = eventloop_add(nd->loop, nd->pair[i].fd, 0, net_on_backend, &nd->pair[i]);
		if (ret) {
			err_set(err, false, ret, "%s: cannot watch the backend: %s", nd->name,
				strerror(-ret));
			goto err_free;
		}
		nd->pair[i].registered = true;
	}
	if (cfg->mmds) {
		ret = net_mmds_open(cfg->mmds, cfg->mmds_ipv4, nd->loop, &nd->mmds, err);
		if (ret)
			goto err_free;
		/* Idle like the backend's queues until activation. */
		ret = eventloop_add(nd->loop, net_mmds_fd(nd->mmds), 0, net_on_mmds, nd);
		if (ret) {
			err_set(err, false, ret, "%s: cannot watch the MMDS stack: %s", nd->name,
				strerror(-ret));
			goto err_free;
		}
		nd->mmds_registered = true;
	}
	*out = &nd->dev;
	return 0;

err_oom:
	err_set(err, false, ret, "virtio-net: out of memory");
err_free:
	if (nd)
		net_free(nd);
	return ret;

err_init:
	err_set(err, false, ret, "virtio-net: %s", strerror(-ret));
	be->ops->destroy(be);
	free(nd);
	return ret;
}

int virtio_net_create(const struct virtio_env *env, const struct net_config *cfg,
		      struct virtio_dev **out, struct err *err)
{
	struct net_be *be;
	int ret;

	if (cfg->backend == NET_TAP)
		ret = net_tap_open_as(cfg->ifname, cfg->queue_pairs ? cfg->queue_pairs : 1,
				      cfg->fc_tap, &be, err);
	else
		ret = net_slirp_open(cfg, env->loop, &be, err);
	if (ret)
		return ret;
	ret = virtio_net_create_backend(env, cfg, be, out, err);
	if (ret || cfg->backend != NET_TAP || cfg->vhost == NET_VHOST_OFF)
		return ret;
	/* The MMDS stack answers frames the guest sends: they must pass through here. */
	if (cfg->mmds) {
		if (cfg->vhost == NET_VHOST_AUTO)
			return 0;
		ret = err_set(err, true, -EINVAL, "vhost=on: an MMDS interface's frames must "
			      "pass through Hearth, which vhost-net bypasses");
	} else {
		ret = virtio_net_attach_vhost(*out, NET_VHOST_PATH, vhost_sys_ioctl,
					      cfg->vhost == NET_VHOST_ON, err);
	}
	if (ret) {
		virtio_net_destroy(*out);
		*out = NULL;
	}
	return ret;
}

void virtio_net_destroy(struct virtio_dev *dev)
{
	struct net_dev *nd = dev ? dev->priv : NULL;

	if (!nd)
		return;
	/* Drops are why a network is slow; say so without -v. */
	log_msg(nd->stats.rx_dropped_oversize || nd->stats.tx_dropped ? LOG_INFO : LOG_DEBUG,
		"%s: rx %" PRIu64 " frames (%" PRIu64 " bytes, %" PRIu64 " dropped), tx %" PRIu64
		" frames (%" PRIu64 " bytes, %" PRIu64 " dropped)", nd->name, nd->stats.rx_packets,
		nd->stats.rx_bytes, nd->stats.rx_dropped_oversize, nd->stats.tx_packets,
		nd->stats.tx_bytes, nd->stats.tx_dropped);
	net_free(nd);
}
