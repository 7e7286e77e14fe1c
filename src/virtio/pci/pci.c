/*
 * virtio-pci (virtio/pci.h): the function's configuration space and
 * capabilities, its BAR's registers, kicks and MSI-X messages.
 */
#include "virtio/pci.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "pci/msix.h"
#include "virtio/pci/priv.h"
#include "util/log.h"
#include "virtio/transport.h"
#include "virtio/virtio.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040  /* + the device id: a modern-only device */

/* Where each structure sits in BAR 0. */
#define OFF_COMMON 0x0000u
#define OFF_ISR 0x1000u
#define OFF_DEVICE 0x2000u
#define OFF_NOTIFY 0x3000u
#define OFF_MSIX_TABLE 0x4000u
#define OFF_MSIX_PBA 0x5000u
#define REGION_SIZE 0x1000u
#define NOTIFY_MULT 4u

/* virtio_pci_cap's cfg_type. */
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4
#define CAP_PCI_CFG 5
#define VCAP_LEN 16
#define VCAP_BAR 4
#define VCAP_OFFSET 8
#define VCAP_LENGTH 12
#define VCAP_DATA VIRTIO_PCI_WINDOW_DATA

/* The common configuration structure (4.1.4.3). */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_MSIX 0x10
#define CC_NUMQ 0x12
#define CC_STATUS 0x14
#define CC_CFGGEN 0x15
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_MSIX 0x1a
#define CC_Q_ENABLE 0x1c
#define CC_Q_NOFF 0x1e
#define CC_Q_DESC 0x20
#define CC_Q_AVAIL 0x28
#define CC_Q_USED 0x30
#define CC_SIZE 0x38


static struct ratelimit pci_rl = RATELIMIT_INIT(10);

static uint32_t class_of(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK:
		return 0x010000;             /* mass storage, as QEMU's */
	case VIRTIO_ID_NET:
		return 0x020000;             /* Ethernet */
	case VIRTIO_ID_VSOCK:
		return 0x078000;             /* other communication */
	default:
		return 0xff0000;             /* unassigned class */
	}
}

/* One message, as the table has it. */
static int deliver(void *ctx, uint64_t addr, uint32_t data)
{
	struct virtio_pci *t = ctx;
	struct kvm_msi msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32),
			       .data = data };

	if (t->host.vm_fd < 0)
		return 0;
	if (ioctl(t->host.vm_fd, KVM_SIGNAL_MSI, &msi) < 0) {
		log_ratelimited(&pci_rl, LOG_WARN, "%s: MSI-X message not sent: %s", t->dev->name,
				strerror(errno));
		return -errno;
	}
	return 0;
}

static void raise_vector(struct virtio_pci *t, uint16_t v, uint8_t isr)
{
	__atomic_or_fetch(&t->isr, isr, __ATOMIC_SEQ_CST);
	if (v == MSIX_NO_VECTOR || !msix_notify(&t->msix, v))
		t->no_vector++;
}

static void signal_used(struct virtio_dev *dev, unsigned int q)
{
	struct virtio_pci *t = dev->transport;

	raise_vector(t, q < VIRTIO_MAX_QUEUES ? t->queue_vector[q] : MSIX_NO_VECTOR, VIRTIO_PCI_ISR_QUEUE);
}

static void signal_config(struct virtio_dev *dev)
{
	struct virtio_pci *t = dev->transport;

	t->config_generation++;
	raise_vector(t, t->msix_config, VIRTIO_PCI_ISR_CONFIG);
}

static void kick_again(struct virtio_dev *dev, unsigned int q)
{
	struct virtio_pci *t = dev->transport;
	uint64_t one = 1;

	if (q < dev->num_queues && t->kicks[q].fd >= 0 &&
	    write(t->kicks[q].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_ratelimited(&pci_rl, LOG_WARN, "%s: re-arming queue %u failed: %s", dev->name,
				q, strerror(errno));
}

static void kick_queue(struct virtio_pci *t, unsigned int q)
{
	struct virtio_dev *dev = t->dev;

	if (q >= dev->num_queues) {
		virtio_dev_fail(dev, "notify for a queue that does not exist");
		return;
	}
	if (!virtio_dev_running(dev) || !dev->vq[q].enabled)
		return;
	dev->ops->queue_notify(dev, q);
}

static void device_reset(struct virtio_pci *t)
{
	virtio_transport_reset(t->dev, &t->ts);
	t->msix_config = MSIX_NO_VECTOR;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->queue_vector[q] = MSIX_NO_VECTOR;
	__atomic_store_n(&t->isr, 0, __ATOMIC_SEQ_CST);
}

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
		log_ratelimited(&pci_rl, LOG_WARN, "%s: %u-byte write at common 0x%02x ignored",
				dev->name, len, off);
	}
}

