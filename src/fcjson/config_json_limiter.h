/*
 * Firecracker's RateLimiter object and the PATCH bodies that carry them:
 * {"bandwidth": {"size": N, "one_time_burst": N, "refill_time": MS},
 *  "ops": {...}}, either bucket optional. Messages start with the
 * object's name as the rest of config_json's do ("drives: rate_limiter:
 * bandwidth: missing required field 'size'").
 */
#ifndef HEARTH_FCJSON_CONFIG_JSON_LIMITER_H
#define HEARTH_FCJSON_CONFIG_JSON_LIMITER_H

#include <stddef.h>

#include <jansson.h>

#include "util/err.h"
#include "vmm/config.h"

/*
 * o's field `field` (absent or null: every bucket unset) into out. Shape
 * only; the values are vm_config's to check. 0 or -EINVAL with err.
 */
int config_json_limiter(const char *what, json_t *o, const char *field, struct rl_config *out,
			struct err *err);
/* o's field `field`, one TokenBucket (the serial's rate_limiter); none: out unset. */
int config_json_bucket(const char *what, json_t *o, const char *field,
		       struct rl_bucket_config *out, struct err *err);
/* Adds `field` to o when a bucket is set; 0 or -ENOMEM. */
int config_json_dump_limiter(json_t *o, const char *field, const struct rl_config *rl);

#endif
