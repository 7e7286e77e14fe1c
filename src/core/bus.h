/*
 * The port-I/O and MMIO bus. Devices register address ranges before the
 * vCPUs start; after that the bus is read-only, so exits dispatch without
 * taking a lock. Devices serialise their own state.
 */
#ifndef HEARTH_CORE_BUS_H
#define HEARTH_CORE_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bus_space { BUS_PIO = 0, BUS_MMIO = 1 };

/*
 * offset is relative to the registered base; len is 1, 2, 4 or 8.
 * data is little-endian guest data. A read must fill all len bytes.
 */
struct bus_region_ops {
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, unsigned int len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len);
};

struct bus_region {
	uint64_t base;
	uint64_t len;
	const struct bus_region_ops *ops;
	void *opaque;
	const char *name;
	uint64_t hits[2];       /* reads, writes dispatched here (atomic; --exit-stats) */
};

struct bus {
	struct bus_region *regions[2];
	size_t count[2];
	size_t cap[2];
	bool sealed;
	unsigned long unclaimed[2]; /* atomic counters */
};

void bus_init(struct bus *bus);
void bus_destroy(struct bus *bus);

/* -EEXIST on overlap, -EINVAL on an empty or wrapping range, -EBUSY once sealed. */
int bus_register(struct bus *bus, enum bus_space space, uint64_t base, uint64_t len,
		 const struct bus_region_ops *ops, void *opaque, const char *name);

/* Called once the vCPUs are about to start; later registrations fail. */
void bus_seal(struct bus *bus);

/*
 * Dispatch one guest access. Returns 0 when a device claimed it, -ENOENT
 * when nothing did; an unclaimed read fills data with 0xff, the access is
 * counted and logged with a rate limit. Never fails otherwise.
 */
int bus_access(struct bus *bus, enum bus_space space, uint64_t addr, uint8_t *data,
	       unsigned int len, bool is_write);

unsigned long bus_unclaimed_count(struct bus *bus, enum bus_space space);

/*
 * The i-th region of space in address order, NULL past the last: its
 * name, range and hits (read them with __atomic_load_n while vCPUs run).
 */
const struct bus_region *bus_region_at(const struct bus *bus, enum bus_space space, size_t i);

/* Helpers for devices: little-endian bytes <-> integer. */
static inline uint64_t bus_data_get(const uint8_t *data, unsigned int len)
{
	uint64_t v = 0;
	for (unsigned int i = 0; i < len && i < 8; i++)
		v |= (uint64_t)data[i] << (8 * i);
	return v;
}

static inline void bus_data_put(uint8_t *data, unsigned int len, uint64_t v)
{
	for (unsigned int i = 0; i < len && i < 8; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

#endif
