#include "core/bus.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static struct ratelimit unclaimed_rl = RATELIMIT_INIT(10);

void bus_init(struct bus *bus)
{
	memset(bus, 0, sizeof(*bus));
}

void bus_destroy(struct bus *bus)
{
	for (int s = 0; s < 2; s++)
		free(bus->regions[s]);
	memset(bus, 0, sizeof(*bus));
}

int bus_register(struct bus *bus, enum bus_space space, uint64_t base, uint64_t len,
		 const struct bus_region_ops *ops, void *opaque, const char *name)
{
	struct bus_region *r;
	size_t n, i;

	if (bus->sealed)
		return -EBUSY;
	if (len == 0 || base + len < base || !ops || (space != BUS_PIO && space != BUS_MMIO))
		return -EINVAL;
	if (space == BUS_PIO && base + len > 0x10000)
		return -EINVAL;

	n = bus->count[space];
	r = bus->regions[space];
	for (i = 0; i < n; i++) {
		if (base < r[i].base + r[i].len && r[i].base < base + len)
			return -EEXIST;
	}
	if (n == bus->cap[space]) {
		size_t cap = bus->cap[space] ? bus->cap[space] * 2 : 16;
		r = realloc(r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		bus->regions[space] = r;
		bus->cap[space] = cap;
	}
	/* Kept sorted so dispatch can binary-search. */
	for (i = n; i > 0 && r[i - 1].base > base; i--)
		r[i] = r[i - 1];
	r[i] = (struct bus_region){ base, len, ops, opaque, name, { 0, 0 } };
	bus->count[space] = n + 1;
	return 0;
}

void bus_seal(struct bus *bus)
{
	bus->sealed = true;
}

static struct bus_region *bus_find(const struct bus *bus, enum bus_space space, uint64_t addr)
{
	struct bus_region *r = bus->regions[space];
	size_t lo = 0, hi = bus->count[space];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (addr < r[mid].base)
			hi = mid;
		else if (addr - r[mid].base >= r[mid].len)
			lo = mid + 1;
		else
			return &r[mid];
	}
	return NULL;
}

int bus_access(struct bus *bus, enum bus_space space, uint64_t addr, uint8_t *data,
	       unsigned int len, bool is_write)
{
	struct bus_region *r;

	if (space != BUS_PIO && space != BUS_MMIO)
		return -EINVAL;
	r = bus_find(bus, space, addr);
	/* An access straddling the end of a device is not that device's. */
	if (r && len <= 8 && addr - r->base + len <= r->len) {
		/* Counted always: an exit costs microseconds, a relaxed add nanoseconds. */
		__atomic_add_fetch(&r->hits[is_write], 1, __ATOMIC_RELAXED);
		if (is_write) {
			if (r->ops->write)
				r->ops->write(r->opaque, addr - r->base, data, len);
		} else if (r->ops->read) {
			r->ops->read(r->opaque, addr - r->base, data, len);
		} else {
			memset(data, 0xff, len);
		}
		return 0;
	}

	__atomic_add_fetch(&bus->unclaimed[space], 1, __ATOMIC_RELAXED);
	if (!is_write)
		memset(data, 0xff, len > 8 ? 8 : len);
	log_ratelimited(&unclaimed_rl, LOG_WARN, "unclaimed %s %s at 0x%" PRIx64 " (%u bytes)",
			space == BUS_PIO ? "port" : "MMIO", is_write ? "write" : "read", addr,
			len);
	return -ENOENT;
}

unsigned long bus_unclaimed_count(struct bus *bus, enum bus_space space)
{
	return __atomic_load_n(&bus->unclaimed[space], __ATOMIC_RELAXED);
}

const struct bus_region *bus_region_at(const struct bus *bus, enum bus_space space, size_t i)
{
	if ((space != BUS_PIO && space != BUS_MMIO) || i >= bus->count[space])
		return NULL;
	return &bus->regions[space][i];
}
