/*
 * virtio-vsock (VIRTIO 1.2, 5.10) with the data path in the host kernel:
 * vhost_vsock reads and writes the rx/tx rings itself, takes KVM's
 * ioeventfds as kick fds and signals our call eventfds. Hearth only owns
 * the config space (the guest CID), the event queue (which carries only
 * the transport reset after a restore, vhost_state.c) and the translation of vhost's calls into the transport's
 * interrupts (signal_used).
 */
#include "virtio/vsock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/virtio.h"
#include "virtio/vsock/event.h"
#include "virtio/vsock/vhost_priv.h"

static struct ratelimit vsock_rl = RATELIMIT_INIT(10);

int virtio_vsock_parse(const char *spec, struct vsock_config *cfg, struct err *err)
{
	char buf[128], *save = NULL, *tok, *end;
	bool have_cid = false;
	unsigned long long v;

	if (!spec || !*spec)
		return err_set(err, true, -EINVAL, "expected cid=N");
	if (strlen(spec) >= sizeof(buf))
		return err_set(err, true, -EINVAL, "option string too long");
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "cid=", 4) != 0)
			return err_set(err, true, -EINVAL, "unknown option '%.40s' (expected "
				       "cid=N)", tok);
		if (have_cid)
			return err_set(err, true, -EINVAL, "cid given twice");
		tok += 4;
		/* strtoull accepts "-3" and leading blanks; a CID is plain digits. */
		if (*tok < '0' || *tok > '9')
			return err_set(err, true, -EINVAL, "cid '%.40s' is not a number", tok);
		errno = 0;
		v = strtoull(tok, &end, 10);
		if (*end)
			return err_set(err, true, -EINVAL, "cid '%.40s' is not a number", tok);
		if (v < VSOCK_CID_MIN)
			return err_set(err, true, -EINVAL, "cid %llu is reserved (0: hypervisor, "
				       "1: local, 2: host); use 3 or more", v);
		if (errno == ERANGE || v > VSOCK_CID_MAX)
			return err_set(err, true, -EINVAL, "cid %.40s is out of range (3..%llu)",
				       tok, VSOCK_CID_MAX);
		cfg->cid = v;
		have_cid = true;
	}
	if (!have_cid)
		return err_set(err, true, -EINVAL, "expected cid=N");
	return 0;
}

/* Opens and claims the vhost device for our CID. Leaves vs->vhost_fd -1 on failure. */
static int vsock_vhost_open(struct vsock *vs, struct err *err)
{
	const char *path = vs->be.path;
	uint64_t cid = vs->cid;
	int fd, ret;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ENODEV || ret == -ENXIO)
			err_set(err, false, ret, "%s: %s (load the vhost_vsock module: modprobe "
				"vhost_vsock)", path, strerror(-ret));
		else if (ret == -EACCES || ret == -EPERM)
			err_set(err, false, ret, "%s: %s (needs read/write access to it)", path,
				strerror(-ret));
		else
			err_set(err, false, ret, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ret = vs->be.ioctl(fd, VHOST_SET_OWNER, NULL);
	if (ret) {
		err_set(err, false, ret, "%s: VHOST_SET_OWNER: %s", path, strerror(-ret));
		goto err_close;
	}
	ret = vs->be.ioctl(fd, VHOST_GET_FEATURES, &vs->vhost_features);
	if (ret) {
		err_set(err, false, ret, "%s: VHOST_GET_FEATURES: %s", path, strerror(-ret));
		goto err_close;
	}
	ret = vs->be.ioctl(fd, VHOST_VSOCK_SET_GUEST_CID, &cid);
	if (ret == -EADDRINUSE) {
		err_set(err, false, ret,
			"CID %" PRIu64 " is in use (another VM has it); pick another", cid);
		goto err_close;
	}
	if (ret) {
		err_set(err, false, ret, "%s: cannot set guest CID %" PRIu64 ": %s", path, cid,
			strerror(-ret));
		goto err_close;
	}
	guest_mem_hotplug_lock(vs->dev.mem);
	vs->vhost_fd = fd;
	guest_mem_hotplug_unlock(vs->dev.mem);
	vs->dirty = false;
	return 0;

err_close:
	close(fd);
	return ret;
}

