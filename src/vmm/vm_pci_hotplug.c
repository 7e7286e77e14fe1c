/*
 * PCI hotplug on the VM's side (vm_pci_hotplug.h). The root's slot table
 * changes from the api thread (pci_root_detach waits for vCPUs, which may
 * wait for the io thread); the device is made and destroyed on the io
 * thread, which owns its fds; the registry changes there too, where the
 * metrics timer walks it.
 */
#include "vmm/vm_pci_hotplug.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pci/hotplug.h"
#include "pci/root.h"
#include "pci/vfio.h"
#include "util/log.h"
#include "virtio/pci.h"
#include "vmm/devices.h"

struct plug_call {
	struct vm *vm;
	const struct vm_config *cfg;
	const char *type;
	unsigned int i, slot;
	struct blk_config *drives;
	struct vm_pmem_map *window;     /* a pmem device's, prepared; NULL: none */
};

static int plug_fn(void *ctx, struct err *err)
{
	struct plug_call *c = ctx;
	const char *pmem_id = NULL;
	int ret;

	/*
	 * A disk on an image, and a pmem device, run on an io_uring ring: one
	 * made at start, since no thread may make one now. The device claims
	 * it as it is made and gives it back when destroyed.
	 */
	if (c->drives && !c->drives[c->i].socket) {
		c->drives[c->i].ring = vm_pci_ring(c->vm, c->type, c->cfg->drives[c->i].id, err);
		if (!c->drives[c->i].ring)
			return -ENOSPC;
	}
	if (c->window) {
		c->window->ring = vm_pci_ring(c->vm, c->type, c->cfg->pmem[c->i].id, err);
		if (!c->window->ring)
			return -ENOSPC;
	}
	/* A pmem device's window is in guest-physical space before the device reads it. */
	if (c->window) {
		ret = vm_pmem_commit(c->vm, c->i, c->window, err);
		if (ret)
			return ret;
		pmem_id = c->window->id;
		c->window = NULL;       /* the VM's now */
	}
	ret = vm_devices_plug_pci(c->vm, c->cfg, c->type, c->i, c->drives, c->slot, err);
	if (ret && pmem_id)
		vm_pmem_remove(c->vm, pmem_id);
	return ret;
}

static struct pci_root *root_of(struct vm *vm)
{
	struct reg_entry *e = registry_find(&vm->registry, COMP_DEVICE, "pci");

	return e ? pci_root_of(&e->comp) : NULL;
}

static struct pci_hotplug *hotplug_of(struct vm *vm)
{
	struct reg_entry *e = registry_find(&vm->registry, COMP_DEVICE, "pci_hotplug");

	return e ? pci_hotplug_of(&e->comp) : NULL;
}

/* The passed-through function with host address sbdf (0000:01:10.0); NULL: none. */
static struct reg_entry *vfio_entry(struct vm *vm, const char *sbdf)
{
	for (unsigned int i = 0; i < vm->registry.n; i++) {
		struct reg_entry *e = &vm->registry.entries[i];

		if (e->comp.ops == &vfio_pci_component && !strcmp(vfio_pci_name(e->comp.obj), sbdf))
			return e;
	}
	return NULL;
}

struct rename_call {
	struct reg_entry *e;
	const char *id;
};

/* On the io thread, where the metrics timer walks the registry. */
static int rename_fn(void *ctx, struct err *err)
{
	struct rename_call *c = ctx;

	(void)err;
	snprintf(c->e->name, sizeof(c->e->name), "%s", c->id);
	return 0;
}

/*
 * A passed-through device back on the bus: only one given at start and
 * unplugged since, whose VFIO group and device the process still holds
 * (a sealed process opens no new one).
 */
static int vfio_plug(struct vm *vm, const struct vm_config *cfg, unsigned int i,
		     struct pci_root *root, struct pci_hotplug *hp, struct err *err)
{
	const char *sbdf = strrchr(cfg->vfio[i].path, '/');
	struct reg_entry *e;
	unsigned int slot = pci_root_free_slot(root);
	int ret;

