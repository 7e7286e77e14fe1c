/*
 * What both transports (virtio-mmio, virtio-pci) do the same way
 * (VIRTIO 1.2 §2-3): the features offered, feature negotiation, the
 * device status state machine, a reset, and the checks on a queue's
 * layout and readiness. A transport keeps the driver's side of it in a
 * struct virtio_tstate and calls these with dev->lock held, on the I/O
 * thread where a status write can reset or start the device.
 */
#ifndef HEARTH_VIRTIO_TRANSPORT_H
#define HEARTH_VIRTIO_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/bytes.h"
#include "virtio/device.h"
#include "virtio/queue.h"
#include "virtio/virtio.h"

#define VIRTIO_TRANSPORT_FEATURES                                                            \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX) |                       \
	 (1ull << VIRTIO_F_INDIRECT_DESC))

struct virtio_tstate {
	uint64_t driver_features;        /* as the driver wrote them, before FEATURES_OK */
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
};

/* The device's features and the transport's, as the driver is offered them. */
uint64_t virtio_transport_offered(const struct virtio_dev *dev);

/* The driver wrote 0 to the status: the device and every queue back to reset. */
void virtio_transport_reset(struct virtio_dev *dev, struct virtio_tstate *ts);

/*
 * A non-zero status write: bits 2.1 does not define dropped, bits only
 * added (else the device fails),
 * FEATURES_OK kept only for an offered set with VERSION_1, DRIVER_OK
 * activates the device. A write of 0 is the caller's reset.
 */
void virtio_transport_write_status(struct virtio_dev *dev, struct virtio_tstate *ts,
				   uint32_t v);

/* The queue the driver selected, or NULL. */
struct virtq *virtio_transport_queue(struct virtio_dev *dev, const struct virtio_tstate *ts);

/*
 * Whether vq's layout (size, addresses) may be written now: not once it
 * is live (4.2.3.2, 4.1.4.3.2); false after failing the device.
 */
bool virtio_transport_layout_writable(struct virtio_dev *dev, const struct virtq *vq);

/* A queue size the driver chose: a power of two within the maximum, or the device fails. */
bool virtio_transport_size_ok(struct virtio_dev *dev, uint32_t size);

/* The driver enabled vq: its rings are checked against guest RAM, or the device fails. */
void virtio_transport_enable(struct virtio_dev *dev, struct virtq *vq);

/*
 * Both transports' records nest the device's own: a u32 length, then the
 * record (empty for a device without save). save appends it to o (dev
 * paused, dev->lock held): 0 or the device's -errno. get reads it from
 * in into *rec and *len, within in: 0, -ENODATA, or -EINVAL for state a
 * device without save would not have written.
 */
int virtio_transport_save_device(struct virtio_dev *dev, struct bytes_out *o);
int virtio_transport_get_device(const struct virtio_dev *dev, struct bytes_in *in,
				const uint8_t **rec, uint32_t *len);

/* The status bits a driver can set (2.1); NEEDS_RESET is the device's. */
#define VIRTIO_STATUS_DRIVER_BITS                                                            \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK |        \
	 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_FAILED)
#define VIRTIO_STATUS_SAVED (VIRTIO_STATUS_DRIVER_BITS | VIRTIO_STATUS_NEEDS_RESET)

/*
 * A restored record's own checks, whatever the transport: the features
 * taken within those offered, status bits a driver can set, an
 * activated device with DRIVER_OK. 0 or -EINVAL.
 */
int virtio_transport_check_saved(const struct virtio_dev *dev, uint32_t status, bool activated,
				 uint64_t features);

/*
 * transport_state.c: what both transports' records share. The head: the
 * transport's tag and version, then what the device was (its id, queues
 * and queue size), so a record restores only into its own kind; get
 * reads and checks it: 0, -ENODATA (cut), -EINVAL (another device) or
 * the tag's error. The queues' states, each within queue_max, into vq.
 */
void virtio_transport_save_head(const struct virtio_dev *dev, struct bytes_out *o,
				const char *tag, uint32_t version);
int virtio_transport_get_head(const struct virtio_dev *dev, struct bytes_in *in,
			      const char *tag, uint32_t version);
int virtio_transport_get_queues(const struct virtio_dev *dev, struct bytes_in *in,
				struct virtq *vq);
/*
 * A parsed record's device part, with dev->lock held. check: the device's
 * own record against the queues as they will be (vq), then what activate
 * needs of them, nothing changed: 0 or -errno. apply: the record applied
 * to the restored queues and the device started again as DRIVER_OK
 * starts it; a failure there breaks the device (the driver is told), not
 * the restore, and is returned. restored: the device's last word, after
 * the transport's interrupts.
 */
int virtio_transport_check_device(struct virtio_dev *dev, const struct virtq *vq,
				  uint32_t status, bool activated, const uint8_t *rec,
				  uint32_t len);
int virtio_transport_apply_device(struct virtio_dev *dev, const uint8_t *rec, uint32_t len);
void virtio_transport_restored(struct virtio_dev *dev);

/*
 * A transport as one component (core/component.h), the same for both: a
 * transport's struct begins with its device's pointer, which these read.
 */
int virtio_transport_pause(void *transport);
int virtio_transport_resume(void *transport);
unsigned int virtio_transport_counters(void *transport, struct dev_counter *out,
				       unsigned int max);

#endif
