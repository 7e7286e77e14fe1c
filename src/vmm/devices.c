/*
 * The devices of a VM: laid out, created from the config and entered in
 * its registry. This is the one place that knows the virtio transport:
 * devices are built transport-free, then attached to virtio-mmio here.
 */
#include "vmm/devices.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/layout.h"
#include "core/irq.h"
#include "devices/fw_cfg.h"
#include "devices/platform.h"
#include "devices/testdev.h"
#include "devices/serial.h"
#include "util/bytes.h"
#include "util/log.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"
#include "virtio/vsock.h"
#include "virtio/vsock_uds.h"

/*
 * GSIs for virtio-mmio: the IOAPIC's non-ISA pins first, then ISA lines no
 * legacy device of ours uses (not 0-2 timer/cascade, 4 COM1, 8 RTC).
 */
static const uint8_t virtio_gsis[VM_MAX_VIRTIO] = {
	16, 17, 18, 19, 20, 21, 22, 23, 5, 6, 7, 9, 10, 11, 12, 14,
};

static unsigned int virtio_count(const struct vm_config *cfg)
{
	return cfg->ndrives + cfg->nnets + (cfg->entropy ? 1 : 0) + (cfg->vsock.present ? 1 : 0);
}

int vm_devices_layout(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	unsigned int n = virtio_count(cfg);

	vm->n_mmio_devs = 0;
	if (n > VM_MAX_VIRTIO)
		return err_set(err, true, -EINVAL, "too many virtio devices (%u, at most %u)", n,
			       VM_MAX_VIRTIO);
	for (unsigned int i = 0; i < n; i++) {
		vm->mmio_devs[i].base = LAYOUT_VIRTIO_MMIO_BASE + i * LAYOUT_VIRTIO_MMIO_STRIDE;
		vm->mmio_devs[i].size = VIRTIO_MMIO_SIZE;
		vm->mmio_devs[i].gsi = virtio_gsis[i];
	}
	vm->n_mmio_devs = n;
	return 0;
}

int vm_virtio_cmdline(const char *base, const struct acpi_mmio_dev *devs, unsigned int n,
		      char *out, size_t outlen)
{
	size_t len = strlen(base);

	if (len >= outlen)
		return -E2BIG;
	memcpy(out, base, len + 1);
	for (unsigned int i = 0; i < n; i++) {
		/* The kernel's memparse reads the 0x prefixes. */
		int w = snprintf(out + len, outlen - len, "%svirtio_mmio.device=%#x@%#llx:%u",
				 len ? " " : "", devs[i].size, (unsigned long long)devs[i].base,
				 devs[i].gsi);
		if (w < 0 || (size_t)w >= outlen - len) {
			out[len] = '\0';
			return -E2BIG;
		}
		len += (size_t)w;
	}
	return 0;
}

/* Legacy devices: their ops tables adapt each destroy to the registry's. */
static void serial_entry_destroy(void *dev)
{
	serial_destroy(dev);
}

static unsigned int serial_entry_counters(void *dev, struct dev_counter *out, unsigned int max)
{
	struct dev_counter c[] = {
		{ "out_bytes", serial_output_bytes(dev) },
		{ "out_dropped_bytes", serial_output_dropped(dev) },
		{ "in_bytes", serial_input_bytes(dev) },
	};

	return dev_counters_copy(out, max, c, 3);
}

/*
 * The registry's save and restore for a device whose own take size_t:
 * one adapter pair per device, from the device's functions.
 */
#define STATE_OPS(name, type)                                                                \
	static int name##_entry_save(void *dev, void *out, unsigned long *len)               \
	{                                                                                    \
		size_t n = *len;                                                             \
		int ret = name##_save((type *)dev, out, &n);                                 \
                                                                                             \
		*len = n;                                                                    \
		return ret;                                                                  \
	}                                                                                    \
	static int name##_entry_restore(void *dev, const void *in, unsigned long len)        \
	{                                                                                    \
		return name##_restore((type *)dev, in, len);                                 \
	}

STATE_OPS(serial, struct serial)
STATE_OPS(i8042, struct i8042)
STATE_OPS(rtc, struct rtc)
STATE_OPS(acpi_pm, struct acpi_pm)
STATE_OPS(fw_cfg, struct fw_cfg)
STATE_OPS(testdev, struct testdev)

