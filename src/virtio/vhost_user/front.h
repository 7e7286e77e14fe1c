/*
 * The vhost-user front end both vhost-user devices share (front.c): a
 * virtio device whose rings a backend process serves, and which differ
 * only in their config space and what their making asks of the backend
 * (blk.c: vhost-user-blk; fs.c: virtio-fs). Neither knows the transport.
 */
#ifndef HEARTH_VIRTIO_VHOST_USER_FRONT_H
#define HEARTH_VIRTIO_VHOST_USER_FRONT_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/vhost.h"
#include "virtio/vhost_user.h"
#include "virtio/virtio.h"

/* The largest config space kept: virtio_blk_config up to write_zeroes_may_unmap (5.2.4). */
#define VU_FRONT_CONFIG_MAX 60u
#define VU_FRONT_QUEUE_MAX 256
/* How long a pause waits for the backend to finish requests in flight. */
#define VU_FRONT_DRAIN_MS 5000

struct vu_front {
	struct virtio_dev dev;
	struct vhost_user vu;
	char *socket;
	const char *noun;         /* "disk", "file system": what its warnings call it */
	struct eventloop *loop;
	bool watched;             /* the socket's hangup watched on loop */
	bool running;             /* the backend has the rings (started or starting) */
	unsigned int drain_ms;    /* a pause's wait for requests in flight: VU_FRONT_DRAIN_MS */
	uint8_t config[VU_FRONT_CONFIG_MAX];
	uint64_t offered;         /* the device bits offered to the driver */
	bool started[VIRTIO_MAX_QUEUES];
	int kick[VIRTIO_MAX_QUEUES];
	bool kick_own[VIRTIO_MAX_QUEUES];
	struct vhost_call call[VIRTIO_MAX_QUEUES];
	uint64_t calls;
};

/* A device's ops: all the front end's, but its id. */
#define VU_FRONT_OPS(id)                                                                     \
	{                                                                                    \
		.device_id = (id), .get_features = vu_front_get_features,                    \
		.read_config = vu_front_read_config, .write_config = vu_front_write_config,  \
		.activate = vu_front_activate, .reset = vu_front_reset,                      \
		.queue_notify = vu_front_queue_notify, .destroy = vu_front_destroy,          \
		.counters = vu_front_counters, .pause = vu_front_pause,                      \
		.resume = vu_front_resume,                                                   \
	}

/* The ops both devices share; the backend's failure marks the device. */
void vu_front_broken(struct vu_front *vb, const char *why);
uint64_t vu_front_get_features(struct virtio_dev *dev);
void vu_front_read_config(struct virtio_dev *dev, uint32_t off, uint8_t *data, unsigned int len);
void vu_front_write_config(struct virtio_dev *dev, uint32_t off, const uint8_t *data,
			unsigned int len);
int vu_front_activate(struct virtio_dev *dev);
void vu_front_reset(struct virtio_dev *dev);
void vu_front_queue_notify(struct virtio_dev *dev, unsigned int q);
int vu_front_pause(struct virtio_dev *dev);
void vu_front_resume(struct virtio_dev *dev);
unsigned int vu_front_counters(struct virtio_dev *dev, struct dev_counter *out, unsigned int max);
void vu_front_destroy(struct virtio_dev *dev);

/*
 * A device connected to socket, not yet negotiated
 * (vu_front_handshake), with its ring descriptors unset. 0 or -errno + err.
 */
int vu_front_new(const struct virtio_env *env, const char *socket, const char *noun,
	      struct vu_front **out, struct err *err);
/*
 * GET_FEATURES (VERSION_1, EVENT_IDX and INDIRECT_DESC needed),
 * protocol features (those of want the backend has), SET_OWNER. Inside
 * an operation (vhost_user_op_begin). 0 or -errno + err naming socket.
 */
int vu_front_handshake(struct vu_front *vb, uint64_t want, struct err *err);
/* The error line for a request the backend failed: what, and why. */
int vu_front_fail(struct vu_front *vb, struct err *err, int ret, const char *what);
/*
 * Makes the negotiated device a virtio device with ops, its calls and
 * the hangup watch. On failure it is freed. 0 or -errno + err.
 */
int vu_front_finish(struct vu_front *vb, const struct virtio_env *env,
		 const struct virtio_dev_ops *ops, const char *name, struct err *err);
/* Frees a device vu_front_finish never took. */
void vu_front_free(struct vu_front *vb);

/* Watches the socket for the backend's hangup. 0 or -errno. */
int vu_front_watch(struct vu_front *vb);
/* Ties call q to the device and its count before it is opened. */
void vu_front_on_call_count(struct vu_front *vb, unsigned int q);

#endif
