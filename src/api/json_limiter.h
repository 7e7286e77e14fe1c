/*
 * Firecracker's RateLimiter object and the PATCH bodies that carry them:
 * {"bandwidth": {"size": N, "one_time_burst": N, "refill_time": MS},
 *  "ops": {...}}, either bucket optional. Messages start with the
 * object's name as the rest of json_config's do ("drives: rate_limiter:
 * bandwidth: missing required field 'size'").
 */
#ifndef HEARTH_API_JSON_LIMITER_H
#define HEARTH_API_JSON_LIMITER_H

#include <stddef.h>

#include <jansson.h>

#include "vmm/config.h"

/*
 * o's field `field` (absent or null: every bucket unset) into out. Shape
 * only; the values are vm_config's to check. 0 or -EINVAL with err.
 */
int json_limiter_parse(const char *what, json_t *o, const char *field, struct rl_config *out,
		       char *err, size_t errlen);
/* Adds `field` to o when a bucket is set; 0 or -ENOMEM. */
int json_limiter_dump(json_t *o, const char *field, const struct rl_config *rl);

/*
 * PartialDrive and PartialNetworkInterface. path_id is the id in the URL,
 * which the body's must match. p borrows strings from o: use it before
 * o is freed. 0 or -EINVAL with err.
 */
int json_patch_drive(json_t *o, const char *path_id, struct vm_drive_patch *p, char *err,
		     size_t errlen);
int json_patch_net(json_t *o, const char *path_id, struct vm_net_patch *p, char *err,
		   size_t errlen);

#endif
