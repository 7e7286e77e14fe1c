/*
 * vhost-net: a TAP NIC's receive and transmit rings served by the host
 * kernel. One /dev/vhost-net instance per queue pair (its rings 0 and 1
 * are the pair's RX and TX), each given the pair's TAP queue as its
 * backend, KVM's ioeventfds as kicks and our eventfds as calls, which
 * become the transport's interrupts (vhost.h). The control queue, the
 * config space and the TAP's offloads and queue attachment stay Hearth's.
 *
 * A NIC whose frames Hearth must see (a rate limiter, an MMDS stack)
 * does not start on vhost; one that gets a rate limiter while on vhost
 * leaves it (net_vhost_drop) and goes on in userspace from where vhost
 * stopped, its kicks watched here since the transport gave them away.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/net/priv.h"
#include "virtio/virtio.h"

static struct ratelimit vhost_rl = RATELIMIT_INIT(10);

/* What vhost must carry for the features the device and its transport offer. */
#define NET_VHOST_NEEDED                                                                     \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |                       \
	 (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_NET_F_MRG_RXBUF))

static const char *net_vhost_hint(int e)
{
	switch (e) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return " (load the vhost_net module: modprobe vhost_net)";
	case EACCES:
	case EPERM:
		return " (needs read/write access to it)";
	default:
		return "";
	}
}

static int net_vhost_open_one(struct net_vhost *v, unsigned int i, struct err *err)
{
	uint64_t features;
	int fd, ret;

	fd = open(v->be.path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		return err_set(err, false, ret, "%s: %s%s", v->be.path, strerror(-ret),
			       net_vhost_hint(-ret));
	}
	ret = v->be.ioctl(fd, VHOST_SET_OWNER, NULL);
	if (ret) {
		err_set(err, false, ret, "%s: VHOST_SET_OWNER: %s", v->be.path, strerror(-ret));
		goto err_close;
	}
	ret = v->be.ioctl(fd, VHOST_GET_FEATURES, &features);
	if (ret) {
		err_set(err, false, ret, "%s: VHOST_GET_FEATURES: %s", v->be.path,
			strerror(-ret));
		goto err_close;
	}
	if ((features & NET_VHOST_NEEDED) != NET_VHOST_NEEDED) {
		ret = err_set(err, false, -EOPNOTSUPP, "%s lacks virtio features 0x%" PRIx64
			      " that the NIC offers", v->be.path,
			      (uint64_t)(NET_VHOST_NEEDED & ~features));
		goto err_close;
	}
	v->features = features;
	v->fd[i] = fd;
	return 0;

err_close:
	close(fd);
	return ret;
}

static void net_vhost_free(struct net_dev *nd)
{
	struct net_vhost *v = nd->vhost;

	vhost_mem_watch_stop(&v->mw);
	for (unsigned int i = 0; i < NET_MAX_QUEUE_PAIRS; i++)
		if (v->fd[i] >= 0)
			close(v->fd[i]);
	for (unsigned int q = 0; q < 2 * NET_MAX_QUEUE_PAIRS; q++) {
		vhost_call_close(&v->calls[q], nd->loop);
		if (v->watch[q] >= 0) {
			eventloop_remove(nd->loop, v->watch[q]);
			close(v->watch[q]);
		}
		/* Taken kick fds still belong to the transport, which closes them. */
		if (v->own_kick[q] && v->kick[q] >= 0)
			close(v->kick[q]);
	}
	free(v);
	nd->vhost = NULL;
}

int net_vhost_attach(struct net_dev *nd, const struct net_vhost_backend *be, bool required,
		     struct err *err)
{
	struct net_vhost *v = calloc(1, sizeof(*v));
	int ret = 0;