static const struct dev_ops serial_entry_ops = {
	.destroy = serial_entry_destroy,
	.counters = serial_entry_counters,
	.save = serial_entry_save,
	.restore = serial_entry_restore,
};

static void i8042_entry_destroy(void *dev)
{
	i8042_destroy(dev);
}

static const struct dev_ops i8042_entry_ops = {
	.destroy = i8042_entry_destroy,
	.save = i8042_entry_save,
	.restore = i8042_entry_restore,
};

static void rtc_entry_destroy(void *dev)
{
	rtc_destroy(dev);
}

static const struct dev_ops rtc_entry_ops = {
	.destroy = rtc_entry_destroy,
	.save = rtc_entry_save,
	.restore = rtc_entry_restore,
};

static void acpi_pm_entry_destroy(void *dev)
{
	acpi_pm_destroy(dev);
}

static const struct dev_ops acpi_pm_entry_ops = {
	.destroy = acpi_pm_entry_destroy,
	.save = acpi_pm_entry_save,
	.restore = acpi_pm_entry_restore,
};

static void legacy_entry_destroy(void *bus)
{
	legacy_destroy(bus);
}

/*
 * The quiet ports (and the debug-exit port) hold no state, but a snapshot
 * still records them, so a restore that finds another set of devices is
 * refused by name.
 */
static int legacy_entry_save(void *dev, void *out, unsigned long *len)
{
	struct bytes_out o = bytes_out_init(out, *len);
	size_t n;
	int ret;

	(void)dev;
	bytes_put_tag(&o, "LGCY", 1);
	ret = bytes_out_finish(&o, &n);
	*len = n;
	return ret;
}

static int legacy_entry_restore(void *dev, const void *in, unsigned long len)
{
	struct bytes_in r = bytes_in_init(in, len);
	int ret = bytes_get_tag(&r, "LGCY", 1);

	(void)dev;
	return ret ? ret : bytes_in_finish(&r);
}

static const struct dev_ops legacy_entry_ops = {
	.destroy = legacy_entry_destroy,
	.save = legacy_entry_save,
	.restore = legacy_entry_restore,
};

/* Adds dev or, when the registry refuses, destroys it through ops. */
static int add_or_destroy(struct vm *vm, const char *id, enum dev_kind kind, const char *type,
			  const struct dev_resources *res, const struct dev_ops *ops, void *dev,
			  struct err *err)
{
	int ret = registry_add(&vm->devices, id, kind, type, res, ops, dev);

	if (ret) {
		ops->destroy(dev);
		return err_set(err, ret == -EEXIST, ret, "device '%s': %s", id,
			       ret == -EEXIST ? "the id is taken" : strerror(-ret));
	}
	return 0;
}

int vm_devices_create_legacy(struct vm *vm, struct power_sink sink, struct err *err)
{
	struct irq_line com1 = { irq_kvm_set, &vm->fd, IRQ_COM1 };
	struct irq_line kbd = { irq_kvm_set, &vm->fd, IRQ_KBD };
	struct dev_resources res = { .pio_base = PORT_COM1, .pio_size = 8, .gsi = IRQ_COM1 };
	struct serial *s;
	void *dev;
	int ret;

	s = serial_create(vm->serial_out_fd >= 0 ? vm->serial_out_fd : STDOUT_FILENO, com1);
	if (!s)
		return err_set(err, false, -ENOMEM, "COM1: out of memory");
	ret = add_or_destroy(vm, "com1", DEV_LEGACY, "serial", &res, &serial_entry_ops, s, err);
	if (ret)
		return ret;
	vm->serial = s;
	ret = serial_attach(s, &vm->bus, PORT_COM1);
	if (ret)
		return err_set(err, false, ret, "COM1: %s", strerror(-ret));

	dev = i8042_create(&vm->bus, sink, kbd);
	res = (struct dev_resources){ .pio_base = 0x60, .pio_size = 5, .gsi = IRQ_KBD };
	if (!dev || add_or_destroy(vm, "i8042", DEV_LEGACY, "i8042", &res, &i8042_entry_ops, dev,
				   err))
		goto err_legacy;
	dev = rtc_create(&vm->bus);
	res = (struct dev_resources){ .pio_base = 0x70, .pio_size = 2, .gsi = 8 };
	if (!dev || add_or_destroy(vm, "rtc", DEV_LEGACY, "rtc", &res, &rtc_entry_ops, dev, err))
		goto err_legacy;
	dev = acpi_pm_create(&vm->bus, sink);
	res = (struct dev_resources){ .pio_base = PORT_ACPI_SLEEP_CTL, .pio_size = 3, .gsi = -1 };
	if (!dev || add_or_destroy(vm, "acpi_pm", DEV_LEGACY, "acpi-pm", &res, &acpi_pm_entry_ops,
				   dev, err))
		goto err_legacy;
	ret = legacy_create(&vm->bus, sink);
	if (ret)
		return err_set(err, false, ret, "legacy ports: %s", strerror(-ret));
	res = (struct dev_resources){ .gsi = -1 };
	return add_or_destroy(vm, "legacy", DEV_LEGACY, "legacy-ports", &res, &legacy_entry_ops,
			      &vm->bus, err);

err_legacy:
	if (!err->msg[0])
		err_set(err, false, -ENOMEM, "platform devices: %s", strerror(errno ? errno : ENOMEM));
	return -ENOMEM;
}

