#include "vmm/vm_ram.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "core/layout.h"
#include "mem/guest_mem_file.h"
#include "mem/guest_mem_hotplug.h"
#include "mem/guest_mem_huge.h"
#include "util/log.h"
#include "vmm/vm_hotplug.h"

/*
 * The pool is the host's to size: the error says how many pages were
 * wanted and free, and where the pool is set. An exhausted pool is
 * -ENOSPC, not -ENOMEM: the host's configuration, which the API answers
 * 400 like any other refused InstanceStart, not 500 (Hearth out of memory).
 */
static int huge_fail(const struct vm_config *cfg, int ret, struct err *err)
{
	unsigned long long mib = (unsigned long long)cfg->machine.mem_size_mib;
	long nfree = guest_mem_huge_free();

	if (ret == -ENOMEM)
		ret = -ENOSPC;
	if (ret == -ENOSPC && nfree >= 0)
		return err_set(err, false, ret, "cannot reserve %llu MiB of guest RAM in 2 MiB huge "
			       "pages (huge_pages \"2M\"): it needs %llu, the host's pool has %ld "
			       "free; raise /proc/sys/vm/nr_hugepages", mib, mib / 2, nfree);
	if (ret == -ENOSPC)
		return err_set(err, false, ret, "cannot reserve %llu MiB of guest RAM in 2 MiB huge "
			       "pages (huge_pages \"2M\"): not enough free in the host's pool; "
			       "raise /proc/sys/vm/nr_hugepages", mib);
	return err_set(err, false, ret, "cannot map %llu MiB of guest RAM in 2 MiB huge pages "
		       "(huge_pages \"2M\"): %s", mib, strerror(-ret));
}

/*
 * "Transparent": the kernel may back RAM with 2 MiB pages where it can
 * (MADV_HUGEPAGE). Advice, not a promise: a host whose THP is "never"
 * gives 4 KiB pages, and the VM runs as with "None".
 */
static void vm_ram_advise_thp(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->mem.nregions; i++)
		if (madvise(vm->mem.regions[i].hva, vm->mem.regions[i].size, MADV_HUGEPAGE))
			log_debug("huge_pages \"Transparent\": madvise: %s", strerror(errno));
}

uint64_t vm_ram_below_4g(const struct vm_config *cfg)
{
	uint64_t bytes = cfg->machine.mem_size_mib << 20;

	if (!cfg->firmware.path)
		return LAYOUT_MMIO_HOLE_START;
	/* QEMU's q35 (pc_q35.c): all of it below the ECAM window when it fits, else 2 GiB. */
	return bytes >= LAYOUT_Q35_ECAM ? LAYOUT_Q35_LOWMEM : LAYOUT_Q35_ECAM;
}

static bool ram_merge;

void vm_ram_set_merge(bool on)
{
	ram_merge = on;
}

/* KSM may merge the RAM's pages; a kernel without KSM says so once, and the VM runs as without. */
static void vm_ram_advise_merge(struct vm *vm, const struct vm_config *cfg)
{
	if (!ram_merge)
		return;
	if (cfg->machine.huge_pages == VM_HUGE_PAGES_2M) {
		log_warn("--mem-merge: huge_pages \"2M\" RAM is never merged (KSM takes 4 KiB "
			 "pages only)");
		return;
	}
	for (unsigned int i = 0; i < vm->mem.nregions; i++)
		if (madvise(vm->mem.regions[i].hva, vm->mem.regions[i].size, MADV_MERGEABLE)) {
			log_warn("--mem-merge: madvise(MADV_MERGEABLE): %s (a kernel without "
				 "CONFIG_KSM?); the guest's pages are not merged", strerror(errno));
			return;
		}
}

/*
 * A vhost-user drive's backend, or a virtio-fs daemon, maps the guest's
 * RAM: it must be a file it can be handed.
 */
static bool vm_ram_needs_shared(const struct vm_config *cfg)
{
	if (cfg->nfs)
		return true;
	for (unsigned int i = 0; i < cfg->ndrives; i++)
		if (cfg->drives[i].socket)
			return true;
	return false;
}

