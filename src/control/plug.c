/*
 * PCI hotplug's actions (model.h): Firecracker 1.16's device hotplug, and
 * a passed-through device's. A
 * PUT /drives, /network-interfaces or /pmem after InstanceStart plugs the device
 * into the running VM, DELETE unplugs it; the model follows the VM: the
 * device joins it once plugged, leaves it once gone, so GET /vm/config
 * always lists the devices the VM has. Refusals in Firecracker's words
 * (VmmActionError's), then ours where it has none.
 */
#include "control/model.h"

#include <errno.h>
#include <string.h>

#define PCI_OFF "PCI is not enabled"
#define ID_IN_USE "Device ID in use"
#define NOT_FOUND "Device not found"
#define ROOT_UNPLUG "Cannot unplug root device"
#define PAUSED "hotplug needs a running microVM: resume it first (PATCH /vm Resumed)"

#define ROOT_PLUG "Drive config error: A root block device already exists! (a drive plugged " \
	"into a running microVM cannot be its root)"
#define ROOT_PLUG_PMEM "Pmem config error: a pmem device plugged into a running microVM " \
	"cannot be its root device"

/* Whether the body asks for a root device (a drive's "is_root_device", pmem's "root_device"). */
static bool root_asked(const struct ctl_action *a)
{
	json_t *o = a->body ? json_loadb(a->body, a->len, 0, NULL) : NULL;
	bool root = json_is_true(json_object_get(o, a->type == CTL_PUT_PMEM ? "root_device" :
						  "is_root_device"));

	json_decref(o);
	return root;
}

/* Where a->id is in the model after the PUT, or -1. */
static int find_plugged(const struct ctl *ctl, const struct ctl_action *a)
{
	if (a->type == CTL_PUT_NET) {
		for (unsigned int i = 0; i < ctl->cfg.nnets; i++)
			if (!strcmp(ctl->cfg.nets[i].id, a->id))
				return (int)i;
		return -1;
	}
	if (a->type == CTL_PUT_PMEM) {
		for (unsigned int i = 0; i < ctl->cfg.npmem; i++)
			if (!strcmp(ctl->cfg.pmem[i].id, a->id))
				return (int)i;
		return -1;
	}
	for (unsigned int i = 0; i < ctl->cfg.ndrives; i++)
		if (!strcmp(ctl->cfg.drives[i].id, a->id))
			return (int)i;
	return -1;
}

static void drop_plugged(struct ctl *ctl, enum ctl_type t, const char *id)
{
	if (t == CTL_PUT_NET || t == CTL_DELETE_NET)
		vm_config_drop_net(&ctl->cfg, id);
	else if (t == CTL_PUT_PMEM || t == CTL_DELETE_PMEM)
		vm_config_drop_pmem(&ctl->cfg, id);
	else
		vm_config_drop_drive(&ctl->cfg, id);
}

/* The device family the VM knows a kind by. */
static const char *family(enum ctl_type t)
{
	return t == CTL_PUT_NET || t == CTL_DELETE_NET ? "virtio-net" :
	       t == CTL_PUT_PMEM || t == CTL_DELETE_PMEM ? "virtio-pmem" : "virtio-blk";
}

static bool id_taken(const struct ctl *ctl, const struct ctl_action *a)
{
	if (!a->id)
		return false;
	if (a->type == CTL_PUT_NET)
		return vm_config_find_net(&ctl->cfg, a->id) != NULL;
	if (a->type == CTL_PUT_PMEM)
		return vm_config_find_pmem(&ctl->cfg, a->id) != NULL;
	return vm_config_find_drive(&ctl->cfg, a->id) != NULL;
}

/* What refuses any plug after boot, in Firecracker's order: the body, then the VM. */
static int plug_refused(struct ctl *ctl, const struct ctl_action *a, struct err *err)
{
	/* As Firecracker, which parses the body before it looks at the VM. */
	int ret = ctl_model_body_fault(ctl, a, err);

	if (ret)
		return ret;
	if (!ctl->cfg.pci || !ctl->vm->plug)
		return err_set(err, true, -EINVAL, PCI_OFF);
	if (ctl->state == CTL_PAUSED)
		return err_set(err, true, -EINVAL, PAUSED);
	return 0;
}

