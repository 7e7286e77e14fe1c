/*
 * A transport's queue notifications, the same on every bus: one eventfd
 * a queue, which KVM signals through an ioeventfd on the queue's notify
 * address (the transport says where) and which the I/O thread watches,
 * handing the kick to the device under dev->lock. A notification the
 * ioeventfd missed (an odd width or value, a moved BAR) signals the same
 * fd from the vCPU, so queues are only ever processed on the I/O thread.
 * With no I/O thread (unit tests), a kick runs inline.
 */
#ifndef HEARTH_VIRTIO_KICKS_H
#define HEARTH_VIRTIO_KICKS_H

#include <linux/kvm.h>

#include "core/eventloop.h"
#include "virtio/device.h"

struct virtio_kicks;

struct virtio_kick {
	struct virtio_kicks *owner;
	unsigned int q;
	int fd;
	struct kvm_ioeventfd io;  /* KVM's, while placed */
	bool placed;
};

struct virtio_kicks {
	struct virtio_dev *dev;
	struct eventloop *loop;
	int vm_fd;                /* where the ioeventfds are; -1: none */
	struct virtio_kick q[VIRTIO_MAX_QUEUES];
};

/* No fds yet: virtio_kicks_close may follow at once. */
void virtio_kicks_init(struct virtio_kicks *k, struct virtio_dev *dev, struct eventloop *loop);

/*
 * Queue q's fd, watched on the loop, and, with vm_fd >= 0, KVM's
 * ioeventfd io (its fd field filled here). 0 or -errno.
 */
int virtio_kicks_open(struct virtio_kicks *k, unsigned int q, int vm_fd, struct kvm_ioeventfd io);

/*
 * Moves queue q's ioeventfd to addr (its width and match kept): the
 * transport's notify address moved with a BAR. 0, or -errno with the
 * queue left with no ioeventfd (its notifications then reach the fd
 * through virtio_kicks_notify, from the vCPU that made them).
 */
int virtio_kicks_place(struct virtio_kicks *k, unsigned int q, uint64_t addr);

/*
 * Stops watching and closes every fd, those handed out by take included,
 * and takes the ioeventfds back from KVM (a device unplugged from a
 * running VM leaves none behind at its addresses).
 */
void virtio_kicks_close(struct virtio_kicks *k);

/*
 * The device's kick_again: q's fd signalled, so the loop runs it on its
 * next round. And the notification a vCPU saw itself: the same, or
 * inline where there is no fd. Never processes a queue on a vCPU.
 */
void virtio_kicks_again(struct virtio_kicks *k, unsigned int q);
void virtio_kicks_notify(struct virtio_kicks *k, unsigned int q);

/* The device's take_kick_fd (device.h): -ENOENT, or q's fd, no longer watched. */
int virtio_kicks_take(struct virtio_kicks *k, unsigned int q);

#endif
