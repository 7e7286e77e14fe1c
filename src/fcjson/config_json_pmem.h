/*
 * Firecracker's pmem objects (its vmm_config/pmem.rs): PmemConfig (PUT
 * /pmem/{id}, the config file's "pmem" array, GET /vm/config) and
 * PmemDeviceUpdateConfig (PATCH /pmem/{id}). Words as its deserializer's;
 * the values are checked by vm_config_put_pmem.
 */
#ifndef HEARTH_FCJSON_CONFIG_JSON_PMEM_H
#define HEARTH_FCJSON_CONFIG_JSON_PMEM_H

#include <stdbool.h>

#include <jansson.h>

#include "util/err.h"
#include "vmm/config.h"

/* PmemConfig into c; path_id (PUT's) must match its id. 0, or -EINVAL with err. */
int config_json_pmem(struct vm_config *c, json_t *o, const char *path_id, struct err *err);
/* GET /vm/config's "pmem": every device, every key (rate_limiter null when unset). */
json_t *config_json_dump_pmem(const struct vm_config *c);
/*
 * PmemDeviceUpdateConfig: id (path_id's) and an optional rate_limiter;
 * *has_rl says whether one was given (Firecracker changes nothing without).
 */
int config_json_pmem_update(json_t *o, const char *path_id, struct rl_config *rl, bool *has_rl,
			    struct err *err);

#endif
