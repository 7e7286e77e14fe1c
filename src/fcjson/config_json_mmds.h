/* The model's MMDS section in Firecracker's JSON (config_json_mmds.c). */
#ifndef HEARTH_FCJSON_CONFIG_JSON_MMDS_H
#define HEARTH_FCJSON_CONFIG_JSON_MMDS_H

#include <jansson.h>

#include "util/err.h"
#include "vmm/config.h"

/* PUT /mmds/config's body, or the config file's "mmds-config": its NICs must be in c already. */
int config_json_mmds(struct vm_config *c, json_t *o, struct err *err);
/* GET /vm/config's "mmds-config": null until configured; NULL on ENOMEM. */
json_t *config_json_dump_mmds(const struct vm_config *c);

#endif
