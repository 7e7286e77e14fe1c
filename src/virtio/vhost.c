/* The vhost steps every in-kernel backend shares (vhost.h). */
#include "virtio/vhost.h"

#include <errno.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "mem/guest_mem_hotplug.h"
#include "util/log.h"

int vhost_sys_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

/*
 * RAM's regions and the hotplug region's plugged runs, never an unplugged
 * block (issue 47, S1): vhost would fault in whatever the table covers
 * when a guest posts a buffer there. The region's lock held.
 */
static int mem_table_locked(vhost_ioctl_fn io, int fd, const struct guest_mem *gm)
{
	unsigned int nruns = gm->hp ? guest_mem_hotplug_runs(gm->hp, NULL, 0) : 0;
	struct guest_mem_run *runs = NULL;
	struct vhost_memory *m;
	int ret;

	m = calloc(1, sizeof(*m) + (gm->nregions + nruns) * sizeof(m->regions[0]));
	if (nruns)
		runs = calloc(nruns, sizeof(*runs));
	if (!m || (nruns && !runs)) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned int i = 0; i < gm->nregions; i++) {
		m->regions[i].guest_phys_addr = gm->regions[i].gpa;
		m->regions[i].memory_size = gm->regions[i].size;
		m->regions[i].userspace_addr = (uintptr_t)gm->regions[i].hva;
	}
	m->nregions = gm->nregions;
	/* The same count, the lock held; never more than runs[] has room for. */
	if (nruns) {
		unsigned int again = guest_mem_hotplug_runs(gm->hp, runs, nruns);

		nruns = again < nruns ? again : nruns;
	}
	for (unsigned int i = 0; i < nruns; i++, m->nregions++) {
		m->regions[m->nregions].guest_phys_addr = runs[i].gpa;
		m->regions[m->nregions].memory_size = runs[i].size;
		m->regions[m->nregions].userspace_addr = (uintptr_t)runs[i].hva;
	}
	/* More runs than vhost's max_mem_regions (64 by default): E2BIG, the plug undone. */
	ret = io(fd, VHOST_SET_MEM_TABLE, m);
out:
	free(runs);
	free(m);
	return ret;
}

int vhost_set_mem_table(vhost_ioctl_fn io, int fd, const struct guest_mem *gm)
{
	int ret;

	if (!gm || gm->nregions == 0)
		return -EINVAL;
	guest_mem_hotplug_lock(gm);
	ret = mem_table_locked(io, fd, gm);
	guest_mem_hotplug_unlock(gm);
	return ret;
}

static int mem_watch_changed(void *ctx, const struct guest_mem *gm)
{
	struct vhost_mem_watch *mw = ctx;
	int ret = 0;

	for (unsigned int i = 0; i < mw->nfds; i++) {
		int r = mw->fds[i] >= 0 ? mem_table_locked(mw->io, mw->fds[i], gm) : 0;

		if (r && !ret)
			ret = r;
	}
	if (!ret)
		mw->updates++;
	return ret;
}

void vhost_mem_watch_start(struct vhost_mem_watch *mw, const struct guest_mem *gm,
			   vhost_ioctl_fn io, const int *fds, unsigned int nfds)
{
	if (mw->on || !gm || !gm->hp)
		return;
	mw->io = io;
	mw->fds = fds;
	mw->nfds = nfds;
	mw->gm = gm;
	mw->w = (struct guest_mem_watch){ .changed = mem_watch_changed, .ctx = mw };
	guest_mem_hotplug_watch(gm, &mw->w);
	mw->on = true;
}

void vhost_mem_watch_stop(struct vhost_mem_watch *mw)
{
	if (!mw->on)
		return;
	guest_mem_hotplug_unwatch(mw->gm, &mw->w);
	mw->on = false;
}

int vhost_setup_vring(vhost_ioctl_fn io, int fd, unsigned int index, const struct virtq *vq,
		      int kick, int call)
{
	struct vhost_vring_state num = { .index = index, .num = vq->size };
	struct vhost_vring_state base = { .index = index, .num = vq->last_avail };
	struct vhost_vring_addr addr = {
		.index = index,
		.desc_user_addr = (uintptr_t)vq->desc,
		.avail_user_addr = (uintptr_t)vq->avail,
		.used_user_addr = (uintptr_t)vq->used,
	};
	struct vhost_vring_file k = { .index = index, .fd = kick };
	struct vhost_vring_file c = { .index = index, .fd = call };
	int ret;

	if (!vq->enabled || !vq->desc || !vq->avail || !vq->used)
		return -EINVAL;
	ret = io(fd, VHOST_SET_VRING_NUM, &num);
	if (!ret)
		ret = io(fd, VHOST_SET_VRING_BASE, &base);
	if (!ret)
		ret = io(fd, VHOST_SET_VRING_ADDR, &addr);
	if (!ret)
		ret = io(fd, VHOST_SET_VRING_CALL, &c);
	if (!ret)
		ret = io(fd, VHOST_SET_VRING_KICK, &k);
	return ret;
}

int vhost_get_base(vhost_ioctl_fn io, int fd, unsigned int index, uint16_t *base)
{
	struct vhost_vring_state st = { .index = index };
	int ret = io(fd, VHOST_GET_VRING_BASE, &st);

	if (!ret)
		*base = (uint16_t)st.num;
	return ret;
}

int vhost_take_kick(struct virtio_dev *dev, unsigned int q, int *fd, bool *own)
{
	int k;

	if (*fd >= 0)
		return 0;
	k = dev->take_kick_fd ? dev->take_kick_fd(dev, q) : -ENOENT;
	if (k >= 0) {
		*fd = k;
		return 0;
	}
	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*fd < 0)
		return -errno;
	*own = true;
	return 0;
}

void vhost_kick(int fd)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is full, so vhost has a kick to see already. */
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("vhost kick: %s", strerror(errno));
}

static void vhost_on_call(void *opaque, uint32_t events)
{
	struct vhost_call *c = opaque;
	struct virtio_dev *dev = c->dev;
	uint64_t v;

	(void)events;
	if (read(c->fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&dev->lock);
	if (dev->activated && !(dev->status & VIRTIO_STATUS_NEEDS_RESET) && dev->signal_used) {
		if (c->calls)
			(*c->calls)++;
		dev->signal_used(dev, c->q);
	}
	pthread_mutex_unlock(&dev->lock);
}

int vhost_call_target(const struct vhost_call *c)
{
	int fd = c->dev && c->dev->call_fd ? c->dev->call_fd(c->dev, c->q) : -1;

	return fd >= 0 ? fd : c->fd;
}

int vhost_call_open(struct vhost_call *c, struct eventloop *loop)
{
	int ret;

	c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->fd < 0)
		return -errno;
	if (!loop)
		return 0;
	ret = eventloop_add(loop, c->fd, EPOLLIN, vhost_on_call, c);
	if (ret) {
		close(c->fd);
		c->fd = -1;
	}
	return ret;
}

void vhost_call_close(struct vhost_call *c, struct eventloop *loop)
{
	if (c->fd < 0)
		return;
	if (loop)
		eventloop_remove(loop, c->fd);
	close(c->fd);
	c->fd = -1;
}

void vhost_call_drain(const struct vhost_call *c)
{
	uint64_t v;

	if (c->fd >= 0 && read(c->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("draining a vhost call fd: %s", strerror(errno));
}
