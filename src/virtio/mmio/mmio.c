#include "virtio/mmio.h"
#include "virtio/mmio/priv.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/transport.h"
#include "virtio/virtio.h"

#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_VENDOR_ID 0x00c
#define REG_DEVICE_FEATURES 0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_INTERRUPT_STATUS 0x060
#define REG_INTERRUPT_ACK 0x064
#define REG_STATUS 0x070
#define REG_QUEUE_DESC_LOW 0x080
#define REG_QUEUE_DESC_HIGH 0x084
#define REG_QUEUE_DRIVER_LOW 0x090
#define REG_QUEUE_DRIVER_HIGH 0x094
#define REG_QUEUE_DEVICE_LOW 0x0a0
#define REG_QUEUE_DEVICE_HIGH 0x0a4
#define REG_SHM_SEL 0x0ac
#define REG_SHM_LEN_LOW 0x0b0
#define REG_SHM_LEN_HIGH 0x0b4
#define REG_CONFIG_GENERATION 0x0fc
#define REG_CONFIG 0x100

#define MMIO_MAGIC 0x74726976 /* "virt" */
#define MMIO_VENDOR 0x48525448 /* "HTRH" */

static struct ratelimit virtio_rl = RATELIMIT_INIT(10);

void virtio_mmio_raise(struct virtio_mmio *t, uint32_t bits)
{
	uint64_t one = 1;

	__atomic_or_fetch(&t->interrupt_status, bits, __ATOMIC_SEQ_CST);
	if (t->irqfd >= 0 && write(t->irqfd, &one, sizeof(one)) < 0)
		log_ratelimited(&virtio_rl, LOG_WARN, "%s: irqfd write failed", t->dev->name);
}

static void signal_used(struct virtio_dev *dev, unsigned int q)
{
	(void)q;
	virtio_mmio_raise(dev->transport, VIRTIO_MMIO_INT_VRING);
}

static void signal_config(struct virtio_dev *dev)
{
	struct virtio_mmio *t = dev->transport;

	__atomic_add_fetch(&t->config_generation, 1, __ATOMIC_SEQ_CST);
	virtio_mmio_raise(t, VIRTIO_MMIO_INT_CONFIG);
}

/*
 * A vhost backend's used-buffer calls go to the irqfd itself, so no Hearth
 * thread wakes for each of them (as on virtio-pci, where each queue's
 * MSI-X vector has one). The driver learns why it was interrupted from
 * InterruptStatus, which the backend cannot set: from here until the
 * device is reset the used-buffer bit reads as set, and every interrupt,
 * a configuration change's too, makes the driver look at its used rings.
 * A look that finds nothing costs it a read of each ring's index; Linux
 * counts it as an unhandled interrupt, far below the share (99.9%) at
 * which it would turn the line off.
 */
static int call_fd(struct virtio_dev *dev, unsigned int q)
{
	struct virtio_mmio *t = dev->transport;

	(void)q;
	if (t->irqfd < 0)
		return -1;
	__atomic_store_n(&t->vring_direct, true, __ATOMIC_SEQ_CST);
	return t->irqfd;
}

/* Re-arms q's kick: the I/O loop sees the eventfd on its next round. */
static void kick_again(struct virtio_dev *dev, unsigned int q)
{
	virtio_kicks_again(&((struct virtio_mmio *)dev->transport)->kicks, q);
}

uint64_t virtio_mmio_offered(struct virtio_mmio *t)
{
	return virtio_transport_offered(t->dev);
}

static void device_reset(struct virtio_mmio *t)
{
	virtio_transport_reset(t->dev, &t->ts);
	__atomic_store_n(&t->interrupt_status, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&t->vring_direct, false, __ATOMIC_SEQ_CST);
}

static void write_status(struct virtio_mmio *t, uint32_t v)
{
	if (v == 0)
		device_reset(t);
	else
		virtio_transport_write_status(t->dev, &t->ts, v);
}