static void vsock_vhost_close(struct vsock *vs)
{
	int off = 0;

	if (vs->vhost_fd < 0)
		return;
	if (vs->dirty)
		vs->be.ioctl(vs->vhost_fd, VHOST_VSOCK_SET_RUNNING, &off);
	/* Closing drops the memory table, the rings and the CID in one go. */
	guest_mem_hotplug_lock(vs->dev.mem);
	close(vs->vhost_fd);
	vs->vhost_fd = -1;
	guest_mem_hotplug_unlock(vs->dev.mem);
}

static uint64_t vsock_get_features(struct virtio_dev *dev)
{
	struct vsock *vs = dev->priv;

	return vs->vhost_features & VSOCK_DEVICE_FEATURES;
}

static void vsock_read_config(struct virtio_dev *dev, uint32_t offset, uint8_t *data,
			      unsigned int len)
{
	struct vsock *vs = dev->priv;
	uint8_t cfg[8];

	/* le64 guest_cid (5.10.4); the transport bounds offset + len by config_size. */
	for (unsigned int i = 0; i < sizeof(cfg); i++)
		cfg[i] = (uint8_t)(vs->cid >> (8 * i));
	if (offset < sizeof(cfg) && len <= sizeof(cfg) - offset)
		memcpy(data, cfg + offset, len);
}

/*
 * vhost takes rx/tx kicks straight from the transport (vhost.h). Done once,
 * at the first activation: on the I/O thread, which alone may change its
 * event loop, and only when the device is attached, as creation need not be.
 */
static int vsock_take_kicks(struct vsock *vs)
{
	int ret = 0;

	for (unsigned int q = 0; q < VSOCK_VHOST_QUEUES && !ret; q++)
		ret = vhost_take_kick(&vs->dev, q, &vs->kick_fd[q], &vs->own_kick[q]);
	return ret;
}

/* What vhost_setup_vring needs of the guest's side: both vhost queues enabled, their rings mapped. */
static int vsock_activate_check(const struct virtio_dev *dev, const struct virtq *vq)
{
	(void)dev;
	for (unsigned int q = 0; q < VSOCK_VHOST_QUEUES; q++)
		if (!vq[q].enabled || !vq[q].desc || !vq[q].avail || !vq[q].used)
			return -EINVAL;
	return 0;
}

/* DRIVER_OK, dev->lock held: hand the negotiated rings to the kernel. */
static int vsock_activate(struct virtio_dev *dev)
{
	struct vsock *vs = dev->priv;
	uint64_t features = dev->features;
	const char *step = "VHOST_SET_FEATURES";
	int running = 1;
	int ret;

	if (vs->vhost_fd < 0) {
		log_ratelimited(&vsock_rl, LOG_WARN, "%s: no vhost device after reset", dev->name);
		return -EIO;
	}
	ret = vsock_take_kicks(vs);
	if (ret) {
		log_ratelimited(&vsock_rl, LOG_WARN, "%s: kick eventfd: %s", dev->name,
				strerror(-ret));
		return ret;
	}
	vs->dirty = true;
	ret = vs->be.ioctl(vs->vhost_fd, VHOST_SET_FEATURES, &features);
	if (!ret) {
		step = "VHOST_SET_MEM_TABLE";
		ret = vhost_set_mem_table(vs->be.ioctl, vs->vhost_fd, dev->mem);
	}
	for (unsigned int q = 0; q < VSOCK_VHOST_QUEUES && !ret; q++) {
		step = q == 0 ? "rx queue setup" : "tx queue setup";
		ret = vhost_setup_vring(vs->be.ioctl, vs->vhost_fd, q, &dev->vq[q], vs->kick_fd[q],
					vhost_call_target(&vs->calls[q]));
	}
	if (!ret) {
		step = "VHOST_VSOCK_SET_RUNNING";
		ret = vs->be.ioctl(vs->vhost_fd, VHOST_VSOCK_SET_RUNNING, &running);
	}
	if (ret)
		log_ratelimited(&vsock_rl, LOG_WARN, "%s: %s: %s", dev->name, step,
				strerror(-ret));
	return ret;
}

/*
 * Status 0: stop vhost (SET_RUNNING 0 detaches the rings and waits for its
 * worker, so it touches guest memory no more). The next activation sets
 * features, memory table and every ring again, ring bases included, so
 * the same fd serves the next driver: no re-open per reset, which a guest
 * could otherwise drive in a loop, and which a sandbox would forbid.
 */
