#include "core/vm_virtio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "boot/layout.h"
#include "core/vm.h"
#include "util/log.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"

/*
 * GSIs for virtio-mmio: the IOAPIC's non-ISA pins first, then ISA lines no
 * legacy device of ours uses (not 0-2 timer/cascade, 4 COM1, 8 RTC).
 */
static const uint8_t virtio_gsis[VM_MAX_VIRTIO] = {
	16, 17, 18, 19, 20, 21, 22, 23, 5, 6, 7, 9, 10, 11, 12, 14,
};

int vm_device_plan_parse(const struct cli_config *cfg, struct vm_device_plan *plan, char *err,
			 size_t errlen)
{
	char why[200];

	memset(plan, 0, sizeof(*plan));
	for (unsigned int i = 0; i < cfg->ndisks; i++) {
		if (virtio_blk_parse(cfg->disks[i], &plan->disks[i], why, sizeof(why))) {
			snprintf(err, errlen, "--disk '%.200s': %s", cfg->disks[i], why);
			return -EINVAL;
		}
		plan->ndisks = i + 1;
		if (virtio_blk_open(&plan->disks[i], why, sizeof(why))) {
			snprintf(err, errlen, "--disk %u: %s", i + 1, why);
			return -EINVAL;
		}
	}
	plan->ndisks = cfg->ndisks;
	for (unsigned int i = 0; i < cfg->nnets; i++) {
		if (virtio_net_parse(cfg->nets[i], &plan->nets[i], why, sizeof(why))) {
			snprintf(err, errlen, "--net '%.200s': %s", cfg->nets[i], why);
			return -EINVAL;
		}
		/* One TX/RX pair per vCPU lets each queue's interrupts stay local. */
		if (plan->nets[i].backend == NET_TAP)
			plan->nets[i].queue_pairs = cfg->cpus;
		else
			plan->nets[i].queue_pairs = 1;
	}
	plan->nnets = cfg->nnets;
	if (cfg->vsock) {
		if (virtio_vsock_parse(cfg->vsock, &plan->vsock_cfg, why, sizeof(why))) {
			snprintf(err, errlen, "--vsock '%.200s': %s", cfg->vsock, why);
			return -EINVAL;
		}
		plan->vsock = true;
	}
	plan->rng = cfg->rng;
	return 0;
}

void vm_device_plan_release(struct vm_device_plan *plan)
{
	for (unsigned int i = 0; i < plan->ndisks; i++)
		virtio_blk_config_release(&plan->disks[i]);
	plan->ndisks = 0;
}

void vm_virtio_layout(struct vm *vm)
{
	const struct vm_device_plan *p = vm->devs;
	unsigned int n = 0;

	vm->n_mmio_devs = 0;
	if (!p)
		return;
	n = p->ndisks + p->nnets + (p->rng ? 1 : 0) + (p->vsock ? 1 : 0);
	if (n > VM_MAX_VIRTIO)
		die_code(HEARTH_EXIT_USAGE, "too many virtio devices (%u, at most %u)", n,
			 VM_MAX_VIRTIO);
	for (unsigned int i = 0; i < n; i++) {
		vm->mmio_devs[i].base = LAYOUT_VIRTIO_MMIO_BASE + i * LAYOUT_VIRTIO_MMIO_STRIDE;
		vm->mmio_devs[i].size = VIRTIO_MMIO_SIZE;
		vm->mmio_devs[i].gsi = virtio_gsis[i];
	}
	vm->n_mmio_devs = n;
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

/* The one place a device meets its transport: virtio-mmio at the next slot. */
static void add_device(struct vm *vm, const char *what, int ret, struct virtio_dev *dev,
		       const char *err)
{
	struct virtio_host host = { .vm_fd = vm->fd, .bus = &vm->bus, .loop = &vm->loop };
	unsigned int slot = vm->nvirtio;

	if (ret)
		die_code(ret == -ENOMEM ? HEARTH_EXIT_FAILURE : HEARTH_EXIT_USAGE, "%s: %s", what,
			 err[0] ? err : strerror(-ret));
	ret = virtio_mmio_create(dev, &host, vm->mmio_devs[slot].base, vm->mmio_devs[slot].gsi,
				 &vm->virtio_mmio[slot]);
	if (ret) {
		dev->ops->destroy(dev);
		die_code(HEARTH_EXIT_FAILURE, "%s: cannot attach virtio-mmio: %s", what,
			 strerror(-ret));
	}
	vm->virtio[slot] = dev;
	vm->nvirtio++;
}

void vm_virtio_create(struct vm *vm)
{
	const struct vm_device_plan *p = vm->devs;
	struct virtio_env env = { .loop = &vm->loop, .mem = &vm->mem };
	struct virtio_dev *dev = NULL;
	char err[256] = "";
	char what[64];

	if (!p)
		return;
	for (unsigned int i = 0; i < p->ndisks; i++) {
		int ret = virtio_blk_create(&env, &p->disks[i], &dev, err, sizeof(err));
		snprintf(what, sizeof(what), "--disk %u", i + 1);
		add_device(vm, what, ret, dev, err);
	}
	for (unsigned int i = 0; i < p->nnets; i++) {
		int ret = virtio_net_create(&env, &p->nets[i], &dev, err, sizeof(err));
		snprintf(what, sizeof(what), "--net %u", i + 1);
		add_device(vm, what, ret, dev, err);
	}
	if (p->rng) {
		int ret = virtio_rng_create(&env, &dev, err, sizeof(err));
		add_device(vm, "virtio-rng", ret, dev, err);
	}
	if (p->vsock) {
		int ret = virtio_vsock_create(&env, &p->vsock_cfg, &dev, err, sizeof(err));
		add_device(vm, "--vsock", ret, dev, err);
	}
}

/* Transport first, then the device: see the lifecycle in virtio/device.h. */
void vm_virtio_destroy(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nvirtio; i++) {
		virtio_mmio_destroy(vm->virtio_mmio[i]);
		vm->virtio[i]->ops->destroy(vm->virtio[i]);
	}
	vm->nvirtio = 0;
}