static struct virtq *selected_queue(struct virtio_mmio *t)
{
	return virtio_transport_queue(t->dev, &t->ts);
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
	*v = high ? (*v & 0xffffffffull) | ((uint64_t)val << 32)
		  : (*v & ~0xffffffffull) | val;
}

static void write_queue_reg(struct virtio_mmio *t, uint64_t off, uint32_t val)
{
	struct virtq *vq = selected_queue(t);

	if (!vq) {
		virtio_dev_fail(t->dev, "queue register written with QueueSel out of range");
		return;
	}
	if (off == REG_QUEUE_READY) {
		/*
		 * A live device may have requests in flight on this queue; a
		 * disable/enable cycle would zero the indices under them and
		 * their completions would land in rings the driver has reused.
		 * Only a reset (which completes them first) may restart a queue.
		 */
		if (!val && vq->enabled && t->dev->activated) {
			virtio_dev_fail(t->dev, "queue disabled while the device is live");
			return;
		}
		if (!val) {
			vq->enabled = false;
			return;
		}
		if (vq->enabled)
			return;
		if (!vq->size) {
			virtio_dev_fail(t->dev, "QueueReady written before QueueNum");
			return;
		}
		virtio_transport_enable(t->dev, vq);
		return;
	}
	/* 4.2.3.2: no queue layout changes once the queue is live. */
	if (!virtio_transport_layout_writable(t->dev, vq))
		return;
	switch (off) {
	case REG_QUEUE_NUM:
		if (!virtio_transport_size_ok(t->dev, val))
			return;
		vq->size = (uint16_t)val;
		break;
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
		set_half(&vq->desc_gpa, off == REG_QUEUE_DESC_HIGH, val);
		break;
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
		set_half(&vq->avail_gpa, off == REG_QUEUE_DRIVER_HIGH, val);
		break;
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH:
		set_half(&vq->used_gpa, off == REG_QUEUE_DEVICE_HIGH, val);
		break;
	}
}

/*
 * A QueueNotify that missed the ioeventfd (a value with stray high bits,
 * or no fast path): hand it to the I/O thread through the queue's kick fd
 * rather than process the queue on this vCPU.
 */
static void notify_slow(struct virtio_mmio *t, uint32_t val)
{
	/* The queue index, as in notification data. */
	virtio_kicks_notify(&t->kicks, val & 0xffff);
}

static uint32_t read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtio_dev *dev = t->dev;
	struct virtq *vq = selected_queue(t);

	switch (off) {
	case REG_MAGIC:
		return MMIO_MAGIC;
	case REG_VERSION:
		return 2;
	case REG_DEVICE_ID:
		return dev->ops->device_id;
	case REG_VENDOR_ID:
		return MMIO_VENDOR;
	case REG_DEVICE_FEATURES:
		return t->ts.device_features_sel > 1
			       ? 0 : (uint32_t)(virtio_mmio_offered(t) >> (32 * t->ts.device_features_sel));
	case REG_QUEUE_NUM_MAX:
		return vq ? dev->queue_max : 0;
	case REG_QUEUE_READY:
		return vq ? vq->enabled : 0;
	case REG_INTERRUPT_STATUS:
		return __atomic_load_n(&t->interrupt_status, __ATOMIC_SEQ_CST) |
		       (__atomic_load_n(&t->vring_direct, __ATOMIC_SEQ_CST) ? VIRTIO_MMIO_INT_VRING
									    : 0);
	case REG_STATUS:
		return dev->status;
	case REG_SHM_LEN_LOW:
	case REG_SHM_LEN_HIGH:
		return 0xffffffffu; /* no shared memory regions */
	case REG_CONFIG_GENERATION:
		return __atomic_load_n(&t->config_generation, __ATOMIC_SEQ_CST);
	default:
		return 0;
	}
}

