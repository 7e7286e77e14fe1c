/*
 * Memory hotplug's live actions (control.h): GET /hotplug/memory (the
 * device's status) and PATCH (a new requested size) through the VM
 * behind, after boot only. Firecracker's words (its rpc_interface.rs): a
 * failed read is InternalVmm's, a failed change MemoryHotplugUpdate's.
 */
#include "control/model.h"

#include <errno.h>
#include <string.h>

#define NO_DEVICE "Failed perform action on device: Device not found"

int ctl_hotplug_live(struct ctl *ctl, const struct ctl_action *a, json_t **out,
		     struct err *err)
{
	bool patch = a->type == CTL_PATCH_HOTPLUG;
	const char *prefix = patch ? "Memory hotplug update error: " : "Internal VMM error: ";
	int ret;

	if (!ctl->cfg.hotplug.present || !ctl->vm->hotplug)
		return err_set(err, true, -EINVAL, "%s" NO_DEVICE, prefix);
	err->msg[0] = '\0';
	ret = ctl->vm->hotplug(ctl->vm_ctx, patch, a->hotplug_mib, out, err);
	if (ret) {
		if (!err->msg[0])
			err_set(err, true, ret, "%s", strerror(-ret));
		return err_prefix(err, ret == -ENOMEM ? ret : -EINVAL, "%s", prefix);
	}
	return 0;
}