	if (!v)
		return err_set(err, false, -ENOMEM, "%s: out of memory", nd->name);
	nd->vhost = v;
	v->be = *be;
	for (unsigned int i = 0; i < NET_MAX_QUEUE_PAIRS; i++)
		v->fd[i] = -1;
	for (unsigned int q = 0; q < 2 * NET_MAX_QUEUE_PAIRS; q++) {
		v->kick[q] = v->watch[q] = -1;
		v->calls[q] = (struct vhost_call){ &nd->dev, q, -1, &v->signals };
	}
	if (!nd->be->vnet_hdr) {
		ret = err_set(err, false, -EOPNOTSUPP, "%s: vhost-net needs a TAP backend",
			      nd->name);
		goto err_free;
	}
	for (unsigned int i = 0; i < nd->max_pairs && !ret; i++)
		ret = net_vhost_open_one(v, i, err);
	for (unsigned int q = 0; q < 2 * nd->max_pairs && !ret; q++) {
		ret = vhost_call_open(&v->calls[q], nd->loop);
		if (ret)
			err_set(err, false, ret, "%s: vhost call eventfd: %s", nd->name,
				strerror(-ret));
	}
	if (ret)
		goto err_free;
	/* Each pair's memory table follows the hotplug region's plugged blocks (issue 47, S1). */
	vhost_mem_watch_start(&v->mw, nd->dev.mem, v->be.ioctl, v->fd, nd->max_pairs);
	return 0;

err_free:
	net_vhost_free(nd);
	if (required)
		return ret;
	/* vhost=auto: today's path serves the NIC; say why once. */
	log_info("%s: not on vhost-net, served in userspace: %s", nd->name, err->msg);
	err->msg[0] = '\0';
	return 0;
}

void net_vhost_destroy(struct net_dev *nd)
{
	if (nd->vhost)
		net_vhost_free(nd);
}

bool net_on_vhost(const struct net_dev *nd)
{
	return nd->vhost && !nd->vhost->dropped;
}

/* The kicks vhost takes: the transport's ioeventfds where it has them. */
static int net_vhost_take_kicks(struct net_dev *nd)
{
	struct net_vhost *v = nd->vhost;
	int ret = 0;

	for (unsigned int q = 0; q < 2 * nd->max_pairs && !ret; q++)
		ret = vhost_take_kick(&nd->dev, q, &v->kick[q], &v->own_kick[q]);
	return ret;
}

static int net_vhost_set_backend(struct net_vhost *v, unsigned int i, int tap)
{
	int ret = 0;

	for (unsigned int r = 0; r < 2 && !ret; r++) {
		struct vhost_vring_file f = { .index = r, .fd = tap };

		ret = v->be.ioctl(v->fd[i], VHOST_NET_SET_BACKEND, &f);
	}
	return ret;
}

/*
 * Pair i's rings to its vhost instance, from the virtqs' positions. vhost
 * is told only the features it knows: the offloads are the TAP's
 * (TUNSETOFFLOAD) and travel in the header, which the TAP reads and
 * writes (vnet_hdr), so vhost adds none of its own.
 */
static int net_vhost_start_pair(struct net_dev *nd, unsigned int i, const char **step)
{
	struct net_vhost *v = nd->vhost;
	uint64_t f = nd->dev.features & v->features &
		     ~((1ull << VHOST_F_LOG_ALL) | (1ull << VHOST_NET_F_VIRTIO_NET_HDR));
	int ret;

	*step = "VHOST_SET_FEATURES";
	ret = v->be.ioctl(v->fd[i], VHOST_SET_FEATURES, &f);
	if (!ret) {
		*step = "VHOST_SET_MEM_TABLE";
		ret = vhost_set_mem_table(v->be.ioctl, v->fd[i], nd->dev.mem);
	}
	for (unsigned int r = 0; r < 2 && !ret; r++) {
		unsigned int q = 2 * i + r;

		*step = r ? "tx ring setup" : "rx ring setup";
		ret = vhost_setup_vring(v->be.ioctl, v->fd[i], r, &nd->dev.vq[q], v->kick[q],
					vhost_call_target(&v->calls[q]));
	}
	if (!ret) {
		*step = "VHOST_NET_SET_BACKEND";
		ret = net_vhost_set_backend(v, i, nd->pair[i].fd);
	}
	return ret;
}