static void write_reg(struct virtio_mmio *t, uint64_t off, uint32_t val)
{
	switch (off) {
	case REG_DEVICE_FEATURES_SEL:
		t->ts.device_features_sel = val;
		break;
	case REG_DRIVER_FEATURES:
		if (t->dev->status & VIRTIO_STATUS_FEATURES_OK) {
			virtio_dev_fail(t->dev, "features written after FEATURES_OK");
			break;
		}
		if (t->ts.driver_features_sel < 2)
			set_half(&t->ts.driver_features, t->ts.driver_features_sel == 1, val);
		break;
	case REG_DRIVER_FEATURES_SEL:
		t->ts.driver_features_sel = val;
		break;
	case REG_QUEUE_SEL:
		t->ts.queue_sel = val;
		break;
	case REG_QUEUE_NUM:
	case REG_QUEUE_READY:
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH:
		write_queue_reg(t, off, val);
		break;
	case REG_QUEUE_NOTIFY:
		notify_slow(t, val);
		break;
	case REG_INTERRUPT_ACK:
		__atomic_and_fetch(&t->interrupt_status, ~val, __ATOMIC_SEQ_CST);
		break;
	case REG_STATUS:
		write_status(t, val);
		break;
	case REG_SHM_SEL:
		break;
	default:
		log_ratelimited(&virtio_rl, LOG_WARN, "%s: write to read-only register 0x%03" PRIx64,
				t->dev->name, off);
		break;
	}
}

static void mmio_read(void *opaque, uint64_t off, uint8_t *data, unsigned int len)
{
	struct virtio_mmio *t = opaque;
	struct virtio_dev *dev = t->dev;

	pthread_mutex_lock(&dev->lock);
	if (off >= REG_CONFIG) {
		uint64_t coff = off - REG_CONFIG;
		memset(data, 0, len);
		if (coff + len <= dev->config_size && dev->ops->read_config)
			dev->ops->read_config(dev, (uint32_t)coff, data, len);
	} else if (len == 4 && !(off & 3)) {
		bus_data_put(data, len, read_reg(t, off));
	} else {
		memset(data, 0xff, len);
		log_ratelimited(&virtio_rl, LOG_WARN, "%s: %u-byte register read at 0x%03" PRIx64,
				dev->name, len, off);
	}
	pthread_mutex_unlock(&dev->lock);
}

struct status_call {
	struct virtio_mmio *t;
	uint32_t val;
};

static int status_call(void *ctx, struct err *err)
{
	struct status_call *c = ctx;

	pthread_mutex_lock(&c->t->dev->lock);
	write_status(c->t, c->val);
	pthread_mutex_unlock(&c->t->dev->lock);
	return 0;
}

