/*
 * Per-device counters a registry can read without knowing the device:
 * each device names its own, so adding one needs no change here.
 */
#ifndef HEARTH_CORE_COUNTERS_H
#define HEARTH_CORE_COUNTERS_H

#include <stdint.h>
#include <string.h>

struct dev_counter {
	const char *name;  /* static string, e.g. "read_bytes" */
	uint64_t value;
};

/* Copies the first min(n, max) of a device's n counters to out; returns how many. */
static inline unsigned int dev_counters_copy(struct dev_counter *out, unsigned int max,
					     const struct dev_counter *c, unsigned int n)
{
	if (n > max)
		n = max;
	if (n)
		memcpy(out, c, n * sizeof(*c));
	return n;
}

#endif