int net_vhost_start(struct net_dev *nd)
{
	struct net_vhost *v = nd->vhost;
	const char *step = "kick eventfd";
	unsigned int i = 0;
	int ret;

	if (!net_on_vhost(nd) || v->running)
		return 0;
	ret = net_vhost_take_kicks(nd);
	/* A pair whose rings the driver did not set up (no MQ) stays idle. */
	for (; i < nd->max_pairs && !ret; i++) {
		if (!nd->dev.vq[2 * i].enabled || !nd->dev.vq[2 * i + 1].enabled)
			continue;
		ret = net_vhost_start_pair(nd, i, &step);
		if (ret)
			break;
		v->started |= 1u << i;
	}
	v->running = true;
	if (ret) {
		log_ratelimited(&vhost_rl, LOG_WARN, "%s: vhost-net pair %u: %s: %s", nd->name,
				i, step, strerror(-ret));
		net_vhost_stop(nd, false);
		return ret;
	}
	/* What the guest queued before now: vhost looks at each ring once. */
	for (unsigned int q = 0; q < 2 * nd->max_pairs; q++)
		if (v->started & (1u << (q / 2)))
			vhost_kick(v->kick[q]);
	return 0;
}

int net_vhost_stop(struct net_dev *nd, bool keep_position)
{
	struct net_vhost *v = nd->vhost;
	int ret = 0;

	if (!v || !v->running)
		return 0;
	for (unsigned int i = 0; i < nd->max_pairs; i++) {
		if (!(v->started & (1u << i)))
			continue;
		/* No backend: vhost stops and flushes its worker, then touches the rings no more. */
		int e = net_vhost_set_backend(v, i, -1);

		if (e)
			log_ratelimited(&vhost_rl, LOG_WARN, "%s: stopping vhost-net pair %u: %s",
					nd->name, i, strerror(-e));
		for (unsigned int r = 0; r < 2 && keep_position; r++) {
			unsigned int q = 2 * i + r;
			uint16_t base;

			if (vhost_get_base(v->be.ioctl, v->fd[i], r, &base) ||
			    virtq_take_position(&nd->dev.vq[q], base))
				ret = -EIO;
		}
	}
	for (unsigned int q = 0; q < 2 * nd->max_pairs; q++)
		vhost_call_drain(&v->calls[q]);
	v->started = 0;
	v->running = false;
	return ret;
}

void net_vhost_notify(struct net_dev *nd, unsigned int q)
{
	struct net_vhost *v = nd->vhost;

	if (v->own_kick[q])
		v->kick_relays++;
	vhost_kick(v->kick[q]);
}

/* After a drop: a kick the transport hands vhost's fd is queue_notify's again. */
static void net_vhost_on_kick(void *opaque, uint32_t events)
{
	struct vhost_call *c = opaque; /* the queue's call slot names dev and q */
	struct net_dev *nd = c->dev->priv;
	uint64_t n;

	(void)events;
	if (read(nd->vhost->watch[c->q], &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&nd->dev.lock);
	if (virtio_dev_running(&nd->dev) && nd->dev.vq[c->q].enabled)
		nd->dev.ops->queue_notify(&nd->dev, c->q);
	pthread_mutex_unlock(&nd->dev.lock);
}

int net_vhost_drop(struct net_dev *nd, const char *why)
{
	struct net_vhost *v = nd->vhost;
	int ret;

	if (!net_on_vhost(nd))
		return 0;
	ret = net_vhost_stop(nd, true);
	vhost_mem_watch_stop(&v->mw);
	for (unsigned int i = 0; i < NET_MAX_QUEUE_PAIRS; i++) {
		if (v->fd[i] >= 0)
			close(v->fd[i]);
		v->fd[i] = -1;
	}
	v->dropped = true;
	/* Ours are signalled by queue_notify's relay no more; theirs need a watcher. */
	for (unsigned int q = 0; q < 2 * nd->max_pairs; q++) {
		if (v->kick[q] < 0 || v->own_kick[q] || !nd->loop)
			continue;
		v->watch[q] = fcntl(v->kick[q], F_DUPFD_CLOEXEC, 0);
		if (v->watch[q] >= 0 &&
		    eventloop_add(nd->loop, v->watch[q], EPOLLIN, net_vhost_on_kick, &v->calls[q])) {
			close(v->watch[q]);
			v->watch[q] = -1;
		}
		if (v->watch[q] < 0)
			log_warn("%s: queue %u's kicks are lost after leaving vhost", nd->name, q);
	}
	log_info("%s: leaves vhost-net for userspace: %s", nd->name, why);
	if (ret)
		virtio_dev_fail(&nd->dev, "vhost-net left its rings at positions the guest's "
				"indices do not allow");
	return ret;
}
