/*
 * PATCH of drives and network interfaces: Firecracker's PartialDrive and
 * PartialNetworkInterface. The body is checked whole, then the change is
 * checked against the model, then (after boot) applied to the running
 * device, and only once that worked to the model: a failure leaves both
 * as they were, and GET /vm/config always describes the running devices.
 */
#include "api/controller.h"

#include <errno.h>
#include <string.h>

#include "api/json_request.h"

/* The live device's refusal, or its errno when it gave no words; -ENOMEM stays a 500. */
static int live_fail(const char *what, int ret, struct err *err)
{
	if (!err->msg[0])
		err_set(err, true, ret, "%s", strerror(-ret));
	return err_prefix(err, ret == -ENOMEM ? ret : -EINVAL, "%s: ", what);
}

int api_patch_drive(struct api_ctl *ctl, const char *id, json_t *o, struct err *err)
{
	struct vm_drive_patch p;
	int ret;

	ret = api_json_patch_drive(o, id, &p, err);
	if (ret)
		return ret;
	ret = vm_config_check_drive_patch(&ctl->cfg, &p, err);
	if (ret)
		return err_prefix(err, ret, "drives: ");
	if (ctl->state != API_NOT_STARTED) {
		if (!ctl->ops->patch_drive)
			return err_set(err, true, -EINVAL, "drives: live changes are not supported "
				       "here");
		err->msg[0] = '\0';
		ret = ctl->ops->patch_drive(ctl->ops_ctx, vm_config_find_drive(&ctl->cfg, p.id), &p,
					    err);
		if (ret)
			return live_fail("drives", ret, err);
	}
	ret = vm_config_patch_drive(&ctl->cfg, &p, err);
	return ret ? err_prefix(err, ret, "drives: ") : 0;
}

int api_patch_net(struct api_ctl *ctl, const char *id, json_t *o, struct err *err)
{
	struct vm_net_patch p;
	int ret;

	ret = api_json_patch_net(o, id, &p, err);
	if (ret)
		return ret;
	/* Firecracker's rule: before boot, PUT the interface again instead. */
	if (ctl->state == API_NOT_STARTED)
		return err_set(err, true, -EINVAL, "PATCH /network-interfaces is not allowed "
			       "before boot: the microVM has not been started (InstanceStart); use "
			       "PUT");
	ret = vm_config_check_net_patch(&ctl->cfg, &p, err);
	if (ret)
		return err_prefix(err, ret, "network-interfaces: ");
	if (!ctl->ops->patch_net)
		return err_set(err, true, -EINVAL, "network-interfaces: live changes are not "
			       "supported here");
	err->msg[0] = '\0';
	ret = ctl->ops->patch_net(ctl->ops_ctx, &p, err);
	if (ret)
		return live_fail("network-interfaces", ret, err);
	ret = vm_config_patch_net(&ctl->cfg, &p, err);
	return ret ? err_prefix(err, ret, "network-interfaces: ") : 0;
}
