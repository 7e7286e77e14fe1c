/*
 * The model's passed-through devices (pci/vfio.h). Their RAM is pinned
 * for the devices' DMA, which rules out what gives RAM back or adds it
 * while the VM runs.
 */
#include "vmm/config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int vm_config_add_vfio(struct vm_config *c, const char *id, const char *path, struct err *err)
{
	struct vm_vfio v;
	int ret;

	memset(&v, 0, sizeof(v));
	if (c->nvfio >= VM_MAX_VFIO)
		return err_set(err, true, -EINVAL, "at most %u VFIO devices", VM_MAX_VFIO);
	if (!path || !path[0])
		return err_set(err, true, -EINVAL, "a VFIO device needs the path of a PCI device "
			       "(/sys/bus/pci/devices/DDDD:BB:DD.F)");
	if (strlen(path) >= sizeof(v.path))
		return err_set(err, true, -EINVAL, "VFIO device path too long (at most %zu bytes)",
			       sizeof(v.path) - 1);
	if (id) {
		ret = vm_config_check_id("VFIO device id", id, err);
		if (ret)
			return ret;
		snprintf(v.id, sizeof(v.id), "%s", id);
	} else {
		snprintf(v.id, sizeof(v.id), "vfio%u", c->nvfio);
	}
	snprintf(v.path, sizeof(v.path), "%s", path);
	for (unsigned int i = 0; i < c->nvfio; i++) {
		if (!strcmp(c->vfio[i].id, v.id))
			return err_set(err, true, -EINVAL, "VFIO device id '%s' is taken", v.id);
		if (!strcmp(c->vfio[i].path, v.path))
			return err_set(err, true, -EINVAL, "VFIO device %s is given twice", v.path);
	}
	c->vfio[c->nvfio++] = v;
	return 0;
}

int vm_config_check_vfio(const struct vm_config *c, struct err *err)
{
	if (!c->nvfio)
		return 0;
	if (!c->pci)
		return err_set(err, true, -EINVAL, "a VFIO device needs PCI (--pci, "
			       "--enable-pci or the config file's \"pci\": {\"enabled\": true})");
	if (c->balloon.present)
		return err_set(err, true, -EINVAL, "a VM with a VFIO device cannot have a balloon: "
			       "its RAM is pinned for the device's DMA");
	if (c->hotplug.present)
		return err_set(err, true, -EINVAL, "a VM with a VFIO device cannot have memory "
			       "hotplug: its RAM is pinned for the device's DMA");
	return 0;
}