static void fw_cfg_entry_destroy(void *dev)
{
	fw_cfg_destroy(dev);
}

static const struct dev_ops fw_cfg_entry_ops = {
	.destroy = fw_cfg_entry_destroy,
	.save = fw_cfg_entry_save,
	.restore = fw_cfg_entry_restore,
};

static void testdev_entry_destroy(void *dev)
{
	testdev_destroy(dev);
}

static const struct dev_ops testdev_entry_ops = {
	.destroy = testdev_entry_destroy,
	.save = testdev_entry_save,
	.restore = testdev_entry_restore,
};

static void debug_exit_entry_destroy(void *dev)
{
	debug_exit_destroy(dev);
}

static const struct dev_ops debug_exit_entry_ops = {
	.destroy = debug_exit_entry_destroy,
	.save = legacy_entry_save,
	.restore = legacy_entry_restore,
};

int vm_devices_create_fw(struct vm *vm, const struct vm_config *cfg, struct debug_exit_sink dsink,
			 struct err *err)
{
	struct fw_cfg_info info = { .ncpus = vm->ncpus, .ram_size = vm->mem.ram_bytes };
	struct dev_resources res = { .pio_base = FW_CFG_PORT, .pio_size = FW_CFG_PORT_LEN,
				     .gsi = -1 };
	void *dev;
	int ret;

	for (unsigned int i = 0; i < vm->mem.nregions; i++) {
		uint64_t end = vm->mem.regions[i].gpa + vm->mem.regions[i].size;

		if (end > info.max_ram)
			info.max_ram = end;
	}
	dev = fw_cfg_create(&vm->bus, &info);
	if (!dev)
		return err_set(err, false, -errno, "fw_cfg: %s", strerror(errno));
	ret = add_or_destroy(vm, "fw_cfg", DEV_LEGACY, "fw-cfg", &res, &fw_cfg_entry_ops, dev, err);
	if (ret)
		return ret;
	/* pc-testdev first: a clash is then always the debug-exit's, which has a flag to fix it. */
	if (cfg->test_devices) {
		struct irq_line irq = { irq_kvm_set, &vm->fd, 0 };

		dev = testdev_create(&vm->bus, &vm->mem, vm->loop, irq);
		if (!dev)
			return err_set(err, false, -errno, "--test-devices: %s", strerror(errno));
		res = (struct dev_resources){ .pio_base = TESTDEV_LATCH_PORT, .pio_size = 8,
					      .mmio_base = TESTDEV_MMIO_BASE,
					      .mmio_size = TESTDEV_MMIO_SIZE, .gsi = -1 };
		ret = add_or_destroy(vm, "testdev", DEV_LEGACY, "pc-testdev", &res,
				     &testdev_entry_ops, dev, err);
		if (ret)
			return ret;
	}
	if (!cfg->debug_exit.present)
		return 0;
	dev = debug_exit_create(&vm->bus, cfg->debug_exit.iobase, cfg->debug_exit.iosize, dsink);
	if (!dev)
		return err_set(err, errno == EEXIST, -errno,
			       errno == EEXIST ? "--debug-exit: ports 0x%x-0x%x are taken by "
			       "another device" : "--debug-exit: ports 0x%x-0x%x: cannot register",
			       cfg->debug_exit.iobase,
			       cfg->debug_exit.iobase + cfg->debug_exit.iosize - 1);
	res = (struct dev_resources){ .pio_base = cfg->debug_exit.iobase,
				      .pio_size = cfg->debug_exit.iosize, .gsi = -1 };
	return add_or_destroy(vm, "debug_exit", DEV_LEGACY, "isa-debug-exit", &res,
			      &debug_exit_entry_ops, dev, err);
}

