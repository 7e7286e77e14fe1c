/*
 * virtio-pci's save and restore ("VPCI" 1): the function's configuration
 * space as the guest left it, MSI-X's table and pending bits, the common
 * structure's state, the queues (queue_state.c) and the device's own
 * record nested. A restored function answers every access as the saved
 * one did, its BAR where the guest had it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/bytes.h"
#include "virtio/pci/priv.h"
#include "virtio/queue.h"

#define VPCI_TAG "VPCI"
#define VPCI_VERSION 1u

struct pci_saved {
	uint8_t cfg[PCI_CFG_SIZE];
	uint32_t status;
	bool activated;
	uint64_t features;
	struct virtio_tstate ts;
	uint16_t msix_config, queue_vector[VIRTIO_MAX_QUEUES];
	uint8_t isr, config_generation;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	const uint8_t *dev_state;
	uint32_t dev_len;
};

int virtio_pci_state_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct virtio_pci *t = obj;
	struct virtio_dev *dev = t->dev;
	int ret;

	pthread_mutex_lock(&dev->lock);
	virtio_transport_save_head(dev, o, VPCI_TAG, VPCI_VERSION);
	bytes_put(o, t->cfg.data, PCI_CFG_SIZE);
	{
		/* What waits in a masked vector's eventfd is pending too. */
		uint64_t kept = t->msix.pending;

		t->msix.pending |= virtio_pci_irqfd_pending(t);
		msix_save(&t->msix, o);
		t->msix.pending = kept;
	}
	bytes_put_u32(o, dev->status);
	bytes_put_u8(o, dev->activated);
	bytes_put_u64(o, dev->features);
	bytes_put_u64(o, t->ts.driver_features);
	bytes_put_u32(o, t->ts.device_features_sel);
	bytes_put_u32(o, t->ts.driver_features_sel);
	bytes_put_u32(o, t->ts.queue_sel);
	bytes_put_u16(o, t->msix_config);
	for (unsigned int q = 0; q < dev->num_queues; q++)
		bytes_put_u16(o, t->queue_vector[q]);
	bytes_put_u8(o, __atomic_load_n(&t->isr, __ATOMIC_SEQ_CST));
	bytes_put_u8(o, t->config_generation);
	for (unsigned int q = 0; q < dev->num_queues; q++)
		virtq_save(&dev->vq[q], o);
	ret = virtio_transport_save_device(dev, o);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

/*
 * What the guest cannot have changed must be as this build has it: the
 * ids, the capabilities, a BAR's flag bits and size. The PCI_CFG
 * window's data bytes are the window's last read, not the device's.
 */
static int check_config(const struct virtio_pci *t, const uint8_t *cfg)
{
	unsigned int w = (unsigned int)t->cfg_cap + VIRTIO_PCI_WINDOW_DATA;

	for (unsigned int i = 0; i < PCI_CFG_SIZE; i++) {
		uint8_t fixed = (uint8_t)~(t->cfg.wmask[i] | t->cfg.w1c[i]);

		if (i >= w && i < w + 4)
			continue;
		if ((cfg[i] ^ t->cfg.data[i]) & fixed)
			return -EINVAL;
	}
	return 0;
}

static bool vector_ok(const struct virtio_pci *t, uint16_t v)
{
	return v == MSIX_NO_VECTOR || v < t->msix.nvec;
}

/* The record into v, checked; the MSI-X fields are left in r for msix_restore. */
static int parse(struct virtio_pci *t, struct pci_saved *v, struct bytes_in *r,
		 struct bytes_in *msix_at)
{
	struct virtio_dev *dev = t->dev;
	struct msix probe = t->msix;
	unsigned int num_queues = dev->num_queues;
	int ret = virtio_transport_get_head(dev, r, VPCI_TAG, VPCI_VERSION);

	if (ret)
		return ret;
	bytes_get(r, v->cfg, PCI_CFG_SIZE);
	if (r->short_read)
		return -ENODATA;
	ret = check_config(t, v->cfg);
	if (ret)
		return ret;
	*msix_at = *r;
	ret = msix_restore(&probe, r, false);
	if (ret)
		return ret;
	v->status = bytes_get_u32(r);
	v->activated = bytes_get_bool(r);
	v->features = bytes_get_u64(r);
	v->ts.driver_features = bytes_get_u64(r);
	v->ts.device_features_sel = bytes_get_u32(r);
	v->ts.driver_features_sel = bytes_get_u32(r);
	v->ts.queue_sel = bytes_get_u32(r);
	v->msix_config = bytes_get_u16(r);
	for (unsigned int q = 0; q < num_queues; q++)
		v->queue_vector[q] = bytes_get_u16(r);
	v->isr = bytes_get_u8(r);
	v->config_generation = bytes_get_u8(r);
	if (r->short_read)
		return -ENODATA;
	if (!vector_ok(t, v->msix_config) || (v->isr & ~(VIRTIO_PCI_ISR_QUEUE |
							  VIRTIO_PCI_ISR_CONFIG)))
		return -EINVAL;
	for (unsigned int q = 0; q < num_queues; q++)
		if (!vector_ok(t, v->queue_vector[q]))
			return -EINVAL;
	ret = virtio_transport_get_queues(dev, r, v->vq);
	if (!ret)
		ret = virtio_transport_get_device(dev, r, &v->dev_state, &v->dev_len);
	if (ret)
		return ret;
	ret = bytes_in_finish(r);
	if (ret)
		return ret;
	return virtio_transport_check_saved(dev, v->status, v->activated, v->features);
}

int virtio_pci_state_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct virtio_pci *t = obj;
	struct virtio_dev *dev = t->dev;
	struct pci_saved *v = malloc(sizeof(*v));
	struct bytes_in r = bytes_in_init(in, len), msix_at;
	int ret;

	if (!v)
		return -ENOMEM;
	pthread_mutex_lock(&dev->lock);
	ret = parse(t, v, &r, &msix_at);
	if (ret || !apply) {
		if (!ret)
			ret = virtio_transport_check_device(dev, v->vq, v->status, v->activated,
							    v->dev_state, v->dev_len);
		goto out;
	}
	memcpy(t->cfg.data, v->cfg, PCI_CFG_SIZE);
	/* Where the guest had moved BAR 0, the notifications go. */
	virtio_pci_follow_bar(t);
	dev->status = v->status;
	dev->activated = v->activated;
	dev->features = v->features;
	t->ts = v->ts;
	t->msix_config = v->msix_config;
	memcpy(t->queue_vector, v->queue_vector, sizeof(v->queue_vector[0]) * dev->num_queues);
	t->config_generation = v->config_generation;
	__atomic_store_n(&t->isr, v->isr, __ATOMIC_SEQ_CST);
	memcpy(dev->vq, v->vq, sizeof(v->vq[0]) * dev->num_queues);
	ret = virtio_transport_apply_device(dev, v->dev_state, v->dev_len);
	/*
	 * The table last: its messages pending and unmasked go out now (the
	 * guest's interrupt controller is back already), as a masked one
	 * waits for its unmask.
	 */
	(void)msix_restore(&t->msix, &msix_at, true);
	virtio_transport_restored(dev);
	if (ret < 0)
		err_set(err, false, ret, "the device could not start again: %s", strerror(-ret));
out:
	pthread_mutex_unlock(&dev->lock);
	free(v);
	return ret;
}
