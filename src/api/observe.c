#include "api/observe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/config_json_observe.h"
#include "vmm/logger.h"
#include "vmm/metrics.h"

int api_ctl_set_logger(struct api_ctl *ctl, json_t *o, char *err, size_t errlen)
{
	struct vm_logger l = ctl->cfg.logger, opts;
	char why[VM_CONFIG_ERR_MAX];
	int ret;

	ret = config_json_logger(o, &l, err, errlen);
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
	ret = vm_logger_apply(&opts, why, sizeof(why));
	if (!ret)
		ret = vm_config_set_logger(&ctl->cfg, &l, why, sizeof(why));
	if (ret)
		snprintf(err, errlen, "logger: %s", why);
	return ret;
}

int api_ctl_set_metrics(struct api_ctl *ctl, json_t *o, char *err, size_t errlen)
{
	char why[VM_CONFIG_ERR_MAX];
	const char *path;
	int ret;

	ret = config_json_metrics(o, &path, err, errlen);
	if (ret)
		return ret;
	if (ctl->cfg.metrics.metrics_path) {
		snprintf(err, errlen, "metrics: Reinitialization of metrics not allowed: already "
			 "configured (%.256s), and Firecracker's metrics are set once",
			 ctl->cfg.metrics.metrics_path);
		return -EINVAL;
	}
	if (!ctl->ops->metrics_open) {
		snprintf(err, errlen, "metrics: not available in this process");
		return -EINVAL;
	}
	ret = ctl->ops->metrics_open(ctl->ops_ctx, path, why, sizeof(why));
	if (!ret)
		ret = vm_config_set_metrics(&ctl->cfg, path, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "metrics: %s", why);
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	return 0;
}

int api_ctl_flush_metrics(struct api_ctl *ctl, char *err, size_t errlen)
{
	char why[VM_CONFIG_ERR_MAX];
	int ret;

	/* Firecracker's rule: FlushMetrics is a runtime operation. */
	if (ctl->state == API_NOT_STARTED) {
		snprintf(err, errlen, "FlushMetrics is not supported before boot: the microVM has "
			 "not been started (InstanceStart)");
		return -EINVAL;
	}
	if (!ctl->cfg.metrics.metrics_path || !ctl->ops->metrics_flush) {
		snprintf(err, errlen, "FlushMetrics: metrics are not configured (PUT /metrics or "
			 "--metrics-path)");
		return -EINVAL;
	}
	ret = ctl->ops->metrics_flush(ctl->ops_ctx, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "FlushMetrics: %s", why);
		return -EINVAL;
	}
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
