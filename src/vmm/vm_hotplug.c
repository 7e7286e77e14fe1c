/*
 * Memory hotplug on the VM's side (vm_hotplug.h). The device's actions
 * run on the I/O thread, which owns it, between two of its requests; the
 * ops it calls run there too, inside its queue's work.
 */
#include "vmm/vm_hotplug.h"

#include <cpuid.h>
#include <errno.h>
#include <string.h>

#include "core/layout.h"
#include "mem/guest_mem_hotplug.h"
#include "virtio/mmio.h"
#include "vmm/devices.h"

static int hotplug_set_range(void *ctx, uint64_t off, uint64_t len, bool plug)
{
	return guest_mem_hotplug_set(ctx, off, len, plug);
}

const struct virtio_mem_ops vm_hotplug_ops = {
	.set = hotplug_set_range,
};

/* Asked once per process: a CPUID is an exit when Hearth runs in a VM (a fork's clones inherit it). */
unsigned int vm_host_phys_bits(void)
{
	static int cached = -1;
	int bits = __atomic_load_n(&cached, __ATOMIC_RELAXED);
	unsigned int a, b, c, d;

	if (bits >= 0)
		return (unsigned int)bits;
	if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000008)
		bits = 0;
	else if (__get_cpuid(0x80000008, &a, &b, &c, &d))
		bits = (int)(a & 0xff);
	else
		bits = 0;
	__atomic_store_n(&cached, bits, __ATOMIC_RELAXED);
	return (unsigned int)bits;
}

int vm_hotplug_map(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	const struct vm_hotplug *h = &cfg->hotplug;
	unsigned int bits = vm_host_phys_bits();
	uint64_t end;
	int ret;

	if (!h->present)
		return 0;
	ret = guest_mem_hotplug_init(&vm->mem, (uint64_t)h->total_size_mib << 20,
				     (uint64_t)h->block_size_mib << 20,
				     (uint64_t)h->slot_size_mib << 20);
	if (ret == -ERANGE)
		return err_set(err, true, ret, "memory-hotplug: %u MiB in slots of %u MiB does not "
			       "fit: at most %u slots, below %llu GiB of guest physical memory",
			       h->total_size_mib, h->slot_size_mib, LAYOUT_HOTPLUG_MAX_SLOTS,
			       (unsigned long long)(LAYOUT_HOTPLUG_LIMIT >> 30));
	if (ret)
		return err_set(err, ret == -EINVAL, ret, "memory-hotplug: cannot map %u MiB: %s",
			       h->total_size_mib, strerror(-ret));
	/* A region the guest cannot address is one its driver refuses: say so now. */
	end = vm->mem.hp->gpa + vm->mem.hp->size;
	if (bits && bits < 64 && end > 1ull << bits) {
		guest_mem_hotplug_destroy(&vm->mem);
		return err_set(err, true, -ERANGE, "memory-hotplug: %u MiB above RAM ends at %#llx, "
			       "past the %u physical address bits of this host", h->total_size_mib,
			       (unsigned long long)end, bits);
	}
	return 0;
}

struct hotplug_call {
	struct virtio_dev *dev;
	uint32_t requested_mib;
	struct virtio_mem_status *status;
	struct err *err;
};

static int hotplug_fn(void *ctx, struct err *unused)
{
	struct hotplug_call *c = ctx;

	(void)unused;
	if (c->status) {
		virtio_mem_get_status(c->dev, c->status);
		return 0;
	}
	return virtio_mem_set_requested(c->dev, c->requested_mib, c->err);
}

static int hotplug_run(struct vm *vm, struct hotplug_call *c)
{
	struct reg_entry *e = registry_find_device(&vm->registry, "virtio-mem",
							"memory_hotplug");

	if (!e)
		return err_set(c->err, true, -ENODEV, "Failed perform action on device: Device "
			       "not found");
	c->dev = vm_virtio_device(e);
	/* -ESHUTDOWN, with no words, once the loop has stopped: the caller says strerror's. */
	return eventloop_run_on(vm->loop, hotplug_fn, c, NULL);
}

int vm_hotplug_set(struct vm *vm, uint32_t requested_mib, struct err *err)
{
	struct hotplug_call c = { .requested_mib = requested_mib, .err = err };

	return hotplug_run(vm, &c);
}

int vm_hotplug_status(struct vm *vm, struct virtio_mem_status *out, struct err *err)
{
	struct hotplug_call c = { .status = out, .err = err };

	return hotplug_run(vm, &c);
}
