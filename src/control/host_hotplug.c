/*
 * The VM behind memory hotplug's live actions (ctl_vm_ops.hotplug): the
 * running device's status into Firecracker's JSON, a new requested size;
 * and behind PCI hotplug's (ctl_vm_ops.plug, .unplug).
 */
#include "control/host.h"

#include <errno.h>

#include "fcjson/config_json_hotplug.h"
#include "vmm/vm_hotplug.h"
#include "vmm/vm_pci_hotplug.h"

int host_hotplug(void *ctx, bool patch, uint32_t requested_mib, json_t **out, struct err *err)
{
	struct host *h = ctx;
	struct virtio_mem_status st;
	int ret;

	*out = NULL;
	if (patch)
		return vm_hotplug_set(&h->run.vm, requested_mib, err);
	ret = vm_hotplug_status(&h->run.vm, &st, err);
	if (ret)
		return ret;
	*out = config_json_dump_hotplug_status(&st);
	return *out ? 0 : err_set(err, false, -ENOMEM, "out of memory");
}

int host_plug(void *ctx, const struct vm_config *cfg, const char *type, unsigned int i,
	      struct err *err)
{
	struct host *h = ctx;

	return vm_pci_plug(&h->run.vm, cfg, type, i, err);
}

int host_unplug(void *ctx, const char *type, const char *id, struct err *err)
{
	struct host *h = ctx;

	return vm_pci_unplug(&h->run.vm, type, id, err);
}
