/*
 * Test-only: a virtio device's records as components, for state_check.h.
 * STATE_MMIO is the transport as the registry holds it (its record
 * "VMMI" with the device's nested); STATE_DEV the device's own record,
 * through its virtio_dev_ops as the transport nests it.
 */
#ifndef HEARTH_TESTS_VIRTIO_RECORD_H
#define HEARTH_TESTS_VIRTIO_RECORD_H

#include "core/component.h"
#include "virtio/device.h"
#include "virtio/mmio.h"

static int virtio_record_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct virtio_dev *dev = obj;

	(void)err;
	return dev->ops->save(dev, o);
}

static int virtio_record_restore(void *obj, const void *in, size_t len, bool apply,
				 struct err *err)
{
	struct virtio_dev *dev = obj;

	(void)err;
	return dev->ops->restore(dev, dev->vq, in, len, apply);
}

static const struct component_ops virtio_record_ops = {
	.save = virtio_record_save,
	.restore = virtio_record_restore,
};

#define STATE_MMIO(t) ((struct component){ &virtio_mmio_component, (t) })
#define STATE_DEV(dev) ((struct component){ &virtio_record_ops, (dev) })

#endif