static int vm_ram_init_shared(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	int ret;

	if (cfg->machine.huge_pages == VM_HUGE_PAGES_2M)
		return err_set(err, true, -EINVAL, "huge_pages \"2M\" with a vhost-user drive or virtio-fs: "
			       "not supported (its backend maps the RAM, which is then a memfd in "
			       "4 KiB pages)");
	if (cfg->hotplug.present)
		return err_set(err, true, -EINVAL, "memory hotplug with a vhost-user drive or "
			       "virtio-fs: not supported (its backend could not reach hotplugged memory)");
	ret = guest_mem_init_shared_below(&vm->mem, cfg->machine.mem_size_mib << 20,
					  vm_ram_below_4g(cfg));
	if (ret)
		return err_set(err, false, ret, "cannot allocate %llu MiB of shared guest RAM: %s",
			       (unsigned long long)cfg->machine.mem_size_mib, strerror(-ret));
	if (cfg->machine.huge_pages == VM_HUGE_PAGES_THP)
		vm_ram_advise_thp(vm);
	/* KSM takes private anonymous pages only: it would skip these without a word. */
	if (ram_merge)
		log_warn("--mem-merge: a VM with a vhost-user drive has shared RAM (a memfd), "
			 "which KSM never merges");
	return 0;
}

int vm_ram_init(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	uint64_t bytes = cfg->machine.mem_size_mib << 20;
	int ret;

	if (vm_ram_needs_shared(cfg))
		return vm_ram_init_shared(vm, cfg, err);
	if (cfg->machine.huge_pages == VM_HUGE_PAGES_2M) {
		ret = guest_mem_init_huge_below(&vm->mem, bytes, vm_ram_below_4g(cfg));
		return ret ? huge_fail(cfg, ret, err) : vm_hotplug_map(vm, cfg, err);
	}
	ret = guest_mem_init_below(&vm->mem, bytes, vm_ram_below_4g(cfg));
	if (ret)
		return err_set(err, false, ret, "cannot allocate %llu MiB of guest RAM: %s",
			       (unsigned long long)cfg->machine.mem_size_mib, strerror(-ret));
	if (cfg->machine.huge_pages == VM_HUGE_PAGES_THP)
		vm_ram_advise_thp(vm);
	vm_ram_advise_merge(vm, cfg);
	/* After RAM, above which it goes: in 4 KiB pages whatever backs RAM. */
	return vm_hotplug_map(vm, cfg, err);
}

/*
 * The hotplug region, in 4 KiB pages whatever backs RAM, mapped privately
 * from the memory file: the device's record plugs its blocks again.
 */
static int vm_ram_restore_hotplug(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	const struct vm_mem_file *mf = vm->mem_file;
	int ret = vm_hotplug_map(vm, cfg, err);

	if (ret || !cfg->hotplug.present)
		return ret;
	if (!mf->hp)
		return err_set(err, true, -EINVAL, "the memory file has no memory hotplug region");
	ret = guest_mem_hotplug_map_file(&vm->mem, mf->fd, mf->hp_offset);
	if (ret)
		return err_set(err, false, ret, "cannot map the memory file's hotplug region: %s",
			       strerror(-ret));
	return 0;
}

int vm_ram_restore(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	const struct vm_mem_file *mf = vm->mem_file;
	int ret;

	if (cfg->machine.huge_pages != VM_HUGE_PAGES_2M) {
		ret = guest_mem_init_file_below(&vm->mem, cfg->machine.mem_size_mib << 20,
						vm_ram_below_4g(cfg), mf->fd, mf->offset,
						mf->nregions);
		if (ret)
			return err_set(err, ret == -EINVAL, ret, "cannot map the memory file: %s",
				       ret == -EINVAL ? "its regions do not match mem_size_mib"
				       : strerror(-ret));
		if (cfg->machine.huge_pages == VM_HUGE_PAGES_THP)
			vm_ram_advise_thp(vm);
		vm_ram_advise_merge(vm, cfg);
		return vm_ram_restore_hotplug(vm, cfg, err);
	}
	ret = guest_mem_init_huge_below(&vm->mem, cfg->machine.mem_size_mib << 20,
					vm_ram_below_4g(cfg));
	if (ret)
		return huge_fail(cfg, ret, err);
	ret = vm_ram_restore_hotplug(vm, cfg, err);
	if (ret)
		return ret;
	ret = guest_mem_fill_from_file(&vm->mem, mf->fd, mf->offset, mf->nregions);
	if (ret)
		return err_set(err, ret == -EINVAL || ret == -ENODATA, ret, "cannot read the memory "
			       "file into huge pages: %s", ret == -EINVAL ? "its regions do not "
			       "match mem_size_mib" : ret == -ENODATA ? "it ends inside guest RAM "
			       "(truncated?)" : strerror(-ret));
	return 0;
}
