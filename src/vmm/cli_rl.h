/*
 * Rate limiter keys on the command line: bw=SIZE/REFILL_MS[+BURST] and
 * ops=COUNT/REFILL_MS[+BURST] on --disk and --rng=, rx-bw, rx-ops, tx-bw
 * and tx-ops on --net. SIZE and BURST take K, M and G (powers of 1024).
 * Each key fills one bucket of Firecracker's RateLimiter, which
 * vm_config's setters then check as they check the API's.
 */
#ifndef HEARTH_VMM_CLI_RL_H
#define HEARTH_VMM_CLI_RL_H

#include <stddef.h>

#include "core/ratelimit.h"

struct cli_rl_key {
	const char *name;                 /* "bw", "rx-ops" ... */
	struct rl_bucket_config *bucket;
};

/*
 * Takes the keys out of the comma-separated spec into their buckets and
 * copies the other options, in order, to rest. 0, or -EINVAL with one
 * line in err.
 */
int cli_rl_extract(const char *spec, const struct cli_rl_key *keys, unsigned int nkeys,
		   char *rest, size_t restlen, char *err, size_t errlen);

#endif