/* Everything but device_status, which status_write takes off the vCPU. */
static void common_write(struct virtio_pci *t, unsigned int off, unsigned int len, uint64_t val)
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
	log_ratelimited(&pci_rl, LOG_WARN, "%s: %u-byte write at common 0x%02x ignored",
			dev->name, len, off);
}

struct status_call {
	struct virtio_pci *t;
	uint32_t val;
};

static int status_call(void *ctx, struct err *err)
{
	struct status_call *c = ctx;
	struct virtio_pci *t = c->t;

	pthread_mutex_lock(&t->dev->lock);
	if (c->val == 0)
		device_reset(t);
	else
		virtio_transport_write_status(t->dev, &t->ts, c->val);
	pthread_mutex_unlock(&t->dev->lock);
	return 0;
}

/*
 * A status write resets or starts the device (io_uring drains, vhost
 * and TUN ioctls): on the I/O thread, as on virtio-mmio, this vCPU
 * waiting without the lock. Called without dev->lock.
 */
static void status_write(struct virtio_pci *t, uint32_t val)
{
	struct status_call c = { t, val };

	if (eventloop_run_on(t->host.loop, status_call, &c, NULL))
		log_debug("%s: status write 0x%x dropped: shutting down", t->dev->name, val);
}

/* BAR 0's structures, dev->lock held. */
static void bar_read_locked(struct virtio_pci *t, uint64_t off, uint8_t *data, unsigned int len)
{
	struct virtio_dev *dev = t->dev;
	uint8_t img[CC_SIZE];

	memset(data, 0, len);
	if (off + len <= OFF_COMMON + CC_SIZE) {
		common_image(t, img);
		memcpy(data, img + off, len);
	} else if (off == OFF_ISR && len == 1) {
		/* Reading the ISR clears it (4.1.4.5). */
		data[0] = __atomic_exchange_n(&t->isr, 0, __ATOMIC_SEQ_CST);
	} else if (off >= OFF_DEVICE && off + len <= OFF_DEVICE + dev->config_size) {
		if (dev->ops->read_config)
			dev->ops->read_config(dev, (uint32_t)(off - OFF_DEVICE), data, len);
	} else if (off >= OFF_MSIX_TABLE && off < OFF_MSIX_TABLE + REGION_SIZE) {
		msix_table_read(&t->msix, off - OFF_MSIX_TABLE, data, len);
	} else if (off >= OFF_MSIX_PBA && off < OFF_MSIX_PBA + REGION_SIZE) {
		msix_pba_read(&t->msix, off - OFF_MSIX_PBA, data, len);
	}
}

static void bar_write_locked(struct virtio_pci *t, uint64_t off, const uint8_t *data,
			     unsigned int len)
{
	struct virtio_dev *dev = t->dev;

	if (off + len <= OFF_COMMON + CC_SIZE) {
		common_write(t, (unsigned int)off, len, bus_data_get(data, len));
	} else if (off >= OFF_DEVICE && off + len <= OFF_DEVICE + dev->config_size) {
		if (dev->ops->write_config)
			dev->ops->write_config(dev, (uint32_t)(off - OFF_DEVICE), data, len);
	} else if (off >= OFF_NOTIFY && off < OFF_NOTIFY + NOTIFY_MULT * dev->num_queues) {
		/* A kick the ioeventfd missed: to the I/O thread through the same fd. */
		unsigned int q = (unsigned int)(off - OFF_NOTIFY) / NOTIFY_MULT;

		if (t->kicks[q].fd >= 0)
			kick_again(dev, q);
		else
			kick_queue(t, q);
	} else if (off >= OFF_MSIX_TABLE && off < OFF_MSIX_TABLE + REGION_SIZE) {
		msix_table_write(&t->msix, off - OFF_MSIX_TABLE, data, len);
	}
}

