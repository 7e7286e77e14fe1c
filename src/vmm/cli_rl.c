#include "vmm/cli_rl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A whole number with an optional K, M or G; 0 or -EINVAL. */
static int parse_amount(const char *s, size_t len, uint64_t *out)
{
	unsigned int shift = 0;
	uint64_t v = 0;

	if (len && (s[len - 1] == 'K' || s[len - 1] == 'M' || s[len - 1] == 'G')) {
		shift = s[len - 1] == 'K' ? 10 : s[len - 1] == 'M' ? 20 : 30;
		len--;
	}
	if (!len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* "SIZE/REFILL_MS[+BURST]" */
static int parse_bucket(const char *val, size_t len, struct rl_bucket_config *b)
{
	const char *slash = memchr(val, '/', len), *plus;
	size_t rest;

	if (!slash)
		return -EINVAL;
	rest = len - (size_t)(slash + 1 - val);
	plus = memchr(slash + 1, '+', rest);
	b->one_time_burst = 0;
	if (parse_amount(val, (size_t)(slash - val), &b->size) ||
	    parse_amount(slash + 1, plus ? (size_t)(plus - slash - 1) : rest, &b->refill_time) ||
	    (plus && parse_amount(plus + 1, rest - (size_t)(plus - slash), &b->one_time_burst)))
		return -EINVAL;
	b->set = true;
	return 0;
}

int cli_rl_extract(const char *spec, const struct cli_rl_key *keys, unsigned int nkeys,
		   char *rest, size_t restlen, char *err, size_t errlen)
{
	const char *p = spec;
	size_t used = 0;

	if (restlen)
		rest[0] = '\0';
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		unsigned int k = nkeys;

		for (unsigned int i = 0; eq && i < nkeys; i++)
			if (strlen(keys[i].name) == (size_t)(eq - p) &&
			    !strncmp(p, keys[i].name, (size_t)(eq - p)))
				k = i;
		if (k < nkeys) {
			if (parse_bucket(eq + 1, len - (size_t)(eq + 1 - p), keys[k].bucket)) {
				snprintf(err, errlen, "%.*s: want %s=%s/REFILL_MS[+BURST], e.g. %s=%s",
					 (int)len, p, keys[k].name,
					 strstr(keys[k].name, "ops") ? "COUNT" : "SIZE", keys[k].name,
					 strstr(keys[k].name, "ops") ? "100/1000" : "10M/1000");
				return -EINVAL;
			}
		} else {
			int w = snprintf(rest + used, restlen - used, "%s%.*s", used ? "," : "",
					 (int)len, p);

			if (w < 0 || (size_t)w >= restlen - used) {
				snprintf(err, errlen, "too long");
				return -EINVAL;
			}
			used += (size_t)w;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}
