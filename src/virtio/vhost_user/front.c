/*
 * The vhost-user front end (front.h): its making (the connection, the
 * features both sides take, SET_OWNER) and the device ops both devices
 * share; nothing here is a disk's or a file system's. Starting the device hands the
 * backend the RAM and the rings; a reset or a pause takes them back
 * (GET_VRING_BASE, which stops a ring and says where it stopped); the
 * backend's death is watched on the I/O thread.
 *
 * Every request runs on the I/O thread (status writes and PATCH are
 * handed there by the transport and the control plane) with dev->lock
 * held, each bounded by VHOST_USER_TIMEOUT_MS.
 */
#include "virtio/vhost_user/front.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/vhost.h"

static struct ratelimit vu_front_rl = RATELIMIT_INIT(10);

/* The backend broke: the disk needs a reset, which cannot bring it back. */
void vu_front_broken(struct vu_front *vb, const char *why)
{
	struct virtio_dev *dev = &vb->dev;

	vb->vu.dead = true;
	if (dev->status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	log_ratelimited(&vu_front_rl, LOG_WARN, "%s: vhost-user backend at '%s': %s; the %s "
			"needs a reset and stays unusable (restart the backend and the VM)",
			dev->name, vb->socket, why, vb->noun);
	dev->status |= VIRTIO_STATUS_NEEDS_RESET;
	if (dev->activated && dev->signal_config)
		dev->signal_config(dev);
}

static void vu_front_on_hup(void *opaque, uint32_t events)
{
	struct vu_front *vb = opaque;

	(void)events;
	if (vb->watched) {
		eventloop_remove(vb->loop, vb->vu.sock);
		vb->watched = false;
	}
	pthread_mutex_lock(&vb->dev.lock);
	vu_front_broken(vb, "the backend closed its socket");
	pthread_mutex_unlock(&vb->dev.lock);
}

uint64_t vu_front_get_features(struct virtio_dev *dev)
{
	return ((struct vu_front *)dev->priv)->offered;
}

void vu_front_read_config(struct virtio_dev *dev, uint32_t off, uint8_t *data, unsigned int len)
{
	struct vu_front *vb = dev->priv;

	if (off + len <= dev->config_size && off + len <= sizeof(vb->config))
		memcpy(data, vb->config + off, len);
}

/* Nothing in the config the driver may write is offered (no CONFIG_WCE). */
void vu_front_write_config(struct virtio_dev *dev, uint32_t off, const uint8_t *data,
			unsigned int len)
{
	(void)off;
	(void)data;
	(void)len;
	log_ratelimited(&vu_front_rl, LOG_WARN, "%s: write to the read-only config space ignored",
			dev->name);
}

static int vu_front_set_mem_table(struct vu_front *vb)
{
	const struct guest_mem *gm = vb->dev.mem;
	struct vhost_user_memory m = { 0 };
	int fds[VHOST_USER_MAX_REGIONS];

	if (!gm->shared)
		return -EINVAL;
	m.nregions = gm->nregions;
	for (unsigned int i = 0; i < gm->nregions; i++) {
		m.regions[i] = (struct vhost_user_region){
			.gpa = gm->regions[i].gpa,
			.size = gm->regions[i].size,
			.user_addr = (uintptr_t)gm->regions[i].hva,
			.mmap_offset = gm->shm_offset[i],
		};
		fds[i] = gm->shm_fd;
	}
	return vhost_user_call(&vb->vu, VHOST_USER_SET_MEM_TABLE, &m,
			       offsetof(struct vhost_user_memory, regions) +
			       m.nregions * sizeof(m.regions[0]), fds, m.nregions, NULL, 0);
}

static int vu_front_start_ring(struct vu_front *vb, unsigned int q)
{
	struct virtio_dev *dev = &vb->dev;
	const struct virtq *vq = &dev->vq[q];
	struct vhost_user_vring_addr a = {
		.index = q,
		.desc = (uintptr_t)vq->desc,
		.used = (uintptr_t)vq->used,
		.avail = (uintptr_t)vq->avail,
	};
	int ret = vhost_take_kick(dev, q, &vb->kick[q], &vb->kick_own[q]);

	if (!ret)
		ret = vhost_user_set_state(&vb->vu, VHOST_USER_SET_VRING_NUM, q, vq->size);
	if (!ret)
		ret = vhost_user_set_state(&vb->vu, VHOST_USER_SET_VRING_BASE, q, vq->last_avail);
	if (!ret)
		ret = vhost_user_call(&vb->vu, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0,
				      NULL, 0);
	if (!ret)
		ret = vhost_user_set_vring_fd(&vb->vu, VHOST_USER_SET_VRING_KICK, q, vb->kick[q]);
	if (!ret)
		ret = vhost_user_set_vring_fd(&vb->vu, VHOST_USER_SET_VRING_CALL, q,
					      vhost_call_target(&vb->call[q]));
	/* With protocol features a ring starts disabled until told. */
	if (!ret && (vb->vu.features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
		ret = vhost_user_set_state(&vb->vu, VHOST_USER_SET_VRING_ENABLE, q, 1);
	if (!ret) {
		vb->started[q] = true;
		/* Kicks the driver gave before the backend watched the fd are seen now. */
		vhost_kick(vb->kick[q]);
	}
	return ret;
}

static int vu_front_start(struct vu_front *vb)
{
	struct virtio_dev *dev = &vb->dev;
	uint64_t f = dev->features | (vb->vu.features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
	int ret;

	if (vb->running)
		return 0;
	vb->running = true;
	/* A dozen requests and more, bounded in all (vhost_user.h). */
	vhost_user_op_begin(&vb->vu);
	ret = vhost_user_set_u64(&vb->vu, VHOST_USER_SET_FEATURES, f);

	if (!ret)
		ret = vu_front_set_mem_table(vb);
	for (unsigned int q = 0; !ret && q < dev->num_queues; q++)
		if (dev->vq[q].enabled)
			ret = vu_front_start_ring(vb, q);
	vhost_user_op_end(&vb->vu);
	if (ret == -EINVAL)
		log_ratelimited(&vu_front_rl, LOG_WARN, "%s: guest RAM is not shared: a vhost-user "
				"%s cannot start", dev->name, vb->noun);
	else if (ret)
		vu_front_broken(vb, ret == -EIO ? "it refused the rings" :
			     ret == -ETIMEDOUT ? "it did not answer in time" :
			     ret == -EPROTO ? "its answer was malformed" : "the socket failed");
	return ret;
}

static uint16_t ring_idx(const uint16_t *ring)
{
	return le16toh(__atomic_load_n(&ring[1], __ATOMIC_ACQUIRE));
}

/*
 * Whether every request the driver made available is used, waiting up
 * to drain_ms (the vCPUs are parked: nothing new comes). A backend
 * must not be stopped with requests in flight: qemu-storage-daemon
 * breaks the session when one completes after GET_VRING_BASE.
 */
static bool vu_front_drained(struct vu_front *vb)
{
	struct virtio_dev *dev = &vb->dev;

	for (unsigned int waited = 0;; waited++) {
		bool idle = true;

		for (unsigned int q = 0; q < dev->num_queues; q++)
			if (vb->started[q] && ring_idx(dev->vq[q].avail) != ring_idx(dev->vq[q].used))
				idle = false;
		if (idle || vb->vu.dead)
			return idle;
		if (waited >= vb->drain_ms)
			return false;
		usleep(1000);
	}
}

/*
 * Takes every ring back. keep: their positions become the virtqs' (a
 * pause), else they are dropped (a reset). A backend that fails here is
 * broken: it may still be using the rings.
 */
static void vu_front_stop(struct vu_front *vb, bool keep)
{
	struct virtio_dev *dev = &vb->dev;

	vb->running = false;
	vhost_user_op_begin(&vb->vu);
	for (unsigned int q = 0; q < dev->num_queues; q++) {
		uint16_t base;
		int ret;

		if (!vb->started[q])
			continue;
		vb->started[q] = false;
		ret = vhost_user_get_vring_base(&vb->vu, q, &base);
		if (ret) {
			vu_front_broken(vb, "it would not give a ring back");
			continue;
		}
		if (keep)
			dev->vq[q].last_avail = base;
	}
	vhost_user_op_end(&vb->vu);
}

int vu_front_activate(struct virtio_dev *dev)
{
	/* Paused (a restore's activation): resume starts it. */
	return dev->paused ? 0 : vu_front_start(dev->priv);
}

void vu_front_reset(struct virtio_dev *dev)
{
	struct vu_front *vb = dev->priv;

	/* Best effort, bounded: a driver resets an idle device. */
	if (vb->running)
		vu_front_drained(vb);
	vu_front_stop(vb, false);
	for (unsigned int q = 0; q < dev->num_queues; q++)
		vhost_call_drain(&vb->call[q]);
}

/* Only with kicks of our own (no ioeventfd): relayed to the backend. */
void vu_front_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	struct vu_front *vb = dev->priv;

	if (q < dev->num_queues && vb->kick_own[q])
		vhost_kick(vb->kick[q]);
}

/* -EBUSY when requests stay in flight: the rings are left running, and resume finds them so. */
int vu_front_pause(struct virtio_dev *dev)
{
	struct vu_front *vb = dev->priv;

	if (!vb->running)
		return 0;
	if (!vu_front_drained(vb))
		return vb->vu.dead ? 0 : -EBUSY;
	vu_front_stop(vb, true);
	return 0;
}

void vu_front_resume(struct virtio_dev *dev)
{
	if (dev->activated && !(dev->status & VIRTIO_STATUS_NEEDS_RESET))
		vu_front_start(dev->priv);
}

unsigned int vu_front_counters(struct virtio_dev *dev, struct dev_counter *out, unsigned int max)
{
	struct vu_front *vb = dev->priv;
	unsigned int n = 0;

	pthread_mutex_lock(&dev->lock);
	if (n < max)
		out[n++] = (struct dev_counter){ "interrupts", vb->calls };
	if (n < max)
		out[n++] = (struct dev_counter){ "backend_failed", vb->vu.dead };
	pthread_mutex_unlock(&dev->lock);
	return n;
}

void vu_front_destroy(struct virtio_dev *dev)
{
	struct vu_front *vb = dev->priv;

	if (vb->watched)
		eventloop_remove(vb->loop, vb->vu.sock);
	vhost_user_close(&vb->vu);
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		vhost_call_close(&vb->call[q], vb->loop);
		if (vb->kick_own[q] && vb->kick[q] >= 0)
			close(vb->kick[q]);
	}
	virtio_dev_release(dev);
	free(vb->socket);
	free(vb);
}

int vu_front_watch(struct vu_front *vb)
{
	int ret;

	if (!vb->loop)
		return 0;
	/* Hangup only: every answer is read by the request that asked for it. */
	ret = eventloop_add(vb->loop, vb->vu.sock, EPOLLRDHUP, vu_front_on_hup, vb);
	if (!ret)
		vb->watched = true;
	return ret;
}

void vu_front_on_call_count(struct vu_front *vb, unsigned int q)
{
	vb->call[q].dev = &vb->dev;
	vb->call[q].q = q;
	vb->call[q].calls = &vb->calls;
}

/* What Hearth's transports always offer, which the backend serves on the rings. */
#define VU_FRONT_NEEDED                                                                         \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |                       \
	 (1ull << VIRTIO_F_INDIRECT_DESC))

int vu_front_fail(struct vu_front *vb, struct err *err, int ret, const char *what)
{
	const char *why = ret == -EPROTO ? "a malformed answer" :
			  ret == -ETIMEDOUT ? "no answer in time" :
			  ret == -EIO ? "refused" : strerror(-ret);

	return err_set(err, ret != -ENOMEM, ret, "vhost-user backend at '%s': %s: %s",
		       vb->socket, what, why);
}

int vu_front_handshake(struct vu_front *vb, uint64_t want, struct err *err)
{
	uint64_t proto = 0;
	int ret = vhost_user_get_u64(&vb->vu, VHOST_USER_GET_FEATURES, &vb->vu.features);

	if (ret)
		return vu_front_fail(vb, err, ret, "GET_FEATURES");
	if ((vb->vu.features & VU_FRONT_NEEDED) != VU_FRONT_NEEDED)
		return err_set(err, true, -ENOTSUP, "vhost-user backend at '%s': it lacks "
			       "VERSION_1, EVENT_IDX or INDIRECT_DESC (features 0x%llx), which "
			       "Hearth's transports offer every driver", vb->socket,
			       (unsigned long long)vb->vu.features);
	if (vb->vu.features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
		ret = vhost_user_get_u64(&vb->vu, VHOST_USER_GET_PROTOCOL_FEATURES, &proto);
		if (ret)
			return vu_front_fail(vb, err, ret, "GET_PROTOCOL_FEATURES");
		proto &= want;
		ret = vhost_user_set_u64(&vb->vu, VHOST_USER_SET_PROTOCOL_FEATURES, proto);
		if (ret)
			return vu_front_fail(vb, err, ret, "SET_PROTOCOL_FEATURES");
		/* REPLY_ACK applies from the next request on. */
		vb->vu.protocol = proto;
	}
	ret = vhost_user_call(&vb->vu, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL, 0);
	if (ret)
		return vu_front_fail(vb, err, ret, "SET_OWNER");
	return 0;
}

int vu_front_new(const struct virtio_env *env, const char *socket, const char *noun,
	      struct vu_front **out, struct err *err)
{
	struct vu_front *vb = calloc(1, sizeof(*vb));
	int ret;

	if (!vb)
		return err_set(err, false, -ENOMEM, "out of memory");
	vb->vu.sock = -1;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		vb->kick[q] = -1;
		vb->call[q].fd = -1;
	}
	vb->loop = env->loop;
	vb->noun = noun;
	vb->drain_ms = VU_FRONT_DRAIN_MS;
	vb->socket = strdup(socket);
	if (!vb->socket) {
		free(vb);
		return err_set(err, false, -ENOMEM, "out of memory");
	}
	ret = vhost_user_connect(&vb->vu, socket, err);
	if (ret) {
		vu_front_free(vb);
		return ret;
	}
	*out = vb;
	return 0;
}