/* Virtio devices: one ops table for all, through the device's own ops. */
static void virtio_entry_destroy(void *dev)
{
	struct virtio_dev *vd = dev;

	vd->ops->destroy(vd);
}

static unsigned int virtio_entry_counters(void *dev, struct dev_counter *out, unsigned int max)
{
	struct virtio_dev *vd = dev;

	return vd->ops->counters ? vd->ops->counters(vd, out, max) : 0;
}

static int virtio_entry_pause(void *dev)
{
	virtio_dev_pause(dev);
	return 0;
}

static int virtio_entry_resume(void *dev)
{
	virtio_dev_resume(dev);
	return 0;
}

/* The transport's state and its queues, with the device's own state nested (virtio/mmio/state.c). */
static int virtio_entry_save(void *dev, void *out, unsigned long *len)
{
	struct virtio_dev *vd = dev;
	size_t n = *len;
	int ret;

	if (!vd->transport)
		return -ENODEV;
	ret = virtio_mmio_save(vd->transport, out, &n);
	*len = n;
	return ret;
}

static int virtio_entry_restore(void *dev, const void *in, unsigned long len)
{
	struct virtio_dev *vd = dev;

	return vd->transport ? virtio_mmio_restore(vd->transport, in, len) : -ENODEV;
}

static const struct dev_ops virtio_entry_ops = {
	.destroy = virtio_entry_destroy,
	.counters = virtio_entry_counters,
	.pause = virtio_entry_pause,
	.resume = virtio_entry_resume,
	.save = virtio_entry_save,
	.restore = virtio_entry_restore,
};

static void mmio_transport_destroy(void *t)
{
	virtio_mmio_destroy(t);
}

static const struct dev_transport_ops mmio_transport_ops = {
	.name = "virtio-mmio",
	.destroy = mmio_transport_destroy,
};

/*
 * Enters a freshly created device (ret is its create's result, err its
 * words or empty) under id and attaches it to virtio-mmio at the next slot.
 */
static int attach(struct vm *vm, const char *id, const char *type, const char *what, int ret,
		  struct virtio_dev *dev, struct err *err)
{
	struct virtio_host host = { .vm_fd = vm->fd, .bus = &vm->bus, .loop = vm->loop };
	unsigned int slot = 0;
	struct virtio_mmio *t;
	struct dev_resources res;

	if (ret) {
		if (!err->msg[0])
			err_set(err, false, ret, "%s", strerror(-ret));
		err->usage = ret != -ENOMEM;
		return err_prefix(err, ret, "%s: ", what);
	}
	for (unsigned int i = 0; i < vm->devices.n; i++)
		slot += vm->devices.entries[i].kind == DEV_VIRTIO;
	res = (struct dev_resources){ .mmio_base = vm->mmio_devs[slot].base,
				      .mmio_size = vm->mmio_devs[slot].size,
				      .gsi = (int)vm->mmio_devs[slot].gsi };
	ret = add_or_destroy(vm, id, DEV_VIRTIO, type, &res, &virtio_entry_ops, dev, err);
	if (ret)
		return ret;
	ret = virtio_mmio_create(dev, &host, res.mmio_base, (uint32_t)res.gsi, &t);
	if (ret)
		return err_set(err, false, ret, "%s: cannot attach virtio-mmio: %s", what,
			       strerror(-ret));
	registry_set_transport(&vm->devices, &mmio_transport_ops, t);
	return 0;
}

