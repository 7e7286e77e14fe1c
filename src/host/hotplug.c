/*
 * The VM behind memory hotplug's live actions (ctl_vm_ops.hotplug): the
 * running device's status into Firecracker's JSON, a new requested size;
 * and behind PCI hotplug's (ctl_vm_ops.plug, .unplug).
 */
#include "host/host.h"

#include <errno.h>
#include <string.h>

#include "sandbox/confine.h"

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

	/*
	 * The sealed sandbox kept a network (user-mode) or /dev/net/tun (TAP)
	 * only for a VM that started with such a NIC: a new one needs one of
	 * its kind already there.
	 */
	if (!strcmp(type, "virtio-net") && sandbox_fs_sealed()) {
		const struct vm_net *n = &cfg->nets[i];
		bool user = n->dev.backend == NET_USER, kept = false;

		for (unsigned int j = 0; j < cfg->nnets; j++)
			kept = kept || (j != i && cfg->nets[j].dev.backend == n->dev.backend);
		if (!kept)
			return err_set(err, true, -EINVAL, "network interface '%s': the sandbox sealed "
				       "this microVM without a %s interface, so it keeps no %s; plug "
				       "one into a microVM that started with one, or run without the "
				       "sandbox", n->id, user ? "user-mode" : "TAP",
				       user ? "network for it" : "/dev/net/tun");
	}
	return vm_pci_plug(&h->run.vm, cfg, type, i, err);
}

int host_unplug(void *ctx, const char *type, const char *id, struct err *err)
{
	struct host *h = ctx;

	return vm_pci_unplug(&h->run.vm, type, id, err);
}
