/*
 * The API's logger, metrics and serial endpoints on the controller: the
 * JSON goes to the model (vmm/config_json_observe.c), and what must happen at once
 * (the log file opened, the metrics file opened and flushed) is done here
 * or through the controller's ops. The caller holds ctl->lock.
 */
#ifndef HEARTH_API_OBSERVE_H
#define HEARTH_API_OBSERVE_H

#include <stddef.h>

#include <jansson.h>

#include "api/controller.h"
#include "util/err.h"

/* PUT /logger: opens log_path (if given) and records the logger; 0 or -errno with err. */
int api_ctl_set_logger(struct api_ctl *ctl, json_t *o, struct err *err);
/* PUT /metrics: once; the file is opened (and the periodic flush started) before 204. */
int api_ctl_set_metrics(struct api_ctl *ctl, json_t *o, struct err *err);
/* The FlushMetrics action: after boot, with metrics configured. */
int api_ctl_flush_metrics(struct api_ctl *ctl, struct err *err);
/* Counts one answered request (api_route, under the lock). */
void api_ctl_count(struct api_ctl *ctl, const char *method, unsigned int status);

/* ctl's counters, as the metrics' "api_server" totals. */
void api_ctl_metrics(struct api_ctl *ctl, json_t *counters);

#endif