static bool is_status(uint64_t off, unsigned int len)
{
	return off == OFF_COMMON + CC_STATUS && len == 1;
}

static int fn_bar_claim(void *opaque, uint64_t addr, unsigned int len, uint64_t *off)
{
	struct virtio_pci *t = opaque;
	uint64_t base;
	bool on;

	pthread_mutex_lock(&t->dev->lock);
	base = pci_config_bar_addr(&t->cfg, 0);
	on = pci_config_read(&t->cfg, PCI_CFG_COMMAND, 2) & PCI_COMMAND_MEMORY;
	pthread_mutex_unlock(&t->dev->lock);
	if (!on || !base || addr < base || addr + len > base + VIRTIO_PCI_BAR_SIZE)
		return -1;
	*off = addr - base;
	return 0;
}

static void fn_bar_read(void *opaque, int bar, uint64_t off, uint8_t *data, unsigned int len)
{
	struct virtio_pci *t = opaque;

	pthread_mutex_lock(&t->dev->lock);
	bar_read_locked(t, off, data, len);
	pthread_mutex_unlock(&t->dev->lock);
}

static void fn_bar_write(void *opaque, int bar, uint64_t off, const uint8_t *data,
			 unsigned int len)
{
	struct virtio_pci *t = opaque;

	if (is_status(off, len)) {
		status_write(t, data[0]);
		return;
	}
	pthread_mutex_lock(&t->dev->lock);
	bar_write_locked(t, off, data, len);
	pthread_mutex_unlock(&t->dev->lock);
}

/*
 * The PCI_CFG capability's window onto BAR 0 (4.1.4.9): its bar, offset
 * and length fields say where; only BAR 0, an aligned 1, 2 or 4 bytes.
 */
static bool window_target(struct virtio_pci *t, uint64_t *off, unsigned int *len)
{
	unsigned int c = (unsigned int)t->cfg_cap;
	uint32_t bar = pci_config_read(&t->cfg, c + VCAP_BAR, 1);

	*off = pci_config_read(&t->cfg, c + VCAP_OFFSET, 4);
	*len = pci_config_read(&t->cfg, c + VCAP_LENGTH, 4);
	return bar == 0 && (*len == 1 || *len == 2 || *len == 4) && !(*off % *len) &&
	       *off + *len <= VIRTIO_PCI_BAR_SIZE;
}

static bool in_window(const struct virtio_pci *t, unsigned int off, unsigned int len)
{
	unsigned int d = (unsigned int)t->cfg_cap + VCAP_DATA;

	return off < d + 4 && d < off + len;
}

static uint32_t fn_cfg_read(void *opaque, unsigned int off, unsigned int len)
{
	struct virtio_pci *t = opaque;
	uint8_t data[4] = { 0 };
	unsigned int wlen;
	uint64_t woff;
	uint32_t v;

	pthread_mutex_lock(&t->dev->lock);
	if (in_window(t, off, len) && window_target(t, &woff, &wlen)) {
		bar_read_locked(t, woff, data, wlen);
		pci_config_set(&t->cfg, (unsigned int)t->cfg_cap + VCAP_DATA,
			       (uint32_t)bus_data_get(data, 4), 4);
	}
	v = pci_config_read(&t->cfg, off, len);
	pthread_mutex_unlock(&t->dev->lock);
	return v;
}

static void fn_cfg_write(void *opaque, unsigned int off, uint32_t v, unsigned int len)
{
	struct virtio_pci *t = opaque;
	unsigned int wlen, m = (unsigned int)t->msix.cap;
	uint8_t data[4];
	uint64_t woff;

	pthread_mutex_lock(&t->dev->lock);
	pci_config_write(&t->cfg, off, v, len);
	if (off < m + 4 && m < off + len)
		msix_config_written(&t->msix);
	if (!in_window(t, off, len) || !window_target(t, &woff, &wlen)) {
		pthread_mutex_unlock(&t->dev->lock);
		return;
	}
	/* What the window holds now, the driver's bytes over it, goes to the BAR. */
	bus_data_put(data, 4, v << (8 * (off - ((unsigned int)t->cfg_cap + VCAP_DATA))));
	if (is_status(woff, wlen)) {
		pthread_mutex_unlock(&t->dev->lock);
		status_write(t, data[0]);
		return;
	}
	bar_write_locked(t, woff, data, wlen);
	pthread_mutex_unlock(&t->dev->lock);
}

