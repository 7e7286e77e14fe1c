/*
 * PATCH of drives and network interfaces: Firecracker's PartialDrive and
 * PartialNetworkInterface. The body is checked whole, then the change is
 * checked against the model, then (after boot) applied to the running
 * device, and only once that worked to the model: a failure leaves both
 * as they were, and GET /vm/config always describes the running devices.
 */
#include "api/controller.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/json_request.h"

static int patch_fail(const char *what, const char *why, int ret, char *err, size_t errlen)
{
	char copy[VM_CONFIG_ERR_MAX + 64];

	snprintf(copy, sizeof(copy), "%s", why);
	snprintf(err, errlen, "%s: %s", what, copy);
	return ret;
}

int api_patch_drive(struct api_ctl *ctl, const char *id, json_t *o, char *err, size_t errlen)
{
	char why[VM_CONFIG_ERR_MAX + 64];
	struct vm_drive_patch p;
	int ret;

	ret = api_json_patch_drive(o, id, &p, err, errlen);
	if (ret)
		return ret;
	ret = vm_config_check_drive_patch(&ctl->cfg, &p, why, sizeof(why));
	if (ret)
		return patch_fail("drives", why, ret, err, errlen);
	if (ctl->state != API_NOT_STARTED) {
		if (!ctl->ops->patch_drive)
			return patch_fail("drives", "live changes are not supported here", -EINVAL,
					  err, errlen);
		why[0] = '\0';
		ret = ctl->ops->patch_drive(ctl->ops_ctx, vm_config_find_drive(&ctl->cfg, p.id), &p,
					    why, sizeof(why));
		if (ret)
			return patch_fail("drives", why[0] ? why : strerror(-ret),
					  ret == -ENOMEM ? ret : -EINVAL, err, errlen);
	}
	ret = vm_config_patch_drive(&ctl->cfg, &p, why, sizeof(why));
	return ret ? patch_fail("drives", why, ret, err, errlen) : 0;
}

int api_patch_net(struct api_ctl *ctl, const char *id, json_t *o, char *err, size_t errlen)
{
	char why[VM_CONFIG_ERR_MAX + 64];
	struct vm_net_patch p;
	int ret;

	ret = api_json_patch_net(o, id, &p, err, errlen);
	if (ret)
		return ret;
	/* Firecracker's rule: before boot, PUT the interface again instead. */
	if (ctl->state == API_NOT_STARTED) {
		snprintf(err, errlen, "PATCH /network-interfaces is not allowed before boot: the "
			 "microVM has not been started (InstanceStart); use PUT");
		return -EINVAL;
	}
	ret = vm_config_check_net_patch(&ctl->cfg, &p, why, sizeof(why));
	if (ret)
		return patch_fail("network-interfaces", why, ret, err, errlen);
	if (!ctl->ops->patch_net)
		return patch_fail("network-interfaces", "live changes are not supported here",
				  -EINVAL, err, errlen);
	why[0] = '\0';
	ret = ctl->ops->patch_net(ctl->ops_ctx, &p, why, sizeof(why));
	if (ret)
		return patch_fail("network-interfaces", why[0] ? why : strerror(-ret),
				  ret == -ENOMEM ? ret : -EINVAL, err, errlen);
	ret = vm_config_patch_net(&ctl->cfg, &p, why, sizeof(why));
	return ret ? patch_fail("network-interfaces", why, ret, err, errlen) : 0;
}
