/*
 * The balloon's actions (control.h): its config from the model, and the
 * live device's target, statistics and free page hinting through the VM
 * behind. Firecracker's rules and words (its rpc_interface.rs): before
 * boot only the config exists, after it the device answers, and the
 * model follows what the device was told.
 */
#include "control/model.h"

#include <errno.h>

#include "fcjson/config_json_balloon.h"

#define NO_DEVICE "Failed perform action on device: Device not found"

int ctl_balloon_get(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	(void)a;
	if (!ctl->cfg.balloon.present)
		return ctl->state == CTL_NOT_STARTED
		       ? err_set(err, true, -EINVAL, "Balloon config error: No balloon device found.")
		       : err_set(err, true, -EINVAL, "Internal VMM error: " NO_DEVICE);
	*out = config_json_dump_balloon(&ctl->cfg.balloon);
	return *out ? 0 : err_set(err, false, -ENOMEM, "out of memory");
}

int ctl_balloon_live(struct ctl *ctl, const struct ctl_action *a, json_t **out,
		     struct err *err)
{
	struct ctl_balloon_req req = a->balloon;
	/* Firecracker maps a failed read to InternalVmm, a failed change to BalloonUpdate. */
	const char *prefix = a->type == CTL_GET_BALLOON_STATS ? "Internal VMM error: "
			     : "Balloon update error: ";
	int ret;

	req.type = a->type;
	if (!ctl->cfg.balloon.present)
		return err_set(err, true, -EINVAL, "%s" NO_DEVICE, prefix);
	/* Firecracker's words, which name the amount asked for, not the limit. */
	if (req.type == CTL_PATCH_BALLOON && req.amount_mib > ctl->cfg.machine.mem_size_mib)
		return err_set(err, true, -EINVAL, "%sBalloon: Requested memory should be less "
			       "than %uMiB", prefix, req.amount_mib);
	err->msg[0] = '\0';
	ret = ctl->vm->balloon(ctl->vm_ctx, &req, out, err);
	if (ret) {
		if (!err->msg[0])
			err_set(err, true, ret, "%s", strerror(-ret));
		return err_prefix(err, ret == -ENOMEM ? ret : -EINVAL, "%s", prefix);
	}
	/* The model is the device's config: GET /balloon and snapshots read it. */
	if (req.type == CTL_PATCH_BALLOON)
		ctl->cfg.balloon.amount_mib = req.amount_mib;
	else if (req.type == CTL_PATCH_BALLOON_STATS)
		ctl->cfg.balloon.stats_polling_interval_s = req.interval_s;
	return 0;
}
