/*
 * The actions that change the machine model: Firecracker's objects
 * through the model's codec (vmm/config_json.h), the logger and metrics
 * (opened at once, so a bad path leaves the model as it was), and the
 * PATCH of drives and network interfaces.
 */
#include "control/model.h"

#include <errno.h>
#include <string.h>

#include "vmm/config_json.h"
#include "vmm/config_json_cpu.h"
#include "vmm/config_json_observe.h"
#include "vmm/config_mmds.h"
#include "vmm/logger.h"

void ctl_model_init(struct vm_config *c)
{
	vm_config_init(c);
	c->machine.mem_size_mib = VM_FC_DEFAULT_MEM_MIB;
	vm_config_set_entropy(c, false);
}

static int put_logger(struct ctl *ctl, json_t *o, struct err *err)
{
	struct vm_logger l = ctl->cfg.logger, opts;
	int ret;

	ret = config_json_logger(o, &l, err);
	if (ret)
		return ret;
	/*
	 * As Firecracker's LOGGER.update(): a log_path opens that file (again,
	 * if it is the same) in place of the one before; without one the file
	 * stays and only the level and flags change. Opened first: a path that
	 * cannot be opened leaves the model as it was.
	 */
	opts = l;
	if (!json_is_string(json_object_get(o, "log_path")))
		opts.log_path = NULL;
	ret = vm_logger_apply(&opts, err);
	if (!ret)
		ret = vm_config_set_logger(&ctl->cfg, &l, err);
	return ret ? err_prefix(err, ret, "logger: ") : 0;
}

static int put_metrics(struct ctl *ctl, json_t *o, struct err *err)
{
	const char *path;
	int ret;

	ret = config_json_metrics(o, &path, err);
	if (ret)
		return ret;
	if (ctl->cfg.metrics.metrics_path)
		return err_set(err, true, -EINVAL, "metrics: Reinitialization of metrics not "
			       "allowed: already configured (%.256s), and Firecracker's metrics "
			       "are set once", ctl->cfg.metrics.metrics_path);
	ret = ctl->vm->metrics_open(ctl->vm_ctx, path, err);
	if (!ret)
		ret = vm_config_set_metrics(&ctl->cfg, path, err);
	if (ret)
		return err_prefix(err, ret == -ENOMEM ? ret : -EINVAL, "metrics: ");
	return 0;
}

int ctl_model_put(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	struct vm_config *c = &ctl->cfg;
	json_t *o = config_json_body(a->body, a->len, err);
	int ret;

	if (!o)
		return -EINVAL;
	/* As Firecracker: the attempt alone closes snapshot/load (not the logger's, metrics' or serial's). */
	if (a->type != CTL_PUT_LOGGER && a->type != CTL_PUT_METRICS && a->type != CTL_PUT_SERIAL)
		ctl->boot_path = true;
	switch (a->type) {
	case CTL_PUT_BOOT_SOURCE:
		ret = config_json_boot_source(c, o, err);
		break;
	case CTL_PUT_MACHINE:
	case CTL_PATCH_MACHINE:
		ret = config_json_machine(c, o, a->type == CTL_PATCH_MACHINE, err);
		break;
	case CTL_PUT_DRIVE:
		ret = config_json_drive(c, o, a->id, err);
		break;
	case CTL_PUT_NET:
		ret = config_json_net(c, o, a->id, err);
		break;
	case CTL_PUT_VSOCK:
		ret = config_json_vsock(c, o, err);
		break;
	case CTL_PUT_ENTROPY:
		ret = config_json_entropy(c, o, err);
		break;
	case CTL_PUT_LOGGER:
		ret = put_logger(ctl, o, err);
		break;
	case CTL_PUT_METRICS:
		ret = put_metrics(ctl, o, err);
		break;
	case CTL_PUT_SERIAL:
		ret = config_json_serial(c, o, err);
		break;
	case CTL_PUT_CPU_CONFIG:
		ret = config_json_cpu_config(c, o, err);
		break;
	case CTL_PUT_MMDS_CONFIG:
		ret = config_json_mmds(c, o, err);
		break;
	default:
		ret = err_set(err, false, -EINVAL, "action %d has no body for the model",
			      (int)a->type);
		break;
	}
	json_decref(o);
	return ret;
}

/* The live device's refusal, or its errno when it gave no words; -ENOMEM stays a 500. */
static int live_fail(const char *what, int ret, struct err *err)
{
	if (!err->msg[0])
		err_set(err, true, ret, "%s", strerror(-ret));
	return err_prefix(err, ret == -ENOMEM ? ret : -EINVAL, "%s: ", what);
}

int ctl_model_patch_drive(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			  struct err *err)
{
	const struct vm_drive_patch *p = &a->drive;
	int ret;

	ret = vm_config_check_drive_patch(&ctl->cfg, p, err);
	if (ret)
		return err_prefix(err, ret, "drives: ");
	err->msg[0] = '\0';
	ret = ctl->vm->patch_drive(ctl->vm_ctx, vm_config_find_drive(&ctl->cfg, p->id), p, err);
	if (ret)
		return live_fail("drives", ret, err);
	ret = vm_config_patch_drive(&ctl->cfg, p, err);
	return ret ? err_prefix(err, ret, "drives: ") : 0;
}

int ctl_model_patch_net(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			struct err *err)
{
	const struct vm_net_patch *p = &a->net;
	int ret;

	ret = vm_config_check_net_patch(&ctl->cfg, p, err);
	if (ret)
		return err_prefix(err, ret, "network-interfaces: ");
	err->msg[0] = '\0';
	ret = ctl->vm->patch_net(ctl->vm_ctx, p, err);
	if (ret)
		return live_fail("network-interfaces", ret, err);
	ret = vm_config_patch_net(&ctl->cfg, p, err);
	return ret ? err_prefix(err, ret, "network-interfaces: ") : 0;
}
