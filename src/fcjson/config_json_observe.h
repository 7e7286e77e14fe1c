/*
 * Firecracker's Logger, Metrics and SerialDevice objects (PUT /logger,
 * /metrics, /serial, and the config file's "logger", "metrics" and
 * "serial") to and from the machine model. Same conventions as
 * config_json.h: 0, or -EINVAL / -ENOMEM with "logger: ..." in err.
 */
#ifndef HEARTH_FCJSON_CONFIG_JSON_OBSERVE_H
#define HEARTH_FCJSON_CONFIG_JSON_OBSERVE_H

#include <stddef.h>

#include <jansson.h>

#include "util/err.h"
#include "vmm/config.h"

/*
 * The fields given replace those of *l (Firecracker updates its logger
 * field by field); l->log_path may then point into o.
 */
int config_json_logger(json_t *o, struct vm_logger *l, struct err *err);
/*
 * m->metrics_path points into o; m->properties is the caller's to free
 * (NULL when none), on success or not.
 */
int config_json_metrics(json_t *o, struct vm_metrics *m, struct err *err);
/* serial_out_path, or none (null or left out: stdout again). */
int config_json_serial(struct vm_config *c, json_t *o, struct err *err);

/* The config file's "logger", "metrics" and "serial" sections, into the model only. */
int config_json_observe_sections(struct vm_config *c, json_t *root, struct err *err);

#endif
