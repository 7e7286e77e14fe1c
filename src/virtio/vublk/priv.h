/*
 * vhost-user-blk's insides, shared by its ops (vublk.c) and its handshake
 * (handshake.c), and by vhost-user-fs (vufs.c), which is the same front
 * end with another config space: both are "a device whose rings a
 * backend serves", and differ only in what the handshake asks for.
 */
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
	const char *noun;         /* "disk", "file system": what its warnings call it */
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

/* The ops both devices share (vublk.c); the backend's failure marks the device. */
void vublk_broken(struct vublk *vb, const char *why);
uint64_t vublk_get_features(struct virtio_dev *dev);
void vublk_read_config(struct virtio_dev *dev, uint32_t off, uint8_t *data, unsigned int len);
void vublk_write_config(struct virtio_dev *dev, uint32_t off, const uint8_t *data,
			unsigned int len);
int vublk_activate(struct virtio_dev *dev);
void vublk_reset(struct virtio_dev *dev);
void vublk_queue_notify(struct virtio_dev *dev, unsigned int q);
int vublk_pause(struct virtio_dev *dev);
void vublk_resume(struct virtio_dev *dev);
unsigned int vublk_counters(struct virtio_dev *dev, struct dev_counter *out, unsigned int max);
void vublk_destroy(struct virtio_dev *dev);

/*
 * handshake.c: a device connected to socket, not yet negotiated
 * (vublk_handshake), with its ring descriptors unset. 0 or -errno + err.
 */
int vublk_new(const struct virtio_env *env, const char *socket, const char *noun,
	      struct vublk **out, struct err *err);
/*
 * GET_FEATURES (VERSION_1, EVENT_IDX and INDIRECT_DESC needed),
 * protocol features (those of want the backend has), SET_OWNER. Inside
 * an operation (vhost_user_op_begin). 0 or -errno + err naming socket.
 */
int vublk_handshake(struct vublk *vb, uint64_t want, struct err *err);
/* The error line for a request the backend failed: what, and why. */
int vublk_fail(struct vublk *vb, struct err *err, int ret, const char *what);
/*
 * Makes the negotiated device a virtio device with ops, its calls and
 * the hangup watch. On failure it is freed. 0 or -errno + err.
 */
int vublk_finish(struct vublk *vb, const struct virtio_env *env,
		 const struct virtio_dev_ops *ops, const char *name, struct err *err);
/* Frees a device vublk_finish never took. */
void vublk_free(struct vublk *vb);

/* GET_CONFIG into vb->config. 0 or -errno. */
int vublk_read_backend_config(struct vublk *vb);
/* Watches the socket for the backend's hangup. 0 or -errno. */
int vublk_watch(struct vublk *vb);
/* Ties call q to the device and its count before it is opened. */
void vublk_on_call_count(struct vublk *vb, unsigned int q);

#endif