static const struct pci_function_ops virtio_pci_fn_ops = {
	.cfg_read = fn_cfg_read,
	.cfg_write = fn_cfg_write,
	.bar_claim = fn_bar_claim,
	.bar_read = fn_bar_read,
	.bar_write = fn_bar_write,
};

static void on_kick(void *opaque, uint32_t events)
{
	struct kick *k = opaque;
	uint64_t v;

	(void)events;
	if (read(k->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&k->t->dev->lock);
	kick_queue(k->t, k->q);
	pthread_mutex_unlock(&k->t->dev->lock);
}

static int take_kick_fd(struct virtio_dev *dev, unsigned int q)
{
	struct virtio_pci *t = dev->transport;

	if (q >= dev->num_queues || t->kicks[q].fd < 0)
		return -ENOENT;
	eventloop_remove(t->host.loop, t->kicks[q].fd);
	return t->kicks[q].fd;
}

/* One kick fd a queue, an ioeventfd on its notification address where there is KVM. */
static int setup_kicks(struct virtio_pci *t)
{
	bool kvm = t->host.vm_fd >= 0;
	int ret;

	for (unsigned int q = 0; q < t->dev->num_queues; q++) {
		struct kvm_ioeventfd io = {
			.addr = t->bar_base + OFF_NOTIFY + NOTIFY_MULT * q,
			.len = 2,            /* Linux's notifications are 16-bit writes */
		};
		struct kick *k = &t->kicks[q];

		k->t = t;
		k->q = q;
		k->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (k->fd < 0)
			return -errno;
		io.fd = k->fd;
		if (kvm && ioctl(t->host.vm_fd, KVM_IOEVENTFD, &io) < 0)
			return -errno;
		ret = eventloop_add(t->host.loop, k->fd, EPOLLIN, on_kick, k);
		if (ret)
			return ret;
	}
	return 0;
}

static int add_vcap(struct pci_config *c, uint8_t type, unsigned int len, uint32_t off,
		    uint32_t size)
{
	int cap = pci_config_add_cap(c, PCI_CAP_ID_VNDR, len);

	if (cap < 0)
		return cap;
	pci_config_set(c, (unsigned int)cap + 2, len, 1);
	pci_config_set(c, (unsigned int)cap + 3, type, 1);
	pci_config_set(c, (unsigned int)cap + VCAP_BAR, 0, 1);
	pci_config_set(c, (unsigned int)cap + VCAP_OFFSET, off, 4);
	pci_config_set(c, (unsigned int)cap + VCAP_LENGTH, size, 4);
	return cap;
}

static int build_config(struct virtio_pci *t)
{
	struct virtio_dev *dev = t->dev;
	struct pci_config *c = &t->cfg;
	static const uint8_t open_window[16] = {
		0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff,
	};
	int cap, ret;

	pci_config_init(c, &(struct pci_ids){ .vendor = VIRTIO_PCI_VENDOR,
		.device = (uint16_t)(VIRTIO_PCI_DEVICE_BASE + dev->ops->device_id),
		.class_code = class_of(dev->ops->device_id), .revision = 1,
		.subsys_vendor = VIRTIO_PCI_VENDOR,
		.subsys_id = (uint16_t)(VIRTIO_PCI_DEVICE_BASE + dev->ops->device_id) }, true);
	ret = pci_config_add_bar(c, 0, PCI_BAR_MEM32, VIRTIO_PCI_BAR_SIZE, false);
	if (ret)
		return ret;
	/* Placed as firmware would, not decoding until the driver turns memory on. */
	pci_config_set(c, PCI_CFG_BAR0, (uint32_t)t->bar_base, 4);
	if ((ret = add_vcap(c, CAP_COMMON, VCAP_LEN, OFF_COMMON, CC_SIZE)) < 0 ||
	    (ret = add_vcap(c, CAP_NOTIFY, VCAP_LEN + 4, OFF_NOTIFY,
			    NOTIFY_MULT * dev->num_queues)) < 0)
		return ret;
	pci_config_set(c, (unsigned int)ret + VCAP_LEN, NOTIFY_MULT, 4);
	if ((ret = add_vcap(c, CAP_ISR, VCAP_LEN, OFF_ISR, 1)) < 0)
		return ret;
	if (dev->config_size && (ret = add_vcap(c, CAP_DEVICE, VCAP_LEN, OFF_DEVICE,
						dev->config_size)) < 0)
		return ret;
	cap = add_vcap(c, CAP_PCI_CFG, VCAP_LEN + 4, 0, 0);
	if (cap < 0)
		return cap;
	t->cfg_cap = cap;
	pci_config_set_wmask(c, (unsigned int)cap + VCAP_BAR, open_window, sizeof(open_window));
	return msix_init(&t->msix, c, dev->num_queues + 1, 0, OFF_MSIX_TABLE, OFF_MSIX_PBA,
			 deliver, t);
}

int virtio_pci_create(struct virtio_dev *dev, const struct virtio_host *host,
		      struct pci_root *root, unsigned int slot, struct virtio_pci **out)
{
	struct virtio_pci *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return -ENOMEM;
	if (dev->num_queues == 0 || dev->num_queues > VIRTIO_MAX_QUEUES || !dev->ops ||
	    !dev->ops->get_features || !dev->ops->queue_notify || dev->config_size > REGION_SIZE ||
	    !root || !(t->bar_base = pci_root_bar_base(slot, VIRTIO_PCI_BAR_SIZE))) {
		free(t);
		return -EINVAL;
	}
	t->dev = dev;
	t->host = *host;
	t->root = root;
	t->slot = slot;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++)
		t->kicks[i].fd = -1;
	ret = build_config(t);
	if (ret) {
		free(t);
		return ret;
	}
	t->msix_config = MSIX_NO_VECTOR;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->queue_vector[q] = MSIX_NO_VECTOR;
	dev->transport = t;
	dev->signal_used = signal_used;
	dev->signal_config = signal_config;
	dev->kick_again = kick_again;
	dev->take_kick_fd = take_kick_fd;
	if (host->vm_fd >= 0 || (host->test_kick_fds && host->loop)) {
		ret = setup_kicks(t);
		if (ret)
			goto err_destroy;
	}
	ret = pci_root_attach(root, slot, &virtio_pci_fn_ops, t);
	if (ret)
		goto err_destroy;
	*out = t;
	return 0;

err_destroy:
	virtio_pci_destroy(t);
	return ret;
}

