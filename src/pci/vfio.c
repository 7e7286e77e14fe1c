/*
 * A passed-through device as a function on the PCI root (pci/vfio.h):
 * its configuration space, its BARs (KVM slots over the device's own
 * mappings, the MSI-X pages trapped) and its MSI-X vectors.
 */
#include "pci/vfio.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/bus.h"
#include "pci/config.h"
#include "pci/msix.h"
#include "pci/msix_irqfd.h"
#include "pci/vfio_priv.h"
#include "util/log.h"

static struct ratelimit vfio_rl = RATELIMIT_INIT(10);

/* ---------------------------------------------------------------- the device fd */

static int dev_read(struct vfio_pci *f, unsigned int region, uint64_t off, void *buf,
		    size_t len)
{
	const struct vfio_region *r = &f->h.region[region];

	if (off >= r->size || len > r->size - off)
		return -EINVAL;
	return pread(f->h.device, buf, len, (off_t)(r->offset + off)) == (ssize_t)len ? 0 : -EIO;
}

static int dev_write(struct vfio_pci *f, unsigned int region, uint64_t off, const void *buf,
		     size_t len)
{
	const struct vfio_region *r = &f->h.region[region];

	if (off >= r->size || len > r->size - off)
		return -EINVAL;
	return pwrite(f->h.device, buf, len, (off_t)(r->offset + off)) == (ssize_t)len ? 0 : -EIO;
}

uint32_t vfio_phys_cfg(struct vfio_pci *f, unsigned int off, unsigned int len)
{
	uint32_t v = 0;

	if (dev_read(f, VFIO_REGION_CONFIG, off, &v, len))
		return 0;
	return v;
}

/* ---------------------------------------------------------------- BARs as KVM slots */

