/*
 * virtio-pci's common configuration structure (VIRTIO 1.2 §4.1.4.3): the
 * features, the status' neighbours, the selected queue's layout and its
 * MSI-X vector, as the driver reads and writes them in BAR 0. The status
 * itself is pci.c's, which takes its writes off the vCPU. dev->lock held.
 */
#include <inttypes.h>
#include <string.h>

#include "core/bus.h"
#include "util/log.h"
#include "virtio/pci/priv.h"
#include "virtio/virtio.h"

/* The common configuration structure (4.1.4.3). */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_MSIX 0x10
#define CC_NUMQ 0x12
#define CC_CFGGEN 0x15
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_MSIX 0x1a
#define CC_Q_ENABLE 0x1c
#define CC_Q_NOFF 0x1e
#define CC_Q_DESC 0x20
#define CC_Q_AVAIL 0x28
#define CC_Q_USED 0x30
#define CC_SIZE VIRTIO_PCI_CC_SIZE
#define CC_STATUS VIRTIO_PCI_CC_STATUS

static struct ratelimit common_rl = RATELIMIT_INIT(10);

/* A vector the table has, else NO_VECTOR (which the driver reads back: 4.1.4.3.2). */
static uint16_t vector(const struct virtio_pci *t, uint32_t v)
{
	return v < t->msix.nvec ? (uint16_t)v : MSIX_NO_VECTOR;
}

/* The common structure as the driver would read it now. */
static void common_image(struct virtio_pci *t, uint8_t img[CC_SIZE])
{
	struct virtio_dev *dev = t->dev;
	struct virtq *vq = virtio_transport_queue(dev, &t->ts);
	uint64_t offered = virtio_transport_offered(dev);

	memset(img, 0, CC_SIZE);
	bus_data_put(img + CC_DFSELECT, 4, t->ts.device_features_sel);
	bus_data_put(img + CC_DF, 4, t->ts.device_features_sel > 1 ? 0 :
		     offered >> (32 * t->ts.device_features_sel));
	bus_data_put(img + CC_GFSELECT, 4, t->ts.driver_features_sel);
	bus_data_put(img + CC_GF, 4, t->ts.driver_features_sel > 1 ? 0 :
		     t->ts.driver_features >> (32 * t->ts.driver_features_sel));
	bus_data_put(img + CC_MSIX, 2, t->msix_config);
	bus_data_put(img + CC_NUMQ, 2, dev->num_queues);
	img[CC_STATUS] = (uint8_t)dev->status;
	img[CC_CFGGEN] = t->config_generation;
	bus_data_put(img + CC_Q_SELECT, 2, t->ts.queue_sel);
	if (!vq)
		return;      /* a queue that does not exist: size 0, as the spec reads */
	bus_data_put(img + CC_Q_SIZE, 2, vq->size ? vq->size : dev->queue_max);
	bus_data_put(img + CC_Q_MSIX, 2, t->queue_vector[t->ts.queue_sel]);
	bus_data_put(img + CC_Q_ENABLE, 2, vq->enabled);
	bus_data_put(img + CC_Q_NOFF, 2, t->ts.queue_sel);
	bus_data_put(img + CC_Q_DESC, 8, vq->desc_gpa);
	bus_data_put(img + CC_Q_AVAIL, 8, vq->avail_gpa);
	bus_data_put(img + CC_Q_USED, 8, vq->used_gpa);
}

static void set_part(uint64_t *v, unsigned int at, unsigned int len, uint64_t val)
{
	uint64_t mask = len >= 8 ? ~0ull : ((1ull << (8 * len)) - 1) << (8 * at);

	*v = (*v & ~mask) | ((val << (8 * at)) & mask);
}

/* A write to the selected queue's address or size fields; false: not one of them. */
static void queue_write(struct virtio_pci *t, struct virtq *vq, unsigned int off,
			unsigned int len, uint64_t val)
{
	struct virtio_dev *dev = t->dev;

	if (off == CC_Q_ENABLE && len == 2) {
		if (val != 1) {
			virtio_dev_fail(dev, "queue_enable written with other than 1");
			return;
		}
		if (!vq->size)
			vq->size = dev->queue_max;
		virtio_transport_enable(dev, vq);
		return;
	}
	if (off == CC_Q_MSIX && len == 2) {
		t->queue_vector[t->ts.queue_sel] = vector(t, (uint32_t)val);
		return;
	}
	if (!virtio_transport_layout_writable(dev, vq))
		return;
	if (off == CC_Q_SIZE && len == 2) {
		if (virtio_transport_size_ok(dev, (uint32_t)val))
			vq->size = (uint16_t)val;
	} else if (off >= CC_Q_DESC && off + len <= CC_Q_DESC + 8 && (len == 4 || len == 8)) {
		set_part(&vq->desc_gpa, off - CC_Q_DESC, len, val);
	} else if (off >= CC_Q_AVAIL && off + len <= CC_Q_AVAIL + 8 && (len == 4 || len == 8)) {
		set_part(&vq->avail_gpa, off - CC_Q_AVAIL, len, val);
	} else if (off >= CC_Q_USED && off + len <= CC_Q_USED + 8 && (len == 4 || len == 8)) {
		set_part(&vq->used_gpa, off - CC_Q_USED, len, val);
	} else {
		log_ratelimited(&common_rl, LOG_WARN, "%s: %u-byte write at common 0x%02x ignored",
				dev->name, len, off);
	}
}

/* Everything but device_status, which status_write takes off the vCPU. */
void virtio_pci_common_write(struct virtio_pci *t, unsigned int off, unsigned int len, uint64_t val)
{
	struct virtio_dev *dev = t->dev;
	struct virtq *vq;

	switch (off) {
	case CC_DFSELECT:
		if (len == 4)
			t->ts.device_features_sel = (uint32_t)val;
		return;
	case CC_GFSELECT:
		if (len == 4)
			t->ts.driver_features_sel = (uint32_t)val;
		return;
	case CC_GF:
		if (len != 4)
			break;
		if (dev->status & VIRTIO_STATUS_FEATURES_OK) {
			virtio_dev_fail(dev, "features written after FEATURES_OK");
			return;
		}
		if (t->ts.driver_features_sel < 2)
			set_part(&t->ts.driver_features, 4 * t->ts.driver_features_sel, 4, val);
		return;
	case CC_MSIX:
		if (len == 2)
			t->msix_config = vector(t, (uint32_t)val);
		return;
	case CC_Q_SELECT:
		if (len == 2)
			t->ts.queue_sel = (uint32_t)val;
		return;
	default:
		if (off < CC_Q_SIZE || off >= CC_SIZE || off == CC_Q_NOFF)
			break;
		vq = virtio_transport_queue(dev, &t->ts);
		if (!vq) {
			virtio_dev_fail(dev, "queue register written with queue_select out of range");
			return;
		}
		queue_write(t, vq, off, len, val);
		return;
	}
	log_ratelimited(&common_rl, LOG_WARN, "%s: %u-byte write at common 0x%02x ignored",
			dev->name, len, off);
}

void virtio_pci_common_read(struct virtio_pci *t, unsigned int off, uint8_t *data,
			    unsigned int len)
{
	uint8_t img[CC_SIZE];

	common_image(t, img);
	memcpy(data, img + off, len);
}
