/*
 * The VM's passed-through devices (pci/vfio.h): each opened, all guest
 * RAM mapped for its DMA, then attached to the PCI root after the
 * virtio functions, its BARs in the window's VFIO part.
 */
#include "vmm/vm.h"

#include <errno.h>
#include <string.h>

#include "pci/root.h"
#include "pci/vfio.h"
#include "util/log.h"

void vm_vfio_layout(struct vm *vm, const struct vm_config *cfg)
{
	uint64_t end = 1ull << 32, base, size = LAYOUT_PCI_MMIO64_SIZE;
	unsigned int bits = vm_host_phys_bits();

	vm->mmio64_base = vm->mmio64_size = 0;
	if (!cfg->pci || !cfg->nvfio)
		return;
	for (unsigned int i = 0; i < vm->mem.nregions; i++)
		if (vm->mem.regions[i].gpa + vm->mem.regions[i].size > end)
			end = vm->mem.regions[i].gpa + vm->mem.regions[i].size;
	base = (end + LAYOUT_PCI_MMIO64_ALIGN - 1) & ~(LAYOUT_PCI_MMIO64_ALIGN - 1);
	/* A window the guest cannot address would be one its kernel ignores. */
	if (bits && bits < 64) {
		if (base >= 1ull << bits)
			return;
		if (base + size > 1ull << bits)
			size = ((1ull << bits) - base) & ~(LAYOUT_PCI_MMIO64_ALIGN - 1);
	}
	vm->mmio64_base = base;
	vm->mmio64_size = size;
}

int vm_vfio_create(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	struct reg_entry *root = registry_find(&vm->registry, COMP_DEVICE, "pci");
	struct vfio_bar_space space = { .next32 = LAYOUT_PCI_VFIO_BARS,
		.end32 = LAYOUT_PCI_MMIO32_END, .next64 = vm->mmio64_base,
		.end64 = vm->mmio64_size ? vm->mmio64_base + vm->mmio64_size : 0 };
	int ret;

	if (cfg->nvfio && root && vm->mmio64_size) {
		ret = pci_root_claim_window64(pci_root_of(&root->comp), &vm->bus, vm->mmio64_base,
					      vm->mmio64_size, err);
		if (ret)
			return ret;
	}

	for (unsigned int i = 0; i < cfg->nvfio; i++) {
		struct vfio_env env = { .vm_fd = vm->fd,
			.routes = vm->has_routes ? &vm->routes : NULL,
			.kvm_slot_base = LAYOUT_VFIO_SLOT_BASE + i * VFIO_KVM_SLOTS_PER_DEVICE,
			.loop = vm->loop };
		struct dev_resources res = { .gsi = -1 };
		struct vfio_handles h;
		struct vfio_pci *f;
		unsigned int slot;

		if (!root)
			return err_set(err, true, -EINVAL, "a VFIO device needs PCI (--pci)");
		slot = pci_root_free_slot(pci_root_of(&root->comp));
		if (!slot)
			return err_set(err, true, -ENOSPC, "VFIO device %s: no free PCI slot",
				       cfg->vfio[i].path);
		ret = vfio_host_open(cfg->vfio[i].path, &h, err);
		if (ret)
			return ret;
		ret = vfio_host_dma_map(&h, &vm->mem, err);
		if (ret) {
			vfio_host_close(&h);
			return ret;
		}
		ret = vfio_pci_create(&h, &env, pci_root_of(&root->comp), slot, &space, &f, err);
		if (ret)
			return ret;
		ret = registry_add(&vm->registry, COMP_DEVICE, cfg->vfio[i].id, "vfio", &res,
				   &(struct component){ &vfio_pci_component, f });
		if (ret) {
			vfio_pci_destroy(f);
			return err_set(err, ret == -EEXIST, ret, "device '%s': %s", cfg->vfio[i].id,
				       ret == -EEXIST ? "the id is taken" : strerror(-ret));
		}
		log_info("VFIO device %s: at PCI slot %u as '%s'", cfg->vfio[i].path, slot,
			 cfg->vfio[i].id);
	}
	return 0;
}