static void vsock_reset(struct virtio_dev *dev)
{
	struct vsock *vs = dev->priv;
	struct err err;
	int off = 0, ret;

	if (vs->vhost_fd >= 0 && !vs->dirty)
		return;
	if (vs->vhost_fd >= 0) {
		ret = vs->be.ioctl(vs->vhost_fd, VHOST_VSOCK_SET_RUNNING, &off);
		vs->dirty = false;
		for (unsigned int q = 0; q < VSOCK_VHOST_QUEUES; q++)
			vhost_call_drain(&vs->calls[q]);
		if (!ret)
			return;
		/* vhost would not stop: closing the fd is the only other way to detach it. */
		log_ratelimited(&vsock_rl, LOG_WARN, "%s: stopping vhost: %s; reopening it",
				dev->name, strerror(-ret));
		guest_mem_hotplug_lock(dev->mem);
		close(vs->vhost_fd);
		vs->vhost_fd = -1;
		guest_mem_hotplug_unlock(dev->mem);
	}
	if (vsock_vhost_open(vs, &err))
		log_ratelimited(&vsock_rl, LOG_ERR, "%s: reopening after reset: %s", dev->name,
				err.msg);
}

void vsock_send_pending_reset(struct vsock *vs)
{
	if (vs->reset_pending && !vsock_event_send_reset(&vs->dev, VSOCK_EVQ, &vs->chain))
		vs->reset_pending = false;
}

/*
 * Kicks reach this only without an ioeventfd: rx/tx are relayed to vhost's
 * kick fd; on the event queue, a transport reset still owed is sent.
 */
static void vsock_queue_notify(struct virtio_dev *dev, unsigned int q)
{
	struct vsock *vs = dev->priv;

	if (q == VSOCK_EVQ)
		vsock_send_pending_reset(vs);
	if (q >= VSOCK_VHOST_QUEUES || !vs->own_kick[q])
		return;
	vs->kick_relays++;
	vhost_kick(vs->kick_fd[q]);
}

/*
 * vhost serves the rings itself: pause stops it (its ring indices stay),
 * resume starts it and kicks each ring for what the guest queued meanwhile.
 */
static int vsock_pause(struct virtio_dev *dev)
{
	struct vsock *vs = dev->priv;
	int off = 0, ret;

	if (vs->vhost_fd < 0 || !vs->dirty || !dev->activated)
		return 0;
	ret = vs->be.ioctl(vs->vhost_fd, VHOST_VSOCK_SET_RUNNING, &off);
	if (ret)
		log_ratelimited(&vsock_rl, LOG_WARN, "%s: pausing vhost: %s", dev->name,
				strerror(-ret));
	return 0;
}

static void vsock_resume(struct virtio_dev *dev)
{
	struct vsock *vs = dev->priv;
	int on = 1, ret;

	vsock_send_pending_reset(vs);
	if (vs->vhost_fd < 0 || !vs->dirty || !dev->activated ||
	    (dev->status & VIRTIO_STATUS_NEEDS_RESET))
		return;
	ret = vs->be.ioctl(vs->vhost_fd, VHOST_VSOCK_SET_RUNNING, &on);
	if (ret) {
		virtio_dev_fail(dev, "vhost would not run again after a pause");
		return;
	}
	for (unsigned int q = 0; q < VSOCK_VHOST_QUEUES; q++)
		vhost_kick(vs->kick_fd[q]);
}

/* The data path is vhost's: only what passes through Hearth is counted. */
static unsigned int vsock_counters(struct virtio_dev *dev, struct dev_counter *out,
				   unsigned int max)
{
	struct vsock *vs = dev->priv;
	struct dev_counter c[2];

	pthread_mutex_lock(&dev->lock);
	c[0] = (struct dev_counter){ "vhost_signals", vs->signals };
	c[1] = (struct dev_counter){ "kick_relays", vs->kick_relays };
	pthread_mutex_unlock(&dev->lock);
	return dev_counters_copy(out, max, c, 2);
}