void vu_front_free(struct vu_front *vb)
{
	vhost_user_close(&vb->vu);
	free(vb->socket);
	free(vb);
}

int vu_front_finish(struct vu_front *vb, const struct virtio_env *env,
		 const struct virtio_dev_ops *ops, const char *name, struct err *err)
{
	int ret;

	vb->dev.ops = ops;
	vb->dev.priv = vb;
	vb->dev.name = name;
	vb->dev.queue_max = VU_FRONT_QUEUE_MAX;
	ret = virtio_dev_init(&vb->dev, env);
	if (ret) {
		err_set(err, false, ret, "vhost-user %s: %s", vb->noun, strerror(-ret));
		vu_front_free(vb);
		return ret;
	}
	for (unsigned int q = 0; q < vb->dev.num_queues; q++) {
		vu_front_on_call_count(vb, q);
		ret = vhost_call_open(&vb->call[q], env->loop);
		if (ret) {
			err_set(err, false, ret, "vhost-user %s: call eventfd: %s", vb->noun,
				strerror(-ret));
			goto err_dev;
		}
	}
	ret = vu_front_watch(vb);
	if (ret) {
		err_set(err, false, ret, "vhost-user %s: watching its socket: %s", vb->noun,
			strerror(-ret));
		goto err_dev;
	}
	return 0;

err_dev:
	/* The ops' destroy undoes the calls, the watch and the device. */
	ops->destroy(&vb->dev);
	return ret;
}
