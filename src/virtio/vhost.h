/*
 * What every vhost (kernel) backend does the same way, whichever device
 * it serves: the memory table, one ring's setup, a queue's kick fd and
 * its call fd watched on the I/O thread. vsock/vhost.c and net/vhost.c
 * add their device's own ioctls (a CID, a TAP per queue pair).
 */
#ifndef HEARTH_VIRTIO_VHOST_H
#define HEARTH_VIRTIO_VHOST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/eventloop.h"
#include "mem/guest_mem_hotplug.h"
#include "virtio/device.h"

/* ioctl(2) returning 0 or -errno; unit tests put a fake in its place. */
typedef int (*vhost_ioctl_fn)(int fd, unsigned long req, void *arg);
int vhost_sys_ioctl(int fd, unsigned long req, void *arg);

/*
 * VHOST_SET_MEM_TABLE from the guest's RAM regions and the plugged runs of
 * its memory hotplug region (a guest that onlines hotplugged memory for
 * the kernel may put its buffers there; never in an unplugged block,
 * which vhost would otherwise back). 0 or -errno.
 */
int vhost_set_mem_table(vhost_ioctl_fn io, int fd, const struct guest_mem *gm);

/*
 * A backend's tables following plug and unplug: each fd >= 0 of fds (the
 * backend's array, read at each change) gets the new table after a plug
 * and before an unplugged block's pages go. Started once the fds exist,
 * stopped before any of them closes; a change that a table cannot take
 * (vhost's region limit) is refused to the guest, nothing changed.
 */
struct vhost_mem_watch {
	struct guest_mem_watch w;
	const struct guest_mem *gm;
	vhost_ioctl_fn io;
	const int *fds;
	unsigned int nfds;
	bool on;
	uint64_t updates;      /* tables set after a change (tests, metrics) */
};

void vhost_mem_watch_start(struct vhost_mem_watch *mw, const struct guest_mem *gm,
			   vhost_ioctl_fn io, const int *fds, unsigned int nfds);
void vhost_mem_watch_stop(struct vhost_mem_watch *mw);

/*
 * Hands ring vq to vhost as its ring index (vhost's own numbering, which
 * for vhost-net restarts at 0 with each queue pair): size, base (the
 * virtq's last_avail: 0 after a driver's setup, the saved index after a
 * restore), addresses, call and kick fds. 0 or -errno.
 */
int vhost_setup_vring(vhost_ioctl_fn io, int fd, unsigned int index, const struct virtq *vq,
		      int kick, int call);

/* Reads ring index's base back from a stopped vhost. 0 or -errno. */
int vhost_get_base(vhost_ioctl_fn io, int fd, unsigned int index, uint16_t *base);

/*
 * vhost takes queue q's kicks straight from the transport's notification
 * fd where there is one (a KVM ioeventfd); else from an eventfd of ours
 * (*own true) that the device signals from queue_notify. Once per queue:
 * a *fd already >= 0 is kept. On the I/O thread, dev->lock held.
 */
int vhost_take_kick(struct virtio_dev *dev, unsigned int q, int *fd, bool *own);

/* Nudges vhost to look at a ring (a relayed kick, or after a resume). */
void vhost_kick(int fd);

/*
 * vhost's call fd for queue q: signalled when vhost used buffers, turned
 * into the transport's interrupt (which can take more than an irqfd: an
 * interrupt status register the driver reads). *calls counts them.
 */
struct vhost_call {
	struct virtio_dev *dev;
	unsigned int q;
	int fd;
	uint64_t *calls; /* under dev->lock */
};

/*
 * The fd a backend should signal q's used buffers on: the transport's
 * own (dev->call_fd, an irqfd, so no Hearth thread relays the interrupt),
 * else c's eventfd, which the I/O thread relays. dev->lock held.
 */
int vhost_call_target(const struct vhost_call *c);

/* Makes c's eventfd and watches it in loop (none in some unit tests). 0 or -errno. */
int vhost_call_open(struct vhost_call *c, struct eventloop *loop);
void vhost_call_close(struct vhost_call *c, struct eventloop *loop);
/* Calls from before a reset must not look like new completions. */
void vhost_call_drain(const struct vhost_call *c);

#endif