void virtio_pci_destroy(struct virtio_pci *t)
{
	if (!t)
		return;
	for (unsigned int i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (t->kicks[i].fd < 0)
			continue;
		if (t->host.loop)
			eventloop_remove(t->host.loop, t->kicks[i].fd);
		close(t->kicks[i].fd);
	}
	virtio_dev_detach(t->dev);
	free(t);
}

struct virtio_dev *virtio_pci_device(struct virtio_pci *t)
{
	return t->dev;
}

static int pci_pause(void *obj)
{
	return virtio_dev_pause(((struct virtio_pci *)obj)->dev);
}

static int pci_resume(void *obj)
{
	virtio_dev_resume(((struct virtio_pci *)obj)->dev);
	return 0;
}

static void pci_destroy(void *obj)
{
	struct virtio_pci *t = obj;
	struct virtio_dev *dev = t->dev;

	virtio_pci_destroy(t);
	dev->ops->destroy(dev);
}

static unsigned int pci_counters(void *obj, struct dev_counter *out, unsigned int max)
{
	return virtio_dev_counters(((struct virtio_pci *)obj)->dev, out, max);
}

const struct component_ops virtio_pci_component = {
	.pause = pci_pause,
	.resume = pci_resume,
	.save = virtio_pci_state_save,
	.restore = virtio_pci_state_restore,
	.destroy = pci_destroy,
	.counters = pci_counters,
};