static void drive_what(const struct vm_config *cfg, unsigned int i, char *what, size_t len)
{
	if (cfg->cli)
		snprintf(what, len, "--disk %u", i + 1);
	else
		snprintf(what, len, "drive '%s'", cfg->drives[i].id);
}

int vm_devices_open_drives(const struct vm_config *cfg, struct blk_config *out,
			   struct err *err)
{
	char what[96];
	int ret;

	memset(out, 0, sizeof(*out) * VM_MAX_DRIVES);
	for (unsigned int i = 0; i < cfg->ndrives; i++) {
		const struct vm_drive *d = &cfg->drives[i];
		struct blk_config *bc = &out[i];

		drive_what(cfg, i, what, sizeof(what));
		bc->path = strdup(d->path_on_host);
		if (!bc->path)
			return err_set(err, false, -ENOMEM, "%s: out of memory", what);
		bc->readonly = d->is_read_only;
		bc->cache = d->cache_type;
		snprintf(bc->id, sizeof(bc->id), "%s", d->serial);
		ret = virtio_blk_open(bc, err);
		if (ret) {
			err->usage = ret != -ENOMEM;
			return err_prefix(err, ret, "%s: ", what);
		}
	}
	return 0;
}

void vm_devices_close_drives(struct blk_config *bcs)
{
	for (unsigned int i = 0; i < VM_MAX_DRIVES; i++)
		virtio_blk_config_release(&bcs[i]);
}

int vm_devices_create_virtio(struct vm *vm, const struct vm_config *cfg,
			     const struct blk_config *drives, struct err *err)
{
	struct virtio_env env = { .loop = vm->loop, .mem = &vm->mem };
	struct virtio_dev *dev;
	char what[96];
	int ret;

	for (unsigned int i = 0; i < cfg->ndrives; i++) {
		dev = NULL;
		err->msg[0] = '\0';
		drive_what(cfg, i, what, sizeof(what));
		ret = virtio_blk_create(&env, &drives[i], &dev, err);
		if (!ret)
			virtio_blk_set_limiter(dev, &cfg->drives[i].rate_limiter);
		ret = attach(vm, cfg->drives[i].id, "virtio-blk", what, ret, dev, err);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < cfg->nnets; i++) {
		struct net_config nc = cfg->nets[i].dev;

		dev = NULL;
		err->msg[0] = '\0';
		if (cfg->cli)
			snprintf(what, sizeof(what), "--net %u", i + 1);
		else
			snprintf(what, sizeof(what), "network interface '%s'", cfg->nets[i].id);
		/* One TX/RX pair per vCPU lets each queue's interrupts stay local. */
		nc.queue_pairs = nc.backend == NET_TAP ? cfg->machine.vcpu_count : 1;
		ret = virtio_net_create(&env, &nc, &dev, err);
		if (!ret)
			virtio_net_set_limiters(dev, &cfg->nets[i].rx_rate_limiter,
						&cfg->nets[i].tx_rate_limiter);
		ret = attach(vm, cfg->nets[i].id, "virtio-net", what, ret, dev, err);
		if (ret)
			return ret;
	}
	if (cfg->entropy) {
		dev = NULL;
		err->msg[0] = '\0';
		ret = virtio_rng_create(&env, &dev, err);
		if (!ret)
			virtio_rng_set_limiter(dev, &cfg->entropy_rate_limiter);
		ret = attach(vm, "entropy", "virtio-rng", "virtio-rng", ret, dev, err);
		if (ret)
			return ret;
	}
	if (cfg->vsock.present) {
		struct vsock_config vc = { .cid = cfg->vsock.guest_cid };

		dev = NULL;
		err->msg[0] = '\0';
		if (cfg->vsock.uds_path) {
			/* Hybrid vsock: Unix sockets on the host, no vhost_vsock. */
			struct vsock_uds_config uc = { .cid = cfg->vsock.guest_cid,
						       .uds_path = cfg->vsock.uds_path };

			ret = virtio_vsock_uds_create(&env, &uc, &dev, err);
		} else {
			ret = virtio_vsock_create(&env, &vc, &dev, err);
		}
		ret = attach(vm, "vsock", "virtio-vsock", cfg->cli ? "--vsock" : "vsock", ret, dev,
			     err);
		if (ret)
			return ret;
	}
	return 0;
}
