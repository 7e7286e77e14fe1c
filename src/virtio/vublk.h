/*
 * A vhost-user block device: the guest sees a virtio-blk disk whose rings
 * a storage daemon (qemu-storage-daemon, SPDK, ...) serves, reached over a
 * Unix socket; Hearth hands it the guest's RAM (a memfd: the VM must have
 * shared RAM, guest_mem_init_shared), the rings and their kick and call
 * eventfds, and keeps the config space it reads from the backend. No
 * disk request passes through Hearth.
 *
 * The backend is another process: its death (the socket closing) marks
 * the device NEEDS_RESET, with a config interrupt and one warning; no
 * thread of Hearth's waits on it past VHOST_USER_TIMEOUT_MS.
 */
#ifndef HEARTH_VIRTIO_VUBLK_H
#define HEARTH_VIRTIO_VUBLK_H

#include <stdbool.h>

#include "util/err.h"
#include "virtio/blk.h"
#include "virtio/device.h"

struct vublk_config {
	const char *socket;
	/* UNSAFE: the backend's FLUSH is not offered (Firecracker's cache_type "Unsafe"). */
	enum blk_cache cache;
};

/*
 * Connects to cfg->socket and negotiates (features, protocol features:
 * CONFIG needed, MQ and REPLY_ACK taken where offered; the config space).
 * env->mem must be shared RAM by the time the driver starts the device.
 * 0, or -errno with one line in err naming the socket and the cause.
 */
int virtio_vublk_create(const struct virtio_env *env, const struct vublk_config *cfg,
			struct virtio_dev **out, struct err *err);

/* True for a device virtio_vublk_create made. */
bool virtio_vublk_is(const struct virtio_dev *dev);

/*
 * PATCH /drives/{id} of such a drive: the config space read again from
 * the backend (a resized export) and a config interrupt. On the I/O
 * thread; takes dev->lock. 0 or -errno + err.
 */
int virtio_vublk_refresh(struct virtio_dev *dev, struct err *err);

/* Just connects and disconnects: the socket is there and listening (PUT time). */
int virtio_vublk_probe(const char *socket, struct err *err);

#endif
