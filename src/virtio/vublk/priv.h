/* vhost-user-blk's insides, shared by its ops (vublk.c) and its handshake (handshake.c). */
#ifndef HEARTH_VIRTIO_VUBLK_PRIV_H
#define HEARTH_VIRTIO_VUBLK_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/vhost.h"
#include "virtio/vhost_user.h"
#include "virtio/virtio.h"
#include "virtio/vublk.h"

/* virtio_blk_config up to write_zeroes_may_unmap and its padding (VIRTIO 1.2, 5.2.4). */
#define VUBLK_CONFIG_SIZE 60u
#define VUBLK_NUM_QUEUES_OFF 34u
#define VUBLK_QUEUE_MAX 256
/* How long a pause waits for the backend to finish requests in flight. */
#define VUBLK_DRAIN_MS 5000

struct vublk {
	struct virtio_dev dev;
	struct vhost_user vu;
	char *socket;
	struct eventloop *loop;
	bool watched;             /* the socket's hangup watched on loop */
	bool running;             /* the backend has the rings (started or starting) */
	unsigned int drain_ms;    /* a pause's wait for requests in flight: VUBLK_DRAIN_MS */
	uint8_t config[VUBLK_CONFIG_SIZE];
	uint64_t offered;         /* the device bits offered to the driver */
	bool started[VIRTIO_MAX_QUEUES];
	int kick[VIRTIO_MAX_QUEUES];
	bool kick_own[VIRTIO_MAX_QUEUES];
	struct vhost_call call[VIRTIO_MAX_QUEUES];
	uint64_t calls;
};

extern const struct virtio_dev_ops vublk_ops;

/* GET_CONFIG into vb->config. 0 or -errno. */
int vublk_read_backend_config(struct vublk *vb);
/* Watches the socket for the backend's hangup. 0 or -errno. */
int vublk_watch(struct vublk *vb);
/* Ties call q to the device and its count before it is opened. */
void vublk_on_call_count(struct vublk *vb, unsigned int q);

#endif