	sbdf = sbdf ? sbdf + 1 : cfg->vfio[i].path;
	e = vfio_entry(vm, sbdf);
	if (!e)
		return err_set(err, true, -EINVAL, "VFIO device %s was not passed through at "
			       "InstanceStart: after it, only a device given before it (and "
			       "unplugged since) plugs in, since the sealed process opens no new "
			       "VFIO group (docs/devices.md, Passthrough (VFIO))", sbdf);
	if (vfio_pci_attached(e->comp.obj))
		return err_set(err, true, -EEXIST, "VFIO device %s is plugged in already, as '%s'",
			       sbdf, e->name);
	if (!slot)
		return err_set(err, true, -ENOSPC, "no free PCI slot: all 31 are taken");
	/* Named first: a device on the bus is always found by its model id. */
	ret = eventloop_run_on(vm->loop, rename_fn, &(struct rename_call){ e, cfg->vfio[i].id },
			       err);
	if (!ret)
		ret = vfio_pci_replug(e->comp.obj, slot, err);
	if (ret)
		return ret;
	log_info("pci: VFIO device %s plugged into slot %u as '%s'", sbdf, slot,
		 cfg->vfio[i].id);
	pci_hotplug_request(hp, slot, true);
	return 0;
}

/* The passed-through function on the bus as id (an unplugged one may keep an old name). */
static struct vfio_pci *vfio_attached(struct vm *vm, const char *id)
{
	for (unsigned int i = 0; i < vm->registry.n; i++) {
		struct reg_entry *e = &vm->registry.entries[i];

		if (e->comp.ops == &vfio_pci_component && !strcmp(e->name, id) &&
		    vfio_pci_attached(e->comp.obj))
			return e->comp.obj;
	}
	return NULL;
}

static int vfio_unplug(struct vm *vm, const char *id, struct pci_hotplug *hp, struct err *err)
{
	struct vfio_pci *f = vfio_attached(vm, id);
	unsigned int slot;
	int ret;

	if (!f)
		return err_set(err, true, -ENOENT, "Device not found");
	slot = vfio_pci_slot(f);
	if (vfio_pci_driven(f)) {
		pci_hotplug_request(hp, slot, false);
		ret = pci_hotplug_wait_eject(hp, slot, VM_UNPLUG_WAIT_MS);
		if (ret && vfio_pci_driven(f))
			return err_set(err, true, -EBUSY, "the guest did not release device '%s' "
				       "within %u s (its driver still has it): it stays attached", id,
				       VM_UNPLUG_WAIT_MS / 1000);
	}
	ret = vfio_pci_unplug(f, err);
	if (ret)
		return ret;
	log_info("pci: VFIO device %s ('%s') unplugged from slot %u; kept open, reset, to be "
		 "plugged back", vfio_pci_name(f), id, slot);
	return 0;
}

int vm_pci_plug(struct vm *vm, const struct vm_config *cfg, const char *type, unsigned int i,
		struct err *err)
{
	struct plug_call c = { vm, cfg, type, i, 0, NULL, NULL };
	struct vm_pmem_map window = { .fd = -1, .lock_fd = -1 };
	struct pci_root *root = root_of(vm);
	struct pci_hotplug *hp = hotplug_of(vm);
	struct blk_config *drives = NULL;
	int ret;

	if (!vm->pci || !root || !hp)
		return err_set(err, true, -EOPNOTSUPP, "PCI is not enabled");
	if (!strcmp(type, "vfio"))
		return vfio_plug(vm, cfg, i, root, hp, err);
	c.slot = pci_root_free_slot(root);
	if (!c.slot)
		return err_set(err, true, -ENOSPC, "no free PCI slot: all 31 are taken");
	/* A backend maps guest RAM by its memfd, which only a VM started with such a drive has. */
	if (!strcmp(type, "virtio-blk") && cfg->drives[i].socket && !vm->mem.shared)
		return err_set(err, true, -EINVAL, "drive '%s': a vhost-user drive plugs only into a "
			       "microVM that started with one (its backend maps guest memory, "
			       "which is shared only then)", cfg->drives[i].id);
	/* The host's check refuses it first (host/check.c), in the same words. */
	if (!strcmp(type, "virtio-blk") && cfg->drives[i].format == BLK_FORMAT_QCOW2)
		return err_set(err, true, -EINVAL, "drive '%s': a qcow2 drive is not plugged into a "
			       "running VM: its backing files are opened, and zlib loaded, before the "
			       "sandbox seals (give it at boot)", cfg->drives[i].id);
	if (!strcmp(type, "virtio-blk")) {
		/* Only drives[i] is read: the image opened here, where the api thread may open it. */
		drives = calloc(cfg->ndrives, sizeof(*drives));
		if (!drives)
			return err_set(err, false, -ENOMEM, "out of memory");
		ret = vm_devices_open_drive(cfg, i, &drives[i], err);
		if (ret)
			goto out;
		c.drives = drives;
	}
	if (!strcmp(type, "virtio-pmem")) {
		/* Opened and mapped here, where the api thread may open it; its slot on the io thread. */
		ret = vm_pmem_prepare(vm, cfg, i, &window, err);
		if (ret)
			goto out;
		c.window = &window;
	}
	ret = eventloop_run_on(vm->loop, plug_fn, &c, err);
	/* A window the VM did not take (plug_fn failed, or never ran). */
	if (c.window)
		vm_pmem_release(&window);
	if (ret)
		goto out;
	log_info("pci: %s '%s' plugged into slot %u", type,
		 !strcmp(type, "virtio-blk") ? cfg->drives[i].id :
		 !strcmp(type, "virtio-net") ? cfg->nets[i].id : cfg->pmem[i].id, c.slot);
	pci_hotplug_request(hp, c.slot, true);
out:
	if (drives)
		virtio_blk_config_release(&drives[i]);
	free(drives);
	return ret;
}

