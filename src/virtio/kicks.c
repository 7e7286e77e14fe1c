/*
 * Queue notifications (kicks.h).
 */
#include "virtio/kicks.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"

static struct ratelimit kicks_rl = RATELIMIT_INIT(10);

void virtio_kicks_init(struct virtio_kicks *k, struct virtio_dev *dev, struct eventloop *loop)
{
	k->dev = dev;
	k->loop = loop;
	k->vm_fd = -1;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		k->q[i] = (struct virtio_kick){ .owner = k, .q = i, .fd = -1 };
}

/* The kick reaches the device, dev->lock held; a queue not live drops it (resume looks again). */
static void kick(struct virtio_dev *dev, unsigned int q)
{
	if (q >= dev->num_queues) {
		virtio_dev_fail(dev, "notify for a queue that does not exist");
		return;
	}
	if (!virtio_dev_running(dev) || !dev->vq[q].enabled)
		return;
	dev->ops->queue_notify(dev, q);
}

static void on_kick(void *opaque, uint32_t events)
{
	struct virtio_kick *kq = opaque;
	struct virtio_dev *dev = kq->owner->dev;
	uint64_t v;

	(void)events;
	if (read(kq->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&dev->lock);
	kick(dev, kq->q);
	pthread_mutex_unlock(&dev->lock);
}

int virtio_kicks_open(struct virtio_kicks *k, unsigned int q, int vm_fd, struct kvm_ioeventfd io)
{
	struct virtio_kick *kq = &k->q[q];

	if (q >= VIRTIO_MAX_QUEUES || kq->fd >= 0)
		return -EINVAL;
	kq->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (kq->fd < 0)
		return -errno;
	io.fd = kq->fd;
	if (vm_fd >= 0) {
		if (ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0)
			return -errno;
		k->vm_fd = vm_fd;
		kq->io = io;
		kq->placed = true;
	}
	return eventloop_add(k->loop, kq->fd, EPOLLIN, on_kick, kq);
}

static void unplace(struct virtio_kicks *k, struct virtio_kick *kq)
{
	struct kvm_ioeventfd io = kq->io;

	if (!kq->placed)
		return;
	io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	if (ioctl(k->vm_fd, KVM_IOEVENTFD, &io) < 0)
		log_ratelimited(&kicks_rl, LOG_WARN, "%s: queue %u's ioeventfd at %#llx stays: %s",
				k->dev->name, kq->q, (unsigned long long)io.addr,
				strerror(errno));
	kq->placed = false;
}

int virtio_kicks_place(struct virtio_kicks *k, unsigned int q, uint64_t addr)
{
	struct virtio_kick *kq;
	struct kvm_ioeventfd io;

	if (q >= VIRTIO_MAX_QUEUES || k->vm_fd < 0 || k->q[q].fd < 0)
		return -EINVAL;
	kq = &k->q[q];
	if (kq->placed && kq->io.addr == addr)
		return 0;
	io = kq->io;
	unplace(k, kq);
	io.addr = addr;
	io.fd = kq->fd;
	if (ioctl(k->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return -errno;
	kq->io = io;
	kq->placed = true;
	return 0;
}

void virtio_kicks_close(struct virtio_kicks *k)
{
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (k->q[i].fd < 0)
			continue;
		unplace(k, &k->q[i]);
		if (k->loop)
			eventloop_remove(k->loop, k->q[i].fd);
		close(k->q[i].fd);
		k->q[i].fd = -1;
	}
}

void virtio_kicks_again(struct virtio_kicks *k, unsigned int q)
{
	uint64_t one = 1;

	if (q < k->dev->num_queues && k->q[q].fd >= 0 &&
	    write(k->q[q].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_ratelimited(&kicks_rl, LOG_WARN, "%s: re-arming queue %u failed: %s",
				k->dev->name, q, strerror(errno));
}

void virtio_kicks_notify(struct virtio_kicks *k, unsigned int q)
{
	if (q >= k->dev->num_queues) {
		virtio_dev_fail(k->dev, "notify for a queue that does not exist");
		return;
	}
	if (k->q[q].fd >= 0)
		virtio_kicks_again(k, q);
	else
		kick(k->dev, q); /* no I/O thread: unit tests drive registers directly */
}

int virtio_kicks_take(struct virtio_kicks *k, unsigned int q)
{
	if (q >= k->dev->num_queues || k->q[q].fd < 0)
		return -ENOENT;
	eventloop_remove(k->loop, k->q[q].fd);
	return k->q[q].fd;
}