static const struct virtio_dev_ops vsock_ops = {
	.device_id = VIRTIO_ID_VSOCK,
	.get_features = vsock_get_features,
	.read_config = vsock_read_config,
	.activate = vsock_activate,
	.activate_check = vsock_activate_check,
	.reset = vsock_reset,
	.queue_notify = vsock_queue_notify,
	.pause = vsock_pause,
	.resume = vsock_resume,
	.destroy = virtio_vsock_destroy,
	.counters = vsock_counters,
	.save = vsock_state_save,
	.restore = vsock_state_restore,
	.restored = vsock_state_restored,
};

/* vhost's call fds, watched from creation on: the loop is not running yet. */
static int vsock_setup_calls(struct vsock *vs, struct err *err)
{
	int ret;

	for (unsigned int q = 0; q < VSOCK_VHOST_QUEUES; q++) {
		ret = vhost_call_open(&vs->calls[q], vs->loop);
		if (ret)
			return err_set(err, false, ret, "vhost call eventfd: %s", strerror(-ret));
	}
	return 0;
}

int virtio_vsock_create_with(const struct virtio_env *env, const struct vsock_config *cfg,
			     const struct virtio_vsock_backend *be, struct virtio_dev **out,
			     struct err *err)
{
	struct vsock *vs;
	uint64_t missing;
	int ret;

	if (err)
		err->msg[0] = '\0';
	if (cfg->cid < VSOCK_CID_MIN || cfg->cid > VSOCK_CID_MAX)
		return err_set(err, true, -EINVAL, "cid %" PRIu64 " is out of range (3..%llu)",
			       cfg->cid, VSOCK_CID_MAX);
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return err_set(err, false, -ENOMEM, "out of memory");
	/* First, so that virtio_vsock_destroy can undo any step below. */
	ret = virtio_dev_init(&vs->dev, env);
	if (ret) {
		err_set(err, false, ret, "%s", strerror(-ret));
		free(vs);
		return ret;
	}
	vs->dev.ops = &vsock_ops;
	vs->dev.priv = vs;
	vs->dev.name = "virtio-vsock";
	vs->dev.num_queues = VSOCK_NUM_QUEUES;
	vs->dev.queue_max = VSOCK_QUEUE_SIZE;
	vs->dev.config_size = sizeof(uint64_t);
	vs->be = *be;
	vs->cid = cfg->cid;
	vs->loop = env->loop;
	vs->vhost_fd = -1;
	for (unsigned int q = 0; q < VSOCK_VHOST_QUEUES; q++) {
		vs->kick_fd[q] = -1;
		vs->calls[q] = (struct vhost_call){ &vs->dev, q, -1, &vs->signals };
	}
	ret = vsock_vhost_open(vs, err);
	if (ret)
		goto err_free;
	missing = VSOCK_TRANSPORT_FEATURES & ~vs->vhost_features;
	if (missing) {
		ret = err_set(err, false, -EOPNOTSUPP, "%s lacks transport features 0x%" PRIx64
			      " that virtio transports offer", be->path, missing);
		goto err_free;
	}
	ret = vsock_setup_calls(vs, err);
	if (ret)
		goto err_free;
	/* Its memory table follows the hotplug region's plugged blocks (issue 47, S1). */
	vhost_mem_watch_start(&vs->mw, vs->dev.mem, vs->be.ioctl, &vs->vhost_fd, 1);
	*out = &vs->dev;
	return 0;

err_free:
	virtio_vsock_destroy(&vs->dev);
	return ret;
}

int virtio_vsock_create(const struct virtio_env *env, const struct vsock_config *cfg,
			struct virtio_dev **out, struct err *err)
{
	static const struct virtio_vsock_backend sys = { VSOCK_DEFAULT_PATH, vhost_sys_ioctl };

	return virtio_vsock_create_with(env, cfg, &sys, out, err);
}

void virtio_vsock_destroy(struct virtio_dev *dev)
{
	struct vsock *vs;

	if (!dev)
		return;
	vs = dev->priv;
	vhost_mem_watch_stop(&vs->mw);
	/* Stop the kernel first: it holds the kick and call eventfds. */
	vsock_vhost_close(vs);
	for (unsigned int q = 0; q < VSOCK_VHOST_QUEUES; q++) {
		vhost_call_close(&vs->calls[q], vs->loop);
		/* Taken kick fds still belong to the transport, which closed them. */
		if (vs->own_kick[q] && vs->kick_fd[q] >= 0)
			close(vs->kick_fd[q]);
	}
	virtio_dev_release(&vs->dev);
	free(vs);
}