static void mmio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned int len)
{
	struct virtio_mmio *t = opaque;
	struct virtio_dev *dev = t->dev;

	if (off == REG_STATUS && len == 4) {
		/*
		 * Status changes reset or activate the device: io_uring drains,
		 * vhost and TUN ioctls. They run on the I/O thread, which owns
		 * the device's processing; this vCPU waits without the lock.
		 */
		struct status_call c = { t, (uint32_t)bus_data_get(data, len) };

		/*
		 * Refused only while Hearth shuts down: the device goes with the
		 * VM, and this vCPU must not do the io thread's work itself.
		 */
		if (eventloop_run_on(t->host.loop, status_call, &c, NULL))
			log_debug("%s: status write 0x%x dropped: shutting down", dev->name, c.val);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	if (off >= REG_CONFIG) {
		uint64_t coff = off - REG_CONFIG;
		if (coff + len <= dev->config_size && dev->ops->write_config)
			dev->ops->write_config(dev, (uint32_t)coff, data, len);
	} else if (len == 4 && !(off & 3)) {
		write_reg(t, off, (uint32_t)bus_data_get(data, len));
	} else {
		log_ratelimited(&virtio_rl, LOG_WARN, "%s: %u-byte register write at 0x%03" PRIx64,
				dev->name, len, off);
	}
	pthread_mutex_unlock(&dev->lock);
}

const struct bus_region_ops virtio_mmio_bus_ops = {
	.read = mmio_read,
	.write = mmio_write,
};

uint32_t virtio_mmio_interrupt_status(struct virtio_mmio *t)
{
	return __atomic_load_n(&t->interrupt_status, __ATOMIC_SEQ_CST);
}

/*
 * take_kick_fd: vhost watches q's ioeventfd itself. It stays ours, and
 * notify_slow still signals it for a QueueNotify the ioeventfd missed.
 */
static int take_kick_fd(struct virtio_dev *dev, unsigned int q)
{
	return virtio_kicks_take(&((struct virtio_mmio *)dev->transport)->kicks, q);
}

static int setup_fast_path(struct virtio_mmio *t)
{
	struct kvm_irqfd irqfd = { .gsi = t->gsi };
	int ret;

	if (t->host.vm_fd >= 0) {
		t->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->irqfd < 0)
			return -errno;
		irqfd.fd = (uint32_t)t->irqfd;
		if (ioctl(t->host.vm_fd, KVM_IRQFD, &irqfd) < 0)
			return -errno;
	}
	for (unsigned int q = 0; q < t->dev->num_queues; q++) {
		ret = virtio_kicks_open(&t->kicks, q, t->host.vm_fd, (struct kvm_ioeventfd){
			.datamatch = q,
			.addr = t->base + REG_QUEUE_NOTIFY,
			.len = 4,
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		});
		if (ret)
			return ret;
	}
	return 0;
}

int virtio_mmio_create(struct virtio_dev *dev, const struct virtio_host *host, uint64_t base,
		       uint32_t gsi, struct virtio_mmio **out)
{
	struct virtio_mmio *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return -ENOMEM;
	if (dev->num_queues == 0 || dev->num_queues > VIRTIO_MAX_QUEUES || !dev->ops ||
	    !dev->ops->get_features || !dev->ops->queue_notify) {
		free(t);
		return -EINVAL;
	}
	t->dev = dev;
	t->host = *host;
	t->base = base;
	t->gsi = gsi;
	t->irqfd = -1;
	virtio_kicks_init(&t->kicks, dev, host->loop);
	dev->transport = t;
	dev->signal_used = signal_used;
	dev->signal_config = signal_config;
	dev->kick_again = kick_again;
	dev->take_kick_fd = take_kick_fd;
	dev->call_fd = call_fd;

	if (host->vm_fd >= 0 || (host->test_kick_fds && host->loop)) {
		ret = setup_fast_path(t);
		if (ret)
			goto err_destroy;
	}
	ret = bus_register(host->bus, BUS_MMIO, base, VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops, t,
			   dev->name);
	if (ret)
		goto err_destroy;
	*out = t;
	return 0;

err_destroy:
	virtio_mmio_destroy(t);
	return ret;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	if (!t)
		return;
	virtio_kicks_close(&t->kicks);
	if (t->irqfd >= 0)
		close(t->irqfd);
	/* The device may still complete requests in its destroy: into no one's interrupt. */
	virtio_dev_detach(t->dev);
	free(t);
}

struct virtio_dev *virtio_mmio_device(struct virtio_mmio *t)
{
	return t->dev;
}

/* The attached device as one component: virtio/mmio.h. */
static void mmio_destroy(void *obj)
{
	struct virtio_mmio *t = obj;
	struct virtio_dev *dev = t->dev;

	/* Detach first: the transport points at the device, never the other way round. */
	virtio_mmio_destroy(t);
	dev->ops->destroy(dev);
}

const struct component_ops virtio_mmio_component = {
	.pause = virtio_transport_pause,
	.resume = virtio_transport_resume,
	.save = mmio_state_save,
	.restore = mmio_state_restore,
	.destroy = mmio_destroy,
	.counters = virtio_transport_counters,
};
