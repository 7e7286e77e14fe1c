/*
 * virtio-fs through vhost-user (VIRTIO 1.2 5.11; QEMU's
 * vhost-user-fs): the guest mounts a host directory that a file-system
 * daemon (virtiofsd) serves, with `mount -t virtiofs TAG DIR`. Hearth
 * hands the daemon the guest's RAM (shared RAM, as for a vhost-user
 * disk) and the rings, and owns only the config space: the tag and the
 * number of request queues. No FUSE request passes through Hearth.
 *
 * The device is vhost-user-blk's front end with another config space
 * (vublk/priv.h): the daemon's death marks it NEEDS_RESET with a config
 * interrupt, never hangs a vCPU, and every request is bounded in time.
 * Its state lives in the daemon, which Hearth cannot take: a snapshot,
 * a migration or a fork of a VM with one is refused, naming it.
 */
#ifndef HEARTH_VIRTIO_FS_H
#define HEARTH_VIRTIO_FS_H

#include <stdbool.h>

#include "util/err.h"
#include "virtio/device.h"

/* The config space's tag: up to 36 bytes, not NUL-terminated when it fills them. */
#define VIRTIO_FS_TAG_MAX 36u

struct virtio_fs_config {
	const char *socket;
	const char *tag;
};

/*
 * 0 when tag can be a virtio-fs tag (1 to VIRTIO_FS_TAG_MAX bytes, printable
 * ASCII without spaces: what a mount(8) source may be), else -EINVAL
 * with a line in err naming the problem. Pure: the config's check.
 */
int virtio_fs_check_tag(const char *tag, struct err *err);

/*
 * Connects to cfg->socket and negotiates: features, protocol features
 * (MQ and REPLY_ACK where offered; no CONFIG needed: the config space is
 * Hearth's), the queues (a high-priority one and one request queue; a
 * backend with MQ must serve both). env->mem must be shared RAM by the
 * time the driver starts the device. 0, or -errno with one line in err
 * naming the socket and the cause.
 */
int virtio_fs_create(const struct virtio_env *env, const struct virtio_fs_config *cfg,
		       struct virtio_dev **out, struct err *err);

/* True for a device virtio_fs_create made. */
bool virtio_fs_is(const struct virtio_dev *dev);

#endif
