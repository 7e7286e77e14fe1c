/*
 * Firecracker's balloon objects (its vmm_config/balloon.rs): the device's
 * config (PUT /balloon, the config file's "balloon", GET /balloon and
 * /vm/config) and the bodies of its PATCH requests. Words as its
 * deserializer's; the values are checked by vm_config_set_balloon.
 */
#ifndef HEARTH_FCJSON_CONFIG_JSON_BALLOON_H
#define HEARTH_FCJSON_CONFIG_JSON_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/err.h"
#include "virtio/balloon.h"
#include "vmm/config.h"

/* BalloonDeviceConfig into c (0, or -EINVAL with err; c changes only on 0). */
int config_json_balloon(struct vm_config *c, json_t *o, struct err *err);
/* The config as GET /balloon answers it; null when there is none. */
json_t *config_json_dump_balloon(const struct vm_balloon *b);
/* BalloonUpdateConfig (PATCH /balloon): amount_mib. */
int config_json_balloon_update(json_t *o, uint32_t *amount_mib, struct err *err);
/* BalloonUpdateStatsConfig (PATCH /balloon/statistics): stats_polling_interval_s. */
int config_json_balloon_stats_update(json_t *o, uint16_t *interval_s, struct err *err);
/* StartHintingCmd (PATCH /balloon/hinting/start; o NULL: no body): acknowledge_on_stop. */
int config_json_balloon_hint_start(json_t *o, bool *ack_on_stop, struct err *err);

/* GET /balloon/statistics: Firecracker's BalloonStats, the fields the guest gave. */
json_t *config_json_dump_balloon_stats(const struct balloon_stats *s);
/* GET /balloon/hinting/status: Firecracker's HintingStatus. */
json_t *config_json_dump_balloon_hinting(const struct balloon_hint_status *h);

#endif
