/*
 * The actions that change the machine model: Firecracker's objects
 * through the model's codec (vmm/config_json.h), the logger and metrics
 * (opened at once, so a bad path leaves the model as it was), and the
 * PATCH of drives and network interfaces.
 */
#include "control/model.h"

#include <errno.h>
#include <string.h>

#include "fcjson/config_json.h"
#include "fcjson/config_json_balloon.h"
#include "fcjson/config_json_fs.h"
#include "fcjson/config_json_pmem.h"
#include "fcjson/config_json_passthrough.h"
#include "fcjson/config_json_hotplug.h"
#include "fcjson/config_json_cpu.h"
#include "fcjson/config_json_fault.h"
#include "fcjson/config_json_observe.h"
#include "fcjson/config_json_mmds.h"
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
	struct vm_metrics m;
	int ret;

	ret = config_json_metrics(o, &m, err);
	if (!ret && ctl->cfg.metrics.metrics_path)
		ret = err_set(err, true, -EINVAL, "metrics: Reinitialization of metrics not "
			      "allowed: already configured (%.256s), and Firecracker's metrics "
			      "are set once", ctl->cfg.metrics.metrics_path);
	else if (!ret) {
		ret = ctl->vm->metrics_open(ctl->vm_ctx, &m, err);
		if (!ret)
			ret = vm_config_set_metrics(&ctl->cfg, &m, err);
		if (ret)
			err_prefix(err, ret == -ENOMEM ? ret : -EINVAL, "metrics: ");
	}
	free(m.properties);
	return ret;
}

/* serde's name for each body's Firecracker type, for a body that is no object. */
static const char *body_struct(enum ctl_type type)
{
	switch (type) {
	case CTL_PUT_BOOT_SOURCE:
		return "struct BootSourceConfig";
	case CTL_PUT_MACHINE:
		return "struct MachineConfig";
	case CTL_PATCH_MACHINE:
		return "struct MachineConfigUpdate";
	case CTL_PUT_DRIVE:
		return "struct BlockDeviceConfig";
	case CTL_PUT_NET:
		return "struct NetworkInterfaceConfig";
	case CTL_PUT_VSOCK:
		return "struct VsockDeviceConfig";
	case CTL_PUT_ENTROPY:
		return "struct EntropyDeviceConfig";
	case CTL_PUT_LOGGER:
		return "struct LoggerConfig";
	case CTL_PUT_METRICS:
		return "struct MetricsConfig";
	case CTL_PUT_SERIAL:
		return "struct SerialConfig";
	case CTL_PUT_CPU_CONFIG:
		return "struct CustomCpuTemplate";
	case CTL_PUT_MMDS_CONFIG:
		return "struct MmdsConfig";
	case CTL_PUT_BALLOON:
		return "struct BalloonDeviceConfig";
	case CTL_PUT_PMEM:
		return "struct PmemConfig";
	case CTL_PUT_PASSTHROUGH:
		return "struct DevicePassthroughConfig";
	case CTL_PUT_HOTPLUG:
		return "struct MemoryHotplugConfig";
	case CTL_PUT_FS:
		return "struct FsConfig";
	default:
		return "a map";
	}
}

/*
 * o into c as a->type says. dry: c is a scratch model and nothing outside
 * it is touched (no logger or metrics file opened), for ctl_model_body_fault.
 */
static int model_decode(struct ctl *ctl, struct vm_config *c, const struct ctl_action *a,
			json_t *o, bool dry, struct err *err)
{
	struct vm_logger l = { 0 };
	struct vm_metrics m;
	int ret;

	switch (a->type) {
	case CTL_PUT_BOOT_SOURCE:
		return config_json_boot_source(c, o, err);
	case CTL_PUT_MACHINE:
	case CTL_PATCH_MACHINE:
		return config_json_machine(c, o, a->type == CTL_PATCH_MACHINE, err);
	case CTL_PUT_DRIVE:
		return config_json_drive(c, o, a->id, err);
	case CTL_PUT_NET:
		return config_json_net(c, o, a->id, err);
	case CTL_PUT_VSOCK:
		return config_json_vsock(c, o, err);
	case CTL_PUT_ENTROPY:
		return config_json_entropy(c, o, err);
	case CTL_PUT_LOGGER:
		return dry ? config_json_logger(o, &l, err) : put_logger(ctl, o, err);
	case CTL_PUT_METRICS:
		if (!dry)
			return put_metrics(ctl, o, err);
		ret = config_json_metrics(o, &m, err);
		free(m.properties);
		return ret;
	case CTL_PUT_SERIAL:
		return config_json_serial(c, o, err);
	case CTL_PUT_CPU_CONFIG:
		return config_json_cpu_config(c, o, err);
	case CTL_PUT_MMDS_CONFIG:
		return config_json_mmds(c, o, err);
	case CTL_PUT_BALLOON:
		return config_json_balloon(c, o, err);
	case CTL_PUT_PMEM:
		return config_json_pmem(c, o, a->id, err);
	case CTL_PUT_PASSTHROUGH:
		return config_json_passthrough(c, o, a->id, err);
	case CTL_PUT_HOTPLUG:
		return config_json_hotplug(c, o, err);
	case CTL_PUT_FS:
		return config_json_fs(c, o, a->id, err);
	default:
		return err_set(err, false, -EINVAL, "action %d has no body for the model",
			       (int)a->type);
	}
}

int ctl_model_put(struct ctl *ctl, const struct ctl_action *a, json_t **out, struct err *err)
{
	json_t *o = config_json_body(a->body, a->len, body_struct(a->type), err);
	int ret;

	if (!o)
		return -EINVAL;
	/* As Firecracker: the attempt alone closes snapshot/load (not the logger's, metrics' or serial's). */
	if (a->type != CTL_PUT_LOGGER && a->type != CTL_PUT_METRICS && a->type != CTL_PUT_SERIAL)
		ctl->boot_path = true;
	ret = model_decode(ctl, &ctl->cfg, a, o, false, err);
	/* A body Firecracker's deserializer would refuse: its words, its line and column. */
	if (ret)
		config_json_fault_place(err, a->body, a->len, o);
	json_decref(o);
	return ret;
}

int ctl_model_body_fault(struct ctl *ctl, const struct ctl_action *a, struct err *err)
{
	struct err e = ERR_INIT;
	struct vm_config scratch;
	json_t *o = config_json_body(a->body, a->len, body_struct(a->type), err);
	int ret;

	if (!o)
		return -EINVAL;
	vm_config_init(&scratch);
	ret = model_decode(ctl, &scratch, a, o, true, &e);
	/* Only what the deserializer refuses: the model's own checks come after the state's. */
	if (ret && e.at) {
		config_json_fault_place(&e, a->body, a->len, o);
		*err = e;
	} else {
		ret = 0;
	}
	vm_config_release(&scratch);
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

int ctl_model_patch_pmem(struct ctl *ctl, const struct ctl_action *a, json_t **out,
			 struct err *err)
{
	const struct vm_pmem_patch *p = &a->pmem;
	int ret;

	/* Firecracker's update_pmem_device: no limiter, nothing looked up, nothing done. */
	if (!p->has_rate_limiter)
		return 0;
	ret = vm_config_check_pmem_patch(&ctl->cfg, p, err);
	if (ret)
		return err_prefix(err, ret, "pmem: ");
	err->msg[0] = '\0';
	ret = ctl->vm->patch_pmem ? ctl->vm->patch_pmem(ctl->vm_ctx, p, err) : -EOPNOTSUPP;
	if (ret)
		return live_fail("pmem", ret, err);
	vm_config_patch_pmem(&ctl->cfg, p);
	return 0;
}
