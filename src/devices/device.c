/* What every legacy device shares: claiming its place on the bus. */
#include "devices/device.h"

#include <errno.h>

int dev_claim(const struct dev_env *env, enum bus_space space, uint64_t base, uint64_t len,
	      const struct bus_region_ops *ops, void *dev, const char *name, struct err *err)
{
	const char *what = space == BUS_PIO ? "ports" : "MMIO";
	int ret;

	if (!env->bus)
		return 0;
	ret = bus_register(env->bus, space, base, len, ops, dev, name);
	if (ret == -EEXIST)
		return err_set(err, true, ret, "%s 0x%llx-0x%llx are taken by another device",
			       what, (unsigned long long)base, (unsigned long long)(base + len - 1));
	if (ret)
		return err_set(err, false, ret, "%s 0x%llx-0x%llx: cannot register", what,
			       (unsigned long long)base, (unsigned long long)(base + len - 1));
	return 0;
}