struct unplug_call {
	struct vm *vm;
	const char *type, *id;
};

static int unplug_fn(void *ctx, struct err *err)
{
	struct unplug_call *c = ctx;

	(void)err;
	registry_remove(&c->vm->registry, registry_find_device(&c->vm->registry, c->type, c->id));
	/* The device is gone and the guest let go of it: its window can go too. */
	if (!strcmp(c->type, "virtio-pmem"))
		vm_pmem_remove(c->vm, c->id);
	return 0;
}

int vm_pci_unplug(struct vm *vm, const char *type, const char *id, struct err *err)
{
	struct unplug_call c = { vm, type, id };
	struct reg_entry *e = registry_find_device(&vm->registry, type, id);
	struct pci_root *root = root_of(vm);
	struct pci_hotplug *hp = hotplug_of(vm);
	struct virtio_pci *t;
	unsigned int slot;
	int ret;

	if (!vm->pci || !root || !hp)
		return err_set(err, true, -EOPNOTSUPP, "PCI is not enabled");
	if (!strcmp(type, "vfio"))
		return vfio_unplug(vm, id, hp, err);
	if (!e || e->comp.ops != &virtio_pci_component)
		return err_set(err, true, -ENOENT, "Device not found");
	t = e->comp.obj;
	slot = virtio_pci_slot(t);
	/*
	 * A driver still bound: the guest is asked to let go (its acpiphp
	 * unbinds the driver, removes the function, then calls _EJ0). One
	 * the guest already released (Firecracker's way: by hand, through
	 * sysfs) goes at once.
	 */
	if (virtio_pci_driven(t)) {
		pci_hotplug_request(hp, slot, false);
		ret = pci_hotplug_wait_eject(hp, slot, VM_UNPLUG_WAIT_MS);
		if (ret && virtio_pci_driven(t))
			return err_set(err, true, -EBUSY, "the guest did not release device '%s' "
				       "within %u s (its driver still has it): it stays attached; a "
				       "guest without ACPI PCI hotplug removes it first, e.g. echo 1 > "
				       "/sys/bus/pci/devices/0000:00:%02x.0/remove", id,
				       VM_UNPLUG_WAIT_MS / 1000, slot);
	}
	ret = pci_root_detach(root, slot);
	if (ret)
		return err_set(err, false, ret, "slot %u: %s", slot, strerror(-ret));
	ret = eventloop_run_on(vm->loop, unplug_fn, &c, err);
	if (ret)
		return ret;
	log_info("pci: %s '%s' unplugged from slot %u", type, id, slot);
	return 0;
}

bool vm_pci_record_slots(struct vm *vm, const struct vm_config *cfg, struct vm_config *rec)
{
	bool moved = false;

	if (!vm->pci)
		return false;
	if (rec)
		rec->npci_slots = 0;
	for (unsigned int i = 0; i < vm->registry.n; i++) {
		const struct reg_entry *e = &vm->registry.entries[i];
		unsigned int at;

		if (e->comp.ops != &virtio_pci_component)
			continue;
		at = virtio_pci_slot(e->comp.obj);
		moved = moved || at != vm_devices_pci_slot(cfg, e->type, e->name);
		if (rec && rec->npci_slots < VM_PCI_SLOTS_MAX) {
			struct vm_pci_slot *p = &rec->pci_slots[rec->npci_slots++];

			snprintf(p->type, sizeof(p->type), "%s", e->type);
			snprintf(p->name, sizeof(p->name), "%s", e->name);
			p->slot = at;
		}
	}
	return moved;
}
