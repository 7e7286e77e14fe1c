/*
 * virtio-pci (virtio/pci.h): the function's configuration space and
 * capabilities, its BAR's registers, kicks and MSI-X messages.
 */
#include "virtio/pci.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
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
	case VIRTIO_ID_FS:
		return 0x018000;             /* other mass storage, as QEMU's */
	default:
		return 0xff0000;             /* unassigned class */
	}
}

/* One message, as the table has it: through its irqfd, else KVM_SIGNAL_MSI. */
static int deliver(void *ctx, unsigned int v, uint64_t addr, uint32_t data)
{
	struct virtio_pci *t = ctx;
	struct kvm_msi msi = { .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32),
			       .data = data };

	if (t->host.vm_fd < 0 || !virtio_pci_irqfd_deliver(t, v))
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
	virtio_kicks_again(&((struct virtio_pci *)dev->transport)->kicks, q);
}

static void device_reset(struct virtio_pci *t)
{
	virtio_transport_reset(t->dev, &t->ts);
	t->msix_config = MSIX_NO_VECTOR;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->queue_vector[q] = MSIX_NO_VECTOR;
	__atomic_store_n(&t->isr, 0, __ATOMIC_SEQ_CST);
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

	memset(data, 0, len);
	if (off + len <= OFF_COMMON + VIRTIO_PCI_CC_SIZE) {
		virtio_pci_common_read(t, (unsigned int)off, data, len);
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

	if (off + len <= OFF_COMMON + VIRTIO_PCI_CC_SIZE) {
		virtio_pci_common_write(t, (unsigned int)off, len, bus_data_get(data, len));
	} else if (off >= OFF_DEVICE && off + len <= OFF_DEVICE + dev->config_size) {
		if (dev->ops->write_config)
			dev->ops->write_config(dev, (uint32_t)(off - OFF_DEVICE), data, len);
	} else if (off >= OFF_NOTIFY && off < OFF_NOTIFY + NOTIFY_MULT * dev->num_queues) {
		/* A kick the ioeventfd missed: to the I/O thread through the same fd. */
		virtio_kicks_notify(&t->kicks, (unsigned int)(off - OFF_NOTIFY) / NOTIFY_MULT);
	} else if (off >= OFF_MSIX_TABLE && off < OFF_MSIX_TABLE + REGION_SIZE) {
		msix_table_write(&t->msix, off - OFF_MSIX_TABLE, data, len);
	}
}

static bool is_status(uint64_t off, unsigned int len)
{
	return off == OFF_COMMON + VIRTIO_PCI_CC_STATUS && len == 1;
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
 * Taken after the access's own bytes have landed, so an access that
 * also covers cap.length (ECAM allows any offset) uses the length it
 * wrote, and reaches nothing where that length is not 1, 2 or 4.
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

/*
 * Whether [off, off+len) touches pci_cfg_data at all: 4.1.4.9.1 has the
 * device act on "access to pci_cfg_data", and a straddle is one, as in
 * QEMU (ranges_overlap). Mechanism #1 never straddles (the field is
 * dword-aligned); ECAM can, from cap.length below or into the next
 * capability above.
 */
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
	/* The field refilled (the BAR's bytes, zeros above) before any of its bytes are read. */
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
	unsigned int d = (unsigned int)t->cfg_cap + VCAP_DATA;
	uint8_t data[4];
	uint64_t woff;

	pthread_mutex_lock(&t->dev->lock);
	pci_config_write(&t->cfg, off, v, len);
	if (off < m + 4 && m < off + len)
		msix_config_written(&t->msix);
	if (off < PCI_CFG_BAR0 + 4 && PCI_CFG_COMMAND < off + len)
		virtio_pci_follow_bar(t);
	if (!in_window(t, off, len) || !window_target(t, &woff, &wlen)) {
		pthread_mutex_unlock(&t->dev->lock);
		return;
	}
	/*
	 * "Using the first cap.length bytes from pci_cfg_data" (4.1.4.9.1):
	 * the field as it is now, the driver's bytes over what it held, read
	 * back from the space. Not v shifted to the field: an access that
	 * starts in cap.length would shift by a negative distance (audit
	 * F3), and one that starts inside the field would send zeros for the
	 * bytes below it instead of the field's.
	 */
	bus_data_put(data, 4, pci_config_read(&t->cfg, d, 4));
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

static int take_kick_fd(struct virtio_dev *dev, unsigned int q)
{
	return virtio_kicks_take(&((struct virtio_pci *)dev->transport)->kicks, q);
}

static int call_fd(struct virtio_dev *dev, unsigned int q)
{
	return virtio_pci_irqfd_for_queue(dev->transport, q);
}

void virtio_pci_follow_bar(struct virtio_pci *t)
{
	uint64_t base = pci_config_bar_addr(&t->cfg, 0);
	bool on = pci_config_read(&t->cfg, PCI_CFG_COMMAND, 2) & PCI_COMMAND_MEMORY;

	/* Off (a driver sizing the BAR turns decoding off first): they stay where they were. */
	if (!on || !base || base == t->kick_base || t->host.vm_fd < 0)
		return;
	for (unsigned int q = 0; q < t->dev->num_queues; q++) {
		int ret = virtio_kicks_place(&t->kicks, q, base + OFF_NOTIFY + NOTIFY_MULT * q);

		if (ret)
			log_ratelimited(&pci_rl, LOG_WARN, "%s: queue %u's notifications at the moved "
					"BAR take the slow path: %s", t->dev->name, q,
					strerror(-ret));
	}
	t->kick_base = base;
}

/* One kick fd a queue, an ioeventfd on its notification address where there is KVM. */
static int setup_kicks(struct virtio_pci *t)
{
	for (unsigned int q = 0; q < t->dev->num_queues; q++) {
		int ret = virtio_kicks_open(&t->kicks, q, t->host.vm_fd, (struct kvm_ioeventfd){
			.addr = t->bar_base + OFF_NOTIFY + NOTIFY_MULT * q,
			.len = 2,            /* Linux's notifications are 16-bit writes */
		});

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
	if ((ret = add_vcap(c, CAP_COMMON, VCAP_LEN, OFF_COMMON, VIRTIO_PCI_CC_SIZE)) < 0 ||
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
	t->kick_base = t->bar_base;
	virtio_kicks_init(&t->kicks, dev, host->loop);
	ret = build_config(t);
	if (ret) {
		free(t);
		return ret;
	}
	t->msix_config = MSIX_NO_VECTOR;
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		t->queue_vector[q] = MSIX_NO_VECTOR;
	ret = virtio_pci_irqfd_open(t);
	if (ret) {
		free(t);
		return ret;
	}
	t->msix.changed = virtio_pci_irqfd_changed;
	dev->transport = t;
	dev->signal_used = signal_used;
	dev->signal_config = signal_config;
	dev->kick_again = kick_again;
	dev->take_kick_fd = take_kick_fd;
	dev->call_fd = call_fd;
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
	virtio_kicks_close(&t->kicks);
	/* The device may still complete requests in its destroy: into no one's interrupt. */
	virtio_dev_detach(t->dev);
	virtio_pci_irqfd_close(t);
	free(t);
}

struct virtio_dev *virtio_pci_device(struct virtio_pci *t)
{
	return t->dev;
}

unsigned int virtio_pci_slot(const struct virtio_pci *t)
{
	return t->slot;
}

bool virtio_pci_driven(struct virtio_pci *t)
{
	bool driven;

	pthread_mutex_lock(&t->dev->lock);
	driven = t->dev->status != 0;
	pthread_mutex_unlock(&t->dev->lock);
	return driven;
}

static void pci_destroy(void *obj)
{
	struct virtio_pci *t = obj;
	struct virtio_dev *dev = t->dev;

	virtio_pci_destroy(t);
	dev->ops->destroy(dev);
}

const struct component_ops virtio_pci_component = {
	.pause = virtio_transport_pause,
	.resume = virtio_transport_resume,
	.save = virtio_pci_state_save,
	.restore = virtio_pci_state_restore,
	.destroy = pci_destroy,
	.counters = virtio_transport_counters,
};
