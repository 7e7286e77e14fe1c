/* Snapshots from the API's side: when they are allowed, and the state afterwards. */
#include <errno.h>
#include <string.h>

#include "api/controller.h"

int api_ctl_snapshot_create(struct api_ctl *ctl, const struct snap_create_req *req, struct err *err)
{
	if (!ctl->ops->snapshot_create)
		return err_set(err, true, -EOPNOTSUPP, "snapshots are not supported by this "
			       "instance");
	if (ctl->state == API_NOT_STARTED)
		return err_set(err, true, -EINVAL, "snapshot/create is not allowed before boot: "
			       "the microVM has not been started (InstanceStart)");
	/* Firecracker's rule: a running guest would change memory under the writer. */
	if (ctl->state != API_PAUSED)
		return err_set(err, true, -EINVAL, "the VM must be paused to create a snapshot "
			       "(PATCH /vm {\"state\": \"Paused\"} first)");
	return ctl->ops->snapshot_create(ctl->ops_ctx, &ctl->cfg, req, err);
}

/* Anything a PUT configured that the snapshot's own config would silently replace. */
static bool api_ctl_configured(const struct vm_config *c)
{
	return c->boot.kernel_image_path || c->ndrives || c->nnets || c->vsock.present;
}

int api_ctl_snapshot_load(struct api_ctl *ctl, const struct snap_load_req *req,
			  struct err *err)
{
	struct vm_config cfg;
	int ret;

	err->usage = true;
	err->msg[0] = 0;
	if (!ctl->ops->snapshot_load)
		return err_set(err, true, -EOPNOTSUPP, "snapshots are not supported by this "
			       "instance");
	if (ctl->state != API_NOT_STARTED || api_ctl_configured(&ctl->cfg))
		return err_set(err, true, -EINVAL, "snapshot/load is only allowed before the VM is "
			       "configured or booted (%s)", ctl->state != API_NOT_STARTED
			       ? "the microVM has started" : "boot source, drives, network or "
			       "vsock were configured");
	vm_config_init(&cfg);
	ret = ctl->ops->snapshot_load(ctl->ops_ctx, req, &cfg, err);
	if (ret) {
		vm_config_release(&cfg);
		return ret;
	}
	/* The logger and metrics set before the load stay: they are this process's. */
	vm_config_release(&ctl->cfg);
	ctl->cfg = cfg;
	ctl->state = req->resume_vm ? API_RUNNING : API_PAUSED;
	return 0;
}
