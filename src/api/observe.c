#include "api/observe.h"

#include <errno.h>
#include <string.h>

#include "vmm/config_json_observe.h"
#include "vmm/logger.h"
#include "vmm/metrics.h"

int api_ctl_set_logger(struct api_ctl *ctl, json_t *o, struct err *err)
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

int api_ctl_set_metrics(struct api_ctl *ctl, json_t *o, struct err *err)
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
	if (!ctl->ops->metrics_open)
		return err_set(err, true, -EINVAL, "metrics: not available in this process");
	ret = ctl->ops->metrics_open(ctl->ops_ctx, path, err);
	if (!ret)
		ret = vm_config_set_metrics(&ctl->cfg, path, err);
	if (ret)
		return err_prefix(err, ret == -ENOMEM ? ret : -EINVAL, "metrics: ");
	return 0;
}

int api_ctl_flush_metrics(struct api_ctl *ctl, struct err *err)
{
	int ret;

	/* Firecracker's rule: FlushMetrics is a runtime operation. */
	if (ctl->state == API_NOT_STARTED)
		return err_set(err, true, -EINVAL, "FlushMetrics is not supported before boot: the "
			       "microVM has not been started (InstanceStart)");
	if (!ctl->cfg.metrics.metrics_path || !ctl->ops->metrics_flush)
		return err_set(err, true, -EINVAL, "FlushMetrics: metrics are not configured (PUT "
			       "/metrics or --metrics-path)");
	ret = ctl->ops->metrics_flush(ctl->ops_ctx, err);
	if (ret)
		return err_prefix(err, -EINVAL, "FlushMetrics: ");
	return 0;
}

void api_ctl_count(struct api_ctl *ctl, const char *method, unsigned int status)
{
	uint64_t *slot = &ctl->counts.other;

	if (!strcmp(method, "GET"))
		slot = &ctl->counts.get;
	else if (!strcmp(method, "PUT"))
		slot = &ctl->counts.put;
	else if (!strcmp(method, "PATCH"))
		slot = &ctl->counts.patch;
	__atomic_fetch_add(slot, 1, __ATOMIC_RELAXED);
	if (status >= 400)
		__atomic_fetch_add(&ctl->counts.failed, 1, __ATOMIC_RELAXED);
}

void api_ctl_metrics(struct api_ctl *ctl, json_t *counters)
{
	const struct {
		const char *name;
		uint64_t *v;
	} c[] = {
		{ "get_requests", &ctl->counts.get },
		{ "put_requests", &ctl->counts.put },
		{ "patch_requests", &ctl->counts.patch },
		{ "other_requests", &ctl->counts.other },
		{ "failed_requests", &ctl->counts.failed },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		metrics_add(counters, "api_server", c[i].name,
			    __atomic_load_n(c[i].v, __ATOMIC_RELAXED));
}