int ctl_plug(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	bool net = a->type == CTL_PUT_NET, pmem = a->type == CTL_PUT_PMEM;
	int i, ret;

	if (ctl->state == CTL_NOT_STARTED)
		return ctl_model_put(ctl, a, out, err);
	ret = plug_refused(ctl, a, err);
	if (ret)
		return ret;
	if (id_taken(ctl, a))
		return err_set(err, true, -EINVAL, ID_IN_USE);
	/* Firecracker's hotplug_make_block: refused before the image is touched. */
	if (!net && root_asked(a))
		return err_set(err, true, -EINVAL, pmem ? ROOT_PLUG_PMEM : ROOT_PLUG);
	ret = ctl_model_put(ctl, a, out, err);
	if (ret)
		return ret;
	i = find_plugged(ctl, a);
	if (i < 0)
		return err_set(err, false, -EINVAL, "'%s' did not reach the model", a->id);
	if (!net && (pmem ? ctl->cfg.pmem[i].root_device : ctl->cfg.drives[i].is_root_device)) {
		drop_plugged(ctl, a->type, a->id);
		return err_set(err, true, -EINVAL, pmem ? ROOT_PLUG_PMEM : ROOT_PLUG);
	}
	err->msg[0] = '\0';
	ret = ctl->vm->plug(ctl->vm_ctx, &ctl->cfg, family(a->type), (unsigned int)i, err);
	if (ret) {
		if (!err->msg[0])
			err_set(err, true, ret, "%s", strerror(-ret));
		drop_plugged(ctl, a->type, a->id);
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	return 0;
}

int ctl_unplug(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	bool net = a->type == CTL_DELETE_NET;
	int ret;

	*out = NULL;
	if (!ctl->cfg.pci || !ctl->vm->unplug)
		return err_set(err, true, -EINVAL, PCI_OFF);
	if (net ? !vm_config_find_net(&ctl->cfg, a->id) :
	    a->type == CTL_DELETE_PMEM ? !vm_config_find_pmem(&ctl->cfg, a->id) :
	    !vm_config_find_drive(&ctl->cfg, a->id))
		return err_set(err, true, -EINVAL, NOT_FOUND);
	if (a->type == CTL_DELETE_PMEM ? vm_config_find_pmem(&ctl->cfg, a->id)->root_device :
	    !net && vm_config_find_drive(&ctl->cfg, a->id)->is_root_device)
		return err_set(err, true, -EINVAL, ROOT_UNPLUG);
	/* The MMDS config names its NICs before boot only: one it names stays. */
	if (net && ctl->cfg.mmds.on && vm_config_mmds_net(&ctl->cfg, a->id))
		return err_set(err, true, -EINVAL, "network interface '%s' serves the MMDS "
			       "(mmds-config lists it): it cannot be unplugged", a->id);
	if (ctl->state == CTL_PAUSED)
		return err_set(err, true, -EINVAL, PAUSED);
	err->msg[0] = '\0';
	ret = ctl->vm->unplug(ctl->vm_ctx, family(a->type), a->id, err);
	if (ret) {
		if (!err->msg[0])
			err_set(err, true, ret, "%s", strerror(-ret));
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	drop_plugged(ctl, a->type, a->id);
	return 0;
}

int ctl_plug_vfio(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	const struct vm_config_probe *probe = ctl->cfg.probe;
	int i, ret;

	if (ctl->state == CTL_NOT_STARTED)
		return ctl_model_put(ctl, a, out, err);
	ret = plug_refused(ctl, a, err);
	if (ret)
		return ret;
	if (vm_config_find_vfio(&ctl->cfg, a->id) >= 0)
		return err_set(err, true, -EINVAL, ID_IN_USE);
	/* The host's sysfs is beyond the sealed process: the VM knows its devices. */
	ctl->cfg.probe = NULL;
	ret = ctl_model_put(ctl, a, out, err);
	ctl->cfg.probe = probe;
	if (ret)
		return ret;
	i = vm_config_find_vfio(&ctl->cfg, a->id);
	if (i < 0)
		return err_set(err, false, -EINVAL, "'%s' did not reach the model", a->id);
	err->msg[0] = '\0';
	ret = ctl->vm->plug(ctl->vm_ctx, &ctl->cfg, "vfio", (unsigned int)i, err);
	if (ret) {
		if (!err->msg[0])
			err_set(err, true, ret, "%s", strerror(-ret));
		vm_config_drop_vfio(&ctl->cfg, a->id);
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	return 0;
}

int ctl_unplug_vfio(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	int ret;

	*out = NULL;
	if (!ctl->cfg.pci || !ctl->vm->unplug)
		return err_set(err, true, -EINVAL, PCI_OFF);
	if (vm_config_find_vfio(&ctl->cfg, a->id) < 0)
		return err_set(err, true, -EINVAL, NOT_FOUND);
	if (ctl->state == CTL_PAUSED)
		return err_set(err, true, -EINVAL, PAUSED);
	err->msg[0] = '\0';
	ret = ctl->vm->unplug(ctl->vm_ctx, "vfio", a->id, err);
	if (ret) {
		if (!err->msg[0])
			err_set(err, true, ret, "%s", strerror(-ret));
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	vm_config_drop_vfio(&ctl->cfg, a->id);
	return 0;
}