static int set_slot(struct vfio_pci *f, unsigned int n, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = { .slot = f->env.kvm_slot_base + n,
		.guest_phys_addr = gpa, .memory_size = size, .userspace_addr = (uintptr_t)hva };

	if (f->env.vm_fd < 0)
		return 0;
	return ioctl(f->env.vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

/* BAR i's two slots (below and above its trapped pages) to gpa, or away (gpa 0). */
static void vfio_map_bar(struct vfio_pci *f, unsigned int i, uint64_t gpa)
{
	struct vfio_bar *b = &f->bar[i];
	uint64_t lo = b->trap_lo, hi = b->trap_hi;
	int ret = 0;

	if (!b->map || b->mapped_at == gpa)
		return;
	if (b->mapped_at) {
		(void)set_slot(f, 2 * i, 0, 0, NULL);
		(void)set_slot(f, 2 * i + 1, 0, 0, NULL);
		b->mapped_at = 0;
	}
	if (!gpa)
		return;
	if (lo == hi)
		lo = hi = b->size;
	if (lo)
		ret = set_slot(f, 2 * i, gpa, lo, b->map);
	if (!ret && hi < b->size)
		ret = set_slot(f, 2 * i + 1, gpa + hi, b->size - hi, b->map + hi);
	if (ret) {
		/* Somewhere KVM will not have it (over RAM): the accesses trap instead. */
		(void)set_slot(f, 2 * i, 0, 0, NULL);
		f->failures++;
		log_ratelimited(&vfio_rl, LOG_WARN, "VFIO device %s: BAR %u at %#llx: cannot map "
				"it there (%s); its accesses trap", f->h.name, i,
				(unsigned long long)gpa, strerror(-ret));
		return;
	}
	b->mapped_at = gpa;
}

/* The slots follow each BAR to where the guest put it, while memory decoding is on. */
static void vfio_follow_bars(struct vfio_pci *f)
{
	bool on = pci_config_read(&f->cfg, PCI_CFG_COMMAND, 2) & PCI_COMMAND_MEMORY;

	for (unsigned int i = 0; i < PCI_NUM_BARS; i++)
		if (f->bar[i].kind != PCI_BAR_NONE)
			vfio_map_bar(f, i, on ? pci_config_bar_addr(&f->cfg, i) : 0);
}

/* ---------------------------------------------------------------- MSI-X */

int vfio_deliver(void *ctx, unsigned int v, uint64_t addr, uint32_t data)
{
	struct vfio_pci *f = ctx;

	return msix_irqfds_deliver(&f->irqfds, &f->msix, v);
}

void vfio_msix_changed(void *ctx)
{
	struct vfio_pci *f = ctx;

	msix_irqfds_sync(&f->irqfds, &f->msix, f->h.name);
}

/* VFIO signals the vectors' eventfds while MSI-X is on in the guest's capability. */
static void vfio_follow_msix(struct vfio_pci *f)
{
	bool on = msix_enabled(&f->msix);
	char buf[sizeof(struct vfio_irq_set) + MSIX_MAX_VECTORS * sizeof(int32_t)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
	int32_t fds[MSIX_MAX_VECTORS];

	if (on == f->irqs_on || f->h.group < 0 || !f->irqfds.n)
		return;
	*set = (struct vfio_irq_set){ .argsz = sizeof(*set), .index = VFIO_PCI_MSIX_IRQ_INDEX,
		.flags = VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_DATA_NONE };
	if (on) {
		set->count = f->irqfds.n;
		set->argsz += f->irqfds.n * sizeof(int32_t);
		set->flags = VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_DATA_EVENTFD;
		for (unsigned int v = 0; v < f->irqfds.n; v++)
			fds[v] = msix_irqfds_fd(&f->irqfds, v);
		memcpy(set->data, fds, f->irqfds.n * sizeof(int32_t));
	}
	if (ioctl(f->h.device, VFIO_DEVICE_SET_IRQS, set) < 0) {
		f->failures++;
		log_ratelimited(&vfio_rl, LOG_WARN, "VFIO device %s: cannot turn its MSI-X %s: %s",
				f->h.name, on ? "on" : "off", strerror(errno));
		return;
	}
	f->irqs_on = on;
}

/* ---------------------------------------------------------------- the function */

static uint32_t fn_cfg_read(void *opaque, unsigned int off, unsigned int len)
{
	struct vfio_pci *f = opaque;
	uint32_t v;

	pthread_mutex_lock(&f->lock);
	v = pci_config_read(&f->cfg, off, len);
	pthread_mutex_unlock(&f->lock);
	return v;
}

/* The command register's memory and bus-master bits, as the guest set them, on the device. */
static void command_to_device(struct vfio_pci *f)
{
	uint16_t mine = (uint16_t)pci_config_read(&f->cfg, PCI_CFG_COMMAND, 2);
	uint16_t dev = (uint16_t)vfio_phys_cfg(f, PCI_CFG_COMMAND, 2);
	uint16_t want = (uint16_t)((dev & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
					     PCI_COMMAND_MASTER)) |
				   (mine & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) |
				   PCI_COMMAND_INTX_DISABLE);

	if (want != dev && dev_write(f, VFIO_REGION_CONFIG, PCI_CFG_COMMAND, &want, 2)) {
		f->failures++;
		log_ratelimited(&vfio_rl, LOG_WARN, "VFIO device %s: cannot write its command "
				"register", f->h.name);
	}
}

/*
 * The device back to its reset state, and what the guest sees of it:
 * its command bits and MSI-X off (its interrupts with them, its BARs'
 * slots away), then VFIO_DEVICE_RESET. On the io thread: a reset waits
 * for the device (an FLR takes 100 ms), and a vCPU never waits on the
 * host's devices itself.
 */
static int reset_fn(void *ctx, struct err *err)
{
	struct vfio_pci *f = ctx;
	unsigned int m = (unsigned int)f->msix.cap;
	uint16_t cmd;

	(void)err;
	pthread_mutex_lock(&f->lock);
	cmd = (uint16_t)pci_config_read(&f->cfg, PCI_CFG_COMMAND, 2);
	pci_config_set(&f->cfg, PCI_CFG_COMMAND, cmd & ~(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER),
		       2);
	command_to_device(f);
	if (m) {
		pci_config_set(&f->cfg, m + CAP_MSIX_CTRL,
			       pci_config_read(&f->cfg, m + CAP_MSIX_CTRL, 2) & 0x3fff, 2);
		msix_config_written(&f->msix);
		vfio_follow_msix(f);
	}
	vfio_follow_bars(f);
	if (f->h.resettable && f->h.device >= 0) {
		if (ioctl(f->h.device, VFIO_DEVICE_RESET) < 0) {
			f->failures++;
			log_ratelimited(&vfio_rl, LOG_WARN, "VFIO device %s: reset: %s", f->h.name,
					strerror(errno));
		} else {
			f->resets++;
		}
	}
	f->reset_queued = false;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* Whether the write set Initiate FLR (cleared: it reads 0). f->lock held. */
static bool flr_asked(struct vfio_pci *f, unsigned int off, unsigned int len)
{
	unsigned int at = f->exp_cap + EXP_DEVCTL;
	uint16_t ctl;

	if (!f->exp_cap || off >= at + 2 || at >= off + len)
		return false;
	ctl = (uint16_t)pci_config_read(&f->cfg, at, 2);
	if (!(ctl & EXP_DEVCTL_FLR))
		return false;
	pci_config_set(&f->cfg, at, ctl & ~EXP_DEVCTL_FLR, 2);
	return true;
}

static void fn_cfg_write(void *opaque, unsigned int off, uint32_t v, unsigned int len)
{
	struct vfio_pci *f = opaque;
	unsigned int m = (unsigned int)f->msix.cap;
	bool flr;

	pthread_mutex_lock(&f->lock);
	pci_config_write(&f->cfg, off, v, len);
	if (off < PCI_CFG_COMMAND + 2 && PCI_CFG_COMMAND < off + len)
		command_to_device(f);
	if (off < m + 4 && m < off + len) {
		msix_config_written(&f->msix);
		vfio_follow_msix(f);
	}
	if (off < PCI_CFG_BAR0 + 4 * PCI_NUM_BARS && PCI_CFG_COMMAND < off + len)
		vfio_follow_bars(f);
	/* One reset at a time: an FLR asked while one waits is that one. */
	flr = flr_asked(f, off, len) && !f->reset_queued;
	if (flr)
		f->reset_queued = true;
	pthread_mutex_unlock(&f->lock);
	/* Without f->lock: the io thread takes it (and its metrics timer does too). */
	if (flr)
		(void)eventloop_run_on(f->env.loop, reset_fn, f, NULL);
}

static int fn_bar_claim(void *opaque, uint64_t addr, unsigned int len, uint64_t *off)
{
	struct vfio_pci *f = opaque;
	int found = -1;

	pthread_mutex_lock(&f->lock);
	if (pci_config_read(&f->cfg, PCI_CFG_COMMAND, 2) & PCI_COMMAND_MEMORY) {
		for (unsigned int i = 0; i < PCI_NUM_BARS && found < 0; i++) {
			uint64_t base = pci_config_bar_addr(&f->cfg, i);

			if (f->bar[i].kind != PCI_BAR_NONE && base && addr >= base &&
			    addr - base < f->bar[i].size && len <= f->bar[i].size - (addr - base)) {
				*off = addr - base;
				found = (int)i;
			}
		}
	}
	pthread_mutex_unlock(&f->lock);
	return found;
}

static bool overlaps(uint64_t off, unsigned int len, uint64_t start, uint32_t size)
{
	return off < start + size && start < off + len;
}

/*
 * An access that only partly covers the table or the pending bits is
 * neither theirs nor the device's: dropped (reads all ones), so no byte
 * of the device's own table is ever the guest's.
 */
static bool msix_straddle(struct vfio_pci *f, int bar, uint64_t off, unsigned int len)
{
	uint32_t ts = msix_table_size(&f->msix), ps = msix_pba_size(&f->msix);

	return (unsigned int)bar == f->msix_bar &&
	       ((overlaps(off, len, f->table_off, ts) && !vfio_in_range(off, len, f->table_off, ts)) ||
		(overlaps(off, len, f->pba_off, ps) && !vfio_in_range(off, len, f->pba_off, ps)));
}

static void fn_bar_read(void *opaque, int bar, uint64_t off, uint8_t *data, unsigned int len)
{
	struct vfio_pci *f = opaque;

	pthread_mutex_lock(&f->lock);
	if (msix_straddle(f, bar, off, len)) {
		memset(data, 0xff, len);
	} else if ((unsigned int)bar == f->msix_bar &&
		   vfio_in_range(off, len, f->table_off, msix_table_size(&f->msix))) {
		msix_table_read(&f->msix, off - f->table_off, data, len);
		f->msix_accesses++;
	} else if ((unsigned int)bar == f->msix_bar &&
		   vfio_in_range(off, len, f->pba_off, msix_pba_size(&f->msix))) {
		msix_pba_read(&f->msix, off - f->pba_off, data, len);
		f->msix_accesses++;
	} else {
		f->trapped++;
		if (dev_read(f, (unsigned int)bar, off, data, len))
			memset(data, 0xff, len);
	}
	pthread_mutex_unlock(&f->lock);
}

static void fn_bar_write(void *opaque, int bar, uint64_t off, const uint8_t *data,
			 unsigned int len)
{
	struct vfio_pci *f = opaque;

	pthread_mutex_lock(&f->lock);
	if (msix_straddle(f, bar, off, len)) {
		;   /* dropped */
	} else if ((unsigned int)bar == f->msix_bar &&
		   vfio_in_range(off, len, f->table_off, msix_table_size(&f->msix))) {
		msix_table_write(&f->msix, off - f->table_off, data, len);
		f->msix_accesses++;
	} else if ((unsigned int)bar == f->msix_bar &&
		   vfio_in_range(off, len, f->pba_off, msix_pba_size(&f->msix))) {
		f->msix_accesses++;   /* the pending bits are read-only */
	} else {
		f->trapped++;
		(void)dev_write(f, (unsigned int)bar, off, data, len);
	}
	pthread_mutex_unlock(&f->lock);
}

static const struct pci_function_ops vfio_fn_ops = {
	.cfg_read = fn_cfg_read,
	.cfg_write = fn_cfg_write,
	.bar_claim = fn_bar_claim,
	.bar_read = fn_bar_read,
	.bar_write = fn_bar_write,
};

int vfio_pci_create(struct vfio_handles *h, const struct vfio_env *env, struct pci_root *root,
		    unsigned int slot, struct vfio_bar_space *space, struct vfio_pci **out,
		    struct err *err)
{
	struct vfio_pci *f = calloc(1, sizeof(*f));
	int ret;

	if (!f) {
		vfio_host_close(h);
		return err_set(err, false, -ENOMEM, "VFIO device %s: out of memory", h->name);
	}
	pthread_mutex_init(&f->lock, NULL);
	f->h = *h;
	f->env = *env;
	f->root = root;
	f->slot = slot;
	ret = vfio_build_config(f, space, err);
	if (ret)
		goto err_free;
	ret = msix_irqfds_open(&f->irqfds, env->vm_fd, env->routes, f->msix.nvec);
	if (ret) {
		err_set(err, false, ret, "VFIO device %s: its MSI-X vectors' irqfds: %s",
			f->h.name, strerror(-ret));
		goto err_free;
	}
	ret = pci_root_attach(root, slot, &vfio_fn_ops, f);
	if (ret) {
		err_set(err, false, ret, "VFIO device %s: cannot attach it at slot %u: %s",
			f->h.name, slot, strerror(-ret));
		goto err_free;
	}
	f->attached = true;
	*out = f;
	return 0;

err_free:
	vfio_pci_destroy(f);
	return ret;
}

void vfio_pci_destroy(struct vfio_pci *f)
{
	if (!f)
		return;
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		vfio_map_bar(f, i, 0);
		if (f->bar[i].map)
			munmap(f->bar[i].map, f->h.region[i].size);
	}
	/* Closing the device turns its interrupts off; the container's mappings go with it. */
	msix_irqfds_close(&f->irqfds);
	vfio_host_close(&f->h);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

unsigned int vfio_pci_slot(const struct vfio_pci *f)
{
	return f->slot;
}

const char *vfio_pci_name(const struct vfio_pci *f)
{
	return f->h.name;
}

bool vfio_pci_driven(struct vfio_pci *f)
{
	uint16_t cmd;

	pthread_mutex_lock(&f->lock);
	cmd = (uint16_t)pci_config_read(&f->cfg, PCI_CFG_COMMAND, 2);
	pthread_mutex_unlock(&f->lock);
	return cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

bool vfio_pci_attached(const struct vfio_pci *f)
{
	return f->attached;
}

int vfio_pci_unplug(struct vfio_pci *f, struct err *err)
{
	int ret;

	if (f->attached) {
		ret = pci_root_detach(f->root, f->slot);
		if (ret)
			return err_set(err, false, ret, "VFIO device %s: slot %u: %s", f->h.name,
				       f->slot, strerror(-ret));
		f->attached = false;
	}
	return eventloop_run_on(f->env.loop, reset_fn, f, err);
}

int vfio_pci_replug(struct vfio_pci *f, unsigned int slot, struct err *err)
{
	int ret;

	if (f->attached)
		return err_set(err, true, -EEXIST, "VFIO device %s is plugged in already (slot %u)",
			       f->h.name, f->slot);
	ret = pci_root_attach(f->root, slot, &vfio_fn_ops, f);
	if (ret)
		return err_set(err, false, ret, "VFIO device %s: cannot attach it at slot %u: %s",
			       f->h.name, slot, strerror(-ret));
	f->slot = slot;
	f->attached = true;
	return 0;
}

static int vfio_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct vfio_pci *f = obj;

	return err_set(err, true, -EOPNOTSUPP, "a VM with a device passed through (VFIO %s) "
		       "cannot be snapshotted: the device's state is in the device", f->h.name);
}

static int vfio_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	return -EINVAL;
}

static void vfio_component_destroy(void *obj)
{
	vfio_pci_destroy(obj);
}

static unsigned int vfio_counters(void *obj, struct dev_counter *out, unsigned int max)
{
	struct vfio_pci *f = obj;
	struct dev_counter all[5];
	unsigned int n = 0;

	pthread_mutex_lock(&f->lock);
	all[0] = (struct dev_counter){ "bar_accesses_trapped", f->trapped };
	all[1] = (struct dev_counter){ "msix_accesses", f->msix_accesses };
	all[2] = (struct dev_counter){ "bars_mapped", 0 };
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++)
		all[2].value += f->bar[i].mapped_at != 0;
	all[3] = (struct dev_counter){ "failures", f->failures };
	all[4] = (struct dev_counter){ "resets", f->resets };
	pthread_mutex_unlock(&f->lock);
	for (; n < max && n < 5; n++)
		out[n] = all[n];
	return n;
}

const struct component_ops vfio_pci_component = {
	.save = vfio_save,
	.restore = vfio_restore,
	.destroy = vfio_component_destroy,
	.counters = vfio_counters,
};
